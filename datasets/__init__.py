"""Dataset loaders and preprocessing, imported as `mcutrain_datasets` (see pyproject.toml)."""
