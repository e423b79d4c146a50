"""pytest-xdist support: every worker knows, before its first test, which probes it will run.

With the default ``--dist load`` the controller hands out tests as workers finish, so no
worker could plan its generations. Here the controller sends each worker a fixed share of
the collection up front: test ``i`` goes to worker ``i % n`` (``engine/xdist.py``). A worker
computes the same share from its own collection, plans exactly those generations and keeps
them in flight: no probe is generated twice and ``-n 4`` makes as many model requests as
``-n 0``. A worker that replaces a dead one gets the dead worker's unfinished tests as its
share, listed in its ``workerinput``. This module does not import xdist, so a run without it
pays nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, fields
from typing import Any, TypeVar

import pytest

from ..progress import PROGRESS, PROGRESS_DIR_KEY
from .engine import EngineStats

PARTITION_KEY = "lrm_partition"
SHARE_KEY = "lrm_share"  # a replacement worker's share: indices into the collection
STATS_KEY = "lrm_engine_stats"
JUDGES_KEY = "lrm_judges"
T = TypeVar("T")


def worker_index(worker_id: str) -> int:
    """``gw3`` -> 3."""
    return int(worker_id.removeprefix("gw"))


def my_share(items: Sequence[T], workerinput: dict[str, Any]) -> Sequence[T]:
    """The items this worker will run under :class:`PartitionScheduling`."""
    if not workerinput.get(PARTITION_KEY):
        return items
    share = workerinput.get(SHARE_KEY)
    if share is not None:
        return [items[i] for i in share if i < len(items)]
    return items[worker_index(workerinput["workerid"]) :: int(workerinput["workercount"])]


class XdistPlanning:
    """Registered on the controller when pytest-xdist is active and the plugin runs suites."""

    NAME = "lrmsafety-xdist"

    def __init__(self) -> None:
        self.partitioned = False
        self.stats = EngineStats()
        self.judges: dict[str, str] = {}  # descriptions of the judges the workers made
        self.scheduler: Any = None  # the PartitionScheduling, when this run uses it

    @pytest.hookimpl(optionalhook=True)
    def pytest_xdist_make_scheduler(self, config: pytest.Config, log: Any) -> Any:
        if config.getvalue("dist") != "load":
            return None  # another mode was asked for: workers generate on demand
        from .xdist import PartitionScheduling

        self.partitioned = True
        self.scheduler = PartitionScheduling(config, log)
        return self.scheduler

    @pytest.hookimpl(optionalhook=True)
    def pytest_configure_node(self, node: Any) -> None:
        node.workerinput[PARTITION_KEY] = node.config.getvalue("dist") == "load"
        if self.scheduler is not None and self.scheduler.collection is not None:
            # A replacement for a dead worker: it plans what the dead one left.
            node.workerinput[SHARE_KEY] = self.scheduler.reserve(node)
        # Workers print nothing the user sees: they feed their counts to the controller's
        # progress line through files in this folder (progress.py).
        progress = node.config.stash.get(PROGRESS, None)
        folder = progress.feed_folder() if progress is not None else None
        if folder is not None:
            node.workerinput[PROGRESS_DIR_KEY] = folder

    @pytest.hookimpl(optionalhook=True)
    def pytest_testnodedown(self, node: Any, error: Any) -> None:
        output = getattr(node, "workeroutput", {})
        self.judges.update(output.get(JUDGES_KEY) or {})
        data = output.get(STATS_KEY)
        if data:
            for f in fields(EngineStats):
                if f.name != "started":
                    setattr(self.stats, f.name, getattr(self.stats, f.name) + data[f.name])

    def unrun_lines(self) -> list[str]:
        """``worker gw1 died: 15 probes not run``, one line per dead worker that left tests
        nobody ran; the report is partial when there is one."""
        if self.scheduler is None:
            return []
        return [
            f"worker {dead} died: {count} probe{'s' if count != 1 else ''} not run"
            for dead, count in sorted(self.scheduler.unrun().items())
        ]

    def handover_lines(self) -> list[str]:
        """``worker gw1 died; gw2 ran its 15 remaining probes``."""
        if self.scheduler is None:
            return []
        return [
            f"worker {dead} died; {replacement} took over its {count} remaining "
            f"probe{'s' if count != 1 else ''}"
            for dead, replacement, count in self.scheduler.handed_over
        ]


def export_to_controller(
    config: pytest.Config, stats: EngineStats | None, judges: dict[str, str]
) -> None:
    """On a worker: hands the engine's counts and the judges' descriptions to the controller,
    which collects nothing itself and must not build judges (models) just to name them."""
    output = getattr(config, "workeroutput", None)
    if output is not None:
        if stats is not None:
            output[STATS_KEY] = asdict(stats)
        output[JUDGES_KEY] = judges
