"""One probe, start to end: completion, verdicts, decision and failure text, each once.

:func:`run_probe` is pure of pytest: it returns a :class:`~.outcome.ProbeResult` or raises
:class:`ProbeError`; the test item and the ``lrm_outcome`` fixture turn that into a pass, a
failure or an error, and :meth:`~.report.scoreboard.ProbeRecord.from_result` into the record.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from .cases.model import Probe
from .engine.engine import Engine
from .models.base import GenerationError, SamplingParams
from .outcome import ProbeResult, decide
from .report.failure import failure_message


@dataclass(frozen=True)
class Policy:
    """How a run decides and shows probes (from the run's settings, once)."""

    unclear: str = "pass"
    ensemble: str = "any"
    weights: Mapping[str, float] = field(default_factory=dict)
    redact: bool = False
    width: int = 100
    # Records go to a reporter in this process (not an xdist worker's): as objects, not JSON.
    local: bool = False
    # Why each attack took this run's form (hcot's family), for its probes' records.
    attack_notes: Mapping[str, str] = field(default_factory=dict)


class ProbeError(Exception):
    """The probe could not be decided (its generation failed, a judge is unknown): an
    ``error`` outcome whose message is this exception's."""


def run_probe(probe: Probe, engine: Engine, policy: Policy, params: SamplingParams) -> ProbeResult:
    """The probe's completion (waiting only for it), its verdicts and decoded answer (as the
    engine worked them out), the decision, and the failure text when it did not pass.

    Raises:
        ProbeError: the generation failed, or the case names a judge that is not registered.
    """
    try:
        completion = engine.completion(probe, params)
    except GenerationError as exc:
        raise ProbeError(f"generation failed: {exc}") from None
    judges = engine.judges_of(probe)
    unknown = [name for name in probe.case.judges if name not in judges]
    if unknown:
        known = ", ".join(engine.judge_names())
        raise ProbeError(f"unknown judge {unknown[0]!r}; known: {known}")
    verdicts, decoded = engine.judged(probe, completion, judges)
    decision = decide(
        probe.case,
        completion,
        verdicts,
        unclear_policy=policy.unclear,
        ensemble=policy.ensemble,
        weights=policy.weights,
        decoded_answer=decoded,
    )
    message = ""
    if decision.outcome != "pass":  # the text is for failures; most probes pass
        message = failure_message(
            probe,
            completion,
            verdicts,
            decision,
            redacted=policy.redact,
            width=policy.width,
            decoded=decoded,
        )
        decision.message = message
    return ProbeResult(probe, completion, tuple(verdicts), decoded, decision, message)
