"""The one dataset object every loader returns, and the checks every loader shares."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mcutrain_datasets.errors import DatasetError


@dataclass(frozen=True)
class Dataset:
    """Samples and labels split into train and test.

    x_train, x_test: float32 [N, H, W, C], C in 1..MAX_CHANNELS (a time series is [N, 1, T, C]).
    images: True when x holds image pixels scaled to [0, 1] (a file's uint8 0..255, or a built-in
        dataset): preprocessing may resize, pad, convert 1 <-> 3 channels and apply the model's
        pixel scale and offset. False when x holds a file's float values (sensor features, any
        finite range): they are the model's float input as they are, and must have its shape.
    y_train, y_test: int64 [N], class indices in [0, len(class_names)), i.e. the model output each
        sample trains; a class may have no samples (a transfer set holding some of the outputs).
    class_names: one name per class (model output), index = label.
    split: how the split was made, e.g. "official 60000/10000" or "stratified seed=0 4000/1000".
    source: where the data came from (a path, or the package that ships it).
    """

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    class_names: tuple[str, ...]
    split: str
    source: str
    images: bool = True

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return tuple(self.x_train.shape[1:])  # type: ignore[return-value]

    def limited(self, train: int | None = None, test: int | None = None) -> "Dataset":
        """The same dataset with only `train` / `test` samples of each split, drawn stratified by
        class with SUBSET_SEED (subset_indices), in file order.

        Raises DatasetError when a split has fewer samples than asked for.
        """
        x_train, y_train = _subset(self.x_train, self.y_train, train, f"{self.source} (train split)")
        x_test, y_test = _subset(self.x_test, self.y_test, test, f"{self.source} (test split)")
        return Dataset(
            name=self.name,
            x_train=x_train,
            y_train=y_train,
            x_test=x_test,
            y_test=y_test,
            class_names=self.class_names,
            split=self.split if train is None and test is None
            else f"{self.split}, limited to {len(y_train)}/{len(y_test)} ({SUBSET_DRAWN})",
            source=self.source,
            images=self.images,
        )


# Channels a sample may have: images (1 or 3) and multi-axis sensor data (an IMU's 6 or 9 axes, up to
# 16 electrodes). A last axis beyond this is far more often a mis-shaped array than 17 channels.
MAX_CHANNELS = 16
SAMPLE_SHAPES = f"[N, H, W, C] with C in 1..{MAX_CHANNELS}, [N, H, W] (grey images) or [N, T, C] (a time series)"

# A subset (--limit, --samples, calibration) is drawn with this seed: the device, the golden
# reference and the fp32 yardstick see the same samples.
SUBSET_SEED = 0
SUBSET_DRAWN = f"stratified by class, seed {SUBSET_SEED}"


def subset_indices(y: np.ndarray, count: int, seed: int = SUBSET_SEED) -> np.ndarray:
    """Indices of `count` samples, ascending, each class's share in proportion to its size (the
    largest remainders round up, ties broken by the seed), drawn at random within the class: a
    class-sorted file's first samples would all be one class."""
    rng = np.random.default_rng(seed)
    classes, sizes = np.unique(y, return_counts=True)
    quota = sizes * count / len(y)
    shares = np.floor(quota).astype(np.int64)
    by_remainder = np.lexsort((rng.random(len(classes)), -(quota - shares)))
    shares[by_remainder[:count - int(shares.sum())]] += 1
    picked = [rng.choice(np.flatnonzero(y == c), size=int(k), replace=False) for c, k in zip(classes, shares)]
    return np.sort(np.concatenate(picked)).astype(np.int64)


def _subset(x: np.ndarray, y: np.ndarray, count: int | None, where: str) -> tuple[np.ndarray, np.ndarray]:
    if count is None:
        return x, y
    if count <= 0:
        raise DatasetError(f"{where}: asked for {count} samples, expected a positive number")
    if count > len(y):
        raise DatasetError(f"{where}: asked for {count} samples but it has only {len(y)}")
    if count == len(y):
        return x, y
    keep = subset_indices(y, count)
    return x[keep], y[keep]


def stratified_split(
    y: np.ndarray, test_fraction: float | None = None, test_count: int | None = None, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Indices (train, test) of a deterministic stratified split.

    Exactly one of test_fraction / test_count. Each class present in y contributes its share of
    the test split (rounded), the rest goes to train; the same seed gives the same indices on every
    machine. Every present class needs at least 2 samples (sklearn's stratify): callers check.
    """
    from sklearn.model_selection import train_test_split

    size = test_count if test_count is not None else test_fraction
    indices = np.arange(len(y))
    train, test = train_test_split(indices, test_size=size, stratify=y, random_state=seed, shuffle=True)
    return np.asarray(train, dtype=np.int64), np.asarray(test, dtype=np.int64)


def check_images_and_labels(
    x: np.ndarray, y: np.ndarray, num_classes: int, where: str, images: bool = True
) -> None:
    """Raise DatasetError unless x is [N, H, W, C] with C in 1..MAX_CHANNELS and finite values (in
    [0, 1] when `images`), and y is [N] with labels in [0, num_classes). Classes may be absent: a
    transfer set may train only some of a model's outputs."""
    if x.ndim != 4 or not 1 <= x.shape[-1] <= MAX_CHANNELS:
        raise DatasetError(f"{where}: samples have shape {x.shape}, expected {SAMPLE_SHAPES}")
    check_labels(y, len(x), num_classes, where)
    if len(y) == 0:
        raise DatasetError(f"{where}: no samples")
    if not np.all(np.isfinite(x)):
        raise DatasetError(f"{where}: values are not all finite (NaN or infinity)")
    if images and (x.min() < 0.0 or x.max() > 1.0):
        raise DatasetError(f"{where}: pixel values outside [0, 1] after scaling")


def check_labels(y: np.ndarray, count: int, num_classes: int, where: str) -> None:
    """Raise DatasetError unless y is [count] with every label in [0, num_classes)."""
    if y.ndim != 1 or len(y) != count:
        raise DatasetError(f"{where}: {count} images but labels have shape {y.shape}, expected [{count}]")
    bad = (y < 0) | (y >= num_classes)
    if bad.any():
        first = int(np.flatnonzero(bad)[0])
        raise DatasetError(
            f"{where}: label {int(y[first])} at index {first} is out of range, expected 0..{num_classes - 1}"
        )


def split_dataset(
    name: str, x: np.ndarray, y: np.ndarray, class_names: tuple[str, ...], train: np.ndarray, test: np.ndarray,
    seed: int, source: str, images: bool = True,
) -> Dataset:
    """The Dataset made of x[train], x[test] (a stratified split made with `seed`)."""
    return Dataset(
        name=name,
        x_train=x[train],
        y_train=y[train],
        x_test=x[test],
        y_test=y[test],
        class_names=class_names,
        split=f"stratified seed={seed} {len(train)}/{len(test)}",
        source=source,
        images=images,
    )
