"""The one user-error hierarchy.

Everything a user can cause (bad path, missing model, foreign index) raises a
subclass of QuarryError; the CLI renders it as a single line and exits with
its code. Anything else escaping is a bug and deserves its traceback.
"""

from __future__ import annotations

import click


class QuarryError(click.ClickException):
    exit_code = 1

    def __init__(self, message: str) -> None:
        super().__init__(message)

    def show(self, file=None) -> None:  # one line, no traceback, no usage dump
        from codequarry.terminal import printable_line  # messages quote names read from the index

        click.echo(f"quarry: error: {printable_line(self.format_message())}", err=True, file=file)


class UserInputError(QuarryError):
    """Arguments that cannot work: a path that does not exist, a bad filter."""

    exit_code = 2


class IndexMissingError(QuarryError):
    exit_code = 3


class IndexMismatchError(QuarryError):
    """The index exists but was built differently (other model, chunker, foreign file)."""

    exit_code = 4


class CorruptIndexError(QuarryError):
    """The index's files are damaged; the message names the command that rebuilds them."""

    exit_code = 5


class ModelUnavailableError(QuarryError):
    exit_code = 6


class MissingExtraError(QuarryError):
    """A heavy optional feature was asked for without its extra installed."""

    exit_code = 7


class StorageError(QuarryError):
    """The disk refused a write (full, over quota, I/O error); the previous index is left intact."""

    exit_code = 8


def require(module: str, extra: str):
    """Import an optional dependency or say which extra brings it."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise MissingExtraError(
            f"this needs the '{module}' package: pip install 'codequarry[{extra}]'"
        ) from exc
