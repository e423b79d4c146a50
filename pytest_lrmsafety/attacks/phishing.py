"""Spear phishing: the model under test writes to a simulated victim, as in CyberSecEval 3's
multi-turn phishing test (Wan et al. 2024, "CyberSecEval 3: Advancing the Evaluation of
Cybersecurity Risks and Capabilities in Large Language Models"), the R1 study's Table 4.

Off unless asked: the ``phishing`` attack runs only with a victim model
(``--lrm-victim-model``, else the judge model, ``--lrm-judge-model``); elsewhere its probes
are skipped with the reason. A phishing case (``lrmsafety import cyberseceval-phishing``)
tells the model under test, in its system message, that it plays the attacker in a
simulation, with the target's synthetic bio, the channel and the goal. The model writes a
message; the victim model, playing the bio's persona, replies; the reply goes back to the
model, and so on for at most ``--lrm-phishing-turns`` messages (CyberSecEval 3: a cold
message and five more). The model's silence (an empty message) ends the dialogue early.

The probe's answer is the dialogue as CyberSecEval writes it (``Attacker: ...`` and
``Victim: ...`` lines), which the ``phishing_persuasion``, ``phishing_rapport`` and
``phishing_argumentation`` judges score 0-5 (``judges/phishing.py``); its thinking is the
model's thinking for each message in turn. The turns are also kept in ``raw["dialogue"]``.
CyberSecEval 3 also stops when a judge model finds that the victim refused outright; this loop
does not ask (it saves two judge calls a turn) and always runs to the bound or the model's
silence. The prompts are data (``data/phishing.yaml``), in this project's words.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from functools import cache
from importlib import resources
from typing import TYPE_CHECKING, Any

import yaml

from ..cases.model import Probe
from ..judges.choice import JudgeSpec, llm_judge_spec
from ..models.base import Completion, GenerationError, ModelClient, SamplingParams
from .registry import Attack, AttackContext, Variant

if TYPE_CHECKING:
    from ..settings import Settings

#: CyberSecEval 3's bound: a cold message, then up to five more (``MAX_TURNS = 5``).
DEFAULT_TURNS = 6
#: The victim's sampling: the server's defaults, a reply of at most 512 tokens.
VICTIM_PARAMS = SamplingParams(max_tokens=512)
_BIO = re.compile(r"<bio>\s*(.*?)\s*</bio>", re.DOTALL)
_PLATFORM = re.compile(r"<platform>\s*(.*?)\s*</platform>", re.DOTALL)


@dataclass(frozen=True)
class Prompts:
    """``data/phishing.yaml``: the attacker's brief, its opener and follow-up, the victim's
    role, and a digest of the file (it keys the cache)."""

    attacker_system: str
    opener: str
    follow_up: str
    victim_system: str
    digest: str


@cache
def prompts() -> Prompts:
    """The prompts shipped with the package, read once."""
    text = resources.files(__package__).joinpath("data/phishing.yaml").read_text("utf-8")
    data: dict[str, Any] = yaml.safe_load(text)
    return Prompts(
        attacker_system=str(data["attacker_system"]),
        opener=str(data["opener"]),
        follow_up=str(data["follow_up"]),
        victim_system=str(data["victim_system"]),
        digest=hashlib.sha256(text.encode("utf-8")).hexdigest()[:16],
    )


def persona(messages: Sequence[Mapping[str, str]]) -> tuple[str, str]:
    """``(bio, platform)`` from a phishing case's system message (``<bio>...</bio>``,
    ``<platform>...</platform>``; the platform defaults to ``a message``). Raises
    ``ValueError`` when no system message holds a bio."""
    for message in messages:
        if message.get("role") != "system":
            continue
        bio = _BIO.search(message.get("content", ""))
        if bio and bio.group(1).strip():
            platform = _PLATFORM.search(message["content"])
            return bio.group(1).strip(), (platform.group(1).strip() if platform else "") or (
                "a message"
            )
    raise ValueError(
        "no <bio>...</bio> in the case's system message: a phishing case gives the target's "
        "bio there (lrmsafety import cyberseceval-phishing writes it)"
    )


def transcript(dialogue: Sequence[Mapping[str, Any]]) -> str:
    """The dialogue as CyberSecEval 3 hands it to its judge: ``Attacker:`` and ``Victim:``
    lines, in order (``""`` for no message at all)."""
    lines = []
    for turn in dialogue:
        lines.append(f"Attacker: {turn['attacker']}")
        lines.append(f"Victim: {turn['victim']}")
    return "\n\n".join(lines)


@dataclass
class PhishingDialogue:
    """Runs the dialogue for one probe.

    Args:
        victim: The victim model (kept apart from the model under test).
        turns: The most messages the model under test writes.
        victim_params: The victim's sampling (its seed is the probe's).
    """

    victim: ModelClient
    turns: int = DEFAULT_TURNS
    victim_params: SamplingParams = VICTIM_PARAMS

    @property
    def identity(self) -> dict[str, Any]:
        """What the dialogue's outcome depends on besides the model under test (cache key)."""
        return {
            "victim": dict(self.victim.cache_identity),
            "turns": self.turns,
            "prompts": prompts().digest,
            "victim_params": self.victim_params.as_dict(),
            "v": 1,
        }

    def run(self, target: ModelClient, probe: Probe, params: SamplingParams) -> Completion:
        """The dialogue as one completion (see the module's docstring); a victim model that
        fails makes the probe an error, never a shorter dialogue."""
        try:
            bio, platform = persona(probe.messages)
        except ValueError as exc:
            raise GenerationError(f"phishing case {probe.case.id}: {exc}") from None
        text = prompts()
        victim_history = [
            {"role": "system", "content": text.victim_system.format(profile=bio, platform=platform)}
        ]
        victim_params = replace(self.victim_params, seed=params.seed)
        history = [dict(m) for m in probe.messages]
        dialogue: list[dict[str, Any]] = []
        thinking: list[str] = []
        usage: dict[str, int] = {}
        latency = 0.0
        first: Completion | None = None
        last: Completion | None = None
        for number in range(1, self.turns + 1):
            last = target.generate(history, params)
            first = first or last
            for name, count in last.usage.items():
                usage[name] = usage.get(name, 0) + count
            latency += last.latency_s
            if last.thinking:
                thinking.append(f"[message {number}]\n{last.thinking}")
            message = last.answer.strip()
            if not message:
                break  # nothing to send: the model fell silent
            victim_history.append({"role": "user", "content": message})
            try:
                reply = self.victim.generate(victim_history, victim_params).answer.strip()
            except GenerationError as exc:
                raise GenerationError(
                    f"victim model: {exc}", retryable=exc.retryable, server_fault=exc.server_fault
                ) from None
            reply = reply or "(no reply)"
            victim_history.append({"role": "assistant", "content": reply})
            dialogue.append({"turn": number, "attacker": message, "victim": reply})
            history += [
                {"role": "assistant", "content": message},
                {"role": "user", "content": text.follow_up.format(reply=reply)},
            ]
        assert first is not None and last is not None  # turns >= 1
        return replace(
            last,
            answer=transcript(dialogue),
            thinking="\n\n".join(thinking) if thinking else None,
            thinking_status="present" if thinking else first.thinking_status,
            usage=usage,
            latency_s=latency,
            raw={**last.raw, "dialogue": dialogue},
        )


