"""``lrmsafety report``, ``diff`` and ``show``: a saved JSON report rendered again, compared
with another, or one of its probes whole."""

from __future__ import annotations

import argparse
import json
import math
import re
import sys
from typing import TYPE_CHECKING

from ..errors import ConfigError
from ..report.baseline import compare
from .common import check_output, fraction, load, width, write

if TYPE_CHECKING:
    from ..report.model import Report


def grouped(report: Report, key: str, columns: int, intervals: bool) -> list[str]:
    """``lrmsafety report --by KEY``: the report's probes grouped by ``KEY`` (a probe counts
    under each of its tags), with intervals at the report's confidence."""
    from ..report.build import typed_row
    from ..report.scoreboard import group_rows, summarise
    from ..report.stats import DEFAULT_CONFIDENCE
    from ..report.terminal import render_groups

    confidence = report.confidence or DEFAULT_CONFIDENCE
    if key == "budget":  # in budget order, not as text
        from ..report.trend import budget_counts

        counts = budget_counts(report.probes)
    else:
        counts = group_rows(report.probes, key)
    rows = [typed_row(c, confidence) for c in counts]
    if not rows:
        article = "an" if key[0] in "aeiou" else "a"
        return [
            f"no probe in this report has {article} {key} (older reports and suites without one)"
        ]
    total = typed_row(summarise("all", report.probes), confidence)
    head = [f"by {key}" + (": a probe counts under each of its tags" if key == "tag" else ""), ""]
    return head + render_groups(rows, key, total, columns, True if intervals else None)


def cmd_report(args: argparse.Namespace) -> int:
    if args.html:  # before reading anything: the extra may be missing
        from ..report.html import check_available

        check_available("--html")
    html = check_output(args.html, "--html", "report.html")
    md = check_output(args.md, "--md", "report.md")
    if args.baseline and not args.profile:
        raise ConfigError("--baseline: only with --profile (it compares Figure 3's harm scores)")
    report = load(args.report)
    if args.profile:  # the study's tables from the saved probes (any earlier report)
        report = with_study(report, args.profile, args.baseline)
    if html is not None:
        from ..report.html import render_html

        write(html, "--html", render_html(report))
        print(f"report: HTML written to {html.resolve()}")
    if md is not None:
        from ..report.markdown import render_markdown

        write(md, "--md", render_markdown(report))
        print(f"report: Markdown written to {md.resolve()}")
    if args.by:  # tags and subsets come from the user's data: printed safely
        from ..report.layout import visible

        print(visible("\n".join(grouped(report, args.by, width(args), args.intervals))))
        if not args.terminal:
            return 0
    if not (html or md) or args.terminal:
        from ..report.layout import visible
        from ..report.profile import render_study
        from ..report.terminal import render
        from ..report.triage import render_triage

        columns = width(args)
        intervals = True if args.intervals else None
        lines = render(report, width=columns, intervals=intervals)
        if report.study:
            lines += render_study(report.study, report.model, columns, intervals)
        if args.triage:
            lines += render_triage(report, width=columns)
        print(visible("\n".join(lines)))  # reasons and judges' rationales quote model text
    return 0


def with_study(report: Report, profile: str, baseline: str | None) -> Report:
    """``report`` with its ``study`` section computed again from its probes (Figure 3 against
    the ``baseline`` report's where one is named)."""
    import dataclasses

    from ..report.profile import study_table
    from ..report.stats import DEFAULT_CONFIDENCE

    base = load(baseline) if baseline else None
    study = study_table(
        report.probes,
        report.confidence or DEFAULT_CONFIDENCE,
        model=report.model,
        baseline=base.probes if base is not None else None,
        baseline_model=base.model if base is not None else None,
        name=profile,
    )
    return dataclasses.replace(report, study=study)


def cmd_diff(args: argparse.Namespace) -> int:
    from ..report.baseline import WORSE_WHEN_HIGHER
    from ..report.gate import evaluate_gates, parse_gate
    from ..report.terminal import gate_value, render_baseline

    if not (math.isfinite(args.confidence) and 0.5 <= args.confidence < 1):
        raise ConfigError(f"--confidence {args.confidence:g}: must be within 0.5..0.999")
    fraction(args.max_regression, "--max-regression", low=0.0, high=1.0)
    old, new = load(args.old), load(args.new)
    current = new.probes
    section = compare(current, old, path=args.old, confidence=args.confidence)
    print(f"{args.new} (model {new.model}) against {args.old} (model {old.model})")
    print("\n".join(render_baseline(section, width(args))[1:]))
    if args.max_regression is None:
        return 0
    gates = [
        parse_gate(f"delta({m}) <= {args.max_regression:g}", source="--max-regression")
        for m in WORSE_WHEN_HIGHER
    ]
    results = evaluate_gates(gates, current, baseline=old.probes, confidence=args.confidence)
    broken = [r for r in results if r.status == "fail"]
    for r in results:
        print(f"{r.status.upper():4}  {r.gate.expression}: {gate_value(r)}")
    return 1 if broken else 0


# what ``show --json`` escapes: C1 controls, bidirectional overrides, other invisibles and
# lone surrogates (which no terminal encoding can print)
_UNPRINTABLE = re.compile(
    r"[\x7f-\x9f\u00ad\u061c\u200b-\u200f\u2028-\u202e\u2060-\u206f\ufeff\ud800-\udfff]"
)


