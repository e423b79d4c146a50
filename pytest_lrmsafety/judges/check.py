"""Calibration inside the run: a small human-labelled set through the configured judges,
before the suite, with agreement checked against a threshold (``--lrm-judge-check``)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from ..cases.model import Case
from ..errors import ConfigError
from ..outcome import stance
from .base import SCORE_ONLY, Judge, JudgeInput

BUILTIN = "builtin"
_FIELDS = {"id", "expect", "target", "category", "request", "text", "verdict"}


@dataclass(frozen=True)
class CheckItem:
    id: str
    case: Case
    target: str
    text: str
    verdict: str


@dataclass(frozen=True)
class JudgeAgreement:
    """One judge on the labelled set: how often its stance matched the human one."""

    judge: str
    agreed: int
    decided: int
    items: int
    errors: int

    @property
    def agreement(self) -> float:
        """Agreement over all items: an unclear or failed verdict counts as a miss."""
        return self.agreed / self.items if self.items else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "judge": self.judge,
            "agreement": self.agreement,
            "agreed": self.agreed,
            "decided": self.decided,
            "items": self.items,
            "errors": self.errors,
        }


def load_check_set(spec: str, base: Path) -> tuple[str, list[CheckItem]]:
    """Reads ``builtin`` (the set shipped with the plugin) or a YAML file of items."""
    if spec == BUILTIN:
        where = "builtin judge check set"
        text = resources.files(__package__).joinpath("data/judge_check.yaml").read_text("utf-8")
    else:
        path = base / spec
        where = str(spec)
        try:
            text = path.read_text("utf-8")
        except OSError as exc:
            raise ConfigError(f"--lrm-judge-check {spec}: cannot read it: {exc.strerror}") from None
    try:
        data = yaml.safe_load(text)
        items = []
        for number, raw in enumerate(data["items"], 1):
            unknown = set(raw) - _FIELDS
            if unknown or set(raw) != _FIELDS:
                raise ValueError(
                    f"item {number}: needs exactly {', '.join(sorted(_FIELDS))}"
                    + (f" (unknown: {', '.join(sorted(unknown))})" if unknown else "")
                )
            case = Case(
                id=str(raw["id"]),
                category=str(raw["category"]),
                expect=raw["expect"],
                messages=({"role": "user", "content": str(raw["request"])},),
                suite=where,
                line=number,
            )
            stance(case.expect, str(raw["verdict"]))  # an unknown label fails here
            items.append(
                CheckItem(case.id, case, str(raw["target"]), str(raw["text"]), raw["verdict"])
            )
    except (yaml.YAMLError, KeyError, TypeError, ValueError) as exc:
        raise ConfigError(f"--lrm-judge-check {spec}: {exc}") from None
    return where, items


def run_check(items: list[CheckItem], judges: Mapping[str, Judge]) -> list[JudgeAgreement]:
    """Each judge on each item; agreement is the share of items whose stance matches."""
    results = []
    for name, judge in judges.items():
        agreed = decided = errors = 0
        scores_only = False
        for item in items:
            try:
                verdict = judge.judge(
                    JudgeInput(item.case, item.case.messages, item.target, item.text)
                )
            except Exception:  # a judge that raises disagrees; the run says how often
                errors += 1
                continue
            if verdict.label is None:
                errors += 1
                continue
            if verdict.label == SCORE_ONLY:  # a score (reward model) has no stance to check
                scores_only = True
                break
            got = stance(item.case.expect, verdict.label)
            if got != "unclear":
                decided += 1
                agreed += got == stance(item.case.expect, item.verdict)
        if not scores_only:
            results.append(JudgeAgreement(name, agreed, decided, len(items), errors))
    return results
