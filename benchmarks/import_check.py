"""Imports every data set found under --data with ``lrmsafety import`` and checks the result.

For each file: every row became a case, the written suite loads, every category is one of
the 16 AIR 2024 level-2 categories, and the labels mapped as they should (XSTest safe ->
comply and unsafe -> refuse, row by row; JailbreakBench harmful -> refuse and benign ->
comply; CyberSecEval injection -> resist with its judge question; the MITRE false-refusal
set -> comply). Prints one line per file and the category spread; exit 1 on any mismatch.

    python benchmarks/import_check.py --data ../shared/data
"""

from __future__ import annotations

import argparse
import collections
import csv
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

from pytest_lrmsafety.attacks import builtin_attacks
from pytest_lrmsafety.cases.loader import load_suite
from pytest_lrmsafety.importers import import_suite
from pytest_lrmsafety.importers.base import AIR_CATEGORIES
from pytest_lrmsafety.judges.names import BUILTIN_JUDGES

csv.field_size_limit(sys.maxsize)

# (format, file under --data, expected rows or None, expected expect counts or None)
SOURCES: list[tuple[str, str, int | None, dict[str, int] | None]] = [
    ("xstest", "xstest/xstest_prompts.csv", 450, {"comply": 250, "refuse": 200}),
    ("harmbench", "harmbench/harmbench_behaviors_text_all.csv", 400, {"refuse": 400}),
    ("harmbench", "harmbench/harmbench_behaviors_text_test.csv", 320, {"refuse": 320}),
    ("harmbench", "harmbench/harmbench_behaviors_text_val.csv", 80, {"refuse": 80}),
    ("advbench", "advbench/harmful_behaviors.csv", 520, {"refuse": 520}),
    ("strongreject", "strongreject/strongreject_dataset.csv", 313, {"refuse": 313}),
    (
        "simplesafetytests",
        "simplesafetytests/simplesafetytests_test_cases.csv",
        100,
        {"refuse": 100},
    ),
    ("jailbreakbench", "jailbreakbench/harmful_behaviors.csv", 100, {"refuse": 100}),
    ("jailbreakbench", "jailbreakbench/benign_behaviors.csv", 100, {"comply": 100}),
    ("airbench", "airbench/sample_80_gpt-4-turbo_result.csv", 80, {"refuse": 80}),
    ("cyberseceval-injection", "cyberseceval/prompt_injection.json", 251, {"resist": 251}),
    ("cyberseceval-mitre", "cyberseceval/mitre_frr.json", 750, {"comply": 750}),
    ("cyberseceval-interpreter", "cyberseceval/interpreter.json", 500, {"refuse": 500}),
]


def check_xstest(source: Path, cases: list[dict[str, Any]]) -> list[str]:
    with source.open(newline="", encoding="utf-8") as handle:
        labels = {f"xstest-{r['id']}": r["label"] for r in csv.DictReader(handle)}
    wrong = [
        c["id"]
        for c in cases
        if {"safe": "comply", "unsafe": "refuse"}[labels[c["id"]]] != c["expect"]
    ]
    return [f"{len(wrong)} cases with the wrong expectation: {wrong[:5]}"] if wrong else []


def check_injection(source: Path, cases: list[dict[str, Any]]) -> list[str]:
    rows = {f"cse-injection-{r['prompt_id']}": r for r in json.loads(source.read_text())}
    problems = []
    for c in cases:
        row = rows[c["id"]]
        if c.get("judge_question") != row["judge_question"]:
            problems.append(f"{c['id']}: judge question lost")
        if row["injection_type"] not in c["tags"]:
            problems.append(f"{c['id']}: injection type tag lost")
        # A case without a canary is judged by its judge question (the llm judge, or
        # CyberSecEval's own protocol: cse_question, or benchmark, which routes to it).
        asks = {"llm", "cse_question", "benchmark"} & set(c.get("judges", []))
        if "check" not in c and not asks:
            problems.append(f"{c['id']}: neither a canary check nor a judge-question judge")
    return problems


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, required=True)
    args = ap.parse_args()
    attacks = set(builtin_attacks())
    failures = 0
    found = 0
    with tempfile.TemporaryDirectory() as tmp:
        for fmt, relative, rows, expects in SOURCES:
            source = args.data / relative
            if not source.exists():
                print(f"SKIP  {relative}: not found")
                continue
            found += 1
            out = Path(tmp) / f"{fmt}-{source.stem}.yaml"
            started = time.perf_counter()
            written, total = import_suite(fmt, source, out)
            suite = load_suite(out, str(out), attacks=attacks, judges=BUILTIN_JUDGES)
            elapsed = time.perf_counter() - started
            cases = yaml.safe_load(out.read_text())["cases"]
            problems = []
            if rows is not None and total != rows:
                problems.append(f"{total} rows read, expected {rows}")
            if written != total or len(suite.cases) != total:
                problems.append(f"{written} written / {len(suite.cases)} loaded of {total}")
            got = dict(collections.Counter(c["expect"] for c in cases))
            if expects is not None and got != expects:
                problems.append(f"expectations {got}, expected {expects}")
            outside = {c["category"] for c in cases} - set(AIR_CATEGORIES)
            if outside:
                problems.append(f"categories outside the taxonomy: {sorted(outside)}")
            if fmt == "xstest":
                problems += check_xstest(source, cases)
            if fmt == "cyberseceval-injection":
                problems += check_injection(source, cases)
            spread = collections.Counter(c["category"] for c in cases)
            status = "FAIL" if problems else "ok  "
            failures += bool(problems)
            print(f"{status}  {relative}: {total} rows -> {written} cases {got}, {elapsed:.2f} s")
            print("        categories: " + ", ".join(f"{k} {v}" for k, v in spread.most_common()))
            for p in problems:
                print(f"        {p}")
    if not found:
        print(f"{args.data}: no data set found", file=sys.stderr)
        return 2
    print(f"{found - failures} of {found} files imported and checked")
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
