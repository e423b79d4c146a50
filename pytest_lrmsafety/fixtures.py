"""The work of the public fixtures (defined in :mod:`pytest_lrmsafety.plugin`, where pytest
always finds them): the model under test, the probe, its completion, verdicts and outcome."""

from __future__ import annotations

from typing import Any

import pytest

from .cases.model import Probe
from .engine.engine import Engine, decoded_answer, judge_targets
from .judges.base import Verdict
from .models.base import Completion, GenerationError, ModelClient, SamplingParams
from .outcome import Decision, decide
from .report.failure import failure_message
from .report.redact import digest, redact
from .report.scoreboard import RECORD_KEY, ProbeRecord
from .runtime import get_runtime, sampling_for

NO_MODEL = (
    "no model under test: pass --lrm-model (deepseek-r1, o3-mini or openai-compat:MODEL "
    "with --lrm-base-url), or override the lrm_model fixture in a conftest.py"
)


def model_under_test(config: pytest.Config) -> ModelClient:
    """The model under test, from ``--lrm-model`` (``lrm_model``'s work)."""
    client = get_runtime(config).client
    if client is None:
        pytest.fail(NO_MODEL, pytrace=False)
    return client


def probe_of_request(request: pytest.FixtureRequest) -> Probe:
    """The probe of a test: set by collection, or a ``suite_probes`` parameter."""
    probe = getattr(request, "param", None) or getattr(request.node, "lrm_probe", None)
    if not isinstance(probe, Probe):
        pytest.fail(
            "lrm_probe: this test has no probe; parametrize it with "
            "pytest_lrmsafety.suite_probes('path/to/suite.yaml')",
            pytrace=False,
        )
    return probe


def _record(
    node: pytest.Item,
    probe: Probe,
    decision: Decision,
    completion: Completion | None = None,
    verdicts: list[Verdict] | None = None,
    error: str | None = None,
    decoded: str | None = None,
) -> ProbeRecord:
    case = probe.case
    settings = get_runtime(node.config).settings
    thinking = completion.thinking if completion else None
    answer = completion.answer if completion else None
    rounds = _rounds(completion)
    harmful_answer = bool(decision.answer_unsafe or decision.injection_followed)
    if settings.redact:
        thinking_text = redact(thinking, bool(decision.thinking_unsafe))
        answer_text = redact(answer, harmful_answer)
        decoded = redact(decoded, harmful_answer)
        for r in rounds:
            r["answer"] = redact(r["answer"], r["success"])
    else:
        thinking_text, answer_text = thinking, answer
    record = ProbeRecord(
        nodeid=node.nodeid,
        suite=case.suite,
        case_id=case.id,
        category=case.category,
        attack=probe.attack,
        sample=probe.sample,
        expect=case.expect,
        severity=case.severity,
        outcome=decision.outcome,
        reasons=list(decision.reasons),
        thinking_status=completion.thinking_status if completion else None,
        answer_unsafe=decision.answer_unsafe,
        thinking_unsafe=decision.thinking_unsafe,
        refused=decision.refused,
        over_refused=decision.over_refused,
        injection_followed=decision.injection_followed,
        unclear=decision.unclear,
        answer_unclear=decision.answer_unclear,
        thinking_unclear=decision.thinking_unclear,
        judges_disagree=decision.judges_disagree,
        verdicts=[v.as_dict() for v in verdicts or []],
        error=error,
        model=completion.model if completion else None,
        finish_reason=completion.finish_reason if completion else None,
        usage=dict(completion.usage) if completion else {},
        latency_s=round(completion.latency_s, 4) if completion else None,
        effort=probe.effort,
        messages=[dict(m) for m in probe.messages],
        turns=list(probe.turns),
        answer_decoded=decoded,
        rounds=rounds,
        thinking=thinking_text,
        answer=answer_text,
        thinking_sha256=digest(thinking),
        answer_sha256=digest(answer),
        redacted=settings.redact,
    )
    node.user_properties.append((RECORD_KEY, record.to_json()))
    return record


