"""Whether a run uses the plugin, and turning it on: cheap, and importing nothing until then.

An installed plugin is loaded into every pytest run of the environment. Its hooks
(:mod:`pytest_lrmsafety.hooks`) and the built-in client factory (:mod:`.models.factory`) are
imported and registered only when the run uses it: an ``--lrm-*`` option, an ``LRM_*``
environment variable or an ``lrm_*`` ini setting, a suite file (or the ``cases`` folder) named
on the command line, or a collected test that asks for an ``lrm_*`` fixture.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Sequence
from pathlib import Path

import pytest

from .options import OPTIONS

HOOKS_NAME = "lrmsafety-hooks"
SUITE_SUFFIXES = (".yaml", ".yml")
FIXTURE_PREFIX = "lrm_"


def activate(config: pytest.Config) -> None:
    """Imports the plugin's hooks and registers them for this run (once)."""
    if config.pluginmanager.has_plugin(HOOKS_NAME):
        return
    # By module name, not ``from . import hooks``: that form would reuse a module that
    # pytester (in-process runs) has already dropped from sys.modules with its state.
    factory = importlib.import_module("pytest_lrmsafety.models.factory")
    hooks = importlib.import_module("pytest_lrmsafety.hooks")
    # The client factory first: registering the hooks runs their pytest_configure at once,
    # and that makes the client.
    config.pluginmanager.register(factory, "lrmsafety-clients")
    config.pluginmanager.register(hooks, HOOKS_NAME)


def plugin_wanted(config: pytest.Config) -> bool:
    """Whether this run uses the plugin, from its options and command line."""
    for opt in OPTIONS:
        if opt.cli and getattr(config.option, "lrm_" + opt.name, None) not in (None, False, []):
            return True
        if opt.env and os.environ.get(opt.env):
            return True
        if opt.kind != "list":
            try:
                value = config.getini(opt.ini)
            except (TypeError, ValueError, pytest.UsageError):
                return True  # a bad value: the plugin says what is wrong with it
            if value not in (None, [], ""):
                return True
    return _suites_named(config)


def fixtures_wanted(config: pytest.Config, items: Sequence[pytest.Item]) -> bool:
    """Whether a collected test of a run that has not turned the plugin on asks for an
    ``lrm_*`` fixture (``suite_probes`` parametrizing, an ``lrm_model`` in a conftest)."""
    if config.pluginmanager.has_plugin(HOOKS_NAME):
        return False
    return any(
        name.startswith(FIXTURE_PREFIX)
        for item in items
        for name in getattr(item, "fixturenames", ())
    )


def _suites_named(config: pytest.Config) -> bool:
    """A suite file, or the project's ``cases`` folder (or a folder in it), on the command line."""
    cases = config.rootpath / "cases"
    for arg in config.invocation_params.args:
        text = str(arg)
        if text.startswith("-"):
            continue
        path = Path(text.split("::")[0])
        if path.suffix in SUITE_SUFFIXES:
            return True
        resolved = (config.invocation_params.dir / path).resolve()
        if resolved == cases or cases in resolved.parents:
            return True
    return False
