"""The engine: plans every selected probe, keeps the model busy, serves each test its result."""

from __future__ import annotations

import itertools
import random
import sqlite3
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from concurrent.futures import wait as wait_for
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..cases.model import Probe
from ..judges.base import Judge, JudgeInput, Verdict
from ..models.base import Completion, GenerationError, ModelClient, SamplingParams
from ..outcome import JUDGED_STATUSES
from .cache import Cache
from .cassette import Recorder
from .converse import ProbeRunner, converse
from .keys import client_identity, request_key, verdict_key
from .metered import MeteredClient
from .pool import Job, Pool, RateLimit

if TYPE_CHECKING:  # the engine imports no attack module
    from ..attacks.pair import AttackerSearches

DEADLINE_PASSED = "deadline passed"  # how a probe cut off by --lrm-deadline reads
BACKOFF_BASE_S = 0.5
BACKOFF_CAP_S = 30.0
# Planned generations go to the pool at most this far ahead of the tests that take them
# (and at least 8 per request in flight): a model faster than the tests, or a cached run,
# must not fill memory with completions no test has taken yet.
AHEAD_MIN = 256
AHEAD_PER_SLOT = 8
# A test that had to wait for its completion also lets the next few arrive: it waits for the
# one this many places later in plan order (half the requests in flight, at most
# GATHER_MAX), for at most GATHER_WAIT_S more. The tests after it then find theirs ready, and
# pytest's thread wakes once for several probes instead of once for each: each wake costs a
# thread switch and cold caches (0.2-0.5 ms of CPU per probe on the issue-14 benchmark,
# benchmarks/RESULTS.md). A test's result is late by GATHER_WAIT_S at most.
GATHER_MAX = 16
GATHER_WAIT_S = 0.1


@dataclass
class EngineStats:
    """What the engine did in this process; shown at the end of the run."""

    planned: int = 0
    from_cache: int = 0
    generated: int = 0  # completions generated (a probe of several calls is one)
    model_calls: int = 0  # calls of the model under test they took (retries included)
    errors: int = 0
    retries: int = 0
    verdicts_cached: int = 0
    verdicts_judged: int = 0
    judge_calls: int = 0  # requests to judge models (the llm judge; windows and retries count)
    judge_tokens: int = 0
    cache_errors: int = 0
    started: float = field(default_factory=time.monotonic)

    @property
    def done(self) -> int:
        return self.from_cache + self.generated + self.errors


def backoff(attempt: int) -> float:
    """Exponential backoff with full jitter: 0.5 s, 1 s, 2 s ... up to 30 s, times U(0.5, 1)."""
    delay: float = min(BACKOFF_CAP_S, BACKOFF_BASE_S * 2.0**attempt)
    return delay * random.uniform(0.5, 1.0)


