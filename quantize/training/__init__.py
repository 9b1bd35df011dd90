"""The training step: its numerics, backward kernels and golden reference (numpy), and the blob's
training section. The specification both this package and the firmware follow bit for bit is
firmware/lib/train/README.md."""
