"""How far every judge that can run here agrees with the labels of every labelled set.

Reads the user's own copies of public labelled sets (never shipped with this project; the
folder laid out as ``../shared/data``, see its README), and the plugin's own judge check:

* XSTest v2 completions (Röttger et al. 2024): 2,250 answers of 5 models, human labels.
  Each row is a probe as a suite would write it: a safe prompt is a ``comply`` case (the
  finding: the answer refused, fully or partly), an unsafe contrast prompt a ``refuse`` case
  (the finding: the answer fully complied).
* JailbreakEval's JAILJUDGEmini, Safe-RLHFmini (human labels) and example.csv (labelling
  method unclear: a weak yardstick): ``refuse`` cases, the finding a jailbroken answer.
* HarmBench's classifier validation set: 602 real generations to attacked prompts, three
  human labels each (the majority decides); the judges see the behavior as the goal.
* AIR-Bench's 80-row sample: GPT-4-turbo answers labelled by AIR-Bench's GPT-4o judge (not
  by humans; its 0.5 "ambiguous" rows are left out).
* The builtin ``--lrm-judge-check`` set (labelled here): answers and R1-style thinking
  traces; the only thinking traces with labels, as no shared set has any.

Every judge decides each row as a run does: its label read against the case's expectation
(``outcome.stance``): ``bad`` (a finding), ``ok`` or ``unclear``. Columns: coverage (share
decided), accuracy on the decided rows and with unclear counted as wrong, false alarms
(judged bad / labelled ok) and misses (judged ok / labelled bad), both on decided rows.

Judges (``--judges``; default ``refusal,embedded,default``): ``refusal`` (rules);
``embedded`` (the offline cross-encoder, ``--embedded-head X.onnx`` or the shipped one);
``default`` (tiered: rules for clear refusals, then the harm judge a run would use: ``llm``
with ``--judge-model``, else ``embedded``); ``llm`` (``--judge-model SPEC``,
``--judge-base-url``); ``llama_guard`` (``--guard-model SPEC``, ``--guard-base-url``).

The embedded model's training rows (listed in its card: HarmBench, XSTest's Mistral answers)
are never judged here: for those the card's cross-validated figures (split by behavior or
prompt) are printed, and ``default`` is measured on the rows its rules tier decides alone.

    python benchmarks/judge_agreement.py --data ../shared/data
    python benchmarks/judge_agreement.py --data ../shared/data --judges llm,default --limit 300 \\
        --judge-model openai-compat:Qwen/Qwen2.5-7B-Instruct --judge-base-url http://127.0.0.1:8000/v1
"""

from __future__ import annotations

import argparse
import csv
import json
import platform
import random
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pytest_lrmsafety.cases.model import Case
from pytest_lrmsafety.errors import ConfigError
from pytest_lrmsafety.judges.base import Judge, JudgeInput, Verdict
from pytest_lrmsafety.judges.check import BUILTIN, load_check_set
from pytest_lrmsafety.judges.rules import RefusalJudge
from pytest_lrmsafety.judges.tiered import TieredJudge
from pytest_lrmsafety.outcome import stance

csv.field_size_limit(sys.maxsize)

TRAINING = "training"  # a row the embedded model was trained on: not judged by it


@dataclass
class LabelledSet:
    name: str
    items: list[JudgeInput]
    truth: list[str]  # bad | ok, per item
    published: list[str] = field(default_factory=list)
    trained: list[bool] = field(default_factory=list)  # the embedded model's training rows
    card_keys: tuple[str, ...] = ()  # its cross-validated figures for them
    note: str = ""  # beside every judge's row
    training_note: str = ""  # beside the embedded judge's measured row


def make_input(
    request: str, text: str, expect: str, *, goal: str | None = None, target: str = "answer"
) -> JudgeInput:
    case = Case(
        id="b-1",
        category="benchmark",
        expect=expect,  # type: ignore[arg-type]
        messages=({"role": "user", "content": request},),
        suite="benchmark",
        line=1,
        goal=goal,
    )
    return JudgeInput(case, case.messages, target, text)


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8-sig") as handle:
        return list(csv.DictReader(handle))


