"""The lines pytest-lrmsafety adds to pytest's header: what is tested, where, with what."""

from __future__ import annotations

from pathlib import Path

from .runtime import Runtime

BUILTIN_SUITES = Path(__file__).parent / "suites"


def suite_line(runtime: Runtime) -> str:
    """Which suites this run collects, and where the setting came from."""
    roots = runtime.case_roots
    if roots == (BUILTIN_SUITES,):
        names = ", ".join(sorted(p.stem for p in BUILTIN_SUITES.glob("*.yaml")))
        return (
            f"lrm suites: the built-in starter suites ({names}); no cases/ folder here "
            "(`lrmsafety init` copies them into cases/ to edit)"
        )
    here = runtime.config.rootpath
    shown = []
    for root in roots:
        try:
            shown.append(str(root.relative_to(here)) or ".")
        except ValueError:
            shown.append(str(root))
    return f"lrm suites: {', '.join(shown)} ({runtime.settings.cases_source})"


def header_lines(runtime: Runtime) -> list[str]:
    """The header: the model under test, its endpoint, and the suites."""
    lines = []
    client = runtime.client
    settings = runtime.settings
    if client is not None:
        lines.append(f"lrm model: {settings.model} ({client.name})")
    lines.append(suite_line(runtime))
    return lines
