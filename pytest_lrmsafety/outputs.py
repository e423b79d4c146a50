"""The files a run writes at its end (reports) or as it goes (the cassette), checked before
the first probe: a report that cannot be written must not cost a whole run to find out."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from .errors import ConfigError

if TYPE_CHECKING:
    from .settings import Settings

# (setting, a file name to suggest when a folder is given)
OUTPUTS = (
    ("report_json", "report.json"),
    ("report_md", "report.md"),
    ("report_html", "report.html"),
    ("record", "cassette.jsonl"),
)


def check_output(path: Path, where: str, example: str) -> None:
    """Raises :class:`ConfigError` unless ``path`` can be written: a file (not a folder) in
    a folder that exists or can be made, both writable."""
    if path.is_dir():
        raise ConfigError(
            f"{where}: {str(path)!r} is a folder; give a file path, such as {path / example}"
        )
    if path.exists():
        if not os.access(path, os.W_OK):
            raise ConfigError(f"{where}: {str(path)!r} cannot be written (permission denied)")
        return
    folder = path.parent
    while not folder.exists() and not folder.is_symlink() and folder != folder.parent:
        folder = folder.parent  # the nearest part of the path that exists
    if not folder.is_dir():
        raise ConfigError(
            f"{where}: cannot make the folder for {str(path)!r}: {str(folder)!r} is not a folder"
        )
    if not os.access(folder, os.W_OK | os.X_OK):
        raise ConfigError(
            f"{where}: cannot write to {str(folder)!r} (permission denied), for {str(path)!r}"
        )


def check_outputs(settings: Settings) -> None:
    """Every output path the run was given, resolved as the run writes it (the one rule of
    paths, :meth:`~pytest_lrmsafety.settings.Settings.path`)."""
    for name, example in OUTPUTS:
        path = settings.path(name)
        if path is not None:
            check_output(path, settings.source(name), example)
