"""Which suites a run collects: the case roots (``lrm_cases``, or the built-in starter suites),
their checks, the paths named on the command line, and whether a YAML file is a suite to
collect."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from .collect import NOT_SUITES, SUITE_SUFFIXES, is_under
from .errors import ConfigError
from .header import BUILTIN_SUITES
from .settings import Settings


def case_roots(settings: Settings) -> tuple[Path, ...]:
    """The folders and files of suites: ``lrm_cases`` (by the one rule of paths), or the
    starter suites shipped in the package when there is no ``cases/`` folder and no setting
    (``lrmsafety init`` copies them into ``cases/`` for editing)."""
    if cases_by_default(settings) and not (settings.rootdir / "cases").exists():
        return (BUILTIN_SUITES,)
    return tuple(p.resolve() for p in settings.paths("cases"))


def cases_by_default(settings: Settings) -> bool:
    """Whether the case paths are the default (no ``--lrm-cases`` or ``lrm_cases``)."""
    return settings.source("cases").startswith("default")


def runs_suites(settings: Settings) -> bool:
    """The plugin runs suites when a model is named or case paths are set explicitly."""
    return bool(settings.model) or not cases_by_default(settings)


def named_paths(config: pytest.Config) -> tuple[Path, ...]:
    """The existing paths named on the command line (``pytest cases/a.yaml other/``)."""
    paths = (
        (config.invocation_params.dir / str(arg).split("::")[0]).resolve()
        for arg in config.invocation_params.args
        if not str(arg).startswith("-")
    )
    return tuple(p for p in paths if p.exists())


def check_case_roots(roots: tuple[Path, ...], settings: Settings) -> None:
    """Raises :class:`ConfigError` for a case path that is missing, not a suite, or a folder
    without one, naming where the setting came from."""
    where = settings.source("cases")
    for root in roots:
        if not root.exists():
            raise ConfigError(
                f"{where}: case path {str(root)!r} does not exist; "
                "point lrm_cases / --lrm-cases at a folder or file of YAML suites"
            )
        if root.is_file() and root.suffix not in SUITE_SUFFIXES:
            raise ConfigError(f"{where}: case path {str(root)!r} is not a .yaml or .yml suite")
        if root.is_dir() and not _holds_suite(root):
            raise ConfigError(f"{where}: case path {str(root)!r} holds no .yaml or .yml suite")


def _holds_suite(folder: Path) -> bool:
    """Whether a suite lies in ``folder`` or below, linked folders followed (each once)."""
    seen: set[Path] = set()
    for here, dirs, files in os.walk(folder, followlinks=True):
        real = Path(here).resolve()
        if real in seen:
            dirs[:] = []
            continue
        seen.add(real)
        if any(Path(name).suffix in SUITE_SUFFIXES for name in files):
            return True
    return False


def suite_wanted(
    file_path: Path, roots: tuple[Path, ...], named: tuple[Path, ...], active: bool
) -> bool:
    """Whether a YAML file is a suite this run collects: under a case root or a named path
    when the plugin runs suites; else (a plain ``pytest .``, which must not read every YAML
    file of the project as a suite) only a suite file named on the command line, or one under
    a case root inside a named path."""
    if file_path.suffix not in SUITE_SUFFIXES or file_path.stem.endswith(NOT_SUITES):
        return False
    in_roots = is_under(file_path, roots)
    if active:
        return in_roots or is_under(file_path, named)
    files = [p for p in named if p.is_file()]
    return is_under(file_path, files) or (in_roots and is_under(file_path, named))
