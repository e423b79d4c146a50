"""One background event loop that runs generation jobs in plan order.

For clients that can ``await`` their requests (``agenerate``: the OpenAI-compatible client),
one asyncio loop in one daemon thread keeps ``size`` requests in flight. Against a pool of
32 threads this leaves pytest's main thread alone: one thread holds the interpreter lock for
the network work instead of 32 contending for it. Jobs with no coroutine (a multi-turn
conversation, an attacker-model search) run on a small pool of daemon threads, awaited from
the loop, within the same ``size``.

The interface is :class:`~.pool.Pool`'s: ``submit``, ``hurry``, ``in_flight``,
``max_in_flight``, ``oldest_running``, ``close``.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import threading
import time

from .pool import PLANNED, URGENT, Job, Pool


class LoopPool:
    """Runs up to ``size`` jobs at once on one event loop: planned jobs first in, first out;
    urgent jobs first. A job's ``arun`` (a coroutine function) runs on the loop; a job
    without one runs its ``run`` on a daemon thread."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._heap: list[tuple[int, int, Job]] = []
        self._order = itertools.count()
        self._lock = threading.Lock()
        self.in_flight = 0
        self.max_in_flight = 0
        self._running: set[Job] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._ready: asyncio.Event | None = None
        self._threads: Pool | None = None  # for jobs with no coroutine, made on first need
        self._dispatcher: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()  # the running jobs (kept referenced)

    def _ensure_started(self) -> asyncio.AbstractEventLoop:
        if self._loop is not None:
            return self._loop
        loop = asyncio.new_event_loop()
        started = threading.Event()

        def serve() -> None:
            asyncio.set_event_loop(loop)
            self._ready = asyncio.Event()
            self._dispatcher = loop.create_task(self._dispatch())
            started.set()
            loop.run_forever()

        threading.Thread(target=serve, name="lrm-engine-loop", daemon=True).start()
        started.wait()
        self._loop = loop
        return loop

    def _wake(self) -> None:
        loop = self._ensure_started()
        assert self._ready is not None
        with contextlib.suppress(RuntimeError):  # closed: queued jobs are dropped, as in Pool
            loop.call_soon_threadsafe(self._ready.set)

    def submit(self, job: Job, *, urgent: bool = False) -> None:
        """Queues a job; an urgent one (a test is waiting for it) goes before planned ones."""
        with self._lock:
            heapq.heappush(self._heap, (URGENT if urgent else PLANNED, next(self._order), job))
        self._wake()

    def hurry(self, job: Job) -> None:
        """Moves a queued job to the front: a test is waiting for it now."""
        if not job.started:
            with self._lock:
                heapq.heappush(self._heap, (URGENT, next(self._order), job))
            self._wake()

    def _take(self) -> Job | None:
        with self._lock:
            while self._heap:
                _, _, job = heapq.heappop(self._heap)
                if job.started:  # already taken through a hurry() duplicate
                    continue
                job.started = True
                self.in_flight += 1  # counted before it runs: see _dispatch
                self.max_in_flight = max(self.max_in_flight, self.in_flight)
                job.began = time.monotonic()
                self._running.add(job)
                return job
            return None

    async def _dispatch(self) -> None:
        """Starts queued jobs while fewer than ``size`` run: all of them at once, so the
        count in flight is right from the start even while the first request imports the
        SDK."""
        ready = self._ready
        assert ready is not None
        loop = asyncio.get_running_loop()
        while True:
            while self.in_flight < self.size:
                job = self._take()
                if job is None:
                    break
                task = loop.create_task(self._run(job))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)
            ready.clear()
            await ready.wait()

    async def _run(self, job: Job) -> None:
        try:
            if job.arun is not None:
                result = await job.arun()
            else:
                result = await self._in_thread(job)
            job.future.set_result(result)
        except asyncio.CancelledError:
            raise
        except BaseException as exc:  # delivered to whoever waits on the future
            job.future.set_exception(exc)
        finally:
            with self._lock:
                self.in_flight -= 1
                self._running.discard(job)
            assert self._ready is not None
            self._ready.set()

    async def _in_thread(self, job: Job) -> object:
        if self._threads is None:
            self._threads = Pool(self.size)
        inner = Job(job.run, label=job.label)
        self._threads.submit(inner)
        return await asyncio.wrap_future(inner.future)

    def oldest_running(self) -> Job | None:
        """The job in flight the longest, for the progress line (``None`` when idle)."""
        with self._lock:
            return min(self._running, key=lambda j: j.began, default=None)

    def close(self) -> None:
        """Stops the loop; requests in flight are cancelled (what is done is cached)."""
        loop, self._loop = self._loop, None
        if loop is not None:
            with contextlib.suppress(RuntimeError, TimeoutError):
                asyncio.run_coroutine_threadsafe(self._shutdown(), loop).result(timeout=1.0)
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(loop.stop)
        if self._threads is not None:
            self._threads.close()

    async def _shutdown(self) -> None:
        """Cancels the dispatcher and the jobs in flight, and lets them end."""
        tasks = [*self._tasks, *([self._dispatcher] if self._dispatcher else [])]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
