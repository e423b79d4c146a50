"""Several servers of one model: requests spread over them, a replica that fails is skipped."""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping, Sequence
from typing import Any

from .base import Completion, GenerationError, Message, ModelClient, SamplingParams
from .endpoint import CHECK_TIMEOUT_S, EndpointDown, ServedClient, url_deployment

COOLDOWN_S = 30.0


class ReplicaClient(ServedClient):
    """Round-robin over replicas of the same model.

    A replica whose request fails for a server reason (connection refused, timeout, 5xx,
    429, a cut stream) is rested for ``cooldown_s`` and the request goes to the next one; the
    run fails a probe only when every replica has failed it. Errors of the request itself
    (400, 401) are the same everywhere and are not retried elsewhere.
    """

    def __init__(self, replicas: Sequence[ModelClient], cooldown_s: float = COOLDOWN_S) -> None:
        if not replicas:
            raise ValueError("ReplicaClient needs at least one replica")
        self.replicas = list(replicas)
        self.cooldown_s = cooldown_s
        self._next = 0
        self._down_until = [0.0] * len(self.replicas)
        self._lock = threading.Lock()
        self.failovers = 0
        # Replicas of one run are one deployment: the same key whichever answers.
        self.deployment = url_deployment(self.endpoints)

    @property
    def name(self) -> str:
        return self.replicas[0].name

    @property
    def supports_prefill(self) -> bool:
        return all(r.supports_prefill for r in self.replicas)

    def budget_unsupported(self, budget: int) -> str | None:
        return next((why for r in self.replicas if (why := r.budget_unsupported(budget))), None)

    @property
    def cache_identity(self) -> Mapping[str, Any]:
        """The model's identity, the same for every replica: they share one deployment."""
        return self.replicas[0].cache_identity

    @property
    def endpoints(self) -> tuple[str, ...]:
        """Every replica's URL."""
        return tuple(u for r in self.replicas for u in r.endpoints)

    @property
    def deployment(self) -> dict[str, Any]:
        first = self.replicas[0]
        return dict(first.deployment) if isinstance(first, ServedClient) else {}

    @deployment.setter
    def deployment(self, value: dict[str, Any]) -> None:
        for replica in self.replicas:
            if isinstance(replica, ServedClient):
                replica.deployment = dict(value)

    @property
    def served(self) -> str | None:
        first = self.replicas[0]
        return first.served if isinstance(first, ServedClient) else None

    @served.setter
    def served(self, value: str | None) -> None:
        for replica in self.replicas:
            if isinstance(replica, ServedClient):
                replica.served = value

    def check_endpoint(self, where: str, timeout: float = CHECK_TIMEOUT_S) -> str | None:
        """Checks every replica: one that answers without the model stops the run; one
        that does not answer is left to failover, unless none answers. Returns what the
        answering replicas serve the model from (space-separated when they differ)."""
        served: set[str] = set()
        down: list[str] = []
        for replica in self.replicas:
            if not isinstance(replica, ServedClient):
                continue
            try:
                found = replica.check_endpoint(where, timeout)
            except EndpointDown as exc:  # failover's business, unless every replica is down
                down.append(str(exc))
                continue
            if found is not None:
                served.add(str(found))
        if down and len(down) == len(self.replicas):
            raise EndpointDown(f"{down[0]}; no other replica answers either")
        return " ".join(sorted(served)) or None

    def _order(self) -> list[int]:
        """Replica indexes to try: healthy ones from the round-robin position, then rested ones."""
        with self._lock:
            start = self._next
            self._next = (self._next + 1) % len(self.replicas)
            now = time.monotonic()
            ring = [(start + i) % len(self.replicas) for i in range(len(self.replicas))]
            healthy = [i for i in ring if self._down_until[i] <= now]
            return healthy + [i for i in ring if i not in healthy]

    def generate(self, messages: Sequence[Message], params: SamplingParams) -> Completion:
        last: GenerationError | None = None
        for attempt, index in enumerate(self._order()):
            try:
                return self.replicas[index].generate(messages, params)
            except GenerationError as exc:
                if not exc.server_fault:
                    raise
                last = exc
                with self._lock:
                    self._down_until[index] = time.monotonic() + self.cooldown_s
                    if attempt + 1 < len(self.replicas):
                        self.failovers += 1
        assert last is not None
        raise GenerationError(
            f"every replica failed; last: {last}", retryable=last.retryable, server_fault=True
        )
