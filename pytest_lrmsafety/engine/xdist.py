"""The xdist scheduler that gives each worker its whole, fixed share at once.

Imported only when pytest-xdist runs; ``partition.py`` says why and how workers match it.
"""

from __future__ import annotations

from xdist.scheduler import LoadScheduling  # type: ignore[import-untyped]

from .partition import worker_index


class PartitionScheduling(LoadScheduling):  # type: ignore[misc]
    """LoadScheduling whose first distribution is the whole, fixed partition."""

    def schedule(self) -> None:
        assert self.collection_is_completed
        if self.collection is not None:  # type: ignore[has-type]  # a node was replaced
            for node in self.nodes:
                self.check_schedule(node)
            return
        if not self._check_nodes_have_same_collection():
            self.log("**Different tests collected, aborting run**")
            return
        collection: list[str] = next(iter(self.node2collection.values()))
        self.collection = collection
        count = len(self.nodes)
        for node in self.nodes:
            index = worker_index(node.gateway.id)
            share = list(range(index, len(collection), count))
            if share:
                self.node2pending[node].extend(share)
                node.send_runtest_some(share)
        self.pending[:] = []
        for node in self.nodes:
            node.shutdown()
