"""The resolved settings of a run, read from the option table (options.py) in one pass.

:func:`resolve_settings` looks every :class:`~pytest_lrmsafety.options.Option` up (command
line > environment > ini > default), turns it into its value with the option's own parser and
check, and keeps where each value came from (:meth:`Settings.source`), so that an error about
a value later in the run names the same place. No field is copied by hand: the fields of
:class:`Settings` are the table's (``tests/test_settings_table.py`` holds the two together).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

import pytest

from .models.base import SamplingParams
from .options import OPTIONS, Option, add_options, lookup

__all__ = ["OPTIONS", "SAMPLING", "Settings", "add_options", "lookup", "resolve_settings"]

SAMPLING = ("temperature", "top_p", "max_tokens", "reasoning_effort", "seed")
"""The options that make up a request's :class:`SamplingParams`."""

_BY_NAME = {opt.name: opt for opt in OPTIONS}


@dataclass(frozen=True)
class Settings:
    """The resolved configuration of one run: one field per option (named by its
    ``Option.attr``), where each came from, and the two folders paths are relative to."""

    model: str | None
    base_urls: tuple[str, ...]
    cases: tuple[str, ...]
    categories: tuple[str, ...]
    attacks: tuple[str, ...]
    list_attacks: bool
    attack_files: tuple[str, ...]
    attack_seed: int
    attacker_model: str | None
    attacker_base_urls: tuple[str, ...]
    attacker_rounds: int
    attacker_budget: int
    tap_width: int
    tap_branch: int
    translator_model: str | None
    translator_base_urls: tuple[str, ...]
    victim_model: str | None
    victim_base_urls: tuple[str, ...]
    phishing_turns: int
    efforts: tuple[str, ...] | None
    thinking_budgets: tuple[int, ...] | None
    report_json: str | None
    report_html: str | None
    report_md: str | None
    baseline: str | None
    max_regression: float | None
    confidence: float
    gate_min_probes: int
    profile: str | None
    triage: bool
    redact: bool
    gate: bool
    gates: tuple[str, ...]
    presets: tuple[str, ...]
    stream: bool
    timeout: float
    deadline: float | None
    retries: int
    temperature: float | None
    top_p: float | None
    max_tokens: int | None
    reasoning_effort: str | None
    seed: int | None
    fail_on: tuple[str, ...] | None
    unclear: str
    concurrency: int
    rpm: float | None
    progress: str
    cache: str
    cache_dir: str
    model_revision: str | None
    record: str | None
    samples: int | None
    judge_model: str | None
    harm_judge: str
    judge_base_urls: tuple[str, ...]
    guard_model: str | None
    guard_base_urls: tuple[str, ...]
    embedded_head: str  # empty: the shipped model
    reward_model: str | None
    reward_higher_is_safer: bool
    judge_weights: dict[str, float]
    judge_ensemble: str
    judge_check: str | None
    judge_check_min: float
    judge_check_action: str
    judge_json: bool
    open_tag_in_prompt: bool | None
    thinking: bool | None
    device: str
    dtype: str
    trust_remote_code: bool
    vllm_args: tuple[str, ...]
    serve: bool
    reasoning_parser: str | None
    serve_timeout: int
    guard_prompt: str
    # Not options:
    sources: Mapping[str, str]  # option name -> "option --lrm-x", "ini lrm_x", ...
    rootdir: Path
    invocation_dir: Path
    # From the sampling options: ``sampling`` those from ini and defaults (a suite's
    # ``sampling`` overrides them), ``sampling_forced`` those given at invocation (they
    # override the suites).
    sampling: SamplingParams = field(init=False)
    sampling_forced: SamplingParams = field(init=False)

    def __post_init__(self) -> None:
        chosen = {name: getattr(self, name) for name in SAMPLING}
        for attr, forced in (("sampling", False), ("sampling_forced", True)):
            params = {k: v for k, v in chosen.items() if self.at_invocation(k) is forced}
            object.__setattr__(self, attr, SamplingParams(**params))

    def source(self, name: str) -> str:
        """Where option ``name``'s value came from: ``option --lrm-x``, ``environment
        variable LRM_X``, ``ini lrm_x`` or ``default of lrm_x``."""
        return self.sources[name]

    def at_invocation(self, name: str) -> bool:
        """Whether option ``name`` was given where pytest was started (command line or
        environment) rather than in the configuration or by default."""
        return self.sources[name].startswith(("option ", "environment "))

    def path_base(self, source: str) -> Path:
        """The one rule of paths: the folder a relative path from ``source`` is relative to.

        Given where pytest is started (``option ...``, ``environment variable ...``): that
        folder (the invocation dir). Written in the configuration (``ini ...``) or a default:
        the rootdir, wherever pytest is started from.
        """
        invocation = source.startswith(("option ", "environment "))
        return self.invocation_dir if invocation else self.rootdir

    def path(self, name: str) -> Path | None:
        """Path option ``name`` resolved by :meth:`path_base`; ``None`` when not set (an
        empty value is not set)."""
        value = getattr(self, _path_option(name).attr)
        if not value:
            return None
        return self.path_base(self.sources[name]) / str(value)

    def paths(self, name: str) -> tuple[Path, ...]:
        """A repeatable path option (``cases``, ``attack_file``) resolved by :meth:`path_base`."""
        base = self.path_base(self.sources[name])
        return tuple(base / str(v) for v in getattr(self, _path_option(name).attr))


def _path_option(name: str) -> Option:
    opt = _BY_NAME[name]
    if not opt.path:
        raise ValueError(f"option {name!r} is not a path")
    return opt


def resolve_settings(config: pytest.Config) -> Settings:
    """Reads and checks every option once; raises :class:`ConfigError` on a bad value,
    naming where it came from."""
    values: dict[str, Any] = {}
    sources: dict[str, str] = {}
    for opt in OPTIONS:
        raw, where = lookup(config, opt.name)
        values[opt.attr] = opt.value(raw, where)
        sources[opt.name] = where
    return Settings(
        **values,
        sources=MappingProxyType(sources),
        rootdir=config.rootpath,
        invocation_dir=config.invocation_params.dir,
    )
