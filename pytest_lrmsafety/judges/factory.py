"""The built-in judges' factories, registered by name and each made on first use.

The names are those of ``judges/names.py``. A judge that needs a model (``llm``,
``llama_guard``, ``reward``, the phishing skill judges, the benchmark-native judges) is made
when a case first names it: its factory raises a ``ConfigError`` saying which option is
missing, which collection turns into ``file:line: judges: ...`` for the first case naming it.
A judge's model is a client of its own (its own spec and URLs), apart from the model under
test; ``judge_client`` makes it (``clients.judge_client``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from ..attacks.phishing import victim_spec
from ..errors import ConfigError
from ..models.base import ModelClient
from ..settings import Settings
from .awareness import AwarenessJudge, LLMAwarenessJudge
from .base import Judge, JudgeRegistry
from .choice import harm_judge_choice, llm_judge_spec
from .guard import GuardJudge
from .llm import LLMJudge
from .native import native_factories
from .phishing import SKILLS as PHISHING_SKILLS
from .phishing import PhishingJudge, UnjudgedPhishing
from .rules import RefusalJudge
from .tiered import TieredJudge

# (spec, the option it came from, its URLs, the error when there is no spec) -> its client
JudgeClient = Callable[[str | None, str, tuple[str, ...], str], ModelClient]

NEED_JUDGE_MODEL = (
    "judge {name!r} needs a judge model: pass --lrm-judge-model (e.g. "
    "openai-compat:MODEL with --lrm-judge-base-url, or gpt-4o)"
)


def harm_judge(settings: Settings, registry: JudgeRegistry) -> tuple[str, str]:
    """``(name, why)`` of the judge the ``default`` judge asks when rules cannot tell
    (``rules``: none); an unknown name is a usage error naming where it came from."""
    name, why = harm_judge_choice(settings)
    if name != "rules" and (name == "default" or name not in registry):
        known = ", ".join(["rules", *(n for n in registry if n != "default")])
        raise ConfigError(f"{settings.source('harm_judge')}: no judge {name!r}; known: {known}")
    return name, why


@dataclass
class BuiltinJudges:
    """The built-in judges' factories on one registry (the run's, which hooks add to)."""

    settings: Settings
    judge_client: JudgeClient
    registry: JudgeRegistry

    def register(self) -> JudgeRegistry:
        """Registers every built-in judge's factory; returns the registry."""
        registry = self.registry
        registry.register("refusal", RefusalJudge)
        registry.register("aware", AwarenessJudge)
        registry.register(  # the llm judge's model, asked the awareness rubric
            "llm_aware",
            lambda: LLMAwarenessJudge(self.judge_model(), json_mode=self.settings.judge_json),
        )
        registry.register("default", self.default)
        registry.register("llm", self.llm)
        registry.register("llama_guard", self.guard)
        registry.register("embedded", self.embedded)
        registry.register("reward", self.reward)
        for skill in PHISHING_SKILLS:
            registry.register(f"phishing_{skill}", self.phishing_maker(skill))
        for name, factory in native_factories(  # the benchmarks' own judges
            self.judge_model,
            lambda: registry.get("default"),
            lambda: llm_judge_spec(self.settings) is not None,
            registry.get,
        ).items():
            registry.register(name, factory)
        return registry

    def llm(self) -> LLMJudge:
        s = self.settings
        need = NEED_JUDGE_MODEL.format(name="llm")
        spec = llm_judge_spec(s)
        if spec is None:
            raise ConfigError(need)
        client = self.judge_client(spec.spec, spec.source, spec.base_urls, need)
        return LLMJudge(client, json_mode=s.judge_json)

    def judge_model(self) -> ModelClient:
        """The ``llm`` judge's model, for the benchmark-native judges (one client for all)."""
        client = getattr(self.registry.get("llm"), "client", None)
        return client if isinstance(client, ModelClient) else self.llm().client

    def default(self) -> Judge:
        """``default``: rules for clear refusals, then the harm judge the run chose (or the
        rules alone, with the warning the header shows)."""
        rules = RefusalJudge()
        name, why = harm_judge(self.settings, self.registry)
        if name == "rules":
            return rules
        return TieredJudge(rules, self.registry.get(name), why)

    def guard(self) -> GuardJudge:
        s = self.settings
        need = (
            "judge 'llama_guard' needs a Llama Guard model: pass --lrm-guard-model (e.g. "
            "openai-compat:meta-llama/Llama-Guard-3-8B with --lrm-guard-base-url)"
        )
        return GuardJudge(
            self.judge_client(s.guard_model, s.source("guard_model"), s.guard_base_urls, need),
            prompt=s.guard_prompt,
        )

    def embedded(self) -> Judge:
        try:
            from .embedded import EmbeddedJudge  # numpy, tokenizers, onnxruntime
            from .minilm import EncoderUnavailable
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

    def phishing_maker(self, skill: str) -> Callable[[], Judge]:
        """The factory of one spear-phishing skill judge (``judges/phishing.py``), on the
        ``llm`` judge's model."""

        def make() -> Judge:
            need = NEED_JUDGE_MODEL.format(name=f"phishing_{skill}")
            spec = llm_judge_spec(self.settings)
            if spec is None and victim_spec(self.settings) is None:
                return UnjudgedPhishing(f"phishing_{skill}", need)  # its probes skip
            if spec is None:  # a victim model but no judge: the dialogues could not be graded
                raise ConfigError(need)
            client = self.judge_client(spec.spec, spec.source, spec.base_urls, need)
            return PhishingJudge(client, skill, json_mode=self.settings.judge_json)

        return make

    def reward(self) -> Judge:
        s = self.settings
        if not s.reward_model:
            raise ConfigError(
                "judge 'reward' needs a reward model: pass --lrm-reward-model PATH (a local "
                "transformers sequence-classification model)"
            )
        from .reward import RewardJudge, looks_like_path  # torch loads on first use

        path = s.path("reward_model")
        assert path is not None  # a local folder, else a model name
        if looks_like_path(s.reward_model) and not path.exists():  # said before any missing extra
            raise ConfigError(
                f"{s.source('reward_model')}: {s.reward_model} does not exist (a local "
                "transformers sequence-classification model folder)"
            )
        judge = RewardJudge(
            str(path) if path.exists() else s.reward_model,
            higher_is_safer=s.reward_higher_is_safer,
            trust_remote_code=s.trust_remote_code,  # ArmoRM's custom class, if allowed
        )
        judge.check(load=True)  # a missing extra or model: one usage error, not one per probe
        return judge
