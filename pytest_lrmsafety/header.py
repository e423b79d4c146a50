"""The lines pytest-lrmsafety adds to pytest's header: what is tested, where, with what."""

from __future__ import annotations

from pathlib import Path

from .engine.deployments import cache_header_lines
from .runtime import Runtime

BUILTIN_SUITES = Path(__file__).parent / "suites"


def suite_line(runtime: Runtime) -> str:
    """Which suites this run collects, and where the setting came from."""
    roots = runtime.case_roots
    by_default = runtime.settings.source("cases").startswith("default")
    if by_default and runtime.named_paths:  # `pytest a.yaml --lrm-model X`: what was named
        return f"lrm suites: {', '.join(_shown(runtime, runtime.named_paths))} (command line)"
    if roots == (BUILTIN_SUITES,):
        names = ", ".join(sorted(p.stem for p in BUILTIN_SUITES.glob("*.yaml")))
        return (
            f"lrm suites: the built-in starter suites ({names}); no cases/ folder here "
            "(`lrmsafety init` copies them into cases/ to edit)"
        )
    return f"lrm suites: {', '.join(_shown(runtime, roots))} ({runtime.settings.source('cases')})"


def _shown(runtime: Runtime, paths: tuple[Path, ...]) -> list[str]:
    here = runtime.config.rootpath
    shown = []
    for path in paths:
        try:
            shown.append(str(path.relative_to(here)) or ".")
        except ValueError:
            shown.append(str(path))
    return shown


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
