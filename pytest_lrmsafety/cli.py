"""The ``lrmsafety`` command: work with suites and reports without running a model.

    lrmsafety validate cases/                  check suites against the schema
    lrmsafety report run.json --html r.html    re-render a recorded run (HTML, Markdown, terminal;
                                               --intervals: Wilson intervals in every table)
    lrmsafety diff old.json new.json           compare two reports (as --lrm-baseline does)
    lrmsafety show run.json NODEID             one probe, whole
    lrmsafety attacks                          list the attacks
    lrmsafety init                             copy the starter suites into cases/ to edit
    lrmsafety import xstest xstest_prompts.csv -o cases/xstest.yaml   a data set as a suite
    lrmsafety cache stats                      what the cache holds, per model and deployment
    lrmsafety cache purge --older-than 30      delete entries (all, by age or --model), shrink
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
import math
import re
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from .errors import ConfigError, SuiteError
from .report.baseline import ReportError, compare, load_report

if TYPE_CHECKING:
    from .engine.cache import Cache, CacheGroup
    from .report.model import Report


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
    from .judges.names import BUILTIN_JUDGES

    attacks = builtin_attacks()
    register_attack_files(attacks, [(Path(f), f) for f in args.attack_file or []], "--attack-file")
    judges = {*BUILTIN_JUDGES, *(args.judge or [])}
    files = _suite_files(args.paths or ["cases"])
    if not files:
        where = ", ".join(args.paths or ["cases"])
        print(f"lrmsafety validate: {where}: no suite files (.yaml, .yml) found", file=sys.stderr)
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
        count = sum(
            len(c.attacks) * max(1, len(c.efforts)) * max(1, len(c.budgets)) * c.samples
            for c in suite.cases
        )
        probes += count
        print(f"ok   {path}: {len(suite.cases)} cases, {count} probes, {len(suite.gates)} gates")
    print(f"{len(files) - bad} of {len(files)} suites valid; {probes} probes")
    return 1 if bad else 0


def _load(path: str) -> Report:
    return load_report(Path(path), path)


def _width(args: argparse.Namespace) -> int:
    if args.width is not None and args.width < 1:
        raise ConfigError(f"--width {args.width}: must be 1 or more (columns)")
    if args.width:
        return int(args.width)
    from .report.layout import DEFAULT_WIDTH

    return shutil.get_terminal_size((DEFAULT_WIDTH, 24)).columns


def _grouped(report: Report, key: str, width: int, intervals: bool) -> list[str]:
    """``lrmsafety report --by KEY``: the report's probes grouped by ``KEY`` (a probe counts
    under each of its tags), with intervals at the report's confidence."""
    from .report.build import typed_row
    from .report.scoreboard import group_rows, summarise
    from .report.stats import DEFAULT_CONFIDENCE
    from .report.terminal import render_groups

    confidence = report.confidence or DEFAULT_CONFIDENCE
    if key == "budget":  # in budget order, not as text
        from .report.trend import budget_counts

        counts = budget_counts(report.probes)
    else:
        counts = group_rows(report.probes, key)
    rows = [typed_row(c, confidence) for c in counts]
    if not rows:
        return [f"no probe in this report has a {key} (older reports and suites without one)"]
    total = typed_row(summarise("all", report.probes), confidence)
    head = [f"by {key}" + (": a probe counts under each of its tags" if key == "tag" else ""), ""]
    return head + render_groups(rows, key, total, width, True if intervals else None)


def cmd_report(args: argparse.Namespace) -> int:
    if args.html:  # before reading anything: the extra may be missing
        from .report.html import check_available

        check_available("--html")
    html = _check_output(args.html, "--html", "report.html")
    md = _check_output(args.md, "--md", "report.md")
    if args.baseline and not args.profile:
        raise ConfigError("--baseline: only with --profile (it compares Figure 3's harm scores)")
    report = _load(args.report)
    if args.profile:  # the study's tables from the saved probes (any earlier report)
        report = _with_study(report, args.profile, args.baseline)
    if html is not None:
        from .report.html import render_html

        _write(html, "--html", render_html(report))
        print(f"report: HTML written to {html.resolve()}")
    if md is not None:
        from .report.markdown import render_markdown

        _write(md, "--md", render_markdown(report))
        print(f"report: Markdown written to {md.resolve()}")
    if args.by:  # tags and subsets come from the user's data: printed safely
        from .report.layout import visible

        print(visible("\n".join(_grouped(report, args.by, _width(args), args.intervals))))
        if not args.terminal:
            return 0
    if not (html or md) or args.terminal:
        from .report.layout import visible
        from .report.profile import render_study
        from .report.terminal import render
        from .report.triage import render_triage

        width = _width(args)
        intervals = True if args.intervals else None
        lines = render(report, width=width, intervals=intervals)
        if report.study:
            lines += render_study(report.study, report.model, width, intervals)
        if args.triage:
            lines += render_triage(report, width=width)
        print(visible("\n".join(lines)))  # reasons and judges' rationales quote model text
    return 0