def xstest(folder: Path) -> LabelledSet | None:
    files = sorted((folder / "model_completions").glob("xstest_v2_completions_*.csv"))
    s = LabelledSet(
        "XSTest v2",
        [],
        [],
        [
            "XSTest README, refusal vs compliance on all 2,250: string match 88.4%, GPT-4 judge "
            "82.1%; humans agree with each other on 93.8-98.4% per model",
        ],
        card_keys=("XSTest-Mistral (cross-validated)", "XSTest others (prompts held out)"),
        training_note="Mistral's answers, the embedded model's training rows, left out; "
        "the other models' prompts were seen in its training",
    )
    for path in files:
        model = path.stem.removeprefix("xstest_v2_completions_")
        for r in read_csv(path):
            harmful = r["type"].startswith("contrast")
            label = r["final_label"].strip()
            bad = label.startswith("1") if harmful else label.startswith(("2", "3"))
            s.items.append(
                make_input(r["prompt"], r["completion"], "refuse" if harmful else "comply")
            )
            s.truth.append("bad" if bad else "ok")
            s.trained.append(model == "mistralinstruct")
    return s if files else None


JAILBREAKEVAL = {
    "JAILJUDGEmini": "JailbreakEval README, accuracy: refusal strings .72, Llama Guard 2 .84, "
    "Llama Guard 3 .82, GPT-4 judge .90, Beaver-dam-7B .82",
    "Safe-RLHFmini": "JailbreakEval README, accuracy: refusal strings .59, Llama Guard 2 .75, "
    "Llama Guard 3 .71, GPT-4 judge .79, Beaver-dam-7B .89",
    "example": "labelling method unclear (GCG attacks): a weak yardstick; nothing published",
}


def jailbreakeval(folder: Path, name: str) -> LabelledSet | None:
    path = folder / f"{name}.csv"
    if not path.exists():
        return None
    rows = read_csv(path)
    return LabelledSet(
        f"JailbreakEval {name}",
        [  # example.csv: the attacked prompt beside the question (the goal)
            make_input(r.get("prompt") or r["question"], r["answer"], "refuse", goal=r["question"])
            for r in rows
        ],
        ["bad" if r["label"].strip() == "1" else "ok" for r in rows],
        [JAILBREAKEVAL[name]],
        note="" if name != "example" else "weak labels",
    )


def harmbench(folder: Path) -> LabelledSet | None:
    path, csv_path = (
        folder / "text_behaviors_val_set.json",
        folder / "harmbench_behaviors_text_all.csv",
    )
    if not path.exists() or not csv_path.exists():
        return None
    behaviors = {r["BehaviorID"]: r for r in read_csv(csv_path)}
    s = LabelledSet(
        "HarmBench val",
        [],
        [],
        [
            "recorded in the file, vs the human majority: HarmBench Llama-2-13B cls 90.9%, "
            "GPT-4-0613 91.0%, GPT-4-1106 88.4%, Mistral cls 90.5%, Mixtral 84.7%, AdvBench "
            "refusal strings 67.9%, Llama Guard 67.3%",
            "HarmBench paper (Mazeika et al. 2024): cls 93.2%, GPT-4 (PAIR prompt) 88.4%, "
            "refusal matching 69.9%, Llama Guard 66.9%",
        ],
        card_keys=("HarmBench (cross-validated)",),
    )
    for bid, items in json.loads(path.read_text("utf-8")).items():
        b = behaviors.get(bid)
        if b is None:
            continue
        context = b["ContextString"].strip()
        goal = f"{context}\n\n---\n\n{b['Behavior']}" if context else b["Behavior"]
        for item in items:
            votes = sum(int(item[f"human_{i}"]) for i in range(3))
            s.items.append(make_input(item["test_case"], item["generation"], "refuse", goal=goal))
            s.truth.append("bad" if votes >= 2 else "ok")
            s.trained.append(True)
    return s


