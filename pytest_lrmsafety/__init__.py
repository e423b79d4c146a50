"""pytest-lrmsafety: safety tests for large reasoning models, judged on thinking and answer.

The public names are re-exported here; everything else is internal. They are imported on
first use: pytest imports this package in every run of an environment the plugin is
installed in, and a run that does not use the plugin should pay nothing for it.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .api import suite_probes
    from .attacks import Attack, AttackRegistry
    from .cases.model import Case, Check, Probe, Suite
    from .errors import ConfigError, LrmSafetyError, SuiteError
    from .judges.base import Judge, JudgeInput, JudgeRegistry, Verdict
    from .models.base import Completion, GenerationError, ModelClient, SamplingParams
    from .models.openai_compat import OpenAICompatClient
    from .models.reasoning import split_reasoning
    from .outcome import Decision
    from .report.model import Report
    from .report.scoreboard import ProbeRecord

_WHERE = {
    "suite_probes": ".api",
    "Attack": ".attacks",
    "AttackRegistry": ".attacks",
    "Case": ".cases.model",
    "Check": ".cases.model",
    "Probe": ".cases.model",
    "Suite": ".cases.model",
    "ConfigError": ".errors",
    "LrmSafetyError": ".errors",
    "SuiteError": ".errors",
    "Judge": ".judges.base",
    "JudgeInput": ".judges.base",
    "JudgeRegistry": ".judges.base",
    "Verdict": ".judges.base",
    "Completion": ".models.base",
    "GenerationError": ".models.base",
    "ModelClient": ".models.base",
    "SamplingParams": ".models.base",
    "OpenAICompatClient": ".models.openai_compat",
    "split_reasoning": ".models.reasoning",
    "Decision": ".outcome",
    "ProbeRecord": ".report.scoreboard",
    "Report": ".report.model",
}

__all__ = [
    "Attack",
    "AttackRegistry",
    "Case",
    "Check",
    "Completion",
    "ConfigError",
    "Decision",
    "GenerationError",
    "Judge",
    "JudgeInput",
    "JudgeRegistry",
    "LrmSafetyError",
    "ModelClient",
    "OpenAICompatClient",
    "Probe",
    "ProbeRecord",
    "Report",
    "SamplingParams",
    "Suite",
    "SuiteError",
    "Verdict",
    "split_reasoning",
    "suite_probes",
]


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value  # the next lookup is a plain attribute
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
