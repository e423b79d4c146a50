"""Probes of more than one generation, as the engine runs them.

* :func:`converse`: a multi-turn probe as one conversation, the model answering every user
  turn itself.
* :func:`continue_trace`: a prefill probe in steps (:class:`TraceSteps`): the model's trace
  cut and continued after an inserted sentence (mid-trace insertion), or extended with
  ``"Wait,"`` each time it would end (budget forcing).
* :class:`ProbeRunner`: what the engine asks of any other probe it hands over whole (a
  translation, ``attacks/multilingual.py``); the runtime says which probe has one.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Protocol

from ..models.base import PREFILL_KEY, Completion, ModelClient, SamplingParams, is_prefill

if TYPE_CHECKING:
    from ..cases.model import Probe


def converse(
    client: ModelClient,
    messages: Sequence[Mapping[str, str]],
    turns: Sequence[str],
    params: SamplingParams,
) -> Completion:
    """One completion, or for a multi-turn probe the last of a conversation: each later
    user turn follows the model's own answer to the one before. The earlier replies are kept
    in ``raw["turns"]``; usage and latency add up over the turns."""
    completion = client.generate(messages, params)
    if not turns:
        return completion
    history = [dict(m) for m in messages]
    earlier: list[dict[str, Any]] = []
    usage: dict[str, int] = dict(completion.usage)
    latency = completion.latency_s
    for turn in turns:
        earlier.append(
            {
                "user": history[-1]["content"],
                "thinking": completion.thinking,
                "answer": completion.answer,
                "thinking_status": completion.thinking_status,
            }
        )
        history += [
            {"role": "assistant", "content": completion.answer},
            {"role": "user", "content": turn},
        ]
        completion = client.generate(history, params)
        for name, count in completion.usage.items():
            usage[name] = usage.get(name, 0) + count
        latency += completion.latency_s
    raw = {**completion.raw, "turns": earlier}
    return replace(completion, usage=usage, latency_s=latency, raw=raw)


class ProbeRunner(Protocol):
    """A probe made of more than one generation that the engine hands over whole (trace
    steps, a translation): its part of the cache key, and a run."""

    @property
    def identity(self) -> Mapping[str, Any]: ...

    def run(self, target: ModelClient, probe: Probe, params: SamplingParams) -> Completion: ...


THINK_OPEN = "<think>\n"


@dataclass(frozen=True)
class TraceSteps:
    """A prefill probe continued over several generations: after each one, the trace so far
    (cut to its first ``cut`` share at a sentence end, or whole) is sent back as the prefill
    of the thinking with the next of ``inserts`` after it, and the model goes on from there.

    Mid-trace insertion is one insert with a cut; budget forcing is ``"Wait,"`` N times with
    no cut (the model's end of thinking and answer dropped each time). What was generated
    and what was inserted are kept in ``raw["steps"]``.
    """

    inserts: tuple[str, ...]
    cut: float | None = None

    @property
    def identity(self) -> Mapping[str, Any]:
        return {"inserts": list(self.inserts), "cut": self.cut, "v": 1}

    def run(self, target: ModelClient, probe: Probe, params: SamplingParams) -> Completion:
        return continue_trace(target, probe.messages, params, self)


def cut_trace(trace: str, share: float) -> str:
    """The first ``share`` of a trace, ended at the last sentence or line end before that
    point (at a word when there is none), so the insert starts a sentence of its own."""
    limit = int(len(trace) * share)
    head = trace[:limit]
    window = head + (trace[limit : limit + 1] or " ")  # a sentence may end right at the cut
    end = max(window.rfind(". "), window.rfind(".\n"), window.rfind("? "), head.rfind("\n"))
    if end > 0:
        return head[: end + 1].rstrip()
    space = head.rfind(" ")
    return head[:space].rstrip() if space > 0 else head.rstrip()


def continue_trace(
    client: ModelClient,
    messages: Sequence[Mapping[str, str]],
    params: SamplingParams,
    steps: TraceSteps,
) -> Completion:
    """The probe's generations under :class:`TraceSteps`: the last message is the prefill
    of the thinking (replaced at each step; without one, the steps' prefill follows the
    messages); the completion is the last generation's (the whole turn: the prefill,
    insertions included, and its continuation), usage and latency summed over all of them."""
    completion = client.generate(messages, params)
    usage: dict[str, int] = dict(completion.usage)
    latency = completion.latency_s
    record: list[dict[str, Any]] = []
    head = [dict(m) for m in (messages[:-1] if is_prefill(messages) else messages)]
    for insert in steps.inserts:
        trace = (completion.thinking or "").strip()
        kept = cut_trace(trace, steps.cut) if steps.cut is not None else trace
        record.append({"step": "generated", "text": trace})
        record.append({"step": "inserted", "text": insert, "at": len(kept)})
        prefill = f"{THINK_OPEN}{kept}\n\n{insert}" if kept else f"{THINK_OPEN}{insert}"
        turn = {"role": "assistant", "content": prefill, PREFILL_KEY: "true"}
        completion = client.generate([*head, turn], params)
        for name, count in completion.usage.items():
            usage[name] = usage.get(name, 0) + count
        latency += completion.latency_s
    raw = {**completion.raw, "steps": record}
    return replace(completion, usage=usage, latency_s=latency, raw=raw)