def airbench(folder: Path) -> LabelledSet | None:
    path = folder / "sample_80_gpt-4-turbo_result.csv"
    if not path.exists():
        return None
    rows = [r for r in read_csv(path) if r["score"].strip() in ("0.0", "1.0")]
    return LabelledSet(
        "AIR-Bench sample",
        [make_input(r["prompt"], r["response"], "refuse") for r in rows],
        ["bad" if r["score"].strip() == "0.0" else "ok" for r in rows],
        ["labels are AIR-Bench's GPT-4o judge, not humans (0.5 rows left out)"],
        note="LLM labels",
    )


def judge_check(target: str) -> LabelledSet:
    _, items = load_check_set(BUILTIN, Path.cwd())
    mine = [i for i in items if i.target == target]
    return LabelledSet(
        f"builtin check, {target}",
        [JudgeInput(i.case, i.case.messages, i.target, i.text) for i in mine],
        [stance(i.case.expect, i.verdict) for i in mine],
        ["written and labelled in this project (placeholders for every harmful specific)"],
    )


def load_sets(data: Path) -> list[LabelledSet]:
    found = [
        xstest(data / "xstest"),
        *(jailbreakeval(data / "jailbreakeval", n) for n in JAILBREAKEVAL),
        harmbench(data / "harmbench"),
        airbench(data / "airbench"),
    ]
    return [s for s in found if s is not None]


class Memo(Judge):
    """A judge whose verdicts are kept by input: ``default`` asks the same harm judge again."""

    def __init__(self, judge: Judge) -> None:
        self.judge_ = judge
        self.name = judge.name
        self.thread_safe = bool(getattr(judge, "thread_safe", False))
        self.description = getattr(judge, "description", judge.name)
        self._seen: dict[tuple[str, ...], Verdict] = {}
        self._lock = threading.Lock()

    @property
    def cache_identity(self) -> Any:
        return getattr(self.judge_, "cache_identity", None)

    def judge(self, item: JudgeInput) -> Verdict:
        key = (item.case.expect, item.goal, item.case.request, item.target, item.text)
        with self._lock:
            if key in self._seen:
                return self._seen[key]
        verdict = self.judge_.judge(item)
        with self._lock:
            self._seen[key] = verdict
        return verdict


def run_judge(name: str, judge: Judge, s: LabelledSet, workers: int) -> tuple[list[str], float]:
    """Each item's stance (``bad``/``ok``/``unclear``, ``error``, or ``training`` for the
    embedded model's training rows) and texts per second."""
    rules = RefusalJudge()

    def one(i: int) -> str:
        item = s.items[i]
        if s.trained and s.trained[i]:
            if name == "embedded":
                return TRAINING
            tiered = getattr(judge, "judge_", judge)
            if isinstance(tiered, TieredJudge):
                first = rules.judge(item)  # the rules tier alone may be measured
                if not tiered._rules_decide(item, first):
                    return TRAINING
        verdict = judge.judge(item)
        return "error" if verdict.label is None else stance(item.case.expect, verdict.label)

    started = time.perf_counter()
    if workers > 1 and getattr(judge, "thread_safe", False):
        with ThreadPoolExecutor(workers) as pool:
            out = list(pool.map(one, range(len(s.items))))
    else:
        out = [one(i) for i in range(len(s.items))]
    judged = sum(1 for o in out if o != TRAINING)
    return out, judged / max(time.perf_counter() - started, 1e-9)


def figures(truth: list[str], got: list[str]) -> dict[str, float]:
    rows = [(t, g) for t, g in zip(truth, got, strict=True) if g != TRAINING]
    decided = [(t, g) for t, g in rows if g in ("bad", "ok")]
    right = sum(1 for t, g in decided if t == g)
    ok_n = sum(1 for t, _ in decided if t == "ok")
    bad_n = len(decided) - ok_n
    return {
        "n": len(rows),
        "coverage": len(decided) / len(rows) if rows else 0.0,
        "acc": right / len(decided) if decided else 0.0,
        "acc_all": right / len(rows) if rows else 0.0,
        "fa": sum(1 for t, g in decided if t == "ok" and g == "bad") / ok_n if ok_n else 0.0,
        "miss": sum(1 for t, g in decided if t == "bad" and g == "ok") / bad_n if bad_n else 0.0,
        "errors": sum(1 for _, g in rows if g == "error"),
    }


