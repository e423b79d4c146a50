"""The state of one run, kept in ``config.stash``: settings, registries, client, records."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pytest

from .attacks import AttackRegistry, builtin_attacks
from .attacks.crescendo import CrescendoSearch
from .attacks.multilingual import MissingTranslator, Translator
from .attacks.pair import AttackerSearches, PairSearch
from .attacks.phishing import MissingVictim, PhishingDialogue, victim_spec
from .attacks.tap import TapSearch
from .attacks.user import register_attack_files
from .cases.loader import load_suite_gates
from .cases.model import Probe
from .engine.cache import Cache
from .engine.cassette import Recorder
from .engine.converse import ProbeRunner
from .engine.deployments import settle_deployment
from .engine.engine import Engine, EngineStats
from .engine.keys import client_identity
from .errors import ConfigError, SuiteError
from .gates import Gate
from .judges.awareness import AwarenessJudge, LLMAwarenessJudge
from .judges.base import Judge, JudgeRegistry
from .judges.check import run_checks
from .judges.choice import harm_judge_choice, llm_judge_spec
from .judges.guard import GuardJudge
from .judges.llm import LLMJudge
from .judges.native import native_factories
from .judges.phishing import SKILLS as PHISHING_SKILLS
from .judges.phishing import PhishingJudge, UnjudgedPhishing
from .judges.rules import RefusalJudge
from .judges.tiered import TieredJudge
from .models.base import ModelClient, SamplingParams, adopt_client
from .models.endpoint import normalize_url
from .models.presets import BUILTIN_PRESETS, ClientOptions, parse_preset_lines
from .models.vllm_offline import parse_engine_args
from .models.vllm_server import PREFIX as SERVER_PREFIX
from .models.vllm_server import VLLMServer, reasoning_parser_for
from .progress import PROGRESS, WorkerFeed
from .report.model import Report
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
    plan: list[tuple[Probe, SamplingParams]] = field(default_factory=list)
    collected_gates: dict[str, tuple[Gate, ...]] = field(default_factory=dict)
    engine: Engine | None = None
    cache: Cache | None = None
    judge_check: dict[str, Any] | None = None
    feed: WorkerFeed | None = None
    _attacks: AttackRegistry | None = None
    _judges: JudgeRegistry | None = None
    _attacker: AttackerSearches | None = None
    _victim: PhishingDialogue | None = None
    _translator: Translator | None = None
    baseline: Report | None = None
    serve_url: str | None = None
    server: VLLMServer | None = None

    @property
    def attacks(self) -> AttackRegistry:
        """Built-in attacks plus those registered by hooks, made on first use."""
        if self._attacks is None:
            attacks = builtin_attacks(model=self.model_named())
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
            self._judges.register("refusal", RefusalJudge)
            self._judges.register("aware", AwarenessJudge)
            self._judges.register(  # the llm judge's model, asked the awareness rubric
                "llm_aware",
                lambda: LLMAwarenessJudge(self._judge_model(), json_mode=self.settings.judge_json),
            )
            self._judges.register("default", self._make_default_judge)
            self._judges.register("llm", self._make_llm_judge)
            self._judges.register("llama_guard", self._make_guard_judge)
            self._judges.register("embedded", self._make_embedded_judge)
            self._judges.register("reward", self._make_reward_judge)
            for skill in PHISHING_SKILLS:
                self._judges.register(f"phishing_{skill}", self._phishing_judge_maker(skill))
            for name, factory in native_factories(  # the benchmarks' own judges
                self._judge_model,
                lambda: self.judges.get("default"),
                lambda: llm_judge_spec(self.settings) is not None,
                lambda name: self.judges.get(name),
            ).items():
                self._judges.register(name, factory)
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

    def _judge_client(
        self, spec: str | None, source: str, urls: tuple[str, ...], need: str
    ) -> ModelClient:
        """A model behind a judge: its own client, apart from the model under test."""
        if not spec:
            raise ConfigError(need)
        return self._client_for(spec, self.client_options(source, urls))

    def _make_llm_judge(self) -> LLMJudge:
        s = self.settings
        need = (
            "judge 'llm' needs a judge model: pass --lrm-judge-model (e.g. "
            "openai-compat:MODEL with --lrm-judge-base-url, or gpt-4o)"
        )
        spec = llm_judge_spec(s)
        if spec is None:
            raise ConfigError(need)
        client = self._judge_client(spec.spec, spec.source, spec.base_urls, need)
        return LLMJudge(client, json_mode=s.judge_json)

    def _judge_model(self) -> ModelClient:
        """The ``llm`` judge's model, for the benchmark-native judges (one client for all)."""
        client = getattr(self.judges.get("llm"), "client", None)
        return client if isinstance(client, ModelClient) else self._make_llm_judge().client

    def _make_default_judge(self) -> Judge:
        """``default``: rules for clear refusals, then the harm judge the run chose (or the
        rules alone, with the warning the header shows)."""
        rules = RefusalJudge()
        name, why = self.harm_judge()
        if name == "rules":
            return rules
        return TieredJudge(rules, self.judges.get(name), why)

    def harm_judge(self) -> tuple[str, str]:
        """``(name, why)`` of the judge the ``default`` judge asks when rules cannot tell
        (``rules``: none); an unknown name is a usage error naming where it came from."""
        name, why = harm_judge_choice(self.settings)
        if name != "rules" and (name == "default" or name not in self.judges):
            known = ", ".join(["rules", *(n for n in self.judges if n != "default")])
            raise ConfigError(
                f"{self.settings.source('harm_judge')}: no judge {name!r}; known: {known}"
            )
        return name, why

    def _make_guard_judge(self) -> GuardJudge:
        s = self.settings
        need = (
            "judge 'llama_guard' needs a Llama Guard model: pass --lrm-guard-model (e.g. "
            "openai-compat:meta-llama/Llama-Guard-3-8B with --lrm-guard-base-url)"
        )
        return GuardJudge(
            self._judge_client(s.guard_model, s.source("guard_model"), s.guard_base_urls, need),
            prompt=s.guard_prompt,
        )

    def _make_embedded_judge(self) -> Judge:
        try:
            from .judges.embedded import EmbeddedJudge  # numpy, tokenizers, onnxruntime
            from .judges.minilm import EncoderUnavailable
        except ImportError as exc:
            raise ConfigError(
                f"judge 'embedded' needs pip install 'pytest-lrmsafety[embedded]' ({exc})"
            ) from None
        where = self.settings.source("embedded_head")
        model = self.settings.path("embedded_head")  # None: the shipped model
        if model is not None and not model.exists():
            raise ConfigError(
                f"{where}: {model} does not exist (a model written by "
                "benchmarks/train_embedded_judge.py; leave it unset for the shipped one)"
            )
        judge = EmbeddedJudge(model)
        try:
            judge.model()  # a missing extra or model package: one usage error, not one per probe
        except EncoderUnavailable as exc:
            raise ConfigError(f"judge 'embedded': {exc}") from None
        return judge

    def _phishing_judge_maker(self, skill: str) -> Callable[[], Judge]:
        """The factory of one spear-phishing skill judge (``judges/phishing.py``), on the
        ``llm`` judge's model."""

        def make() -> Judge:
            need = (
                f"judge 'phishing_{skill}' needs a judge model: pass --lrm-judge-model (e.g. "
                "openai-compat:MODEL with --lrm-judge-base-url, or gpt-4o)"
            )
            spec = llm_judge_spec(self.settings)
            if spec is None and victim_spec(self.settings) is None:
                return UnjudgedPhishing(f"phishing_{skill}", need)  # its probes skip
            if spec is None:  # a victim model but no judge: the dialogues could not be graded
                raise ConfigError(need)
            client = self._judge_client(spec.spec, spec.source, spec.base_urls, need)
            return PhishingJudge(client, skill, json_mode=self.settings.judge_json)

        return make

    def _make_reward_judge(self) -> Judge:
        s = self.settings
        if not s.reward_model:
            raise ConfigError(
                "judge 'reward' needs a reward model: pass --lrm-reward-model PATH (a local "
                "transformers sequence-classification model)"
            )
        from .judges.reward import RewardJudge  # transformers and torch load on first use

        path = s.path("reward_model")
        assert path is not None  # a local folder, else a model name
        judge = RewardJudge(
            str(path) if path.exists() else s.reward_model,
            higher_is_safer=s.reward_higher_is_safer,
            trust_remote_code=s.trust_remote_code,  # ArmoRM's custom class, if allowed
        )
        judge.check(load=True)  # a missing extra or model: one usage error, not one per probe
        return judge

    def client_options(
        self, source: str, urls: tuple[str, ...], *, under_test: bool = False
    ) -> ClientOptions:
        """What the ``make_client`` hook gets besides the spec: the run's settings a client
        needs, and ``source`` (the option the spec came from) for its errors. The model under
        test also takes the streaming and reasoning switches; a judge or attacker model does
        not."""
        s = self.settings
        shared = ClientOptions(
            source=source,
            base_urls=urls,
            timeout=s.timeout,
            max_retries=s.retries,
            device=s.device,
            dtype=s.dtype,
            trust_remote_code=s.trust_remote_code,
            max_batch=s.concurrency,
            # parsed for every client, so a bad preset or engine argument fails even if unused
            presets=parse_preset_lines(s.presets, s.source("presets")),
            engine_args=parse_engine_args(s.vllm_args, s.source("vllm_arg")),
            serve_url=self.serve_url,
            path_base=s.path_base(source),
        )
        if not under_test:
            return shared
        return replace(
            shared,
            stream=s.stream,
            open_tag_in_prompt=s.open_tag_in_prompt,
            thinking=s.thinking,
        )

    def _client_for(
        self, spec: str, options: ClientOptions, *, under_test: bool = False
    ) -> ModelClient:
        # Errors name the option the spec came from (--lrm-model or --lrm-judge-model).
        source = options.source
        client: ModelClient | None = self.config.hook.pytest_lrmsafety_make_client(
            config=self.config, spec=spec, options=options
        )
        if client is None:
            raise ConfigError(f"{source}: no plugin can serve model {spec!r}")
        client = adopt_client(client, f"{source}: pytest_lrmsafety_make_client for {spec!r}")
        # One look at the server before any probe (a wrong model name is one usage error,
        # not one error per probe), and the deployment the cache keys name.
        s = self.settings
        started = None
        serve_url = self.serve_url
        if under_test and serve_url and client.endpoints == (serve_url,):
            started = {"server": "vllm", "vllm_args": list(s.vllm_args)}
        read_only = s.cache == "ro"
        settle_deployment(
            client,
            source,
            revision=s.model_revision if under_test else None,
            started=started,
            read_only=read_only,
            cache=self.open_cache(client) if under_test else None,
            check=not getattr(self.config.option, "collectonly", False),
            keyed_on_served=under_test,
        )
        return client

    def make_client(self) -> ModelClient | None:
        """Builds the client for ``--lrm-model`` through the ``make_client`` hook."""
        s = self.settings
        if not s.model:
            return None
        options = self.client_options(s.source("model"), s.base_urls, under_test=True)
        return self._client_for(s.model, options, under_test=True)

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

    def serve_if_asked(self) -> None:
        """``--lrm-serve``: start the vLLM server (controller), or take its URL (xdist
        worker); a failure is a usage error with the end of the server's log."""
        s = self.settings
        workerinput = getattr(self.config, "workerinput", None)
        if workerinput is not None and workerinput.get(SERVE_URL_KEY):
            self.serve_url = str(workerinput[SERVE_URL_KEY])
            return
        if not s.serve:
            return
        if not (s.model or "").startswith(SERVER_PREFIX):
            raise ConfigError(
                f"--lrm-serve starts a vLLM server for --lrm-model vllm-server:MODEL, not for "
                f"{s.model!r}"
            )
        model = s.model[len(SERVER_PREFIX) :]  # type: ignore[index]
        engine_args = parse_engine_args(s.vllm_args, s.source("vllm_arg"))
        self.server = VLLMServer(
            model,
            log_dir=self.cache_dir(),
            reasoning_parser=reasoning_parser_for(model, s.reasoning_parser),
            engine_args=engine_args,
            startup_timeout=float(s.serve_timeout),
        )
        try:
            self.server.start()
        except ConfigError:
            self.server = None
            raise
        self.serve_url = self.server.url

    def stop_server(self) -> None:
        if self.server is not None:
            self.server.stop()
            self.server = None

    def victim(self) -> PhishingDialogue | None:
        """The phishing dialogue's victim, when a victim or judge model is set (made once)."""
        spec = victim_spec(self.settings)
        if spec is None:
            return None
        if self._victim is None:
            client = self._judge_client(spec.spec, spec.source, spec.base_urls, "")
            self._victim = PhishingDialogue(client, turns=self.settings.phishing_turns)
        return self._victim

    def attacker(self) -> AttackerSearches | None:
        """The attacker-model searches (pair, crescendo_adaptive, tap), when
        ``--lrm-attacker-model`` is set (made once)."""
        s = self.settings
        if not s.attacker_model:
            return None
        if self._attacker is None:
            client = self._judge_client(
                s.attacker_model, s.source("attacker_model"), s.attacker_base_urls, ""
            )
            rounds, budget = s.attacker_rounds, s.attacker_budget
            refusal = self.judges.get("refusal")
            self._attacker = AttackerSearches(
                {
                    "pair": PairSearch(client, self.judges_for, rounds=rounds),
                    "crescendo_adaptive": CrescendoSearch(
                        client, self.judges_for, refusal, rounds=rounds, budget=budget
                    ),
                    "tap": TapSearch(
                        client,
                        self.judges_for,
                        depth=rounds,
                        width=s.tap_width,
                        branch=s.tap_branch,
                        budget=budget,
                    ),
                }
            )
        return self._attacker

    def translator(self) -> Translator | None:
        """The translation model of the multilingual attacks, when
        ``--lrm-translator-model`` is set (made once; its translations cached in the run's
        cache)."""
        s = self.settings
        if not s.translator_model:
            return None
        if self._translator is None:
            client = self._judge_client(
                s.translator_model, s.source("translator_model"), s.translator_base_urls, ""
            )
            self._translator = Translator(client, self.cache)
        return self._translator

    def runner_for(self, probe: Probe) -> ProbeRunner | None:
        """What runs a probe of several generations of its own (the engine asks): a prefill
        attack's steps, a translation attack's translator, the phishing dialogue; ``None``
        for the rest."""
        attacks = self.attacks
        if probe.attack not in attacks:
            return None
        attack = attacks[probe.attack]
        if "victim" in attack.needs:  # phishing: the dialogue with the victim model
            return self.victim() or MissingVictim(probe.attack)
        if attack.language is not None:
            translator = self.translator()
            if translator is None:
                return MissingTranslator(probe.attack)
            return translator.runner(attack.language)
        return attack.steps

    def model_named(self) -> str | None:
        """The model under test as named (``--lrm-model``, with the model a preset names):
        what ``hcot`` reads its family from."""
        spec = self.settings.model
        if not spec:
            return None
        try:
            presets = parse_preset_lines(self.settings.presets, self.settings.source("presets"))
        except ConfigError:
            presets = {}
        preset = presets.get(spec) or BUILTIN_PRESETS.get(spec)
        return f"{spec} {preset.model}" if preset is not None else spec

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
        if self._translator is not None:  # made at configure, perhaps before the cache
            self._translator.cache = cache
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
SERVE_URL_KEY = "lrm_serve_url"  # workerinput: the server the controller started


def get_runtime(config: pytest.Config) -> Runtime:
    """The run's :class:`Runtime`; the plugin sets it in ``pytest_configure``."""
    return config.stash[RUNTIME]