def _with_study(report: Report, profile: str, baseline: str | None) -> Report:
    """``report`` with its ``study`` section computed again from its probes (Figure 3 against
    the ``baseline`` report's where one is named)."""
    import dataclasses

    from .report.profile import study_table
    from .report.stats import DEFAULT_CONFIDENCE

    base = _load(baseline) if baseline else None
    study = study_table(
        report.probes,
        report.confidence or DEFAULT_CONFIDENCE,
        model=report.model,
        baseline=base.probes if base is not None else None,
        baseline_model=base.model if base is not None else None,
        name=profile,
    )
    return dataclasses.replace(report, study=study)


def _fraction(value: float | None, option: str, *, low: float, high: float) -> None:
    """``ConfigError`` naming the option unless ``value`` is a number within its range
    (``nan`` and ``inf`` are floats to argparse, but no rate or confidence)."""
    if value is not None and not (math.isfinite(value) and low <= value <= high):
        raise ConfigError(f"{option} {value:g}: must be a number from {low:g} to {high:g}")


def _check_output(value: str | None, option: str, example: str) -> Path | None:
    """The path an option names, checked before anything is read: a folder, or a place
    where no folder can be made, is one line naming the option."""
    if not value:
        return None
    from .outputs import check_output

    path = Path(value)
    check_output(path, option, example)
    return path


def _write(path: Path, option: str, text: str) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{option}: cannot write {str(path)!r}: {exc.strerror}") from None


def cmd_diff(args: argparse.Namespace) -> int:
    from .report.baseline import WORSE_WHEN_HIGHER
    from .report.gate import evaluate_gates, parse_gate
    from .report.terminal import gate_value, render_baseline

    if not (math.isfinite(args.confidence) and 0.5 <= args.confidence < 1):
        raise ConfigError(f"--confidence {args.confidence:g}: must be within 0.5..0.999")
    _fraction(args.max_regression, "--max-regression", low=0.0, high=1.0)
    old, new = _load(args.old), _load(args.new)
    current = new.probes
    section = compare(current, old, path=args.old, confidence=args.confidence)
    print(f"{args.new} (model {new.model}) against {args.old} (model {old.model})")
    print("\n".join(render_baseline(section, _width(args))[1:]))
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
    report = _load(args.report)
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
        f"   severity {p.severity}   sample {p.sample}",
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
        lines += [f"--- round {r['round']} ({_round_state(r)})", r["prompt"]]
    lines += [f"--- thinking [{p.thinking_status}]", p.thinking or "(none)"]
    lines += ["--- answer", p.answer if p.answer is not None else "(none)"]
    if p.answer_decoded:
        lines += ["--- answer, decoded", p.answer_decoded]
    lines.append("--- verdicts")
    for v in p.verdicts:
        label = v["label"] if v["label"] is not None else f"ERROR {v['error']}"
        lines.append(f"  {v['judge']} on {v['target']}: {label}: {v['rationale']}")
    from .report.layout import visible

    print(visible("\n".join(lines)))  # a model's ESC sequences must not drive the terminal
    return 0


def cmd_import(args: argparse.Namespace) -> int:
    from .attacks import builtin_attacks
    from .cases.loader import load_suite
    from .importers import import_suite
    from .judges.names import BUILTIN_JUDGES

    out = _check_output(args.output, "-o/--output", f"{args.format}.yaml")
    assert out is not None  # a required option
    attacks = tuple(a.strip() for a in args.attacks.split(",")) if args.attacks else None
    known = set(builtin_attacks())

    def check(written: Path) -> None:
        # The suite must load like any other before it lands where the next run collects it.
        load_suite(written, str(out), attacks=known, judges=BUILTIN_JUDGES)

    try:
        written, total = import_suite(
            args.format,
            Path(args.source),
            out,
            sample=args.sample,
            seed=args.seed,
            attacks=attacks,
            check=check,
        )
    except OSError as exc:
        raise ConfigError(f"-o/--output: cannot write {str(out)!r}: {exc.strerror}") from None
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
    print("\n".join(registry.listing(sources=args.sources)))
    return 0


def _round_state(r: dict[str, object]) -> str:
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


def _open_cache(args: argparse.Namespace, mode: str) -> Cache:
    from .engine.cache import FILE_NAME, Cache

    folder = Path(args.cache_dir)
    if not (folder / FILE_NAME).is_file():
        raise ConfigError(f"--cache-dir {folder}: no cache there (no {folder / FILE_NAME})")
    return Cache(folder, mode)


