"""`load_dataset(name)`: one entry point for the built-in names and the user's files."""

from __future__ import annotations

from mcutrain_datasets import builtin, user
from mcutrain_datasets.base import Dataset
from mcutrain_datasets.errors import DatasetError

BUILTIN_NAMES = ("fashion-mnist", "mnist5k", "digits")
USER_PREFIXES = ("npz:", "folder:")


def load_dataset(
    name: str,
    image_shape: tuple[int, int, int] | None = None,
    limit: int | None = None,
    test_limit: int | None = None,
) -> Dataset:
    """The dataset called `name`: one of BUILTIN_NAMES, `npz:PATH` or `folder:PATH`.

    image_shape: the model's input (H, W, C): `folder:` images are resized to it, and it decides
        whether a 3-D `npz:` array is a time series (user.py); other sources keep their shape
        (fit them to a model with mcutrain_datasets.preprocess).
    limit, test_limit: keep only so many samples of the train / test split, drawn stratified by
        class and seeded (Dataset.limited); asking for more than there are is an error.
    """
    if name == "fashion-mnist":
        dataset = builtin.load_fashion_mnist()
    elif name == "mnist5k":
        dataset = builtin.load_mnist5k()
    elif name == "digits":
        dataset = builtin.load_digits()
    elif name.startswith("npz:"):
        dataset = user.load_npz(name[len("npz:"):], image_shape)
    elif name.startswith("folder:"):
        dataset = user.load_folder(name[len("folder:"):], image_shape)
    else:
        raise DatasetError(
            f"unknown dataset '{name}', expected one of {', '.join(BUILTIN_NAMES)}, npz:PATH or folder:PATH"
        )
    return dataset.limited(limit, test_limit)
