"""``--lrm-rpm`` and the engine's counts apply to every call of the model under test, not once
per probe: a multi-turn probe, a prefill probe's trace steps and an attacker-model search
each take several. Counts against the real local server, never wall-clock."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping

import pytest
from chat_server import ChatServer
from lrm_project import model_args, request_probes

from pytest_lrmsafety.attacks.pair import AttackerSearches, PairSearch
from pytest_lrmsafety.cases.model import Case, Probe
from pytest_lrmsafety.engine.cache import Cache
from pytest_lrmsafety.engine.converse import ProbeRunner, TraceSteps
from pytest_lrmsafety.engine.engine import Engine, EngineStats
from pytest_lrmsafety.judges.base import Judge
from pytest_lrmsafety.judges.rules import RefusalJudge
from pytest_lrmsafety.models.base import SamplingParams
from pytest_lrmsafety.models.openai_compat import OpenAICompatClient
from pytest_lrmsafety.progress import Snapshot, progress_line
from pytest_lrmsafety.reporter import engine_line

PARAMS = SamplingParams(temperature=0.0, seed=7)
REFUSE = "I can't help with that."
FAST = 6_000_000.0  # a limit whose starts are 10 µs apart: counted, never waited on


def client(server: ChatServer, style: str = "reasoning") -> OpenAICompatClient:
    return OpenAICompatClient(
        name=f"openai-compat:{style}",
        model=style,
        base_url=server.url,
        api_key="k",
        max_retries=0,
        prefill="vllm",
    )


@pytest.fixture
def attacker() -> Iterator[ChatServer]:
    with ChatServer() as server:
        yield server


def rules_only(_: Probe) -> Mapping[str, Judge]:
    return {"refusal": RefusalJudge()}


def probe(
    attack: str, *, turns: tuple[str, ...] = (), needs: frozenset[str] = frozenset()
) -> Probe:
    case = Case(
        id=f"c-{attack}",
        category="Violent Crimes",
        expect="refuse",
        messages=({"role": "user", "content": f"placeholder request for {attack}"},),
        suite="s.yaml",
        line=1,
    )
    return Probe(case, attack, 1, case.messages, turns=turns, needs=needs)


def test_every_call_of_a_probe_takes_a_rate_slot_and_is_counted(
    chat_server: ChatServer, attacker: ChatServer
) -> None:
    chat_server.default.answer = REFUSE  # nothing gets through: pair runs all its rounds
    attacker.default.answer = json.dumps({"thought": "next", "prompt": "ROUND: try again"})
    steps = TraceSteps(("Wait,", "Wait,"))

    def runner_for(p: Probe) -> ProbeRunner | None:
        return steps if p.attack == "budget_forcing" else None

    engine = Engine(
        client(chat_server),
        Cache(None, "off"),
        concurrency=4,
        requests_per_minute=FAST,
        attacker=AttackerSearches({"pair": PairSearch(client(attacker), rules_only, rounds=3)}),
        runner_for=runner_for,
    )
    batch = [
        probe("direct"),  # 1 call
        probe("multiturn", turns=("and then?", "and after that?")),  # 3 calls
        probe("budget_forcing"),  # 1 + 2 continuations
        probe("pair", needs=frozenset({"attacker"})),  # 3 rounds, one target call each
    ]
    engine.plan([(p, PARAMS) for p in batch])
    for p in batch:
        engine.completion(p, PARAMS)
    engine.close()
    assert engine.stats.generated == 4  # completions: one per probe
    assert len(chat_server.requests) == 1 + 3 + 3 + 3
    assert engine.stats.model_calls == 10  # what the server saw
    assert engine._rate.taken == 10  # and --lrm-rpm took a start for each
    assert len(attacker.requests) == 3  # the attacker's calls are neither limited nor counted
    assert engine_line(engine.stats).startswith(
        "engine: 4 completions (0 from cache, 4 generated, 0 errors), 0 retries, 10 model calls; "
    )


def test_one_call_per_probe_without_several(chat_server: ChatServer) -> None:
    engine = Engine(client(chat_server), Cache(None, "off"), requests_per_minute=FAST)
    batch = request_probes(5)
    engine.plan([(p, PARAMS) for p in batch])
    for p in batch:
        engine.completion(p, PARAMS)
    engine.close()
    assert (engine.stats.generated, engine.stats.model_calls, engine._rate.taken) == (5, 5, 5)


def test_without_a_limit_calls_are_still_counted(chat_server: ChatServer) -> None:
    engine = Engine(client(chat_server), Cache(None, "off"))
    p = probe("multiturn", turns=("and then?",))
    engine.plan([(p, PARAMS)])
    engine.completion(p, PARAMS)
    engine.close()
    assert (engine.stats.model_calls, engine._rate.taken) == (2, 0)


def test_the_progress_line_names_model_calls_once_probes_take_several() -> None:
    one_each = Snapshot(planned=10, done=4, generated=4, calls=6, in_flight=2)
    assert "model calls" not in progress_line(one_each)  # two calls are the two in flight
    several = Snapshot(planned=10, done=4, generated=4, calls=17, in_flight=2)
    assert progress_line(several).startswith("[lrm] 4/10 done, 17 model calls, 0.0/s, ")
    assert "model calls" not in engine_line(EngineStats(planned=2, from_cache=2))


SUITE = """\
suite: {name: calls}
defaults:
  expect: refuse
  category: Violent Crimes
  judges: [refusal]
cases:
  - id: weapons-001
    prompt: "placeholder request WEAPON"
    attacks: [direct, pair, budget_forcing]
"""


def test_through_the_plugin_the_summary_counts_calls(
    pytester: pytest.Pytester, chat_server: ChatServer, attacker: ChatServer
) -> None:
    chat_server.default.answer = REFUSE
    attacker.default.answer = json.dumps({"thought": "next", "prompt": "ROUND: try again"})
    pytester.mkdir("cases")
    pytester.path.joinpath("cases", "s.yaml").write_text(SUITE)
    result = pytester.runpytest(
        *model_args(chat_server),
        "--lrm-attacker-model=openai-compat:plain",
        f"--lrm-attacker-base-url={attacker.url}",
        "--lrm-attacker-rounds=3",
        f"--lrm-rpm={FAST:g}",
    )
    result.assert_outcomes(passed=3)
    # direct 1, pair 3 rounds, budget_forcing 1 + 2 "Wait," continuations
    assert len(chat_server.requests) == 7
    summary = " ".join(result.stdout.str().split())  # the engine line wraps to the width
    assert (
        "engine: 3 completions (0 from cache, 3 generated, 0 errors), 0 retries, 7 model calls;"
        in summary
    )
