"""The xdist scheduler that gives each worker its whole, fixed share at once.

Imported only when pytest-xdist runs; ``partition.py`` says why and how workers match it.

When a worker dies, xdist starts a replacement (up to ``--max-worker-restart``). The dead
worker's tests that had not finished are reserved for the replacement before it starts, and
sent to it in the ``workerinput`` as its share, so it plans them like any worker (those whose
completions the dead worker had already cached resolve at once). The test a worker died in
gets one more try; if it kills a worker again, xdist reports it as crashed. What no worker
ran is named by :meth:`PartitionScheduling.unrun`, and the report is then partial.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from xdist.scheduler import LoadScheduling  # type: ignore[import-untyped]

from .partition import worker_index


class PartitionScheduling(LoadScheduling):  # type: ignore[misc]
    """LoadScheduling whose first distribution is the whole, fixed partition."""

    def __init__(self, config: Any, log: Any = None) -> None:
        super().__init__(config, log)
        self.reserved: dict[Any, list[int]] = {}  # replacement node -> the share it will get
        self.left_by: dict[int, str] = {}  # test index -> the dead worker that left it
        self.crashed: dict[int, str] = {}  # a test a worker died in -> that worker
        self.given_up: list[int] = []  # tests that killed a worker twice
        self.handed_over: list[tuple[str, str, int]] = []  # (dead worker, replacement, tests)

    @property
    def tests_finished(self) -> bool:
        # A replacement is still starting up with its share: not finished, or xdist would
        # shut it down before it ran anything.
        return not self.reserved and bool(super().tests_finished)

    def schedule(self) -> None:
        assert self.collection_is_completed
        if self.collection is not None:  # type: ignore[has-type]  # a node was replaced
            for node in self.nodes:
                share = self.reserved.pop(node, None)
                if share is None:
                    continue
                if node in self.node2collection:
                    self._give(node, share)
                else:  # it collected different tests: its share cannot be sent to it
                    self.pending.extend(share)
                    node.shutdown()
            return
        if not self._check_nodes_have_same_collection():
            self.log("**Different tests collected, aborting run**")
            return
        collection: list[str] = next(iter(self.node2collection.values()))
        self.collection = collection
        if self.maxschedchunk is None:  # type: ignore[has-type]  # check_schedule compares it
            self.maxschedchunk = len(collection)
        count = len(self.nodes)
        self.pending[:] = []
        for node in self.nodes:
            index = worker_index(node.gateway.id)
            self._give(node, list(range(index, len(collection), count)))

    def _give(self, node: Any, share: list[int]) -> None:
        if share:
            self.node2pending[node].extend(share)
            node.send_runtest_some(share)
        node.shutdown()

    def reserve(self, node: Any) -> list[int]:
        """The tests left by dead workers, now the share of ``node``, a replacement."""
        share = sorted(self.pending)
        self.pending[:] = []
        self.reserved[node] = share
        for dead, count in Counter(self.left_by[i] for i in share).items():
            self.handed_over.append((dead, node.gateway.id, count))
        return share

    def remove_node(self, node: Any) -> str | None:
        """Removes a finished or dead node; a dead one's unfinished tests wait for a
        replacement. Returns the test it died in, for xdist to report, only when that test
        already killed a worker before."""
        pending = self.node2pending.pop(node)
        pending += self.reserved.pop(node, [])  # it died before it was given its share
        if not pending:
            return None
        name = node.gateway.id
        for index in pending:
            self.left_by[index] = name
        first = pending[0]  # the test it was running: tests run in the order sent
        if first in self.crashed:
            self.given_up.append(first)
            self.pending.extend(pending[1:])
            assert self.collection is not None
            return str(self.collection[first])
        self.crashed[first] = name
        self.pending.extend(pending)
        return None

    def unrun(self) -> Counter[str]:
        """How many tests no worker ran, by the dead worker that left them."""
        left = [*self.pending, *self.given_up]
        left += [i for share in self.reserved.values() for i in share]
        return Counter(self.left_by.get(i, "?") for i in left)
