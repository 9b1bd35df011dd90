"""Dataset loaders and preprocessing, imported as `mcutrain_datasets` (see pyproject.toml).

A top-level package named `datasets` would shadow the Hugging Face package of that name, so the
folder `datasets/` is installed under the import name `mcutrain_datasets`.
"""

from mcutrain_datasets.base import Dataset
from mcutrain_datasets.errors import DatasetError
from mcutrain_datasets.registry import BUILTIN_NAMES, load_dataset

__all__ = ["BUILTIN_NAMES", "Dataset", "DatasetError", "load_dataset"]
