"""``--lrm-baseline ../out/run1.json``: an option's value written after a space.

pytest finds its rootdir and configuration file before it loads plugins, so at that moment it
does not know that ``--lrm-baseline`` takes a value, and reads ``../out/run1.json`` as a test
path. A value outside the project then moves the rootdir and drops the project's configuration
(its ``lrm_*`` settings, ``testpaths``, ``addopts``): the run silently runs something else. The
value itself is read correctly later. This module works out, once the options are known, where
pytest would have put the rootdir had it known them, and stops the run with one line when the
two differ. When they are the same, the spaced form is harmless and the run goes on.
"""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any

import pytest

from .options import OPTIONS

_TAKES_VALUE = {o.flag for o in OPTIONS if o.cli and o.kind != "bool"}


def spaced_values(args: list[str]) -> list[tuple[str, str]]:
    """``(flag, value)`` for every ``--lrm-*`` option written as two words, in order."""
    found = []
    for i, arg in enumerate(args[:-1]):
        if arg in _TAKES_VALUE and not args[i + 1].startswith("-"):
            found.append((arg, args[i + 1]))
    return found


def check_spaced_options(config: pytest.Config, args: list[str]) -> None:
    """Raises ``pytest.UsageError`` when a spaced value changed pytest's rootdir or ini file."""
    spaced = spaced_values([str(a) for a in args])
    if not spaced:
        return
    setup = _setup_without_values(config)
    if setup is None or setup == (config.rootpath, config.inipath):
        return
    here = config.invocation_params.dir
    # pytest looks only at arguments that exist as paths: those are the ones that moved it
    flag, value = next(((f, v) for f, v in spaced if (here / v).exists()), spaced[0])
    rootdir, inipath = setup
    raise pytest.UsageError(
        f"option {flag}: write {flag}={value} (with '='): written with a space, pytest reads "
        f"{value!r} as a test path before the plugin loads, which moved the rootdir from "
        f"{rootdir} to {config.rootpath}"
        + (f" and dropped {inipath.name}" if inipath and inipath != config.inipath else "")
    )


def _setup_without_values(config: pytest.Config) -> tuple[Path, Path | None] | None:
    """The rootdir and ini file pytest would have chosen with the options' values consumed.

    pytest has no public function for this; ``determine_setup`` is what it calls itself (its
    keyword arguments changed between pytest 8 and 9, hence the signature check). Without it
    the check is skipped rather than guessed.
    """
    try:
        from _pytest.config.findpaths import determine_setup
    except ImportError:  # pragma: no cover - a future pytest
        return None
    ns = config.known_args_namespace  # parsed again after the plugin's options were added
    wanted: dict[str, Any] = {
        "inifile": ns.inifilename,
        "override_ini": ns.override_ini,
        "args": [str(a) for a in ns.file_or_dir],
        "rootdir_cmd_arg": ns.rootdir or None,
        "invocation_dir": config.invocation_params.dir,
    }
    accepted = inspect.signature(determine_setup).parameters
    try:
        found = determine_setup(**{k: v for k, v in wanted.items() if k in accepted})
    except Exception:  # pragma: no cover - pytest's own error is raised again later
        return None
    return Path(found[0]), (Path(found[1]) if found[1] is not None else None)
