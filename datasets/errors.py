"""Errors of the dataset loaders: expected failures with a one-line message.

They live here, at the bottom, so that mcutrain_datasets depends on nothing above it; the CLI
(host_tools/errors.py) is the one place that turns them into a message and an exit code.
"""


class DatasetError(Exception):
    """A dataset file or folder is missing, unreadable or inconsistent.

    The message names the file (or folder) and the problem, in one line.
    """