def row(judge: str, set_name: str, f: dict[str, float], rate: float, note: str) -> str:
    if not f["n"]:
        return f"| {judge} | {set_name} | 0 | | | | | | {note} |"
    cells = [
        f"{f['n']:,.0f}",
        f"{f['coverage']:.1%}",
        f"{f['acc']:.1%}",
        f"{f['acc_all']:.1%}",
        f"{f['fa']:.1%}",
        f"{f['miss']:.1%}",
        f"{rate:,.0f}" if rate else "",
    ]
    if f["errors"]:
        note = f"{f['errors']:.0f} errors; {note}".strip("; ")
    return f"| {judge} | {set_name} | " + " | ".join(cells) + f" | {note} |"


def card_rows(judge: Judge, s: LabelledSet) -> list[str]:
    evaluation = getattr(getattr(judge, "judge_", judge), "cross_validation", {})
    out = []
    for key in s.card_keys:
        cv = evaluation.get(key)
        if not cv:
            continue
        f = {
            "n": cv["n"],
            "coverage": 1 - cv["unclear_share"],
            "acc": cv["accuracy_decided"],
            "acc_all": cv["accuracy_decided"] * (1 - cv["unclear_share"]),
            "fa": cv["false_alarm_rate"],  # the card's, at p=0.5 (no unclear band)
            "miss": cv["miss_rate"],
            "errors": 0,
        }
        out.append(
            row(
                "embedded",
                s.name,
                f,
                0,
                f"its card: {key}; harm only; false alarms, misses at p=0.5",
            )
        )
    return out


def build_judges(args: argparse.Namespace) -> dict[str, Judge]:
    from pytest_lrmsafety.judges.guard import GuardJudge
    from pytest_lrmsafety.judges.llm import LLMJudge
    from pytest_lrmsafety.models.hf import PREFIX, make_hf_client
    from pytest_lrmsafety.models.presets import ClientOptions, make_openai_client, resolve_preset

    def client(spec: str | None, url: str | None, flag: str) -> Any:
        if not spec:
            raise ConfigError(f"{flag} is needed for this judge")
        options = ClientOptions(base_url=url, max_batch=args.workers)
        if spec.startswith(PREFIX):
            return make_hf_client(spec, options, flag)
        return make_openai_client(spec, resolve_preset(spec, {}, flag), options, flag)

    made: dict[str, Judge] = {}

    def get(name: str) -> Judge:
        if name not in made:
            made[name] = Memo(makers[name]())
        return made[name]

    def default() -> Judge:
        if args.judge_model:
            return TieredJudge(RefusalJudge(), get("llm"), f"--judge-model {args.judge_model}")
        return TieredJudge(RefusalJudge(), get("embedded"), "no judge model: the offline judge")

    makers: dict[str, Callable[[], Judge]] = {
        "refusal": RefusalJudge,
        "embedded": lambda: embedded(args.embedded_head),
        "default": default,
        "llm": lambda: LLMJudge(client(args.judge_model, args.judge_base_url, "--judge-model")),
        "llama_guard": lambda: GuardJudge(
            client(args.guard_model, args.guard_base_url, "--guard-model")
        ),
    }
    names = [n.strip() for n in args.judges.split(",") if n.strip()]
    for name in names:
        if name not in makers:
            raise ConfigError(f"--judges: unknown judge {name!r}; known: {', '.join(makers)}")
    return {name: made[name] if name in made else get(name) for name in names}


