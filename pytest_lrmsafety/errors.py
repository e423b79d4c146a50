"""Errors the user can act on; each renders as one line, with no traceback."""

from __future__ import annotations


class LrmSafetyError(Exception):
    """Base class of this plugin's own errors."""


class ConfigError(LrmSafetyError):
    """A bad option, ini value, preset or environment; becomes ``pytest.UsageError``."""


class SuiteError(LrmSafetyError):
    """A bad suite file: the message starts with ``file:line:``."""

    def __init__(self, path: str, line: int | None, field: str | None, message: str) -> None:
        where = f"{path}:{line}" if line else path
        text = f"{where}: {field}: {message}" if field else f"{where}: {message}"
        super().__init__(text)
        self.path = path
        self.line = line
        self.field = field
