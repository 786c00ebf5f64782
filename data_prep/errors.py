"""Errors a user can fix. Entry points print them as one line and exit non-zero, no traceback."""

from __future__ import annotations

from pathlib import Path


class UserError(Exception):
    """Bad input or configuration: the message says what and where."""


class ConfigError(UserError):
    """A config value is invalid; the message names the key."""


class DataError(UserError):
    """A raw or processed file is malformed; the message names the file and, where known, the line."""

    def __init__(self, path: str | Path, message: str, line: int | None = None):
        where = f"{path}" if line is None else f"{path}, line {line}"
        super().__init__(f"{where}: {message}")
        self.path = str(path)
        self.line = line
