"""``lrmsafety import``: public safety data sets (the user's own copy) as suites."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path

from ..errors import ConfigError
from .base import Imported, ShapeError, render_suite, stratified_sample
from .formats import FORMATS, gates_for, read

__all__ = ["FORMATS", "Imported", "ShapeError", "import_suite"]


def import_suite(
    fmt: str,
    source: Path,
    out: Path,
    *,
    sample: int | None = None,
    seed: int = 0,
    attacks: tuple[str, ...] | None = None,
    judges: tuple[str, ...] | None = None,
    name: str | None = None,
    check: Callable[[Path], None] | None = None,
) -> tuple[int, int]:
    """Writes the suite; returns ``(cases written, rows read)``. ``attacks`` and ``judges``
    go into the suite's defaults (``None``: the format's).

    ``check`` is called with the written suite (a temporary file beside ``out``) before it
    is moved to ``out``; whatever it raises leaves nothing behind."""
    if sample is not None and sample < 1:
        raise ConfigError(f"--sample {sample}: must be 1 or more (cases to keep)")
    cases = read(fmt, source)
    total = len(cases)
    chosen = stratified_sample(cases, sample, seed, key=lambda c: f"{c.category}|{c.expect}")
    description = f"{fmt} from {source.name}: {len(chosen)} of {total} rows"
    if sample is not None and sample < total:
        description += f", sampled with seed {seed}, stratified by category"
    text = render_suite(
        chosen,
        name=name or out.stem,
        description=description,
        attacks=attacks or FORMATS[fmt].attacks,
        gates=gates_for(chosen),
        judges=judges or FORMATS[fmt].judges,
    )
    _write_checked(out, text, check)
    return len(chosen), total


def _mode_for(out: Path) -> int:
    """The mode ``out`` has, or a new file would get (temporary files are private)."""
    try:
        return out.stat().st_mode & 0o777
    except OSError:
        umask = os.umask(0o022)
        os.umask(umask)
        return 0o666 & ~umask


def _write_checked(out: Path, text: str, check: Callable[[Path], None] | None) -> None:
    """Writes ``text`` to a temporary file beside ``out``, runs ``check`` on it and only then
    moves it into place: a suite that does not load never lands in ``cases/`` (where the
    next run would collect it), and neither do the temporary file or folders made for it."""
    made = [p for p in (out.parent, *out.parent.parents) if not p.exists()]
    out.parent.mkdir(parents=True, exist_ok=True)
    descriptor, name = tempfile.mkstemp(dir=out.parent, prefix=f".{out.name}.", suffix=".tmp")
    temporary = Path(name)
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.chmod(temporary, _mode_for(out))
        if check is not None:
            check(temporary)
        os.replace(temporary, out)
    except BaseException:
        temporary.unlink(missing_ok=True)
        for folder in made:  # innermost first; only the ones made here, if still empty
            try:
                folder.rmdir()
            except OSError:
                break
        raise