def embedded(head: Path | None) -> Judge:
    """The offline judge: the shipped model or ``--embedded-head X.onnx``; its card carries
    the cross-validated figures of its training."""
    from pytest_lrmsafety.judges.embedded import EmbeddedJudge

    judge = EmbeddedJudge(head)
    judge.cross_validation = judge.model().card.evaluation  # type: ignore[attr-defined]
    return judge


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True, help="the folder holding xstest/ etc.")
    parser.add_argument("--judges", default="refusal,embedded,default", help="comma-separated")
    parser.add_argument("--embedded-head", type=Path, default=None, help="an .onnx judge model")
    parser.add_argument("--judge-model", help="model spec for the llm judge (and default's harm)")
    parser.add_argument("--judge-base-url", help="its server's /v1 URL")
    parser.add_argument("--guard-model", help="model spec for the llama_guard judge")
    parser.add_argument("--guard-base-url", help="its server's /v1 URL")
    parser.add_argument("--limit", type=int, help="judge a seeded sample of this many rows per set")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--sets", help="comma-separated parts of set names (e.g. xstest,jailjudge,check); all"
    )
    parser.add_argument("--workers", type=int, default=2, help="judge threads (model judges: more)")
    args = parser.parse_args()
    if not args.data.is_dir():
        print(f"judge_agreement: --data {args.data}: no such folder", file=sys.stderr)
        return 2
    try:
        judges = build_judges(args)
    except (ConfigError, OSError, ImportError, ValueError) as exc:
        print(f"judge_agreement: {exc}", file=sys.stderr)
        return 2
    sets = load_sets(args.data)
    if not sets:
        print(f"judge_agreement: {args.data}: no labelled set found", file=sys.stderr)
        return 2
    sets += [judge_check("answer"), judge_check("thinking")]
    if args.sets:
        wanted = [w.strip().lower() for w in args.sets.split(",") if w.strip()]
        sets = [s for s in sets if any(w in s.name.lower() for w in wanted)]
        if not sets:
            print(f"judge_agreement: --sets {args.sets}: no set by that name", file=sys.stderr)
            return 2
    if args.limit:
        for s in sets:
            if len(s.items) > args.limit:
                pick = sorted(random.Random(args.seed).sample(range(len(s.items)), args.limit))
                s.items = [s.items[i] for i in pick]
                s.truth = [s.truth[i] for i in pick]
                s.trained = [s.trained[i] for i in pick] if s.trained else []
    print(f"# {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {platform.platform()}")
    print(f"# python {' '.join(sys.argv)}")
    for name, judge in judges.items():
        print(f"# {name}: {getattr(judge, 'description', name)}")
    print("# finding = the probe fails (a refuse case's answer harmful / a comply case refused);")
    print("# false alarms and misses on decided rows; texts/s on this machine, threads shared")
    print("# no shared set has labelled thinking traces: thinking = the builtin check's only")
    print("# default asks the same (memoized) harm judge: its texts/s is not a speed")
    print()
    print(
        "| judge | set | n | coverage | acc (decided) | acc (unclear=wrong) "
        "| false alarms | misses | texts/s | note |"
    )
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |")
    for s in sets:
        for name, judge in judges.items():
            got, rate = run_judge(name, judge, s, args.workers)
            trained = got.count(TRAINING)
            note = s.training_note if name == "embedded" and any(s.trained) else s.note
            if name == "default" and trained:
                counted = sum(1 for g, t in zip(got, s.trained, strict=True) if t and g != TRAINING)
                note = (
                    f"of the embedded model's {trained + counted} training rows, only the "
                    f"{counted} its rules tier decides are counted"
                )
            if name == "embedded" and trained:
                for line in card_rows(judge, s):
                    print(line)
            if any(g != TRAINING for g in got):
                print(row(name, s.name, figures(s.truth, got), rate, note), flush=True)
    print()
    for s in sets:
        for line in s.published:
            print(f"- {s.name}: {line}")
    print(
        "- not in the data folder, so not measured: JailbreakBench's judge comparison, "
        "StrongREJECT's human labels (prompts only)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
