"""Loaders for the user's own data: an .npz file or a folder of images (one sub-folder per class).

npz (`npz:PATH`):
    `x`: the samples, [N, H, W, C] with C in 1..MAX_CHANNELS, or 3-D [N, A, B]: a time series of A
        steps of B channels, read as [N, 1, A, B], when the model's input is [1, A, B] (height 1:
        a 1-D model); otherwise grey images [N, H, W], read as [N, H, W, 1].
        uint8: images, 0..255 scaled to [0, 1]; preprocessing may resize, pad, convert 1 <-> 3
            channels and apply the model's pixel scale and offset.
        float: the model's float input as it is (sensor features, any finite range, no scaling);
            it must have the model's input shape; the int8 input is round(x / s) + z with the
            model's input scale s and zero point z, clamped to -128..127.
    `y`: integer [N], labels 0..K-1: the model output each sample trains. Not every output needs
        samples: a transfer set may hold only classes 5..9 of a 10-output head.
    optional `label_map`: integer [L], distinct and >= 0: label v of `y` (and `y_test`) trains model
        output label_map[v], e.g. labels 0..4 with label_map [5, 6, 7, 8, 9] train outputs 5..9.
    optional `class_names`: [K] strings, one per model output (index = output, after label_map),
        K at least the largest output trained + 1; without it K = that + 1, names "0".."K-1".
    optional `x_test`, `y_test`: a test split (same kind and shape as `x`); without them the data
        is split stratified, TEST_FRACTION of each class present to test, with a fixed seed; each
        class present then needs at least 2 samples.
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
    MAX_CHANNELS,
    SAMPLE_SHAPES,
    Dataset,
    check_images_and_labels,
    split_dataset,
    stratified_split,
)
from mcutrain_datasets.errors import DatasetError

TEST_FRACTION = 0.2
SPLIT_SEED = 0
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".pgm", ".ppm", ".pnm")
_GRAY_MODES = ("1", "L", "LA", "I", "I;16", "F")


def load_npz(path: str | Path, model_shape: tuple[int, ...] | None = None) -> Dataset:
    """The dataset stored in an .npz file (see the module docstring for the arrays it may hold).
    model_shape: the model's input (H, W, C), which decides how a 3-D `x` reads (None: images)."""
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

    label_map = _label_map(arrays, path)
    x, images = _samples_from_array(arrays["x"], f"{path} array 'x'", model_shape)
    y = _labels_from_array(arrays["y"], f"{path} array 'y'", label_map)
    y_test = _labels_from_array(arrays["y_test"], f"{path} array 'y_test'", label_map) if "y_test" in arrays else None
    class_names = _class_names(arrays, path, label_map, y, y_test)
    check_images_and_labels(x, y, max(len(class_names), 1), f"{path} arrays 'x'/'y'", images)

    if y_test is None:
        train, test = _split(y, class_names, str(path))
        return split_dataset(path.stem, x, y, class_names, train, test, SPLIT_SEED, str(path), images)
    x_test, test_images = _samples_from_array(arrays["x_test"], f"{path} array 'x_test'", model_shape)
    if test_images != images:
        raise DatasetError(f"{path}: 'x_test' is {arrays['x_test'].dtype}, 'x' is {arrays['x'].dtype}: "
                           "expected both uint8 (images) or both float (features)")
    if x_test.shape[1:] != x.shape[1:]:
        raise DatasetError(f"{path}: 'x_test' samples are {x_test.shape[1:]}, 'x' samples are {x.shape[1:]}")
    check_images_and_labels(x_test, y_test, len(class_names), f"{path} arrays 'x_test'/'y_test'", images)
    split = f"from file {len(y)}/{len(y_test)}"
    return Dataset(path.stem, x, y, x_test, y_test, class_names, split, str(path), images)


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