def _deployment(group: CacheGroup) -> str:
    """Where a model's completions came from, in a few words."""
    identity = group.identity or {}
    deployment = identity.get("deployment")
    if not isinstance(deployment, dict):
        return str(identity.get("client") or "-")  # a local backend, a replay
    if "revision" in deployment:
        return f"revision {deployment['revision']}"
    if "started" in deployment:
        return "a vLLM server started by the run"
    urls = group.endpoint or " ".join(deployment.get("urls", ()))
    served = deployment.get("served")
    return (urls.replace(" ", ", ") or "-") + (f" ({served})" if served else "")


def _model_names(group: CacheGroup) -> list[str]:
    """The names ``--model`` matches: the served model, the spec, the client's name."""
    identity = group.identity or {}
    names = [identity.get(k) for k in ("model", "spec", "name")]
    return [str(n) for n in dict.fromkeys(names) if n] or [group.name]


def _when(stamp: float) -> str:
    import time

    return time.strftime("%Y-%m-%d %H:%M", time.localtime(stamp))


def _size(n: int) -> str:
    if n < 1024:
        return f"{n} bytes"
    scaled, unit = n / 1024, "KB"
    for bigger in ("MB", "GB"):
        if scaled < 1024:
            break
        scaled, unit = scaled / 1024, bigger
    return f"{scaled:.1f} {unit}"


def cmd_cache_stats(args: argparse.Namespace) -> int:
    from .report.layout import Cell, table, visible

    cache = _open_cache(args, "ro")
    groups = cache.groups()
    completions = [g for g in groups if g.table == "completions"]
    verdicts = [g for g in groups if g.table == "verdicts"]
    print(
        f"cache {cache.path}: {_size(cache.size())}; {sum(g.entries for g in completions)} "
        f"completions of {len(completions)} models, {sum(g.entries for g in verdicts)} verdicts"
    )
    width = _width(args)
    if completions:
        rows: list[list[Cell]] = [
            [_model_names(g)[0], _deployment(g), g.entries, _when(g.oldest), _when(g.newest)]
            for g in completions
        ]
        lines = table(
            ["model", "deployment", "entries", "oldest", "newest"], rows, width, shrink=(1, 0)
        )
        print(visible("\n".join(["", *lines])))
    if verdicts:
        rows = [[g.name, g.entries, _when(g.oldest), _when(g.newest)] for g in verdicts]
        lines = table(["judge", "verdicts", "oldest", "newest"], rows, width)
        print(visible("\n".join(["", *lines])))
    return 0


def cmd_cache_purge(args: argparse.Namespace) -> int:
    import sqlite3
    import time

    if args.older_than is not None and not (
        math.isfinite(args.older_than) and args.older_than >= 0
    ):
        raise ConfigError(f"--older-than {args.older_than:g}: must be a number of days, 0 or more")
    cache = _open_cache(args, "rw")
    models = None
    if args.model is not None:
        groups = [g for g in cache.groups() if g.table == "completions"]
        models = [g.name for g in groups if args.model in _model_names(g)]
        if not models:
            known = sorted({_model_names(g)[0] for g in groups})
            raise ConfigError(
                f"--model {args.model}: no completions of that model in {cache.path} "
                f"(models: {', '.join(known) or 'none'})"
            )
    before = None if args.older_than is None else time.time() - args.older_than * 86400
    size = cache.size()
    try:
        removed = cache.purge(before=before, models=models)
    except sqlite3.OperationalError as exc:  # a run holding the file ("database is locked")
        raise ConfigError(f"cache {cache.path}: cannot purge it now: {exc}") from None
    print(f"cache {cache.path}: {removed} entries removed; {_size(size)} -> {_size(cache.size())}")
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
    c = sub.add_parser("cache", help="what the completion cache holds; purge it")
    actions = c.add_subparsers(dest="action", required=True)
    for name, run, text in (
        ("stats", cmd_cache_stats, "entries per model and deployment, size, oldest and newest"),
        ("purge", cmd_cache_purge, "delete entries (all of them unless narrowed), then shrink"),
    ):
        action = actions.add_parser(name, help=text, description=text)
        action.add_argument(
            "--cache-dir", default=".lrmsafety", help="the cache's folder (default: .lrmsafety)"
        )
        action.set_defaults(run=run)
    action.add_argument("--older-than", type=float, metavar="DAYS", help="only entries this old")
    action.add_argument(
        "--model",
        metavar="NAME",
        help="only this model's completions (its name or spec, as `cache stats` shows)",
    )
    stats = actions.choices["stats"]
    stats.add_argument("--width", type=int, help="columns of the output (default: terminal's)")
    a = sub.add_parser("attacks", help="list the attacks")
    a.add_argument("--attack-file", action="append", help="your attack files")
    a.add_argument(
        "--sources", action="store_true", help="each attack's source (paper) under its line"
    )
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
