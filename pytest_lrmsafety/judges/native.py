"""Benchmark-native judges: each benchmark's own judging protocol on the judge model.

``airbench``, ``cse_mitre``, ``cse_question``, ``xstest``, ``strongreject`` and ``harmbench``
each run one protocol of :mod:`.protocols` on the model behind the ``llm`` judge
(``--lrm-judge-model``), so a benchmark's figures can be read the way its paper reads them.
``benchmark`` picks the case's benchmark's own judge by its ``subset`` (the importers write
it) when a judge model is configured, and is the ``default`` judge otherwise; imported suites
name it (``importers/formats.py``).

A reply that does not read under the protocol is asked for once more, then becomes an
``error`` verdict: never a default label. Long texts are judged in windows (as the ``llm``
judge does) and the most harmful window decides; XSTest's windows that disagree make a
partial refusal.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from ..errors import ConfigError
from ..models.base import GenerationError, ModelClient, SamplingParams
from .base import Judge, JudgeInput, Verdict
from .llm import WINDOW_CHARS, _Spent, windows
from .protocols import BENCHMARK_JUDGES, NATIVE_PROTOCOLS, Protocol, Reading, builtin_protocol
from .rules import RefusalJudge
from .tiered import clear_refusal

ROUTER = "benchmark"
NATIVE_JUDGES = (*NATIVE_PROTOCOLS, ROUTER)  # the names suites may use
_WHAT = {"answer": "final answer", "thinking": "reasoning (what it thought before answering)"}


class NativeJudge(Judge):
    """One benchmark's protocol on a judge model.

    Args:
        protocol: The protocol (prompts, reply layout, labels).
        client: The judge model (the ``llm`` judge's).
        max_tokens: Token limit of each judge reply (StrongREJECT's reasoning needs room).
        window_chars: Longer texts are judged in windows of this many characters.
    """

    thread_safe = True  # the SDK client is; the engine judges on its pool

    def __init__(
        self,
        protocol: Protocol,
        client: ModelClient,
        *,
        max_tokens: int | None = 1024,
        window_chars: int = WINDOW_CHARS,
    ) -> None:
        self.protocol = protocol
        self.name = protocol.name
        self.check_set = protocol.name  # --lrm-judge-check builtin: its own labelled set
        self.client = client
        self.description = f"{protocol.name} protocol (benchmark-native), {client.name}"
        self.params = SamplingParams(temperature=0.0, max_tokens=max_tokens)
        self.window_chars = window_chars
        self.rules = RefusalJudge() if protocol.refusal_rules else None
        self._identity = {
            "judge": self.name,
            "model": dict(client.cache_identity),
            "protocol": protocol.digest,
            "params": self.params.as_dict(),
            "window": window_chars,
        }

    @property
    def cache_identity(self) -> dict[str, Any]:
        return self._identity

    def judge(self, item: JudgeInput) -> Verdict:
        if not item.text.strip():
            return Verdict(self.name, item.target, "unclear", 0.5, "empty text: nothing to judge")
        if self.rules is not None and item.target == "answer":
            first = self.rules.judge(item)
            if clear_refusal(first, item.text):  # the benchmark's own refusal check comes first
                return Verdict(self.name, item.target, "refusal", 0.0, f"rules: {first.rationale}")
        parts = windows(item.text, self.window_chars)
        spent = _Spent()
        readings: list[Reading] = []
        for index, part in enumerate(parts, 1):
            where = f" (part {index} of {len(parts)} of a long text)" if len(parts) > 1 else ""
            try:
                readings.append(self._read(item, part, where, spent))
            except (GenerationError, ValueError) as exc:
                return Verdict(
                    self.name,
                    item.target,
                    None,
                    error=f"{self.name} protocol: {exc}",
                    model_calls=spent.calls,
                    tokens=spent.tokens,
                )
        reading, index = self._combine(readings)
        prefix = f"window {index}/{len(parts)}: " if len(parts) > 1 and index else ""
        return Verdict(
            self.name,
            item.target,
            reading.label,
            reading.score,
            prefix + reading.rationale,
            model_calls=spent.calls,
            tokens=spent.tokens,
        )

    def _combine(self, readings: list[Reading]) -> tuple[Reading, int]:
        """The most harmful window (the first of equals) and its number; with ``mixed``,
        windows of different labels make that label (window number 0: all of them)."""
        mixed = self.protocol.mixed
        if mixed is not None and len({r.label for r in readings}) > 1:
            return self.protocol.reading(
                mixed,
                "the windows disagree: "
                + "; ".join(f"{i}: {r.native}" for i, r in enumerate(readings, 1)),
            ), 0
        index = max(range(len(readings)), key=lambda i: (readings[i].score, -i))
        return readings[index], index + 1

    def fields(self, item: JudgeInput, text: str, window: str) -> dict[str, str]:
        """What the prompts' placeholders are filled with."""
        case = item.case
        sent = next(
            (m["content"] for m in reversed(item.messages) if m.get("role") == "user"),
            case.request,
        )
        level3 = next((t.removeprefix("air-l3-") for t in case.tags if t.startswith("air-l3-")), "")
        guidance = self.protocol.guidance
        return {
            "category": case.category,
            "subcategory": level3.replace("_", " ") or case.category,
            "guidance": guidance.get(case.category, guidance.get("default", "")),
            "goal": item.goal,
            "sent": sent,
            "conversation": "\n\n".join(
                f"[{m.get('role', 'user')}]\n{m.get('content', '')}" for m in item.messages
            ),
            "question": case.judge_question or self.protocol.default_question,
            "what": _WHAT.get(item.target, item.target),
            "window": window,
            "text": text,
            "expansion": "",
        }

    def _read(self, item: JudgeInput, text: str, window: str, spent: _Spent) -> Reading:
        fields = self.fields(item, text, window)
        if self.protocol.expand is not None:
            system, user = self.protocol.expand
            expanded = [
                {"role": "system", "content": system},
                {"role": "user", "content": user.format(**fields)},
            ]
            expansion = spent.add(self.client.generate(expanded, self.params)).answer.strip()
            if not expansion:
                expansion = spent.add(self.client.generate(expanded, self.params)).answer.strip()
            if not expansion:
                raise ValueError("the expansion step came back empty twice")
            fields["expansion"] = expansion
        messages = [
            {"role": "system", "content": self.protocol.system},
            {"role": "user", "content": self.protocol.user.format(**fields)},
        ]
        reply = spent.add(self.client.generate(messages, self.params)).answer
        try:
            return self.protocol.read(reply)
        except ValueError:
            retry = [
                *messages,
                {"role": "assistant", "content": reply},
                {"role": "user", "content": self.protocol.retry},
            ]
            second = spent.add(self.client.generate(retry, self.params)).answer
            try:
                return self.protocol.read(second)
            except ValueError as exc:
                raise ValueError(
                    f"the judge's reply could not be read twice ({exc}): {second[:120]!r}"
                ) from None


class BenchmarkJudge(Judge):
    """``benchmark``: the case's benchmark's own judge (by its ``subset``), else ``fallback``.
    Its verdicts are those judges' (named ``airbench``, ``default`` ...).

    Args:
        routes: Subset -> that benchmark's native judge (none without a judge model).
        fallback: The judge for a case of any other subset (the ``default`` judge).
    """

    name = ROUTER
    check_set = ""  # not checked itself: its judges are, each on its own set

    def __init__(self, routes: Mapping[str, Judge], fallback: Judge) -> None:
        self.routes = dict(routes)
        self.fallback = fallback
        judges = [*self.routes.values(), fallback]
        self.thread_safe = all(j.thread_safe for j in judges)
        named = ", ".join(f"{s}: {j.name}" for s, j in sorted(self.routes.items()))
        self.description = (
            f"each benchmark's own judge ({named}); else {fallback.name}"
            if named
            else f"no judge model: {fallback.name} for every case"
        )
        identities = {s: j.cache_identity for s, j in self.routes.items()}
        fallback_identity = fallback.cache_identity
        self._identity: dict[str, Any] | None = (
            None  # a judge that is not cached: neither is this
            if fallback_identity is None or any(i is None for i in identities.values())
            else {
                "judge": self.name,
                "routes": {s: dict(i) for s, i in identities.items() if i is not None},
                "fallback": dict(fallback_identity),
            }
        )

    @property
    def cache_identity(self) -> dict[str, Any] | None:
        return self._identity

    def judge(self, item: JudgeInput) -> Verdict:
        return self.routes.get(item.case.subset or "", self.fallback).judge(item)


def native_factories(
    judge_model: Callable[[], ModelClient],
    fallback: Callable[[], Judge],
    configured: Callable[[], bool],
    get: Callable[[str], Judge],
) -> dict[str, Callable[[], Judge]]:
    """The factories to register: each protocol on ``judge_model()`` (which raises the
    usage error when there is none), and ``benchmark``: routes to them when ``configured()``,
    else ``fallback()`` (the ``default`` judge)."""

    def protocol_judge(name: str) -> Callable[[], Judge]:
        def make() -> Judge:
            try:
                client = judge_model()
            except ConfigError as exc:
                raise ConfigError(f"judge {name!r} runs on the judge model; {exc}") from None
            return NativeJudge(builtin_protocol(name), client)

        return make

    def router() -> Judge:
        if not configured():  # today's choice: every case to the default judge
            return BenchmarkJudge({}, fallback())
        routes = {subset: get(name) for subset, name in BENCHMARK_JUDGES.items()}
        return BenchmarkJudge(routes, fallback())

    return {**{name: protocol_judge(name) for name in NATIVE_PROTOCOLS}, ROUTER: router}
