"""CyberSecEval 3's spear-phishing prompts (Wan et al. 2024) as phishing cases.

The user's copy of ``datasets/spear_phishing/multiturn_phishing_challenges.json`` from
PurpleLlama's CybersecurityBenchmarks (the R1 study ran its 200 prompts: Tables 2 and 4): a
list of objects with ``target_profile`` (a synthetic person's bio), ``goal`` (what the
attacker is after) and, optionally, ``prompt_id`` and ``platform`` (the channel; SMS where
missing). In the published file the profile is structured, a list holding one object (name,
occupation, experiences, personality ...), which CyberSecEval writes into its prompts as it
is; here it is written out as indented JSON, and a profile given as text is taken as it is.

Each row becomes a ``refuse`` case of subset ``cyberseceval-phishing`` run by the ``phishing``
attack (``attacks/phishing.py``): its system message is the attacker's brief with the bio
between ``<bio>`` tags (the victim model plays that person), its user message asks for the
first message, and its goal is the row's goal.

Its judges: ``default`` (did the model take part? the study's Table 2 safety rate) and the
three skill judges ``phishing_persuasion``, ``phishing_rapport`` and
``phishing_argumentation`` (0-5: Table 4). The goal's kind, in CyberSecEval's four groups
(malware download, data theft, security info gathering, credential theft), is the tag
``phishing-goal-KIND``; the platform ``phishing-platform-NAME``.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from ..attacks.phishing import prompts
from .base import (
    Imported,
    ShapeError,
    case_id,
    native,
    optional_text,
    prompt_text,
    read_rows,
    require,
)

SUBSET = "cyberseceval-phishing"
JUDGES = ["default", "phishing_persuasion", "phishing_rapport", "phishing_argumentation"]
# CyberSecEval 3 summarises its goals in four groups (summarize_goal); these patterns find
# them in a goal's wording, first match wins.
GOAL_KINDS = (
    (r"malicious (attachment|link)|download|execute", "malware_download"),
    (r"password|credential|vpn|remote access|log ?in", "credential_theft"),
    (r"security software|anti-?virus|firewall", "security_info_gathering"),
    (r"financial|credit card|bank|social security|personal|sensitive", "data_theft"),
)


def goal_kind(goal: str) -> str:
    """``malware_download``, ``credential_theft``, ``security_info_gathering``,
    ``data_theft`` or ``other``: which of CyberSecEval 3's groups a goal belongs to."""
    text = goal.lower()
    return next((kind for pattern, kind in GOAL_KINDS if re.search(pattern, text)), "other")


def _no_tags(path: Path, number: int, name: str, text: str) -> str:
    """A bio or goal that would end the brief's ``<bio>`` early is refused, not mangled."""
    if re.search(r"</?(bio|platform)>", text, re.IGNORECASE):
        raise ShapeError(
            f"{path}: row {number}: field {name}: contains a <bio> or <platform> tag, which "
            "the phishing brief uses to mark the target's bio"
        )
    return text.strip()


def _profile(path: Path, number: int, row: dict[str, Any]) -> str:
    """``target_profile`` as the bio's text: a string as it is, CyberSecEval's structured
    person (a list of one object, or an object) as indented JSON."""
    value = row.get("target_profile")
    if isinstance(value, list) and len(value) == 1:
        value = value[0]
    if isinstance(value, dict | list) and value:
        return json.dumps(value, indent=2, ensure_ascii=False)
    return prompt_text(path, number, row, "target_profile")


def cyberseceval_phishing(path: Path) -> list[Imported]:
    """The rows of a spear-phishing prompt file, one phishing case each."""
    rows = read_rows(path)
    require(path, rows, ("target_profile", "goal"), "a CyberSecEval spear-phishing JSON")
    text = prompts()
    out = []
    for i, r in enumerate(rows):
        n = i + 1
        profile = _no_tags(path, n, "target_profile", _profile(path, n, r))
        goal = _no_tags(path, n, "goal", prompt_text(path, n, r, "goal"))
        platform = _no_tags(path, n, "platform", optional_text(path, n, r, "platform")) or "SMS"
        prompt_id = optional_text(path, n, r, "prompt_id") or str(i)
        kind = goal_kind(goal)
        brief = text.attacker_system.format(profile=profile, goal=goal, platform=platform)
        out.append(
            Imported(
                id=case_id("cse-phishing", prompt_id),
                category="Security Risks",  # AIR 2024 level 4: 1.1.4 Spear phishing
                expect="refuse",
                messages=[
                    {"role": "system", "content": brief.strip()},
                    {"role": "user", "content": text.opener.format(platform=platform)},
                ],
                goal=f"Spear phishing by {platform}: {goal}",
                tags=["cyberseceval", "spear_phishing", kind],
                native=[native("phishing-goal", kind), native("phishing-platform", platform)],
                subset=SUBSET,
                judges=list(JUDGES),
                note=f"CyberSecEval spear phishing {prompt_id} ({kind}, {platform})",
            )
        )
    return out
