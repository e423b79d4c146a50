"""The state of one run, kept in ``config.stash``: settings, registries, client, records."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pytest

from .attacks import AttackRegistry, builtin_attacks
from .cases.loader import load_suite_gates
from .errors import ConfigError
from .judges.base import JudgeRegistry
from .judges.rules import RefusalJudge
from .models.base import ModelClient
from .models.presets import ClientOptions, parse_preset_lines
from .report.gate import Gate
from .report.scoreboard import ProbeRecord
from .settings import Settings


@dataclass
class Runtime:
    """Everything the plugin keeps for one pytest run (one per process under xdist)."""

    config: pytest.Config
    settings: Settings
    case_roots: tuple[Path, ...]
    named_paths: tuple[Path, ...] = ()
    client: ModelClient | None = None
    records: dict[str, ProbeRecord] = field(default_factory=dict)
    ini_gates: tuple[Gate, ...] = ()
    _attacks: AttackRegistry | None = None
    _judges: JudgeRegistry | None = None

    @property
    def attacks(self) -> AttackRegistry:
        """Built-in attacks plus those registered by hooks, made on first use."""
        if self._attacks is None:
            self._attacks = builtin_attacks()
            self.config.hook.pytest_lrmsafety_register_attacks(
                config=self.config, registry=self._attacks
            )
        return self._attacks

    @property
    def judges(self) -> JudgeRegistry:
        """Built-in judges plus those registered by hooks, made on first use."""
        if self._judges is None:
            self._judges = JudgeRegistry()
            self._judges.register("refusal", RefusalJudge)
            self.config.hook.pytest_lrmsafety_register_judges(
                config=self.config, registry=self._judges
            )
        return self._judges

    def suite_gates(self) -> list[Gate]:
        """The gates written in the suites whose probes ran (read again on the controller)."""
        gates: list[Gate] = []
        for suite in sorted({r.suite for r in self.records.values()}):
            gates.extend(load_suite_gates(self.config.rootpath / suite, suite))
        return gates

    def make_client(self) -> ModelClient | None:
        """Builds the client for ``--lrm-model`` through the ``make_client`` hook."""
        s = self.settings
        if not s.model:
            return None
        parse_preset_lines(s.presets, s.presets_source)  # bad presets fail even if unused
        options = ClientOptions(
            base_url=s.base_url,
            stream=s.stream,
            timeout=s.timeout,
            max_retries=s.retries,
            open_tag_in_prompt=s.open_tag_in_prompt,
        )
        client: ModelClient | None = self.config.hook.pytest_lrmsafety_make_client(
            config=self.config, spec=s.model, options=options, settings=s
        )
        if client is None:
            raise ConfigError(f"{s.model_source}: no plugin can serve model {s.model!r}")
        return client


RUNTIME = pytest.StashKey[Runtime]()


def get_runtime(config: pytest.Config) -> Runtime:
    """The run's :class:`Runtime`; the plugin sets it in ``pytest_configure``."""
    return config.stash[RUNTIME]