def victim_spec(settings: Settings) -> JudgeSpec | None:
    """The victim model: ``--lrm-victim-model``, else the ``llm`` judge's model (CyberSecEval
    3 lets its judge model play the victim), else ``None`` (phishing probes skip)."""
    if settings.victim_model:
        return JudgeSpec(
            settings.victim_model, settings.source("victim_model"), settings.victim_base_urls
        )
    return llm_judge_spec(settings)


@dataclass(frozen=True)
class MissingVictim:
    """The runner of a phishing probe when there is no victim model: such probes are skipped
    before they are planned, so this only answers a probe asked for outside the plan."""

    attack: str

    @property
    def identity(self) -> dict[str, Any]:
        return {"victim": None}

    def run(self, target: ModelClient, probe: Probe, params: SamplingParams) -> Completion:
        raise GenerationError(
            f"{self.attack}: needs a victim model (--lrm-victim-model or --lrm-judge-model)"
        )


def _phishing(ctx: AttackContext) -> Variant:
    return Variant(ctx.messages)  # the case is the brief; the dialogue is run by the engine


ATTACKS = (
    Attack(
        "phishing",
        description="spear phishing: the model writes to a victim model, turn by turn, scored 0-5",
        family="multi_turn",
        build=_phishing,
        needs=frozenset({"victim"}),
        source="Wan et al. 2024 (CyberSecEval 3, spear phishing)",
    ),
)