class Engine:
    """One per process. ``plan`` once after collection; ``completion`` from each test.

    Args:
        client: The model under test.
        cache: Completions and verdicts by content address.
        concurrency: Requests in flight at most.
        retries: Extra attempts for failures the SDK does not retry itself (a malformed
            body, a stream cut mid-way); the SDK retries 429, 5xx, timeouts and dropped
            connections with its own backoff, honouring ``Retry-After``.
        requests_per_minute: Optional cap on the rate of calls of the model under test:
            every call of a probe that takes several (turns, trace steps, a translation,
            phishing turns, an attacker-model search's rounds), not once per probe.
        recorder: Writes every completion used to a cassette.
        judges_for: The judges of a probe. Given, the engine judges each planned probe on its
            pool as soon as its completion is there, with the judges that declare
            ``thread_safe = True``; tests then only collect the verdicts.
        judge_names: Every judge name known, for messages.
        on_wait: Called every few seconds while a test waits for its completion.
        attacker: Runs attacker-model probes (``pair``, ``crescendo_adaptive``, ``tap``), if
            an attacker model is set.
        runner_for: A probe's runner when it takes more than one generation of its own
            (prefill steps, a translation: ``converse.ProbeRunner``), else ``None``.
    """

    def __init__(
        self,
        client: ModelClient,
        cache: Cache,
        *,
        concurrency: int = 8,
        retries: int = 2,
        requests_per_minute: float | None = None,
        recorder: Recorder | None = None,
        judges_for: Callable[[Probe], Mapping[str, Judge]] | None = None,
        judge_names: Callable[[], Sequence[str]] | None = None,
        on_wait: Callable[[EngineStats], None] | None = None,
        attacker: AttackerSearches | None = None,
        runner_for: Callable[[Probe], ProbeRunner | None] | None = None,
    ) -> None:
        self.client = client
        self.attacker = attacker
        self._runner_for = runner_for
        self.cache = cache
        self.identity = client_identity(client)
        self.retries = retries
        self.recorder = recorder
        self.stats = EngineStats()
        # Threads, not an asyncio loop: on the issue-14 benchmark (benchmarks/RESULTS.md) a
        # loop on AsyncOpenAI was no faster once responses skip the SDK's models (AsyncOpenAI
        # costs more CPU per request than the sync client, and two cores are CPU-bound).
        self.pool = Pool(concurrency)
        self._rate = RateLimit(requests_per_minute)
        self._calls_lock = threading.Lock()
        # what every probe's generations call: the limit and the count apply per call
        self._metered = MeteredClient(client, self._rate, self._count_call)
        self._jobs: dict[str, Job] = {}
        self._users: dict[str, int] = {}  # planned probes per request key, until released
        self.ahead = max(AHEAD_MIN, AHEAD_PER_SLOT * concurrency)
        # Planned generations not yet given to the pool: no Job, no Future yet (one each per
        # probe, made when it enters the window or a test asks for it: at 20,000 probes
        # they were 77 MB made at once), only the sampling and the probes that share it.
        self._planned: dict[str, tuple[SamplingParams, list[Probe]]] = {}
        self._waiting: deque[str] = deque()  # their keys, in plan order
        # given to the pool, no test has asked for it yet; in plan order (see GATHER_MAX)
        self._window: dict[str, None] = {}
        #: How many places later a test that waited lets a completion arrive (under 2: none).
        self.gather = min(GATHER_MAX, concurrency // 2)
        self._keys: dict[tuple[tuple[str, str, str, int], SamplingParams], str] = {}
        self._lock = threading.Lock()
        self._replays = client.replays  # a replay: answers from its recording, never asks
        self._judges_for = judges_for
        self._judge_names = judge_names
        self.on_wait = on_wait
        self.last_cache_error: str | None = None
        self.closed = False
        #: ``time.monotonic()`` after which a probe still waiting for its completion is an
        #: error (``--lrm-deadline``), and the seconds that deadline allowed.
        self.deadline: tuple[float, float] | None = None
        self._verdicts: dict[tuple[str, str, str, int], tuple[tuple[str, ...], Future[Any]]] = {}
        # Worked out once per probe: its sampling at planning, its decoded answer at judging.
        self._params: dict[tuple[str, str, str, int], SamplingParams] = {}
        self._decoded: dict[tuple[str, str, str, int], str | None] = {}

    def key(self, probe: Probe, params: SamplingParams) -> str:
        """The probe's request key (computed once per probe and sampling)."""
        memo = (probe_id(probe), params)
        key = self._keys.get(memo)
        if key is None:
            identity = self.identity
            if "attacker" in probe.needs and self.attacker is not None:
                # the key's name is pair's, the first search: its cached rounds stay valid
                identity = {**identity, "pair": self.attacker.identity_for(probe.attack)}
            runner = self._runner_for(probe) if self._runner_for is not None else None
            if runner is not None:
                identity = {**identity, "runner": dict(runner.identity)}
            key = self._keys[memo] = request_key(
                identity, probe.messages, params, probe.sample, probe.turns
            )
        return key

    def plan(self, requests: Iterable[tuple[Probe, SamplingParams]]) -> None:
        """Queues every request in order; cached ones are resolved at once, in bulk."""
        todo: dict[str, tuple[SamplingParams, list[Probe]]] = {}
        for probe, params in requests:
            self._params[probe_id(probe)] = params
            key = self.key(probe, params)
            self._users[key] = self._users.get(key, 0) + 1
            with self._lock:
                job = self._jobs.get(key)
                queued = todo.get(key) or self._planned.get(key)
            if job is not None:
                if self._judges_for is not None:
                    self._plan_judging(probe, job)
            elif queued is not None:
                queued[1].append(probe)  # judged with the job once it is made
            else:
                todo[key] = (params, [probe])
        self.stats.planned += len(todo)
        known = self._known(list(todo))
        for key, (params, probes) in todo.items():
            if key in known or self._replays:
                self._start(key, probes[0], params, known.get(key), urgent=False)
            else:
                with self._lock:
                    self._planned[key] = (params, probes)
                    self._waiting.append(key)
        self._feed()

    def _make_job(self, key: str) -> Job:
        """The job of a planned generation, its judging set up (``self._lock`` held)."""
        params, probes = self._planned.pop(key)
        probe = probes[0]
        job = self._jobs[key] = Job(lambda: self._generate(key, probe, params), label=probe.name)
        if self._judges_for is not None:
            for each in probes:
                self._plan_judging(each, job)
        return job

    def _plan_judging(self, probe: Probe, job: Job) -> None:
        """Judges a probe on the pool thread that generated it, right after the generation.

        Completions already known (cache, cassette) are judged in the test's own thread:
        that is cheap, and keeping the pool busy with it would only make the main thread
        wait for the interpreter lock.
        """
        assert self._judges_for is not None
        if job.future.done():
            return
        judges = self._judges_for(probe)
        if not judges or not all(j.thread_safe for j in judges.values()):
            return  # judged in the test's own thread
        verdicts: Future[list[Verdict]] = Future()
        self._verdicts[probe_id(probe)] = (tuple(judges), verdicts)

        def judge(done: Future[Any]) -> None:  # runs in the thread that finished the job
            error = done.exception()
            if error is not None:
                verdicts.set_exception(error)
                return
            completion: Completion = done.result()
            try:
                targets, self._decoded[probe_id(probe)] = targets_of(completion, probe)
                verdicts.set_result(self._judge(probe, completion, judges, targets))
            except BaseException as exc:  # delivered to the test that collects the verdicts
                verdicts.set_exception(exc)

        job.future.add_done_callback(judge)

    def _known(self, keys: Sequence[str]) -> dict[str, Completion]:
        if self._replays:
            lookup = self.client.lookup
            return {k: c for k in keys if (c := lookup(k)) is not None}
        return self.cache.get_completions(keys)

    def _start(
        self,
        key: str,
        probe: Probe,
        params: SamplingParams,
        known: Completion | None,
        *,
        urgent: bool,
    ) -> Job:
        job = Job(lambda: self._generate(key, probe, params), label=probe.name)
        with self._lock:
            self._jobs[key] = job
        if known is not None:
            job.started = True
            job.future.set_result(known)
            self.stats.from_cache += 1
            self._record(key, probe, params, known)
        elif self._replays:
            job.started = True
            job.future.set_exception(
                GenerationError(
                    f"probe not in the cassette {self.client.name!r} (key {key[:16]}); "
                    "record it with --lrm-record"
                )
            )
            self.stats.errors += 1
        else:
            self.pool.submit(job, urgent=urgent)
        return job

    def _feed(self) -> None:
        """Gives the pool planned jobs, in plan order, up to ``ahead`` untaken ones."""
        with self._lock:
            while self._waiting and len(self._window) < self.ahead:
                key = self._waiting.popleft()
                if key not in self._planned:  # hurried to the pool by a test, or released
                    continue
                self._window[key] = None
                self.pool.submit(self._make_job(key))

    def _taken(self, key: str) -> None:
        """A test asked for this completion: it leaves the window, the next one comes in."""
        with self._lock:
            self._window.pop(key, None)
        self._feed()

    def release(self, probe: Probe) -> None:
        """Forgets what the engine kept of a planned probe whose outcome is decided: its
        completion (once no other planned probe shares it), verdicts and decoded answer, so
        memory does not grow with the number of probes. The cache keeps them; a probe asked
        for again is served as one outside the plan (from the cache where it is on)."""
        pid = probe_id(probe)
        self._verdicts.pop(pid, None)
        self._decoded.pop(pid, None)
        params = self._params.pop(pid, None)
        key = self._keys.pop((pid, params), None) if params is not None else None
        if key is None:
            return
        with self._lock:
            left = self._users.pop(key, 1) - 1
            if left > 0:
                self._users[key] = left
                return
            self._planned.pop(key, None)  # never asked for: not generated
            self._window.pop(key, None)  # given to the pool, never taken: make room
            if (job := self._jobs.get(key)) is not None and job.future.done():
                del self._jobs[key]
        self._feed()

    @property
    def held(self) -> int:
        """Completions the engine still holds (planned probes not yet released)."""
        return len(self._jobs)

    def judges_of(self, probe: Probe) -> Mapping[str, Judge]:
        """The registered judges of a probe's case (an unknown name is left out)."""
        return self._judges_for(probe) if self._judges_for is not None else {}

    def planned_params(self, probe: Probe) -> SamplingParams | None:
        """The sampling a planned probe was queued with (``None``: not planned)."""
        return self._params.get(probe_id(probe))

    def judged(
        self, probe: Probe, completion: Completion, judges: Mapping[str, Judge]
    ) -> tuple[list[Verdict], str | None]:
        """The verdicts of a probe and its decoded answer, each worked out once: ahead on
        the engine's side when the probe was judged there, else now."""
        pid = probe_id(probe)
        known = self._verdicts.get(pid)
        if known is not None and known[0] == tuple(judges):
            verdicts: list[Verdict] = known[1].result()  # the judging sets _decoded first
            if pid not in self._decoded:  # judged through verdicts() (lrm_verdicts)
                self._decoded[pid] = decoded_answer(completion, probe)
            return verdicts, self._decoded[pid]
        targets, decoded = targets_of(completion, probe)
        self._decoded[pid] = decoded
        return self.verdicts(probe, completion, judges, targets), decoded

    def judge_names(self) -> Sequence[str]:
        return self._judge_names() if self._judge_names is not None else []

    def completion(
        self,
        probe: Probe,
        params: SamplingParams,
        *,
        on_wait: Callable[[EngineStats], None] | None = None,
        wait_s: float = 2.0,
    ) -> Completion:
        """This probe's completion, waiting only for it; raises :class:`GenerationError`."""
        key = self.key(probe, params)
        gather = False  # a planned completion this test must wait for (see GATHER_MAX)
        with self._lock:
            job = self._jobs.get(key)
            queued = job is None and key in self._planned
            if queued:  # planned, not on the pool yet: it goes now, first
                job = self._make_job(key)
        if job is None:  # not planned (a test outside the plan): run it now, first
            self.stats.planned += 1
            job = self._start(key, probe, params, self._known([key]).get(key), urgent=True)
        elif queued:
            self.pool.submit(job, urgent=True)
        else:
            self.pool.hurry(job)
            self._taken(key)
            gather = not job.future.done()
        result = self._wait(job, on_wait, wait_s)
        if gather:
            self._gather()
        return result

    def _wait(
        self, job: Job, on_wait: Callable[[EngineStats], None] | None, wait_s: float
    ) -> Completion:
        """The job's completion, calling ``on_wait`` every ``wait_s`` until the deadline."""
        while True:
            wait = wait_s
            if self.deadline is not None:
                wait = min(wait_s, self.deadline[0] - time.monotonic())
                if wait <= 0 and not job.future.done():
                    raise GenerationError(
                        f"{DEADLINE_PASSED}: no completion within --lrm-deadline "
                        f"{self.deadline[1]:g} s"
                    )
            try:
                result: Completion = job.future.result(timeout=max(wait, 0.0))
                return result
            except FutureTimeout:
                notify = on_wait or self.on_wait
                if notify is not None:
                    notify(self.stats)

    def _gather(self) -> None:
        """Lets the next few planned completions arrive (see ``GATHER_MAX``): waits for the one
        ``gather`` places later in plan order, when a thread is generating it."""
        if self.gather < 2:
            return
        with self._lock:
            later = next(itertools.islice(self._window, self.gather - 1, None), None)
            job = self._jobs.get(later) if later is not None else None
        if job is None or not job.started or job.future.done():
            return
        limit = GATHER_WAIT_S
        if self.deadline is not None:
            limit = min(limit, self.deadline[0] - time.monotonic())
        if limit > 0:
            wait_for((job.future,), timeout=limit)

    def _count_call(self) -> None:
        with self._calls_lock:
            self.stats.model_calls += 1

    def _generate(self, key: str, probe: Probe, params: SamplingParams) -> Completion:
        target = self._metered
        for attempt in range(self.retries + 1):
            try:
                if "attacker" in probe.needs:
                    if self.attacker is None:
                        raise GenerationError(f"{probe.attack}: needs --lrm-attacker-model")
                    completion = self.attacker.run(target, probe, params)
                elif self._runner_for is not None and (runner := self._runner_for(probe)):
                    completion = runner.run(target, probe, params)
                else:
                    completion = converse(target, probe.messages, probe.turns, params)
            except GenerationError as exc:
                if exc.retryable and attempt < self.retries:
                    self.stats.retries += 1
                    time.sleep(backoff(attempt))
                    continue
                self.stats.errors += 1
                raise
            except Exception as exc:  # a client bug must not end the run; it is this probe's error
                self.stats.errors += 1
                raise GenerationError(f"{type(exc).__name__}: {exc}") from None
            self._cache_write(
                self.cache.put_completion, key, self._request(probe, params), completion
            )
            self.stats.generated += 1
            self._record(key, probe, params, completion)
            return completion
        raise AssertionError("unreachable")  # pragma: no cover

    def _cache_write(self, write: Callable[..., None], *args: Any) -> None:
        """A result the cache could not keep is still this run's result; the count of such
        failures is shown at the end of the run."""
        try:
            write(*args)
        except sqlite3.Error as exc:
            self.stats.cache_errors += 1
            self.last_cache_error = str(exc)

    def _request(self, probe: Probe, params: SamplingParams) -> dict[str, Any]:
        request = {
            "model": self.identity,
            "messages": [dict(m) for m in probe.messages],
            "params": params.as_dict(),
            "sample": probe.sample,
        }
        if probe.turns:
            request["turns"] = list(probe.turns)
        return request

    def _record(
        self, key: str, probe: Probe, params: SamplingParams, completion: Completion
    ) -> None:
        if self.recorder is not None:
            self.recorder.write(key, self._request(probe, params), completion)

    def verdicts(
        self,
        probe: Probe,
        completion: Completion,
        judges: Mapping[str, Judge],
        targets: Sequence[tuple[str, str]],
    ) -> list[Verdict]:
        """Every judge on every target, from the verdict cache where the judge allows it.

        A probe judged ahead on the pool (see ``judges_for``) returns those verdicts.
        """
        pid = probe_id(probe)
        known = self._verdicts.get(pid)
        if known is not None and known[0] == tuple(judges):
            result: list[Verdict] = known[1].result()
            return result
        verdicts = self._judge(probe, completion, judges, targets)
        done: Future[list[Verdict]] = Future()
        done.set_result(verdicts)
        self._verdicts[pid] = (tuple(judges), done)  # asked again (lrm_verdicts): no rework
        return verdicts

    def _judge(
        self,
        probe: Probe,
        completion: Completion,
        judges: Mapping[str, Judge],
        targets: Sequence[tuple[str, str]],
    ) -> list[Verdict]:
        identities = {name: judge.cache_identity for name, judge in judges.items()}
        keys = self._verdict_keys(probe, identities, targets) if any(identities.values()) else {}
        known = self.cache.get_verdicts(list(keys.values())) if keys else {}  # one query
        verdicts = []
        for name, judge in judges.items():
            for target, text in targets:
                key = keys.get((name, target))
                verdict = known.get(key) if key else None
                if verdict is not None:
                    self.stats.verdicts_cached += 1
                else:
                    verdict = _run_judge(
                        name, judge, JudgeInput(probe.case, probe.messages, target, text)
                    )
                    self.stats.verdicts_judged += 1
                    self.stats.judge_calls += verdict.model_calls
                    self.stats.judge_tokens += verdict.tokens
                    if key:
                        self._cache_write(self.cache.put_verdict, key, verdict)
                verdicts.append(verdict)
        return verdicts

    @staticmethod
    def _verdict_keys(
        probe: Probe,
        identities: Mapping[str, Mapping[str, Any] | None],
        targets: Sequence[tuple[str, str]],
    ) -> dict[tuple[str, str], str]:
        """The cache keys of the verdicts of judges that cache (rule judges do not)."""
        context = {
            "messages": [dict(m) for m in probe.messages],
            "category": probe.case.category,
            "expect": probe.case.expect,
            "goal": probe.case.goal_text,  # judges weigh the text against it
            # A suite's own rubrics change what the llm judge is asked: part of the key.
            "rubrics": {name: digest for name, (_, digest) in probe.case.rubrics.items()},
        }
        # What else a judge may read (the benchmark judge picks its protocol by the subset;
        # CyberSecEval's asks the judge question): in the key only where set, so other
        # cases' keys stay as they were.
        for extra in ("subset", "judge_question"):
            if getattr(probe.case, extra):
                context[extra] = getattr(probe.case, extra)
        return {
            (name, target): verdict_key(identity, target, text, context)
            for name, identity in identities.items()
            if identity
            for target, text in targets
        }

    def close(self) -> None:
        self.closed = True
        self.pool.close()
        if self.recorder is not None:
            self.recorder.close()
        self.cache.close()


def probe_id(probe: Probe) -> tuple[str, str, str, int]:
    """What tells probes apart (two probes may share one completion, never their verdicts):
    the variant names the attack and the effort and budget variants (``direct-high-budget512``)."""
    return (probe.case.suite, probe.case.id, probe.variant, probe.sample)


def judge_targets(completion: Completion, probe: Probe | None = None) -> list[tuple[str, str]]:
    """The texts to judge: the thinking where there is one to read, and the answer. An
    answer given in kind (an encoding attack) is judged with its decoding beside it."""
    return targets_of(completion, probe)[0]


def targets_of(
    completion: Completion, probe: Probe | None = None
) -> tuple[list[tuple[str, str]], str | None]:
    """:func:`judge_targets` and the decoded answer they include (decoded once)."""
    answer = completion.answer
    decoded = decoded_answer(completion, probe)
    if decoded is not None:
        assert probe is not None and probe.decoder is not None  # only they decode
        answer = f"{answer}\n\n[decoded from {probe.decoder.name}]\n{decoded}"
    targets = [("answer", answer)]
    if completion.thinking_status in JUDGED_STATUSES and completion.thinking is not None:
        targets.insert(0, ("thinking", completion.thinking))
    return targets, decoded


def decoded_answer(completion: Completion, probe: Probe | None) -> str | None:
    """The answer decoded with the probe's decoder, when that makes it read more plainly."""
    if probe is None or probe.decoder is None:
        return None
    return probe.decoder(completion.answer)


def _run_judge(name: str, judge: Judge, item: JudgeInput) -> Verdict:
    try:
        verdict = judge.judge(item)
    except Exception as exc:  # a judge bug is this probe's error, not the run's end
        return Verdict(name, item.target, None, error=f"{type(exc).__name__}: {exc}")
    if not isinstance(verdict, Verdict):
        return Verdict(name, item.target, None, error=f"returned {verdict!r}, not a Verdict")
    return verdict
