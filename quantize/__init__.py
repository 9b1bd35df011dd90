"""Quantization, model blob, golden reference, QAS and sparse-update planning."""
