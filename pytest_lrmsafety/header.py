"""The lines pytest-lrmsafety adds to pytest's header: what is tested, where, with what."""

from __future__ import annotations

from pathlib import Path

from .engine.deployments import cache_header_lines
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
    return f"lrm suites: {', '.join(shown)} ({runtime.settings.source('cases')})"


def judge_line(runtime: Runtime) -> str:
    """What decides a case that names no judges (the ``default`` judge), and why."""
    name, why = runtime.harm_judge()
    if name == "rules":
        if why.startswith("WARNING"):
            return f"lrm judges: default = rules only. {why}"
        return f"lrm judges: default = rules only ({why})"
    return f"lrm judges: default = rules for clear refusals, then {name} ({why})"


def header_lines(runtime: Runtime) -> list[str]:
    """The header: the model under test, its endpoint, the suites, the default judge."""
    lines = []
    client = runtime.client
    settings = runtime.settings
    if client is not None:
        lines.append(f"lrm model: {settings.model} ({client.name})")
        lines += cache_header_lines(runtime.cache, client)
    lines.append(suite_line(runtime))
    lines.append(judge_line(runtime))
    return lines
