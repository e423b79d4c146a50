"""Thinking budgets: how a probe's budget (``--lrm-thinking-budgets 0,512,4096``) reaches a model.

A budget is a variant dimension beside the reasoning effort: ``0`` turns the thinking off,
``N`` allows at most about ``N`` reasoning tokens before the answer. It travels in
:class:`~.base.SamplingParams` (``thinking_budget``), so it is part of every request key
(``engine/keys.py``): a completion made under one budget is never served for another.

Each backend applies it the way it can, or says why it cannot (the probe is then skipped
with that reason, never run as if the budget held):

* **A server's own knob** (``budget=vllm``, the default for ``openai-compat:`` and presets):
  vLLM's hard limit ``thinking_token_budget`` (the server started with ``--reasoning-config``
  naming the model's think tags, as ``vllm-server:`` starts it for ``<think>`` models:
  ``models/vllm_server.py``; without that vLLM ignores the field) for ``N``; for ``0`` the
  chat template's thinking switch,
  ``chat_template_kwargs: {"enable_thinking": false}`` (Qwen3 and other hybrid templates;
  vLLM passes it to the template, and a template without the switch ignores it).
* **Local templates** (``hf:``, ``vllm:``): ``enable_thinking=False`` in the chat template
  for ``0`` where the template has the switch; otherwise, and for ``N``, the prefill forms
  below (these backends continue an assistant turn).
* **Prefill forms** (``budget=prefill`` for a server that continues an assistant turn but
  has no budget of its own, and the local fallback): for ``0`` the *ZeroThink* form, an
  empty trace prefilled (``<think>\\n\\n</think>\\n\\n``) so that the model answers at once
  (Ma et al. 2025, "Reasoning Models Can Be Effective Without Thinking", arXiv:2504.09858:
  their NoThinking prefill; Jiang et al. 2025, "SafeChain", arXiv:2502.12025, §5: ZeroThink
  and LessThink measured as safety-relevant decoding strategies). For ``N``, budget forcing
  (Muennighoff et al. 2025, "s1: Simple test-time scaling", arXiv:2501.19393): the reply is
  generated with at most ``N`` new tokens; if the trace has not ended by then, it is closed
  with a forced ``</think>`` and the answer is generated after it by a second, prefilled
  request. The tokens the template or a prefill adds are not counted. On a vLLM server this
  style wants no ``--reasoning-parser``: a parser such as ``deepseek_r1`` reads a continuation
  that has no ``</think>`` of its own as reasoning, even after a prefilled, closed trace.
* **No knob** (``budget=none``): OpenAI's reasoning models take a reasoning effort, not a
  token budget, and the DeepSeek API takes neither: their budget probes are skipped with
  that reason (use ``--lrm-efforts`` there).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

from .base import PREFILL_KEY, Completion, GenerationError, Message, SamplingParams, is_prefill

BUDGET_STYLES = ("vllm", "prefill", "none")
#: The empty trace of the ZeroThink form (Ma et al. 2025; Jiang et al. 2025).
ZERO_THINK = "<think>\n\n</think>\n\n"
#: What closes a trace cut at the budget (budget forcing, Muennighoff et al. 2025).
FORCED_CLOSE = "\n</think>\n\n"
NO_KNOB = {
    "o3-mini": "OpenAI's reasoning models take a reasoning effort, not a token budget "
    "(use --lrm-efforts)",
    "deepseek-r1": "the DeepSeek API takes no thinking budget and cannot prefill a trace",
}


def server_budget_fields(budget: int, style: str) -> dict[str, Any]:
    """The request-body fields a server of ``style`` gets for ``budget`` (``vllm`` only)."""
    if style != "vllm":
        return {}
    if budget == 0:
        return {"chat_template_kwargs": {"enable_thinking": False}}
    return {"thinking_token_budget": budget}


def budget_problem(style: str, *, prefill: bool, name: str) -> str | None:
    """Why a server client of ``style`` cannot run a budget probe, else ``None``."""
    if style == "prefill" and not prefill:
        return f"{name} cannot continue an assistant turn, which the prefill budget needs"
    if style == "none":
        return NO_KNOB.get(name, f"{name} takes no thinking budget (its preset says budget=none)")
    return None


def _prefilled(messages: Sequence[Message], text: str) -> list[Message]:
    return [*messages, {"role": "assistant", "content": text, PREFILL_KEY: "true"}]


def _turn_text(completion: Completion) -> str:
    """The assistant turn so far as text, its trace in think tags (still open if cut)."""
    if completion.thinking is None:
        return completion.answer
    if completion.thinking_status == "truncated":
        return f"<think>\n{completion.thinking}"
    return f"<think>\n{completion.thinking}{FORCED_CLOSE}{completion.answer}"


def generate_with_budget(
    generate: Callable[[Sequence[Message], SamplingParams], Completion],
    messages: Sequence[Message],
    params: SamplingParams,
    budget: int,
) -> Completion:
    """One completion under ``budget`` by the prefill forms (ZeroThink for 0, budget forcing
    for N), through ``generate``, a backend that continues a final assistant turn.

    Raises:
        GenerationError: The probe prefills the turn itself (a prefill attack): its own
            prefill and the budget's cannot both lead the answer.
    """
    if is_prefill(messages):
        raise GenerationError(
            f"thinking budget {budget}: this probe prefills the answer itself, so the budget "
            "cannot be applied by prefill"
        )
    plain = replace(params, thinking_budget=None)
    if budget == 0:
        done = generate(_prefilled(messages, ZERO_THINK), plain)
        return replace(done, raw={**done.raw, "budget": {"form": "zerothink"}})
    limit = params.max_tokens
    first = generate(messages, replace(plain, max_tokens=min(budget, limit or budget)))
    cut = first.finish_reason == "length" and (limit is None or budget < limit)
    if not cut:
        return replace(first, raw={**first.raw, "budget": {"form": "forcing", "forced": False}})
    forced = first.thinking_status == "truncated"
    head = _turn_text(first) + (FORCED_CLOSE if forced else "")
    room = None if limit is None else max(1, limit - budget)
    rest = generate(_prefilled(messages, head), replace(plain, max_tokens=room))
    usage = {k: first.usage.get(k, 0) + v for k, v in rest.usage.items()}
    usage["prompt_tokens"] = first.usage.get("prompt_tokens", rest.usage.get("prompt_tokens", 0))
    return replace(
        rest,
        usage=usage,
        latency_s=first.latency_s + rest.latency_s,
        raw={**rest.raw, "budget": {"form": "forcing", "forced": forced, "first": first.raw}},
    )
