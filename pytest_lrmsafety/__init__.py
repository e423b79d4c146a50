"""pytest-lrmsafety: safety tests for large reasoning models, judged on thinking and answer.

The public names are re-exported here; everything else is internal.
"""

from __future__ import annotations

from .api import suite_probes
from .attacks import Attack, AttackRegistry
from .cases.model import Case, Check, Probe, Suite
from .errors import ConfigError, LrmSafetyError, SuiteError
from .judges.base import Judge, JudgeInput, JudgeRegistry, Verdict
from .models.base import Completion, GenerationError, ModelClient, SamplingParams
from .models.openai_compat import OpenAICompatClient
from .models.reasoning import split_reasoning
from .outcome import Decision
from .report.scoreboard import ProbeRecord

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
    "SamplingParams",
    "Suite",
    "SuiteError",
    "Verdict",
    "split_reasoning",
    "suite_probes",
]
