"""The resolved settings of a run (options.py holds every option and the lookup)."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import pytest

from .errors import ConfigError
from .models.base import SamplingParams
from .options import EFFORTS, OPTIONS, TARGET_NAMES, add_options, lookup

__all__ = ["OPTIONS", "Settings", "add_options", "lookup", "resolve_settings"]


@dataclass(frozen=True)
class Settings:
    """The resolved configuration of one run; errors name where a bad value came from."""

    model: str | None
    model_source: str
    base_urls: tuple[str, ...]
    cases: tuple[str, ...]
    cases_source: str
    categories: tuple[str, ...]
    attacks: tuple[str, ...]
    report_json: str | None
    gate: bool
    gates: tuple[str, ...]
    gates_source: str
    presets: tuple[str, ...]
    presets_source: str
    stream: bool
    timeout: float
    retries: int
    sampling: SamplingParams  # from ini and defaults: a suite's ``sampling`` overrides it
    sampling_forced: SamplingParams  # from the command line or environment: overrides suites
    fail_on: tuple[str, ...] | None
    unclear: str
    open_tag_in_prompt: bool | None
    concurrency: int = 8
    rpm: float | None = None
    deadline: float | None = None
    progress: str = "auto"
    cache: str = "rw"
    cache_dir: str = ".lrmsafety"
    record: str | None = None
    samples: int | None = None
    judge_model: str | None = None
    judge_model_source: str = ""
    harm_judge: str = "auto"
    harm_judge_source: str = "default of lrm_harm_judge"
    judge_base_urls: tuple[str, ...] = ()
    judge_json: bool = True
    judge_ensemble: str = "any"
    judge_weights: dict[str, float] = field(default_factory=dict)
    embedded_head: str = ""  # empty: the shipped model
    reward_model: str | None = None
    reward_higher_is_safer: bool = True
    guard_model: str | None = None
    guard_model_source: str = ""
    guard_base_urls: tuple[str, ...] = ()
    judge_check: str | None = None
    judge_check_min: float = 0.8
    judge_check_action: str = "fail"
    thinking: bool | None = None
    device: str = "auto"
    dtype: str = "auto"
    trust_remote_code: bool = False
    guard_prompt: str = "auto"
    attack_files: tuple[str, ...] = ()
    attack_files_source: str = ""
    attack_seed: int = 0
    efforts: tuple[str, ...] | None = None
    list_attacks: bool = False
    attacker_model: str | None = None
    attacker_model_source: str = ""
    attacker_base_urls: tuple[str, ...] = ()
    attacker_rounds: int = 3
    report_html: str | None = None
    report_md: str | None = None
    baseline: str | None = None
    baseline_source: str = ""
    max_regression: float | None = None
    confidence: float = 0.95
    gate_min_probes: int = 10
    triage: bool = False
    profile: str | None = None
    redact: bool = False
    vllm_args: tuple[str, ...] = ()
    vllm_args_source: str = ""
    serve: bool = False
    reasoning_parser: str | None = None
    serve_timeout: int = 600
    model_revision: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def _positive(value: Any, where: str, check: Callable[[Any], bool], what: str) -> None:
    if value is not None and not check(value):
        raise ConfigError(f"{where}: must be {what}, got {value!r}")


def resolve_settings(config: pytest.Config) -> Settings:
    """Reads and checks every setting once; raises :class:`ConfigError` on a bad value."""
    from .models.endpoint import mask_url, url_problem

    values: dict[str, Any] = {}
    sources: dict[str, str] = {}
    for opt in OPTIONS:
        values[opt.name], sources[opt.name] = lookup(config, opt.name)
    _positive(
        values["timeout"], sources["timeout"], lambda v: 0 < v < math.inf, "a positive number"
    )
    _positive(values["retries"], sources["retries"], lambda v: v >= 0, "0 or more")
    _positive(values["max_tokens"], sources["max_tokens"], lambda v: v > 0, "a positive integer")
    _positive(values["temperature"], sources["temperature"], lambda v: 0 <= v <= 2, "within 0..2")
    _positive(values["top_p"], sources["top_p"], lambda v: 0 < v <= 1, "within (0, 1]")
    fail_on: tuple[str, ...] | None = None
    if values["fail_on"]:
        fail_on = tuple(t.strip() for t in str(values["fail_on"]).split(",") if t.strip())
        bad = [t for t in fail_on if t not in TARGET_NAMES]
        if bad or not fail_on:
            raise ConfigError(
                f"{sources['fail_on']}: {values['fail_on']!r}: "
                "use answer, thinking or answer,thinking"
            )
    _positive(
        values["attacker_rounds"],
        sources["attacker_rounds"],
        lambda v: 1 <= v <= 50,
        "within 1..50",
    )
    _positive(
        values["confidence"], sources["confidence"], lambda v: 0.5 <= v < 1, "within 0.5..0.999"
    )
    _positive(values["gate_min_probes"], sources["gate_min_probes"], lambda v: v >= 0, "0 or more")
    for name in ("base_url", "judge_base_url", "guard_base_url", "attacker_base_url"):
        for url in _urls(values[name]):
            problem = url_problem(url)
            if problem:
                raise ConfigError(f"{sources[name]}: {mask_url(url)!r} {problem}")
    _positive(
        values["judge_check_min"], sources["judge_check_min"], lambda v: 0 <= v <= 1, "within 0..1"
    )
    _positive(values["concurrency"], sources["concurrency"], lambda v: v >= 1, "1 or more")
    _positive(values["rpm"], sources["rpm"], lambda v: v > 0, "a positive number")
    _positive(values["deadline"], sources["deadline"], lambda v: v > 0, "a positive number")
    _positive(values["samples"], sources["samples"], lambda v: 1 <= v <= 1000, "within 1..1000")
    return Settings(
        model=values["model"],
        model_source=sources["model"],
        base_urls=_urls(values["base_url"]),
        cases=tuple(_as_list(values["cases"])),
        cases_source=sources["cases"],
        categories=tuple(values["category"] or ()),
        attacks=tuple(values["attack"] or ()),
        report_json=values["report_json"],
        gate=bool(values["gate"]),
        gates=tuple(_as_list(values["gates"])),
        gates_source=sources["gates"],
        presets=tuple(_as_list(values["presets"])),
        presets_source=sources["presets"],
        stream=bool(values["stream"]),
        timeout=float(values["timeout"]),
        retries=int(values["retries"]),
        sampling=SamplingParams(**{k: values[k] for k in _SAMPLING if not _forced(sources[k])}),
        sampling_forced=SamplingParams(**{k: values[k] for k in _SAMPLING if _forced(sources[k])}),
        fail_on=fail_on,
        unclear=values["unclear"],
        open_tag_in_prompt=values["open_tag_in_prompt"],
        concurrency=int(values["concurrency"]),
        rpm=values["rpm"],
        deadline=values["deadline"],
        progress=values["progress"],
        cache=values["cache"],
        cache_dir=values["cache_dir"],
        record=values["record"],
        samples=values["samples"],
        judge_model=values["judge_model"],
        judge_model_source=sources["judge_model"],
        harm_judge=values["harm_judge"],
        harm_judge_source=sources["harm_judge"],
        judge_base_urls=_urls(values["judge_base_url"]),
        judge_json=bool(values["judge_json"]),
        judge_ensemble=values["judge_ensemble"],
        judge_weights=_weights(values["judge_weights"], sources["judge_weights"]),
        embedded_head=values["embedded_head"],
        reward_model=values["reward_model"],
        reward_higher_is_safer=bool(values["reward_higher_is_safer"]),
        guard_model=values["guard_model"],
        guard_model_source=sources["guard_model"],
        guard_base_urls=_urls(values["guard_base_url"]),
        judge_check=values["judge_check"],
        judge_check_min=float(values["judge_check_min"]),
        judge_check_action=values["judge_check_action"],
        thinking={"on": True, "off": False}.get(values["thinking"]),
        device=values["device"],
        dtype=values["dtype"],
        trust_remote_code=bool(values["trust_remote_code"]),
        guard_prompt=values["guard_prompt"],
        attack_files=tuple(_as_list(values["attack_file"])),
        attack_files_source=sources["attack_file"],
        attack_seed=int(values["attack_seed"]),
        efforts=_efforts(values["efforts"], sources["efforts"]),
        list_attacks=bool(values["list_attacks"]),
        attacker_model=values["attacker_model"],
        attacker_model_source=sources["attacker_model"],
        attacker_base_urls=_urls(values["attacker_base_url"]),
        attacker_rounds=int(values["attacker_rounds"]),
        report_html=values["report_html"],
        report_md=values["report_md"],
        baseline=values["baseline"],
        baseline_source=sources["baseline"],
        max_regression=_fraction(values["max_regression"], sources["max_regression"]),
        confidence=float(values["confidence"]),
        gate_min_probes=int(values["gate_min_probes"]),
        triage=bool(values["triage"]),
        profile=values["profile"],
        redact=bool(values["redact"]),
        vllm_args=tuple(_as_list(values["vllm_arg"])),
        vllm_args_source=sources["vllm_arg"],
        serve=bool(values["serve"]),
        reasoning_parser=values["reasoning_parser"],
        serve_timeout=int(values["serve_timeout"]),
        model_revision=str(values["model_revision"] or "").strip() or None,
    )


_SAMPLING = ("temperature", "top_p", "max_tokens", "reasoning_effort", "seed")


def _forced(source: str) -> bool:
    return source.startswith(("option ", "environment "))


def _fraction(value: Any, where: str) -> float | None:
    """``0.02`` or ``2%`` -> 0.02; ``None`` when not set."""
    if value is None or str(value).strip() == "":
        return None
    text = str(value).strip()
    try:
        number = float(text.rstrip("%")) / (100.0 if text.endswith("%") else 1.0)
    except ValueError:
        raise ConfigError(f"{where}: expected a number such as 0.02 or 2%, got {value!r}") from None
    if not 0.0 <= number <= 1.0:
        raise ConfigError(f"{where}: must be within 0..1 (0%..100%), got {value!r}")
    return number


def _efforts(value: Any, where: str) -> tuple[str, ...] | None:
    """``low,high`` -> ``("low", "high")``; ``None`` when not set."""
    if not value:
        return None
    efforts = tuple(dict.fromkeys(e.strip() for e in str(value).split(",") if e.strip()))
    bad = [e for e in efforts if e not in EFFORTS]
    if bad or not efforts:
        raise ConfigError(
            f"{where}: {value!r}: efforts are a comma-separated list of {', '.join(EFFORTS)}"
        )
    return efforts


def _weights(value: Any, where: str) -> dict[str, float]:
    """``llm=2,refusal=1`` -> ``{"llm": 2.0, "refusal": 1.0}``."""
    weights: dict[str, float] = {}
    for part in (p.strip() for line in _as_list(value) for p in line.split(",")):
        if not part:
            continue
        name, eq, number = (x.strip() for x in part.partition("="))
        try:
            weights[name] = float(number)
        except ValueError:
            eq = ""
        if not eq or not name or weights.get(name, -1.0) < 0:
            raise ConfigError(f"{where}: {part!r}: use NAME=WEIGHT with a weight of 0 or more")
    return weights


def _urls(value: Any) -> tuple[str, ...]:
    """URLs from repeated options, ini lines or a comma-separated environment variable."""
    return tuple(u.strip() for line in _as_list(value) for u in line.split(",") if u.strip())


def _as_list(value: Any) -> Sequence[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [line.strip() for line in value.splitlines() if line.strip()]
    return [str(v).strip() for v in value if str(v).strip()]
