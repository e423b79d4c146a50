"""Gathering concurrent single requests into batches, for backends that run a batch at once.

The engine keeps ``--lrm-concurrency`` requests in flight, each on its own pool thread, and
each calls ``client.generate`` for one probe. A local backend (transformers, vLLM offline)
would waste that: one forward pass can serve many prompts. :class:`Batcher` puts every call
on a queue; one daemon thread takes what has arrived (waiting a few milliseconds for more
after the first, up to ``max_batch``), hands the lot to ``run_batch`` and wakes each caller
with its own result. A failure of the whole batch goes to every caller in it.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from typing import Generic, TypeVar

Req = TypeVar("Req")
Res = TypeVar("Res")


class Batcher(Generic[Req, Res]):
    """Runs ``run_batch(requests) -> results`` (same order, same length) on its own thread."""

    def __init__(
        self,
        run_batch: Callable[[Sequence[Req]], Sequence[Res]],
        *,
        max_batch: int = 16,
        linger_s: float = 0.005,
        name: str = "lrm-batcher",
    ) -> None:
        if max_batch < 1:
            raise ValueError("max_batch must be at least 1")
        self._run = run_batch
        self.max_batch = max_batch
        self.linger_s = linger_s
        self._queue: queue.Queue[tuple[Req, Future[Res]]] = queue.Queue()
        self._name = name
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self.batches = 0  # how many batches ran (tests and benchmarks read it)
        self.largest = 0

    def submit(self, request: Req) -> Future[Res]:
        future: Future[Res] = Future()
        self._start()
        self._queue.put((request, future))
        return future

    def call(self, request: Req) -> Res:
        """Submits one request and waits for its result (or its exception)."""
        return self.submit(request).result()

    def _start(self) -> None:
        if self._thread is None:
            with self._lock:
                if self._thread is None:
                    self._thread = threading.Thread(target=self._loop, name=self._name, daemon=True)
                    self._thread.start()

    def _take(self) -> list[tuple[Req, Future[Res]]]:
        taken = [self._queue.get()]
        deadline = time.monotonic() + self.linger_s
        while len(taken) < self.max_batch:
            left = deadline - time.monotonic()
            try:
                item = self._queue.get(timeout=left) if left > 0 else self._queue.get_nowait()
            except queue.Empty:
                break
            taken.append(item)
        return taken

    def _loop(self) -> None:
        while True:
            taken = self._take()
            self.batches += 1
            self.largest = max(self.largest, len(taken))
            try:
                results = self._run([req for req, _ in taken])
                if len(results) != len(taken):
                    raise RuntimeError(
                        f"batch backend returned {len(results)} results for {len(taken)} requests"
                    )
            except BaseException as exc:  # every caller in the batch gets the failure
                for _, future in taken:
                    future.set_exception(exc)
                continue
            for (_, future), result in zip(taken, results, strict=True):
                future.set_result(result)