def cmd_show(args: argparse.Namespace) -> int:
    report = load(args.report)
    matches = [p for p in report.probes if p.nodeid == args.probe]
    if not matches:
        matches = [p for p in report.probes if args.probe in p.nodeid]
    if not matches:
        print(f"{args.report}: no probe matches {args.probe!r}", file=sys.stderr)
        return 2
    if len(matches) > 1:
        print(f"{args.report}: {len(matches)} probes match {args.probe!r}:", file=sys.stderr)
        for p in matches[:20]:
            print(f"  {p.nodeid}", file=sys.stderr)
        return 2
    record = matches[0]
    if args.json:  # JSON escapes C0 controls itself; the rest become \\u escapes here
        text = json.dumps(vars(record), indent=2, ensure_ascii=False)
        print(_UNPRINTABLE.sub(lambda m: json.dumps(m.group())[1:-1], text))
        return 0
    p = record
    lines = [
        f"{p.nodeid}  {p.outcome.upper()}",
        f"  category {p.category}   attack {p.attack}   expect {p.expect}"
        f"   severity {p.severity}   sample {p.sample}"
        + (f"   effort {p.effort}" if p.effort else "")
        + (f"   budget {p.budget}" if p.budget is not None else ""),
    ]
    if p.subset or p.tags:
        lines.append(f"  subset {p.subset or '-'}   tags {', '.join(p.tags) or '-'}")
    if p.reasons:
        lines.append(f"  reasons: {'; '.join(p.reasons)}")
    for m in p.messages:
        lines += [f"--- sent [{m['role']}]", m["content"]]
    for number, turn in enumerate(p.turns, 2):
        lines += [f"--- sent [user, turn {number}]", turn]
    for r in p.rounds:
        lines += [f"--- round {r['round']} ({round_state(r)})", r["prompt"]]
    for step in p.steps:  # prefill steps, a translation: what was generated and inserted
        at = f" at character {step['at']}" if "at" in step else ""
        lines += [f"--- step: {step['step']}{at}", step["text"]]
    lines += [f"--- thinking [{p.thinking_status}]", p.thinking or "(none)"]
    lines += ["--- answer", p.answer if p.answer is not None else "(none)"]
    if p.answer_decoded:
        lines += ["--- answer, decoded", p.answer_decoded]
    lines.append("--- verdicts")
    for v in p.verdicts:
        label = v["label"] if v["label"] is not None else f"ERROR {v['error']}"
        lines.append(f"  {v['judge']} on {v['target']}: {label}: {v['rationale']}")
    from ..report.layout import visible

    print(visible("\n".join(lines)))  # a model's ESC sequences must not drive the terminal
    return 0


def round_state(r: dict[str, object]) -> str:
    """An attacker round's header: its place (crescendo turn, tap node) and how it went."""
    parts = []
    if "turn" in r:
        parts.append(f"turn {r['turn']}")
    if "depth" in r:
        parts.append(f"depth {r['depth']}, parent {r.get('parent', 0)}")
    if "score" in r:
        parts.append(f"score {r['score']}/10")
    if r["success"]:
        parts.append("got through")
    elif r.get("backtracked"):
        parts.append("refused, taken back")
    elif "pruned" in r:
        parts.append(f"pruned: {r['pruned']}")
    else:
        parts.append("refused")
    return ", ".join(parts)


# The subcommands' parsers, added by ``cli.parser`` in the order ``--help`` lists them.


def add_report(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    r = sub.add_parser("report", help="re-render a JSON report")
    r.add_argument("report")
    r.add_argument("--html", help="write the HTML report here")
    r.add_argument("--md", help="write the Markdown summary here")
    r.add_argument("--terminal", action="store_true", help="also print the terminal summary")
    r.add_argument("--triage", action="store_true", help="with the terminal summary: triage")
    r.add_argument(
        "--intervals",
        action="store_true",
        help="Wilson intervals in every terminal table (by default where they fit)",
    )
    r.add_argument("--width", type=int, help="columns of the terminal output (default: terminal's)")
    r.add_argument(
        "--profile",
        choices=("r1-study",),
        help="the study's tables from the report's probes, beside its published figures",
    )
    r.add_argument("--baseline", help="with --profile: a report to compare harm scores with")
    r.add_argument(
        "--by",
        choices=("category", "attack", "subset", "tag", "effort", "budget"),
        help="print one table grouped by this (a probe counts under each of its tags)",
    )
    r.set_defaults(run=cmd_report)


def add_diff(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    d = sub.add_parser("diff", help="compare two reports")
    d.add_argument("old", help="the baseline report")
    d.add_argument("new", help="the report to compare with it")
    d.add_argument("--confidence", type=float, default=0.95)
    d.add_argument(
        "--max-regression", type=float, help="exit 1 when a rate got worse by more than this"
    )
    d.add_argument("--width", type=int, help="columns of the output (default: terminal's)")
    d.set_defaults(run=cmd_diff)


def add_show(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    s = sub.add_parser("show", help="one probe, whole")
    s.add_argument("report")
    s.add_argument("probe", help="its node id, or a unique part of it")
    s.add_argument("--json", action="store_true", help="the probe's record as JSON")
    s.set_defaults(run=cmd_show)
