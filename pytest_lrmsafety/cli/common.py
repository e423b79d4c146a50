"""What the ``lrmsafety`` commands share: reading a report, the output's width, the paths
of files a command writes (checked before anything is read), number checks."""

from __future__ import annotations

import argparse
import math
import shutil
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import ConfigError
from ..report.baseline import load_report

if TYPE_CHECKING:
    from ..report.model import Report


def load(path: str) -> Report:
    """A saved JSON report (a wrong or truncated file: a ``ReportError`` naming it)."""
    return load_report(Path(path), path)


def width(args: argparse.Namespace) -> int:
    """Columns of the terminal output: ``--width``, else the terminal's (``COLUMNS``, else
    the layout's default when not a terminal)."""
    if args.width is not None and args.width < 1:
        raise ConfigError(f"--width {args.width}: must be 1 or more (columns)")
    if args.width:
        return int(args.width)
    from ..report.layout import DEFAULT_WIDTH

    return shutil.get_terminal_size((DEFAULT_WIDTH, 24)).columns


def fraction(value: float | None, option: str, *, low: float, high: float) -> None:
    """``ConfigError`` naming the option unless ``value`` is a number within its range
    (``nan`` and ``inf`` are floats to argparse, but no rate or confidence)."""
    if value is not None and not (math.isfinite(value) and low <= value <= high):
        raise ConfigError(f"{option} {value:g}: must be a number from {low:g} to {high:g}")


def check_output(value: str | None, option: str, example: str) -> Path | None:
    """The path an option names, checked before anything is read: a folder, or a place
    where no folder can be made, is one line naming the option."""
    if not value:
        return None
    from ..outputs import check_output as check

    path = Path(value)
    check(path, option, example)
    return path


def write(path: Path, option: str, text: str) -> None:
    """Writes a rendered report; a failure is one line naming the option."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{option}: cannot write {str(path)!r}: {exc.strerror}") from None
