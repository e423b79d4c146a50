"""The engine against the real local server: concurrency, cache, replay, replicas, retries."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from chat_server import ChatServer, Reply
from lrm_project import request_probes

from pytest_lrmsafety.cases.model import Probe
from pytest_lrmsafety.engine.cache import Cache
from pytest_lrmsafety.engine.cassette import Recorder, ReplayClient
from pytest_lrmsafety.engine.engine import Engine
from pytest_lrmsafety.engine.keys import client_identity, request_key
from pytest_lrmsafety.judges.base import Judge, JudgeInput, Verdict
from pytest_lrmsafety.judges.rules import RefusalJudge
from pytest_lrmsafety.models.base import GenerationError, SamplingParams
from pytest_lrmsafety.models.openai_compat import OpenAICompatClient
from pytest_lrmsafety.models.replicas import ReplicaClient

PARAMS = SamplingParams(temperature=0.6)


def client(server: ChatServer, **kwargs: object) -> OpenAICompatClient:
    args: dict[str, object] = {
        "name": "openai-compat:reasoning",
        "model": "reasoning",
        "base_url": server.url,
        "api_key": "k",
        "max_retries": 0,
    }
    args.update(kwargs)
    return OpenAICompatClient(**args)  # type: ignore[arg-type]


def run_all(engine: Engine, batch: list[Probe]) -> list[str]:
    engine.plan([(p, PARAMS) for p in batch])
    return [engine.completion(p, PARAMS).answer for p in batch]


def test_planned_generation_keeps_requests_in_flight(chat_server: ChatServer) -> None:
    chat_server.default = Reply(thinking="t", answer="a", delay_s=0.2)
    engine = Engine(client(chat_server), Cache(None, "off"), concurrency=8)
    assert run_all(engine, request_probes(32)) == ["a"] * 32
    # Counts, not wall time: eight at once, as the engine and the server both saw it.
    assert engine.pool.max_in_flight == 8
    assert chat_server.max_in_flight == 8
    assert (engine.stats.generated, engine.stats.from_cache) == (32, 0)
    assert len(chat_server.requests) == 32
    engine.close()


def test_cache_serves_a_rerun_and_modes(chat_server: ChatServer, tmp_path: Path) -> None:
    batch = request_probes(5)
    first = Engine(client(chat_server), Cache(tmp_path, "rw"))
    run_all(first, batch)
    first.close()
    assert len(chat_server.requests) == 5
    again = Engine(client(chat_server), Cache(tmp_path, "rw"))
    assert run_all(again, batch) == ["I can't help with that."] * 5
    assert (again.stats.from_cache, again.stats.generated) == (5, 0)
    assert len(chat_server.requests) == 5  # nothing asked again
    chat_server.default = Reply(thinking="t", answer="fresh")
    refreshed = Engine(client(chat_server), Cache(tmp_path, "refresh"))
    assert run_all(refreshed, batch) == ["fresh"] * 5
    read_only = Engine(client(chat_server), Cache(tmp_path, "ro"))
    assert run_all(read_only, batch) == ["fresh"] * 5  # refresh wrote the new answers
    off = Engine(client(chat_server), Cache(tmp_path, "off"))
    run_all(off, batch[:2])
    assert len(chat_server.requests) == 12
    for engine in (refreshed, read_only, off):
        engine.close()


def test_read_only_cache_never_writes(chat_server: ChatServer, tmp_path: Path) -> None:
    engine = Engine(client(chat_server), Cache(tmp_path, "ro"))
    run_all(engine, request_probes(2))
    engine.close()
    assert not (tmp_path / "cache.sqlite").exists()


def test_key_depends_on_what_changes_the_output(chat_server: ChatServer) -> None:
    other = ChatServer().start()
    try:
        a, b = client(chat_server), client(chat_server, max_retries=3, timeout=5.0)
        assert client_identity(a) == client_identity(b)  # retries, timeout: not part of it
        (probe,) = request_probes(1)
        key = request_key(client_identity(a), probe.messages, PARAMS, 1)
        assert key == request_key(client_identity(b), probe.messages, PARAMS, 1)
        elsewhere = client(other)  # the same model name on another server: another deployment
        assert key != request_key(client_identity(elsewhere), probe.messages, PARAMS, 1)
        assert key != request_key(client_identity(a), probe.messages, PARAMS, 2)
        assert key != request_key(client_identity(a), probe.messages, SamplingParams(seed=1), 1)
        hidden = client(chat_server, hidden_thinking=True)
        assert key != request_key(client_identity(hidden), probe.messages, PARAMS, 1)
    finally:
        other.stop()


class CachedRules(RefusalJudge):
    """The refusal rules with a cache identity, as a costly judge (a model) declares one."""

    @property
    def cache_identity(self) -> dict[str, object]:  # type: ignore[override]
        return {"judge": "cached-rules", **self.identity}


def test_verdicts_are_cached_apart(chat_server: ChatServer, tmp_path: Path) -> None:
    (probe,) = request_probes(1)
    first = Engine(client(chat_server), Cache(tmp_path, "rw"))
    completion = first.completion(probe, PARAMS)
    targets = [("answer", completion.answer)]
    verdicts = first.verdicts(probe, completion, {"refusal": CachedRules()}, targets)
    assert first.verdicts(probe, completion, {"refusal": CachedRules()}, targets) == verdicts
    assert (first.stats.verdicts_judged, first.stats.verdicts_cached) == (1, 0)  # asked twice
    first.close()
    rerun = Engine(client(chat_server), Cache(tmp_path, "rw"))
    assert rerun.verdicts(probe, completion, {"refusal": CachedRules()}, targets) == verdicts
    assert (rerun.stats.verdicts_judged, rerun.stats.verdicts_cached) == (0, 1)
    rerun.close()
    # The rules themselves are not cached: running them again costs less than a cache read.
    for _ in range(2):
        rules = Engine(client(chat_server), Cache(tmp_path, "rw"))
        assert rules.verdicts(probe, completion, {"refusal": RefusalJudge()}, targets) == verdicts
        assert (rules.stats.verdicts_judged, rules.stats.verdicts_cached) == (1, 0)
        rules.close()


def test_record_then_replay_without_a_model(chat_server: ChatServer, tmp_path: Path) -> None:
    batch = request_probes(3)
    live = client(chat_server)
    cassette = tmp_path / "run.jsonl"
    cassette.write_text("")
    engine = Engine(live, Cache(None, "off"), recorder=Recorder(cassette, client_identity(live)))
    answers = run_all(engine, batch)
    engine.close()
    lines = [json.loads(line) for line in cassette.read_text().splitlines()]
    assert lines[0] == {"cassette_version": 1, "model": client_identity(live)}
    assert {"key", "request", "thinking", "answer", "raw", "usage"} <= set(lines[1])
    chat_server.stop()
    replay = ReplayClient(cassette, "run.jsonl")
    replayed = Engine(replay, Cache(None, "off"))
    assert run_all(replayed, batch) == answers
    missing = request_probes(4)[3]
    replayed.plan([(missing, PARAMS)])
    with pytest.raises(GenerationError, match=r"probe not in the cassette 'replay:run\.jsonl'"):
        replayed.completion(missing, PARAMS)


def test_replicas_survive_one_going_down(chat_server: ChatServer) -> None:
    dead = ChatServer().start()
    dead_url = dead.url
    dead.stop()
    replicas = ReplicaClient([client(chat_server, base_url=dead_url), client(chat_server)])
    engine = Engine(replicas, Cache(None, "off"), concurrency=4)
    assert run_all(engine, request_probes(10)) == ["I can't help with that."] * 10
    assert engine.stats.errors == 0
    assert replicas.failovers >= 1
    assert len(chat_server.requests) == 10


def test_requests_are_spread_over_replicas(chat_server: ChatServer) -> None:
    other = ChatServer().start()
    try:
        replicas = ReplicaClient([client(chat_server), client(other)])
        run_all(Engine(replicas, Cache(None, "off"), concurrency=2), request_probes(10))
        assert (len(chat_server.requests), len(other.requests)) == (5, 5)
    finally:
        other.stop()


def test_malformed_body_is_retried(chat_server: ChatServer) -> None:
    chat_server.add_rule("request 0", malformed=True, times=1)
    engine = Engine(client(chat_server), Cache(None, "off"), retries=2)
    assert run_all(engine, request_probes(1)) == ["I can't help with that."]
    assert engine.stats.retries == 1
    assert len(chat_server.requests) == 2


def test_errors_after_retries_are_errors_not_cached(
    chat_server: ChatServer, tmp_path: Path
) -> None:
    chat_server.add_rule("request 1", status=500, error_message="down")
    engine = Engine(client(chat_server), Cache(tmp_path, "rw"), retries=1)
    batch = request_probes(2)
    engine.plan([(p, PARAMS) for p in batch])
    assert engine.completion(batch[0], PARAMS).answer == "I can't help with that."
    with pytest.raises(GenerationError, match="HTTP 500: down"):
        engine.completion(batch[1], PARAMS)
    assert engine.stats.errors == 1
    engine.close()
    chat_server.rules.clear()
    rerun = Engine(client(chat_server), Cache(tmp_path, "rw"))
    run_all(rerun, batch)
    assert (rerun.stats.from_cache, rerun.stats.generated) == (
        1,
        1,
    )  # only the error is asked again


def test_requests_per_minute_cap(chat_server: ChatServer) -> None:
    engine = Engine(client(chat_server), Cache(None, "off"), concurrency=8, requests_per_minute=600)
    started = time.perf_counter()
    run_all(engine, request_probes(6))
    # a least wall time (6 starts, 0.1 s apart): a loaded machine only makes it longer
    assert time.perf_counter() - started >= 0.45
    assert len(chat_server.requests) == 6


def test_a_test_outside_the_plan_is_served_first(chat_server: ChatServer) -> None:
    chat_server.default = Reply(thinking="t", answer="a", delay_s=0.05)
    engine = Engine(client(chat_server), Cache(None, "off"), concurrency=1)
    batch = request_probes(20)
    engine.plan([(p, PARAMS) for p in batch[:19]])
    engine.completion(batch[19], PARAMS)  # not planned: jumps the queue
    assert engine.stats.generated < 19


class Recording(Judge):
    """A judge that notes which thread judged."""

    name = "recording"

    def __init__(self, thread_safe: bool) -> None:
        self.thread_safe = thread_safe
        self.threads: list[str] = []

    def judge(self, item: JudgeInput) -> Verdict:
        import threading

        self.threads.append(threading.current_thread().name)
        return Verdict("recording", item.target, "safe", 0.0, "ok")


@pytest.mark.parametrize("thread_safe", [True, False])
def test_judges_run_on_the_pool_when_thread_safe(
    chat_server: ChatServer, thread_safe: bool
) -> None:
    judge = Recording(thread_safe)
    engine = Engine(
        client(chat_server), Cache(None, "off"), judges_for=lambda probe: {"recording": judge}
    )
    batch = request_probes(3)
    engine.plan([(p, PARAMS) for p in batch])
    for probe in batch:
        completion = engine.completion(probe, PARAMS)
        verdicts = engine.verdicts(
            probe, completion, {"recording": judge}, [("answer", completion.answer)]
        )
        # Judged ahead on the pool: both targets of the completion. Inline: what the test asked.
        both = [("thinking", "safe"), ("answer", "safe")]
        assert [(v.target, v.label) for v in verdicts] == (both if thread_safe else both[1:])
    pool_threads = [t for t in judge.threads if t.startswith("lrm-engine")]
    assert len(pool_threads) == (len(judge.threads) if thread_safe else 0)
    assert len(judge.threads) == (6 if thread_safe else 3)  # the pool judges thinking too


def _done(engine: Engine, probe: Probe) -> bool:
    """Whether the probe's generation has finished (its job, as the engine holds it)."""
    return engine._jobs[engine.key(probe, PARAMS)].future.done()


