"""``lrmsafety import``: public safety data sets (the user's own copy) as suites."""

from __future__ import annotations

from pathlib import Path

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
    name: str | None = None,
) -> tuple[int, int]:
    """Writes the suite; returns ``(cases written, rows read)``."""
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
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text, encoding="utf-8")
    return len(chosen), total
