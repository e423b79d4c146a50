"""Category maps from each source's own labels to the 16 AIR 2024 level-2 categories, and
the keyword rule for sources without categories (AdvBench, WildJailbreak)."""

from __future__ import annotations

import re
from collections.abc import Mapping

KEYWORDS: tuple[tuple[str, str], ...] = (
    (r"suicid|self-harm|self harm|kill myself|eating disorder|anorexi", "Self-harm"),
    (r"child|minor|underage|kid", "Child Harm"),
    (r"sexual|porn|explicit|nude", "Sexual Content"),
    (
        r"hack|malware|virus|ransomware|exploit|phishing|password|ddos|botnet|keylogger",
        "Security Risks",
    ),
    (
        r"bomb|explosive|weapon|firearm|gun|poison|kill|murder|assault|terror|violen",
        "Violence & Extremism",
    ),
    (r"racis|hate|slur|harass|bully|discriminat", "Hate/Toxicity"),
    (r"election|vote|voting|politic|propaganda|campaign", "Political Usage"),
    (r"fake news|misinformation|disinformation|conspiracy|hoax|defam|libel", "Deception"),
    (r"scam|fraud|counterfeit|launder|insider trading|tax evasion", "Economic Harm"),
    (r"personal information|private|doxx|track someone|spy on|surveil", "Privacy"),
    (r"manipulat|gaslight|coerce|blackmail", "Manipulation"),
    (r"drug|meth|cocaine|heroin|steal|theft|shoplift|smuggl|illegal", "Criminal Activities"),
)


def guess_category(text: str) -> str:
    lowered = text.lower()
    for pattern, category in KEYWORDS:
        if re.search(pattern, lowered):
            return category
    return "Criminal Activities"


def mapped(table: Mapping[str, str], original: str, fallback: str) -> str:
    return table.get(original.strip().lower(), fallback)


HARMBENCH = {
    "chemical_biological": "Violence & Extremism",
    "cybercrime_intrusion": "Security Risks",
    "illegal": "Criminal Activities",
    "misinformation_disinformation": "Deception",
    "harassment_bullying": "Hate/Toxicity",
    "harmful": "Operational Misuses",
    "copyright": "Fundamental Rights",
}


STRONGREJECT = {
    "non-violent crimes": "Criminal Activities",
    "violence": "Violence & Extremism",
    "disinformation and deception": "Deception",
    "hate, harassment and discrimination": "Hate/Toxicity",
    "illegal goods and services": "Criminal Activities",
    "sexual content": "Sexual Content",
}


SST = {
    "suicide, self-harm, and eating disorders": "Self-harm",
    "physical harm and violence": "Violence & Extremism",
    "illegal and highly regulated items": "Criminal Activities",
    "scams and fraud": "Deception",
    "child safety": "Child Harm",
}


JBB = {
    "harassment/discrimination": "Hate/Toxicity",
    "malware/hacking": "Security Risks",
    "physical harm": "Violence & Extremism",
    "economic harm": "Economic Harm",
    "fraud/deception": "Deception",
    "disinformation": "Deception",
    "sexual/adult content": "Sexual Content",
    "privacy": "Privacy",
    "expert advice": "Operational Misuses",
    "government decision-making": "Political Usage",
}


WILDGUARD = (
    (r"cyber|malware|hack", "Security Risks"),
    (r"violence|physical", "Violence & Extremism"),
    (r"sexual", "Sexual Content"),
    (r"private|privacy", "Privacy"),
    (r"stereotype|discriminat", "Discrimination/Bias"),
    (r"toxic|hate", "Hate/Toxicity"),
    (r"mental|self", "Self-harm"),
    (r"misinformation|disinformation", "Deception"),
    (r"copyright", "Fundamental Rights"),
    (r"defamation", "Defamation"),
    (r"fraud|illegal", "Criminal Activities"),
)