def _samples_from_array(
    x: np.ndarray, where: str, model_shape: tuple[int, ...] | None
) -> tuple[np.ndarray, bool]:
    """x as float32 [N, H, W, C], and whether it holds images (uint8) rather than features (float)."""
    stored = x.shape
    if x.ndim == 3:
        # A 1-D model (input height 1) takes a time series [N, T, C]; any other, grey images [N, H, W].
        one_d = model_shape is not None and len(model_shape) == 3 and model_shape[0] == 1
        x = x[:, None] if one_d else x[..., None]
    if x.ndim != 4 or not 1 <= x.shape[-1] <= MAX_CHANNELS:
        raise DatasetError(f"{where}: shape {stored}, expected {SAMPLE_SHAPES}")
    if x.dtype == np.uint8:
        return x.astype(np.float32) / 255.0, True
    if np.issubdtype(x.dtype, np.floating):
        x = x.astype(np.float32)
        if not np.all(np.isfinite(x)):
            raise DatasetError(f"{where}: float values are not all finite (NaN or infinity)")
        return x, False
    raise DatasetError(f"{where}: dtype {x.dtype}, expected uint8 (images) or float (features)")


def _label_map(arrays: dict[str, np.ndarray], path: Path) -> np.ndarray | None:
    """The optional `label_map` as int64 [L]: distinct, non-negative output indices."""
    if "label_map" not in arrays:
        return None
    where = f"{path} array 'label_map'"
    label_map = arrays["label_map"]
    if not np.issubdtype(label_map.dtype, np.integer) or label_map.ndim != 1 or len(label_map) == 0:
        raise DatasetError(f"{where}: {label_map.dtype} of shape {label_map.shape}, expected integer [L] "
                           "(the model output of each label)")
    label_map = label_map.astype(np.int64)
    if label_map.min() < 0:
        raise DatasetError(f"{where}: output {int(label_map.min())} is negative, expected indices >= 0")
    outputs, counts = np.unique(label_map, return_counts=True)
    if (counts > 1).any():
        raise DatasetError(f"{where}: output {int(outputs[counts > 1][0])} appears twice, expected distinct outputs")
    return label_map


def _labels_from_array(y: np.ndarray, where: str, label_map: np.ndarray | None = None) -> np.ndarray:
    """Integer labels as int64, through label_map when there is one (labels must index it)."""
    if not np.issubdtype(y.dtype, np.integer):
        raise DatasetError(f"{where}: dtype {y.dtype}, expected integer class indices")
    y = y.astype(np.int64).reshape(y.shape)
    if label_map is None:
        return y
    bad = (y < 0) | (y >= len(label_map))
    if bad.any():
        first = int(np.flatnonzero(bad.reshape(-1))[0])
        raise DatasetError(f"{where}: label {int(y.reshape(-1)[first])} at index {first} has no entry in "
                           f"'label_map' ({len(label_map)} entries), expected 0..{len(label_map) - 1}")
    return label_map[y]


def _class_names(
    arrays: dict[str, np.ndarray], path: Path, label_map: np.ndarray | None, y: np.ndarray, y_test: np.ndarray | None
) -> tuple[str, ...]:
    """One name per model output: the file's `class_names`, else "0".."K-1" with K covering every
    output the labels (and the label map) name."""
    if "class_names" in arrays:
        class_names = tuple(str(name) for name in np.asarray(arrays["class_names"]).reshape(-1))
        if label_map is not None and label_map.max() >= len(class_names):
            raise DatasetError(f"{path} array 'label_map': output {int(label_map.max())} is out of range, "
                               f"'class_names' names outputs 0..{len(class_names) - 1}")
        return class_names
    largest = [int(labels.max()) for labels in (y, y_test) if labels is not None and labels.size]
    if label_map is not None:
        largest.append(int(label_map.max()))
    return tuple(str(k) for k in range(max(largest) + 1 if largest else 0))


def _split(y: np.ndarray, class_names: tuple[str, ...], where: str) -> tuple[np.ndarray, np.ndarray]:
    """A stratified split over the classes present in y (a transfer set may leave outputs empty)."""
    present, counts = np.unique(y, return_counts=True)
    if (counts < 2).any():
        k = int(np.argmax(counts < 2))
        raise DatasetError(f"{where}: class '{class_names[present[k]]}' has {counts[k]} sample(s), a train/test split "
                           "needs at least 2 of each class present")
    test_count = max(len(present), int(round(TEST_FRACTION * len(y))))
    if len(y) - test_count < len(present):
        raise DatasetError(f"{where}: {len(y)} samples are too few to split {len(present)} classes into train and test")
    return stratified_split(y, test_count=test_count, seed=SPLIT_SEED)
