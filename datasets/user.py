"""Loaders for the user's own data: an .npz file or a folder of images (one sub-folder per class).

npz (`npz:PATH`):
    `x`: uint8 [N, H, W] or [N, H, W, C] (0..255), or float [.., ..] already in [0, 1]; C is 1 or 3.
    `y`: integer [N], labels 0..K-1.
    optional `class_names`: [K] strings (else K = max(y) + 1 and the names are "0".."K-1").
    optional `x_test`, `y_test`: a test split; without them the data is split stratified,
    TEST_FRACTION of each class to test, with a fixed seed.
folder (`folder:PATH`):
    PATH/<class name>/<image files>, any format Pillow reads (IMAGE_SUFFIXES); class index =
    position of the sub-folder name in sorted order. Images are converted to grayscale or RGB and
    resized (bilinear) to `image_shape` (default: the first image's size; grayscale unless some
    image has colour). Split as for npz.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from mcutrain_datasets.base import (
    Dataset,
    check_images_and_labels,
    check_labels,
    split_dataset,
    stratified_split,
)
from mcutrain_datasets.errors import DatasetError

TEST_FRACTION = 0.2
SPLIT_SEED = 0
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".pgm", ".ppm", ".pnm")
_GRAY_MODES = ("1", "L", "LA", "I", "I;16", "F")


def load_npz(path: str | Path) -> Dataset:
    """The dataset stored in an .npz file (see the module docstring for the arrays it must hold)."""
    path = Path(path)
    if not path.is_file():
        raise DatasetError(f"{path}: file not found")
    try:
        with np.load(path, allow_pickle=False) as archive:
            arrays = {key: archive[key] for key in archive.files}
    except Exception as err:  # numpy raises several types for a corrupt archive
        raise DatasetError(f"{path}: not a readable .npz archive ({err})") from err
    for key in ("x", "y"):
        if key not in arrays:
            raise DatasetError(f"{path}: array '{key}' missing, expected arrays 'x' and 'y' (found {sorted(arrays)})")
    if ("x_test" in arrays) != ("y_test" in arrays):
        raise DatasetError(f"{path}: has only one of 'x_test' / 'y_test', expected both or neither")

    x = _images_from_array(arrays["x"], f"{path} array 'x'")
    y = _labels_from_array(arrays["y"], f"{path} array 'y'")
    if "class_names" in arrays:
        class_names = tuple(str(name) for name in np.asarray(arrays["class_names"]).reshape(-1))
    else:
        class_names = tuple(str(k) for k in range(int(y.max()) + 1 if y.size else 0))
    check_images_and_labels(x, y, max(len(class_names), 1), f"{path} arrays 'x'/'y'")

    if "x_test" in arrays:
        x_test = _images_from_array(arrays["x_test"], f"{path} array 'x_test'")
        y_test = _labels_from_array(arrays["y_test"], f"{path} array 'y_test'")
        if x_test.shape[1:] != x.shape[1:]:
            raise DatasetError(f"{path}: 'x_test' images are {x_test.shape[1:]}, 'x' images are {x.shape[1:]}")
        check_labels(y_test, len(x_test), len(class_names), f"{path} arrays 'x_test'/'y_test'")
        split = f"from file {len(y)}/{len(y_test)}"
        x_train, y_train = x, y
    else:
        train, test = _split(y, class_names, str(path))
        return split_dataset(path.stem, x, y, class_names, train, test, SPLIT_SEED, str(path))
    return Dataset(path.stem, x_train, y_train, x_test, y_test, class_names, split, str(path))


def load_folder(path: str | Path, image_shape: tuple[int, int, int] | None = None) -> Dataset:
    """The dataset in an image folder (see the module docstring); images resized to image_shape."""
    from PIL import Image, UnidentifiedImageError

    root = Path(path)
    if not root.is_dir():
        raise DatasetError(f"{root}: folder not found")
    class_dirs = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not class_dirs:
        raise DatasetError(f"{root}: no sub-folders, expected one sub-folder of images per class")
    files_by_class = []
    for class_dir in class_dirs:
        files = sorted(
            p for p in class_dir.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES
        )
        if not files:
            raise DatasetError(
                f"{class_dir}: class '{class_dir.name}' has no images ({', '.join(IMAGE_SUFFIXES)})"
            )
        files_by_class.append(files)

    images: list[Image.Image] = []
    labels: list[int] = []
    for label, files in enumerate(files_by_class):
        for file in files:
            try:
                with Image.open(file) as image:
                    image.load()
                    images.append(image.copy())
            except (UnidentifiedImageError, OSError, ValueError) as err:
                raise DatasetError(f"{file}: unreadable image ({err})") from err
            labels.append(label)

    if image_shape is None:
        width, height = images[0].size
        colour = any(image.mode not in _GRAY_MODES for image in images)
        image_shape = (height, width, 3 if colour else 1)
    height, width, channels = image_shape
    if channels not in (1, 3):
        raise DatasetError(f"{root}: asked for {channels} channels, expected 1 or 3")
    mode = "L" if channels == 1 else "RGB"
    x = np.stack(
        [np.asarray(image.convert(mode).resize((width, height), Image.BILINEAR), dtype=np.float32) for image in images]
    ).reshape(-1, height, width, channels) / 255.0
    y = np.asarray(labels, dtype=np.int64)
    class_names = tuple(d.name for d in class_dirs)
    check_images_and_labels(x, y, len(class_names), str(root))
    train, test = _split(y, class_names, str(root))
    return split_dataset(root.name, x, y, class_names, train, test, SPLIT_SEED, str(root))


def _images_from_array(x: np.ndarray, where: str) -> np.ndarray:
    if x.ndim == 3:
        x = x[..., None]
    if x.ndim != 4 or x.shape[-1] not in (1, 3):
        raise DatasetError(f"{where}: shape {x.shape}, expected [N, H, W] or [N, H, W, 1 or 3]")
    if x.dtype == np.uint8:
        return x.astype(np.float32) / 255.0
    if np.issubdtype(x.dtype, np.floating):
        x = x.astype(np.float32)
        if not np.all(np.isfinite(x)) or (x.size and (x.min() < 0.0 or x.max() > 1.0)):
            raise DatasetError(f"{where}: float pixels outside [0, 1], expected uint8 0..255 or float in [0, 1]")
        return x
    raise DatasetError(f"{where}: dtype {x.dtype}, expected uint8 or float")


def _labels_from_array(y: np.ndarray, where: str) -> np.ndarray:
    if not np.issubdtype(y.dtype, np.integer):
        raise DatasetError(f"{where}: dtype {y.dtype}, expected integer class indices")
    return y.astype(np.int64).reshape(y.shape)


def _split(y: np.ndarray, class_names: tuple[str, ...], where: str) -> tuple[np.ndarray, np.ndarray]:
    counts = np.bincount(y, minlength=len(class_names))
    small = np.flatnonzero(counts < 2)
    if len(small):
        k = int(small[0])
        raise DatasetError(
            f"{where}: class '{class_names[k]}' has {counts[k]} sample(s), a train/test split needs at least 2 per class"
        )
    test_count = max(len(class_names), int(round(TEST_FRACTION * len(y))))
    if len(y) - test_count < len(class_names):
        raise DatasetError(f"{where}: {len(y)} samples are too few to split {len(class_names)} classes into train and test")
    return stratified_split(y, test_count=test_count, seed=SPLIT_SEED)
