"""The ``lrmsafety`` command: work with suites and reports without running a model.

    lrmsafety validate cases/                  check suites against the schema
    lrmsafety report run.json --html r.html    re-render a recorded run (HTML, Markdown, terminal;
                                               --intervals: Wilson intervals in every table)
    lrmsafety diff old.json new.json           compare two reports (as --lrm-baseline does)
    lrmsafety show run.json NODEID             one probe, whole
    lrmsafety attacks                          list the attacks
    lrmsafety init                             copy the starter suites into cases/ to edit
    lrmsafety import xstest xstest_prompts.csv -o cases/xstest.yaml   a data set as a suite
    lrmsafety --version                        the installed version

The terminal output fits the terminal's width (``COLUMNS``, else 100 when not a terminal;
``--width`` sets it).

Exit status: 0 done (``validate``: every suite is good; ``diff``: no regression gate broken),
1 a check failed, 2 bad input (a wrong or truncated file, a bad option), with one line
naming the file and what is wrong.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .errors import ConfigError, SuiteError
from .report.baseline import ReportError, compare, load_report, records_of


def _suite_files(paths: Sequence[str]) -> list[Path]:
    files: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            files += sorted(
                p
                for p in path.rglob("*")
                if p.suffix in (".yaml", ".yml") and not p.stem.endswith((".rubric", ".check"))
            )
        elif path.exists():
            files.append(path)
        else:
            raise ConfigError(f"{raw}: no such file or folder")
    return files


def cmd_validate(args: argparse.Namespace) -> int:
    from .attacks import builtin_attacks
    from .attacks.user import register_attack_files
    from .cases.loader import load_suite

    attacks = builtin_attacks()
    register_attack_files(attacks, [(Path(f), f) for f in args.attack_file or []], "--attack-file")
    judges = {"default", "refusal", "llm", "llama_guard", "embedded", "reward", *(args.judge or [])}
    files = _suite_files(args.paths or ["cases"])
    if not files:
        print("no suite files found", file=sys.stderr)
        return 2
    bad = 0
    probes = 0
    for path in files:
        try:
            suite = load_suite(path, str(path), attacks=set(attacks), judges=judges)
        except SuiteError as exc:
            print(f"FAIL {exc}")
            bad += 1
            continue
        count = sum(len(c.attacks) * max(1, len(c.efforts)) * c.samples for c in suite.cases)
        probes += count
        print(f"ok   {path}: {len(suite.cases)} cases, {count} probes, {len(suite.gates)} gates")
    print(f"{len(files) - bad} of {len(files)} suites valid; {probes} probes")
    return 1 if bad else 0


def _load(path: str) -> dict[str, Any]:
    return load_report(Path(path), path)


def _width(args: argparse.Namespace) -> int:
    if args.width:
        return int(args.width)
    from .report.layout import DEFAULT_WIDTH

    return shutil.get_terminal_size((DEFAULT_WIDTH, 24)).columns


def cmd_report(args: argparse.Namespace) -> int:
    if args.html:  # before reading anything: the extra may be missing
        from .report.html import check_available

        check_available("--html")
    report = _load(args.report)
    if args.html:
        from .report.html import write_html

        write_html(report, Path(args.html))
        print(f"report: HTML written to {Path(args.html).resolve()}")
    if args.md:
        from .report.markdown import render_markdown

        Path(args.md).write_text(render_markdown(report), encoding="utf-8")
        print(f"report: Markdown written to {Path(args.md).resolve()}")
    if not (args.html or args.md) or args.terminal:
        from .report.profile import render_study
        from .report.terminal import render
        from .report.triage import render_triage

        width = _width(args)
        intervals = True if args.intervals else None
        print("\n".join(render(report, width=width, intervals=intervals)))
        if report.get("study"):
            print("\n".join(render_study(report["study"], report["model"], width, intervals)))
        if args.triage:
            print("\n".join(render_triage(report, width=width)))
    return 0


def cmd_diff(args: argparse.Namespace) -> int:
    from .report.baseline import WORSE_WHEN_HIGHER
    from .report.gate import evaluate_gates, parse_gate
    from .report.terminal import gate_value, render_baseline

    old, new = _load(args.old), _load(args.new)
    current = records_of(new)
    section = compare(current, old, path=args.old, confidence=args.confidence)
    print(f"{args.new} (model {new.get('model')}) against {args.old} (model {old.get('model')})")
    print("\n".join(render_baseline(section, _width(args))[1:]))
    if args.max_regression is None:
        return 0
    gates = [
        parse_gate(f"delta({m}) <= {args.max_regression:g}", source="--max-regression")
        for m in WORSE_WHEN_HIGHER
    ]
    results = evaluate_gates(gates, current, baseline=records_of(old), confidence=args.confidence)
    broken = [r for r in results if r.status == "fail"]
    for r in results:
        print(f"{r.status.upper():4}  {r.gate.expression}: {gate_value(r.as_dict())}")
    return 1 if broken else 0


def cmd_show(args: argparse.Namespace) -> int:
    report = _load(args.report)
    matches = [p for p in report["probes"] if p["nodeid"] == args.probe]
    if not matches:
        matches = [p for p in report["probes"] if args.probe in p["nodeid"]]
    if not matches:
        print(f"{args.report}: no probe matches {args.probe!r}", file=sys.stderr)
        return 2
    if len(matches) > 1:
        print(f"{args.report}: {len(matches)} probes match {args.probe!r}:", file=sys.stderr)
        for p in matches[:20]:
            print(f"  {p['nodeid']}", file=sys.stderr)
        return 2
    p = matches[0]
    if args.json:
        print(json.dumps(p, indent=2, ensure_ascii=False))
        return 0
    lines = [
        f"{p['nodeid']}  {p['outcome'].upper()}",
        f"  category {p['category']}   attack {p['attack']}   expect {p['expect']}"
        f"   severity {p['severity']}   sample {p['sample']}",
    ]
    if p.get("reasons"):
        lines.append(f"  reasons: {'; '.join(p['reasons'])}")
    for m in p.get("messages") or []:
        lines += [f"--- sent [{m['role']}]", m["content"]]
    for number, turn in enumerate(p.get("turns") or [], 2):
        lines += [f"--- sent [user, turn {number}]", turn]
    for r in p.get("rounds") or []:
        lines += [
            f"--- round {r['round']} ({'got through' if r['success'] else 'refused'})",
            r["prompt"],
        ]
    lines += [f"--- thinking [{p.get('thinking_status')}]", p.get("thinking") or "(none)"]
    lines += ["--- answer", p.get("answer") if p.get("answer") is not None else "(none)"]
    if p.get("answer_decoded"):
        lines += ["--- answer, decoded", p["answer_decoded"]]
    lines.append("--- verdicts")
    for v in p["verdicts"]:
        label = v["label"] if v["label"] is not None else f"ERROR {v['error']}"
        lines.append(f"  {v['judge']} on {v['target']}: {label}: {v['rationale']}")
    print("\n".join(lines))
    return 0


def cmd_import(args: argparse.Namespace) -> int:
    from .cases.loader import load_suite
    from .importers import import_suite

    out = Path(args.output)
    attacks = tuple(a.strip() for a in args.attacks.split(",")) if args.attacks else None
    written, total = import_suite(
        args.format, Path(args.source), out, sample=args.sample, seed=args.seed, attacks=attacks
    )
    from .attacks import builtin_attacks

    # The written suite must load like any other: check it now, not at the first run.
    load_suite(out, str(out), attacks=set(builtin_attacks()), judges={"default", "refusal", "llm"})
    print(f"{out}: {written} cases from {total} rows of {args.source} ({args.format})")
    return 0


def cmd_init(args: argparse.Namespace) -> int:
    from .header import BUILTIN_SUITES

    dest = Path(args.folder)
    sources = sorted(BUILTIN_SUITES.glob("*.yaml"))
    if dest.exists() and not dest.is_dir():
        raise ConfigError(f"{dest}: exists and is not a folder")
    clashes = [dest / p.name for p in sources if (dest / p.name).exists()]
    if clashes and not args.force:
        names = ", ".join(str(p) for p in clashes)
        raise ConfigError(f"{names}: already there; --force overwrites (your edits are lost)")
    dest.mkdir(parents=True, exist_ok=True)
    for source in sources:
        (dest / source.name).write_bytes(source.read_bytes())
        print(f"wrote {dest / source.name}")
    print(
        f"{len(sources)} starter suites in {dest}/: edit them; `pytest --lrm-model SPEC` now runs "
        "this folder instead of the built-in copies"
    )
    return 0


def cmd_attacks(args: argparse.Namespace) -> int:
    from .attacks import builtin_attacks
    from .attacks.user import register_attack_files

    registry = builtin_attacks()
    register_attack_files(registry, [(Path(f), f) for f in args.attack_file or []], "--attack-file")
    print("\n".join(registry.listing()))
    return 0


def _version() -> str:
    from importlib import metadata

    try:
        return metadata.version("pytest-lrmsafety")
    except metadata.PackageNotFoundError:  # a source tree that was never installed
        return "0+unknown"


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(
        prog="lrmsafety", description="Suites and reports of pytest-lrmsafety, without a model."
    )
    top.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    sub = top.add_subparsers(dest="command", required=True)
    v = sub.add_parser("validate", help="check suites against the schema")
    v.add_argument("paths", nargs="*", help="suite files or folders (default: cases)")
    v.add_argument("--attack-file", action="append", help="your attack files, if suites use them")
    v.add_argument("--judge", action="append", help="judge names registered by your plugins")
    v.set_defaults(run=cmd_validate)
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
    r.set_defaults(run=cmd_report)
    d = sub.add_parser("diff", help="compare two reports")
    d.add_argument("old", help="the baseline report")
    d.add_argument("new", help="the report to compare with it")
    d.add_argument("--confidence", type=float, default=0.95)
    d.add_argument(
        "--max-regression", type=float, help="exit 1 when a rate got worse by more than this"
    )
    d.add_argument("--width", type=int, help="columns of the output (default: terminal's)")
    d.set_defaults(run=cmd_diff)
    s = sub.add_parser("show", help="one probe, whole")
    s.add_argument("report")
    s.add_argument("probe", help="its node id, or a unique part of it")
    s.add_argument("--json", action="store_true", help="the probe's record as JSON")
    s.set_defaults(run=cmd_show)
    from .importers.formats import FORMATS, describe

    i = sub.add_parser(
        "import",
        help="a public data set (your copy) as a suite",
        description="Formats:\n" + "\n".join(describe()),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    i.add_argument("format", choices=sorted(FORMATS), metavar="FORMAT", help="see the list above")
    i.add_argument("source", help="your copy of the data set's file")
    i.add_argument(
        "-o", "--output", required=True, help="the suite to write, e.g. cases/xstest.yaml"
    )
    i.add_argument("--sample", type=int, help="keep N cases, stratified by category")
    i.add_argument("--seed", type=int, default=0, help="seed of the sampling (default 0)")
    i.add_argument("--attacks", help="comma-separated attacks for every case (default: direct)")
    i.set_defaults(run=cmd_import)
    n = sub.add_parser("init", help="copy the starter suites into cases/ to edit them")
    n.add_argument("folder", nargs="?", default="cases", help="where (default: cases)")
    n.add_argument("--force", action="store_true", help="overwrite suites already there")
    n.set_defaults(run=cmd_init)
    a = sub.add_parser("attacks", help="list the attacks")
    a.add_argument("--attack-file", action="append", help="your attack files")
    a.set_defaults(run=cmd_attacks)
    return top


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return int(args.run(args))
    except (ReportError, ConfigError, SuiteError) as exc:
        print(f"lrmsafety {args.command}: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # `lrmsafety show ... | head`
        return 0


if __name__ == "__main__":
    raise SystemExit(main())
