"""Content addresses: what a completion or a verdict is cached and recorded under."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from typing import Any

from ..models.base import ModelClient, SamplingParams

KEY_VERSION = 1


def _digest(payload: Mapping[str, Any]) -> str:
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    # surrogatepass: a lone surrogate in model text still has a digest (same bytes otherwise)
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def client_identity(client: ModelClient) -> dict[str, Any]:
    """What about a client changes its output: its ``cache_identity`` (by default its name).

    For a server, that includes the deployment (``engine/deployments.py``): the run's base
    URLs taken together, so that replicas of one run share entries while the same model
    name on another server does not, or the user's ``--lrm-model-revision``. Never the
    concurrency, the timeout or a key.
    """
    return dict(client.cache_identity)


def request_key(
    identity: Mapping[str, Any],
    messages: Sequence[Mapping[str, str]],
    params: SamplingParams,
    sample: int,
    turns: Sequence[str] = (),
) -> str:
    """The key of one generation: model, messages, later user turns (multi-turn), sampling
    parameters, sample index."""
    payload: dict[str, Any] = {
        "v": KEY_VERSION,
        "model": dict(identity),
        "messages": [dict(m) for m in messages],
        "params": params.as_dict(),
        "sample": sample,
    }
    if turns:  # absent for single-turn probes, so their keys are what they always were
        payload["turns"] = list(turns)
    return _digest(payload)


def verdict_key(
    judge_identity: Mapping[str, Any],
    target: str,
    text: str,
    context: Mapping[str, Any],
) -> str:
    """The key of one verdict: the judge's own configuration, the target, the judged text,
    and what the judge sees of the case (request, category, expectation)."""
    return _digest(
        {
            "v": KEY_VERSION,
            "judge": dict(judge_identity),
            "target": target,
            "text": text,
            "context": dict(context),
        }
    )