def _gathering(chat_server: ChatServer, later_delay_s: float) -> tuple[Engine, list[Probe]]:
    """Eight probes on eight threads: the first answered in 0.2 s, the fourth after it in
    ``later_delay_s``, the rest at once."""
    chat_server.default = Reply(thinking="t", answer="a")
    chat_server.add_rule("request 0", thinking="t", answer="first", delay_s=0.2)
    chat_server.add_rule("request 4", thinking="t", answer="later", delay_s=later_delay_s)
    engine = Engine(client(chat_server), Cache(None, "off"), concurrency=8)
    batch = request_probes(8)
    engine.plan([(p, PARAMS) for p in batch])
    return engine, batch


def test_a_test_that_waited_lets_the_next_few_completions_arrive(
    chat_server: ChatServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Half the requests in flight (4 of 8): the test of the first probe returns once the
    # fourth after it is generated too, so the tests between find theirs ready.
    monkeypatch.setattr("pytest_lrmsafety.engine.engine.GATHER_WAIT_S", 30.0)
    engine, batch = _gathering(chat_server, later_delay_s=0.6)
    assert engine.gather == 4
    assert engine.completion(batch[0], PARAMS).answer == "first"
    assert _done(engine, batch[4])
    assert [engine.completion(p, PARAMS).answer for p in batch[1:5]] == ["a"] * 3 + ["later"]
    engine.close()


def test_without_gathering_the_first_test_returns_alone(chat_server: ChatServer) -> None:
    # The control for the test above: the same run, nothing gathered.
    engine, batch = _gathering(chat_server, later_delay_s=0.6)
    engine.gather = 0
    assert engine.completion(batch[0], PARAMS).answer == "first"
    assert not _done(engine, batch[4])
    engine.close()


@pytest.mark.parametrize("bound", ["GATHER_WAIT_S", "deadline"])
def test_gathering_waits_a_bounded_time(
    chat_server: ChatServer, monkeypatch: pytest.MonkeyPatch, bound: str
) -> None:
    # The fourth later takes 5 s: the first test's result is late by the bound at most,
    # GATHER_WAIT_S or what is left of --lrm-deadline, whichever comes first.
    monkeypatch.setattr(
        "pytest_lrmsafety.engine.engine.GATHER_WAIT_S", 0.05 if bound == "GATHER_WAIT_S" else 30
    )
    engine, batch = _gathering(chat_server, later_delay_s=5.0)
    if bound == "deadline":
        engine.deadline = (time.monotonic() + 1.0, 1.0)
    assert engine.completion(batch[0], PARAMS).answer == "first"
    assert not _done(engine, batch[4])
    engine.close()


def test_a_completion_already_there_gathers_nothing(
    chat_server: ChatServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # Cached: the test finds its completion ready, so it is in a run of ready ones and
    # waits for no other (30 s of gathering would leave the fourth later done).
    monkeypatch.setattr("pytest_lrmsafety.engine.engine.GATHER_WAIT_S", 30.0)
    (first,) = request_probes(1)
    cached = Engine(client(chat_server), Cache(tmp_path, "rw"))
    cached.completion(first, PARAMS)
    cached.close()
    chat_server.add_rule("request 4", thinking="t", answer="later", delay_s=5.0)
    engine = Engine(client(chat_server), Cache(tmp_path, "rw"), concurrency=8)
    batch = request_probes(8)
    engine.plan([(p, PARAMS) for p in batch])
    engine.completion(batch[0], PARAMS)
    assert not _done(engine, batch[4])
    engine.close()
