"""The state of one run, kept in ``config.stash``: settings, registries, client, plan,
engine, records, gates.

``Runtime`` is what the hooks and fixtures ask; the work behind some of its methods lives
apart: the built-in judges' factories in ``judges/factory.py``, the model clients and the
vLLM server in ``clients.py``, the attacker, victim and translator in ``runners.py``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from . import clients, runners
from .attacks import AttackRegistry, builtin_attacks
from .attacks.user import register_attack_files
from .cases.loader import load_suite_gates
from .cases.model import Probe
from .clients import SERVE_URL_KEY as SERVE_URL_KEY  # workerinput's key, read by hooks.py
from .engine.cache import Cache
from .engine.cassette import Recorder
from .engine.converse import ProbeRunner
from .engine.engine import Engine, EngineStats
from .engine.keys import client_identity
from .errors import ConfigError, SuiteError
from .gates import Gate
from .judges.base import Judge, JudgeRegistry
from .judges.factory import BuiltinJudges, harm_judge
from .models.base import ModelClient, SamplingParams, adopt_client
from .models.endpoint import normalize_url
from .models.presets import ClientOptions
from .progress import PROGRESS, WorkerFeed
from .report.scoreboard import ProbeRecord
from .settings import Settings

if TYPE_CHECKING:  # made or read only in some runs: imported there
    from .attacks.multilingual import Translator
    from .attacks.pair import AttackerSearches
    from .attacks.phishing import PhishingDialogue
    from .models.vllm_server import VLLMServer
    from .report.model import Report


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
    plan: list[tuple[Probe, SamplingParams]] = field(default_factory=list)
    collected_gates: dict[str, tuple[Gate, ...]] = field(default_factory=dict)
    engine: Engine | None = None
    cache: Cache | None = None
    judge_check: dict[str, Any] | None = None
    feed: WorkerFeed | None = None
    _attacks: AttackRegistry | None = None
    _judges: JudgeRegistry | None = None
    made: runners.Made = field(default_factory=runners.Made)  # attacker, victim, translator
    baseline: Report | None = None
    serve_url: str | None = None
    server: VLLMServer | None = None

    @property
    def attacks(self) -> AttackRegistry:
        """Built-in attacks plus those registered by hooks, made on first use."""
        if self._attacks is None:
            prefill = self.client is not None and self.client.supports_prefill
            attacks = builtin_attacks(model=clients.model_named(self.settings), prefill=prefill)
            self.config.hook.pytest_lrmsafety_register_attacks(config=self.config, registry=attacks)
            s = self.settings
            files = list(zip(s.paths("attack_file"), s.attack_files, strict=True))
            try:
                register_attack_files(attacks, files, s.source("attack_file"))
            except SuiteError as exc:
                raise ConfigError(str(exc)) from None
            self._attacks = attacks
        return self._attacks

    @property
    def judges(self) -> JudgeRegistry:
        """Built-in judges plus those registered by hooks, made on first use."""
        if self._judges is None:
            self._judges = JudgeRegistry()
            BuiltinJudges(self.settings, self.judge_client, self._judges).register()
            self.config.hook.pytest_lrmsafety_register_judges(
                config=self.config, registry=self._judges
            )
        return self._judges

    def suite_gates(self) -> list[Gate]:
        """The gates written in the suites whose probes ran (read again by an xdist controller,
        which collects nothing)."""
        gates: list[Gate] = []
        for suite in sorted({r.suite for r in self.records.values()}):
            known = self.collected_gates.get(suite)
            gates.extend(
                known if known is not None else load_suite_gates(self.suite_path(suite), suite)
            )
        return gates

    def suite_path(self, suite: str) -> Path:
        """A suite's file from its name in the records (its node id: relative to the rootdir,
        or to the package's folder for the built-in starter suites)."""
        path = self.config.rootpath / suite
        if not path.exists():
            for root in self.case_roots:
                if root.is_dir() and (root / suite).is_file():
                    return root / suite
        return path

    def harm_judge(self) -> tuple[str, str]:
        """``(name, why)`` of the judge the ``default`` judge asks when rules cannot tell
        (``rules``: none); an unknown name is a usage error naming where it came from."""
        return harm_judge(self.settings, self.judges)

    def judges_for(self, probe: Probe) -> dict[str, Judge]:
        """The judges of a probe's case that are registered (unknown names fail in the test)."""
        registry = self.judges
        return {n: registry.get(n) for n in probe.case.judges if n in registry}

    def check_judges(self) -> list[str]:
        """Runs ``--lrm-judge-check``; returns the judges below the threshold."""
        s = self.settings
        assert s.judge_check is not None
        base = s.path_base(s.source("judge_check"))
        judges: dict[str, Judge] = {}
        for name in self.judges:
            try:
                judges[name] = self.judges.get(name)
            except ConfigError:  # e.g. 'llm' without a judge model: nothing to check
                continue
        from .judges.check import run_checks  # --lrm-judge-check only

        where, results = run_checks(s.judge_check, base, judges)  # native judges: their own sets
        self.judge_check = {
            "set": where,
            "min": s.judge_check_min,
            "action": s.judge_check_action,
            "judges": [r.as_dict() for r in results],
        }
        return [r.judge for r in results if r.agreement < s.judge_check_min]

    def cache_dir(self) -> Path:
        """The cache's folder (``--lrm-cache-dir``; empty: the folder it is relative to)."""
        s = self.settings
        return s.path("cache_dir") or s.path_base(s.source("cache_dir"))

    def open_cache(self, client: ModelClient | None) -> Cache:
        """Opens the cache once (checked at configure, so a bad file is a usage error); a
        replay reads only its cassette. The cache notes the URLs the client's completions
        come from."""
        if self.cache is None:
            if client is not None and client.replays:
                self.cache = Cache(None, "off")
            else:
                source = self.settings.source("cache_dir")  # the setting a user would change
                where = source if source.startswith(("ini ", "environment ")) else "--lrm-cache-dir"
                self.cache = Cache(self.cache_dir(), self.settings.cache, where)
        endpoints = client.endpoints if client is not None else ()
        self.cache.endpoint = " ".join(normalize_url(u) for u in endpoints) or None
        return self.cache

    # The models (clients.py) and what runs a probe beside the model under test (runners.py).

    def client_options(
        self, source: str, urls: tuple[str, ...], *, under_test: bool = False
    ) -> ClientOptions:
        """What the ``make_client`` hook gets besides the spec (``clients.client_options``)."""
        return clients.client_options(self, source, urls, under_test=under_test)

    def make_client(self) -> ModelClient | None:
        """Builds the client for ``--lrm-model`` through the ``make_client`` hook."""
        return clients.client_under_test(self)

    def judge_client(
        self, spec: str | None, source: str, urls: tuple[str, ...], need: str
    ) -> ModelClient:
        """A model behind a judge, attacker, translator or victim: its own client."""
        return clients.judge_client(self, spec, source, urls, need)

    def serve_if_asked(self) -> None:
        """``--lrm-serve``: start the vLLM server, or take its URL (``clients.serve_if_asked``)."""
        clients.serve_if_asked(self)

    def stop_server(self) -> None:
        if self.server is not None:
            self.server.stop()
            self.server = None

    def victim(self) -> PhishingDialogue | None:
        """The phishing dialogue's victim, when a victim or judge model is set (made once)."""
        return runners.victim(self)

    def attacker(self) -> AttackerSearches | None:
        """The attacker-model searches, when ``--lrm-attacker-model`` is set (made once)."""
        return runners.attacker(self)

    def translator(self) -> Translator | None:
        """The multilingual attacks' translator, when ``--lrm-translator-model`` is set."""
        return runners.translator(self)

    def runner_for(self, probe: Probe) -> ProbeRunner | None:
        """What runs a probe of several generations of its own (``runners.runner_for``)."""
        return runners.runner_for(self, probe)

    def start_engine(self, client: ModelClient) -> Engine:
        """Creates this process's engine and queues every planned probe."""
        if self.engine is not None:
            return self.engine
        try:  # an lrm_model override may not subclass ModelClient
            client = adopt_client(client, "the lrm_model fixture")
        except ConfigError as exc:  # in a test's setup: its error, one line
            pytest.fail(str(exc), pytrace=False)
        s = self.settings
        cache = self.cache if self.cache is not None else self.open_cache(client)
        if self.made.translator is not None:  # made at configure, perhaps before the cache
            self.made.translator.cache = cache
        recorder = None
        path = s.path("record")
        if path is not None:
            recorder = Recorder(path, client_identity(client))
        self.engine = Engine(
            client,
            cache,
            # a local batching backend needs enough requests in flight to fill its batches
            concurrency=max(s.concurrency, client.preferred_concurrency),
            retries=s.retries,
            requests_per_minute=s.rpm,
            recorder=recorder,
            judges_for=self.judges_for,
            judge_names=lambda: list(self.judges),
            on_wait=self.show_progress,
            attacker=self.attacker(),
            runner_for=self.runner_for,
        )
        if s.deadline is not None:
            self.engine.deadline = (time.monotonic() + s.deadline, s.deadline)
        self.engine.plan(self.plan)
        self.feed = WorkerFeed.start_for(self.config, self.engine)  # xdist workers only
        return self.engine

    def show_progress(self, stats: EngineStats) -> None:
        """While a test waits for the model: the progress line (progress.py), past the
        capture; on the controller only (workers feed theirs to it)."""
        progress = self.config.stash.get(PROGRESS, None)
        if progress is not None and self.engine is not None:
            progress.on_wait(self.engine)


def sampling_for(settings: Settings, probe: Probe) -> SamplingParams:
    """Sampling for a probe: ini, the suite's ``sampling``, the attack's, the command line,
    then the probe's effort and budget variants.

    With a seed, sample ``k`` uses ``seed + k - 1`` so that samples differ.
    """
    params = settings.sampling.merged(probe.case.sampling).merged(probe.sampling)
    params = params.merged(settings.sampling_forced.as_dict())
    if probe.effort is not None:  # the variant's own effort: that is what it is for
        params = replace(params, reasoning_effort=probe.effort)
    if probe.budget is not None:  # likewise its thinking budget (models/budget.py)
        params = replace(params, thinking_budget=probe.budget)
    if params.seed is not None and probe.sample > 1:
        params = replace(params, seed=params.seed + probe.sample - 1)
    return params


RUNTIME = pytest.StashKey[Runtime]()


def get_runtime(config: pytest.Config) -> Runtime:
    """The run's :class:`Runtime`; the plugin sets it in ``pytest_configure``."""
    return config.stash[RUNTIME]
