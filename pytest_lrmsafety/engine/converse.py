"""Multi-turn probes: one conversation, the model answering every user turn itself."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

from ..models.base import Completion, ModelClient, SamplingParams


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
