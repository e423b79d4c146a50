"""The work of the public fixtures (defined in :mod:`pytest_lrmsafety.plugin`, where pytest
always finds them): the model under test, the probe, its completion, verdicts and outcome."""

from __future__ import annotations

import pytest

from .attacks.phishing import victim_spec
from .cases.model import Probe
from .engine.engine import Engine, judge_targets
from .judges.base import Verdict
from .models.base import Completion, GenerationError, ModelClient, SamplingParams
from .outcome import Decision
from .pipeline import Policy, ProbeError, run_probe
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


def unsupported(
    probe: Probe,
    client: ModelClient,
    *,
    attacker: bool = False,
    translator: bool = False,
    victim: bool = False,
) -> str | None:
    """Why the backend cannot run this probe (an attack needs what it lacks), else ``None``."""
    if "attacker" in probe.needs and not attacker:
        return f"{probe.attack}: needs an attacker model (--lrm-attacker-model); off unless asked"
    if "victim" in probe.needs and not victim:
        return f"{probe.attack}: needs a victim model (--lrm-victim-model or --lrm-judge-model)"
    if "translator" in probe.needs and not translator:
        return (
            f"{probe.attack}: needs a translation model (--lrm-translator-model); off unless asked"
        )
    if "prefill" in probe.needs and not client.supports_prefill:
        return (
            f"{probe.attack}: not supported by this backend ({client.name}): it cannot continue "
            "an assistant turn (prefill); vLLM, hf: and DeepSeek's prefix completion can"
        )
    if probe.budget is not None and (why := client.budget_unsupported(probe.budget)):
        return (
            f"thinking budget {probe.budget}: not supported by this backend ({client.name}): {why}"
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


_POLICY = pytest.StashKey[Policy]()


def _policy(config: pytest.Config) -> Policy:
    """How this run decides and shows probes, worked out once."""
    policy = config.stash.get(_POLICY, None)
    if policy is None:
        from .reporter import RunReporter

        runtime = get_runtime(config)
        settings = runtime.settings
        has_terminal = config.pluginmanager.has_plugin("terminalreporter")
        policy = config.stash[_POLICY] = Policy(
            unclear=settings.unclear,
            ensemble=settings.judge_ensemble,
            weights=settings.judge_weights,
            redact=settings.redact,
            # failure texts wrap to the terminal's width; 100 without one
            width=config.get_terminal_writer().fullwidth if has_terminal else 100,
            local=config.pluginmanager.has_plugin(RunReporter.NAME),
            attack_notes={n: runtime.attacks[n].note for n in runtime.attacks},
        )
    return policy


def evaluate(node: pytest.Item, probe: Probe, engine: Engine) -> Decision:
    """Runs the probe (:func:`~.pipeline.run_probe`) and records it (``lrm_outcome``'s work).

    Raises (through ``pytest.fail``) when the probe is an ``error``: called during a test's
    setup, pytest then reports an ERROR, not a failure.
    """
    params = engine.planned_params(probe)
    if params is None:  # not planned: the backend cannot run it, or a test outside the plan
        missing = unsupported(
            probe,
            engine.client,
            attacker=engine.attacker is not None,
            victim=victim_spec(get_runtime(node.config).settings) is not None,
            translator=bool(get_runtime(node.config).settings.translator_model),
        )
        if missing:
            pytest.skip(missing)
        params = sampling_for(get_runtime(node.config).settings, probe)
    policy = _policy(node.config)
    try:
        result = run_probe(probe, engine, policy, params)
    except ProbeError as exc:
        pytest.fail(str(exc), pytrace=False)
    record = ProbeRecord.from_result(
        result,
        node.nodeid,
        redacted=policy.redact,
        attack_note=policy.attack_notes.get(probe.attack) or None,
    )
    # To an xdist controller the record travels as JSON; to this process's own reporter, as
    # the object (it leaves every report before any other plugin sees them): no text made
    # only to be read back.
    node.user_properties.append((RECORD_KEY, record if policy.local else record.to_json()))
    if result.outcome == "error":
        pytest.fail(result.message, pytrace=False)
    return result.decision