def _rounds(completion: Completion | None) -> list[dict[str, Any]]:
    """An attacker-model probe's rounds, for the report (answers cut to 2,000 characters)."""
    rounds = completion.raw.get("rounds") if completion else None
    if not isinstance(rounds, list):
        return []
    out = []
    for r in rounds:
        answer = str(r.get("answer") or "")
        out.append(
            {
                "round": r.get("round"),
                "prompt": r.get("prompt"),
                "answer": answer[:2000] + ("..." if len(answer) > 2000 else ""),
                "verdicts": r.get("verdicts", {}),
                "success": bool(r.get("success")),
            }
        )
    return out


def unsupported(probe: Probe, client: ModelClient, *, attacker: bool = False) -> str | None:
    """Why the backend cannot run this probe (an attack needs what it lacks), else ``None``."""
    if "attacker" in probe.needs and not attacker:
        return f"{probe.attack}: needs an attacker model (--lrm-attacker-model); off unless asked"
    if "prefill" in probe.needs and not getattr(client, "supports_prefill", False):
        return (
            f"{probe.attack}: not supported by this backend ({client.name}): it cannot continue "
            "an assistant turn (prefill); vLLM, hf: and DeepSeek's prefix completion can"
        )
    return None


def completion_of(engine: Engine, probe: Probe, params: SamplingParams) -> Completion:
    """The probe's completion from the engine; a failure ends the test as an ``error``."""
    try:
        return engine.completion(probe, params)
    except GenerationError as exc:
        message = f"generation failed: {exc}"
    pytest.fail(message, pytrace=False)


def verdicts_of(engine: Engine, probe: Probe, completion: Completion) -> list[Verdict]:
    """Every judge of the case on each target: the answer, and the thinking where there is one."""
    judges = engine.judges_of(probe)
    unknown = [name for name in probe.case.judges if name not in judges]
    if unknown:
        known = ", ".join(engine.judge_names())
        pytest.fail(f"unknown judge {unknown[0]!r}; known: {known}", pytrace=False)
    return engine.verdicts(probe, completion, judges, judge_targets(completion, probe))


_WIDTH = pytest.StashKey[int]()


def _width(node: pytest.Item) -> int:
    """The terminal's width, once per run (failure texts wrap to it); 100 without one."""
    config = node.config
    width = config.stash.get(_WIDTH, None)
    if width is None:
        has_terminal = config.pluginmanager.has_plugin("terminalreporter")
        width = config.get_terminal_writer().fullwidth if has_terminal else 100
        config.stash[_WIDTH] = width
    return width


def evaluate(node: pytest.Item, probe: Probe, engine: Engine) -> Decision:
    """Completion, verdicts, outcome and record of one probe (``lrm_outcome``'s work).

    Raises (through ``pytest.fail``) when the probe is an ``error``: called during a test's
    setup, pytest then reports an ERROR, not a failure.
    """
    settings = get_runtime(node.config).settings
    missing = unsupported(probe, engine.client, attacker=engine.attacker is not None)
    if missing:
        pytest.skip(missing)
    completion = completion_of(engine, probe, sampling_for(settings, probe))
    verdicts = verdicts_of(engine, probe, completion)
    decoded = decoded_answer(completion, probe)
    decision = decide(
        probe.case,
        completion,
        verdicts,
        unclear_policy=settings.unclear,
        ensemble=settings.judge_ensemble,
        weights=settings.judge_weights,
        decoded_answer=decoded,
    )
    if decision.outcome != "pass":  # the text is for failures; most probes pass
        decision.message = failure_message(
            probe, completion, verdicts, decision, redacted=settings.redact, width=_width(node)
        )
    error = "; ".join(decision.reasons) if decision.outcome == "error" else None
    _record(node, probe, decision, completion, verdicts, error, decoded)
    if decision.outcome == "error":
        pytest.fail(decision.message, pytrace=False)
    return decision
