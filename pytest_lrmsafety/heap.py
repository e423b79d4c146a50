"""What a run keeps to its end, kept out of the garbage collector's full passes.

A run's collected tree, and what it has made by its first record (the SDK's modules, the
judges, the report's modules), live to the end of the session: each full pass of the
collector would walk them again for nothing (~0.2 ms of CPU per probe over a run). They are
frozen (``gc.freeze``) and handed back when the configuration is cleaned up, before pytest's
last collection looks for unraisable exceptions. At the interpreter's exit what is left is
frozen again, so the exit does not walk a heap that the OpenAI SDK's types make large (~0.25 s
of a 1,000-probe run; benchmarks/RESULTS.md); cycles left at exit are then not finalized,
which Python never promises for objects alive at exit.
"""

from __future__ import annotations

import atexit
import gc

import pytest

FROZEN = pytest.StashKey[bool]()


def freeze_for_run(config: pytest.Config) -> None:
    """Freezes what exists now (the collected tree) until the configuration's cleanup, and
    registers the exit's freeze (once per process: after every exit handler registered later
    than it, before those registered earlier)."""
    gc.freeze()
    config.stash[FROZEN] = True
    config.add_cleanup(lambda: _thaw(config))
    atexit.unregister(gc.freeze)
    atexit.register(gc.freeze)


def freeze_more(config: pytest.Config) -> None:
    """Freezes what the run has made since, where :func:`freeze_for_run` froze the tree."""
    if config.stash.get(FROZEN, False):
        gc.freeze()


def _thaw(config: pytest.Config) -> None:
    config.stash[FROZEN] = False
    gc.unfreeze()
