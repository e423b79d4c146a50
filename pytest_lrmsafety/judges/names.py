"""The built-in judges' names: what a suite may name without a hook.

The run registers a factory for each (``Runtime.judges``); ``lrmsafety validate`` and
``lrmsafety import`` check suites against the same set, so a judge added to one is known to
all three (``tests/test_plugin_extend.py`` holds the run's registry to this set).
"""

from __future__ import annotations

from .native import NATIVE_JUDGES
from .phishing import NAMES as PHISHING_JUDGES

BUILTIN_JUDGES: frozenset[str] = frozenset(
    {
        "refusal",
        "aware",
        "llm_aware",
        "default",
        "llm",
        "llama_guard",
        "embedded",
        "reward",
        *PHISHING_JUDGES,
        *NATIVE_JUDGES,
    }
)
