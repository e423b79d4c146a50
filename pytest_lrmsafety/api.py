"""The Python API: parametrize your own test functions from a suite."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from .attacks import AttackRegistry, builtin_attacks
from .cases.loader import load_suite
from .collect import expand_probes


def suite_probes(
    path: str | Path,
    *,
    attacks: AttackRegistry | None = None,
    judges: set[str] | None = None,
) -> list[Any]:
    """The probes of a suite file, as ``pytest.param`` values with the collected ids.

    Use it with the plugin's fixtures::

        @pytest.mark.parametrize("lrm_probe", suite_probes("cases/harmful.yaml"))
        def test_harmful(lrm_outcome):
            assert lrm_outcome.outcome == "pass", lrm_outcome.message

    Args:
        path: The suite file.
        attacks: The attacks the suite may name (default: the built-in ones).
        judges: The judge names the suite may use (default: the built-in ``refusal``).

    Raises:
        SuiteError: With ``file:line: field: message`` when the suite is bad.
    """
    registry = attacks or builtin_attacks()
    suite = load_suite(Path(path), str(path), attacks=set(registry), judges=judges or {"refusal"})
    return [
        pytest.param(probe, id=probe.name, marks=pytest.mark.lrm)
        for probe in expand_probes(suite, registry)
    ]
