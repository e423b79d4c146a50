"""Which deployment a client's cache keys name, and what the cache holds from other ones.

An OpenAI-compatible client's identity carries a ``deployment``: the run's base URLs
(replicas together) plus what the server says it serves the model from, or the user's
``--lrm-model-revision`` (then the URLs do not matter), or the vLLM server this run started
(its port changes every run). :func:`settle_deployment` fixes it before the first key is
computed; :func:`cache_header_lines` tells the user when the cache holds this model's
results from another deployment, or from another endpoint of the same revision.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..models.base import ModelClient
from ..models.endpoint import EndpointDown, ServedClient, normalize_url
from .cache import Cache, CachedModel
from .keys import client_identity

#: At most this many header lines name other deployments; the rest are summed up.
SHOWN_DEPLOYMENTS = 3


def _base(identity: Mapping[str, Any]) -> dict[str, Any]:
    """The identity without its deployment: "this model", asked and read the same way."""
    return {k: v for k, v in identity.items() if k != "deployment"}


def _unserved(identity: Mapping[str, Any]) -> dict[str, Any]:
    deployment = identity.get("deployment")
    if not isinstance(deployment, Mapping):
        return dict(identity)
    return {**identity, "deployment": {k: v for k, v in deployment.items() if k != "served"}}


def recorded_served(cache: Cache, identity: Mapping[str, Any]) -> tuple[bool, str | None]:
    """What the newest entries of this deployment were served from, as the cache recorded
    it: ``(found, served)``. Lets a read-only run compute the keys its cache was written
    under without asking the server."""
    wanted = _unserved(identity)
    matches = [m for m in cache.identities() if m.identity and _unserved(m.identity) == wanted]
    if not matches:
        return False, None
    newest = max(matches, key=lambda m: m.latest)
    deployment = (newest.identity or {}).get("deployment")
    served = deployment.get("served") if isinstance(deployment, Mapping) else None
    return True, str(served) if served is not None else None


def settle_deployment(
    client: ModelClient,
    where: str,
    *,
    revision: str | None = None,
    started: Mapping[str, Any] | None = None,
    read_only: bool = False,
    cache: Cache | None = None,
    check: bool = True,
    keyed_on_served: bool = True,
) -> None:
    """Fixes the deployment of a client that has one (a :class:`ServedClient`); others are
    left as they are (local backends name their weights themselves, a replay its recording).

    Args:
        client: The client, before any key is computed from it.
        where: The option the model came from, for errors.
        revision: ``--lrm-model-revision``: the deployment whatever the URLs.
        started: The server this run started (``--lrm-serve``), described without its URL.
        read_only: The cache mode is ``ro``: the server is asked only when the cache holds
            nothing of this deployment (a run served from the cache asks nothing, and keys
            what the server serves as the cache recorded it).
        cache: The run's cache, read for that (and, when the server does not answer, to
            point at ``--lrm-cache ro`` if it holds this deployment's results).
        check: Whether to ask the server (``GET /models``) at all (not under
            ``--collect-only``).
        keyed_on_served: Whether what the server serves the model from joins the key (the
            model under test); a judge's endpoint is only checked.
    """
    if not isinstance(client, ServedClient):
        return
    if revision:
        client.deployment = {"revision": revision}
    elif started is not None:
        client.deployment = {"started": dict(started)}
    if read_only:
        if not keyed_on_served:
            return  # a judge's verdicts may all be cached; its key needs nothing from it
        found, served = recorded_served(cache, client_identity(client)) if cache else (False, None)
        if found:
            client.served = served
            return
    if not check:
        return
    try:
        served = client.check_endpoint(where)
    except EndpointDown as exc:
        if (
            keyed_on_served
            and cache is not None
            and recorded_served(cache, client_identity(client))[0]
        ):
            raise EndpointDown(
                f"{exc}; the cache holds this deployment's results: --lrm-cache ro reads them "
                "without a server"
            ) from None
        raise
    if keyed_on_served:
        client.served = served


def _urls(text: str | None) -> set[str]:
    return {normalize_url(u) for u in (text or "").split()}


def _where(model: CachedModel) -> str:
    """The endpoint(s) an entry group was written against, for a header line."""
    assert model.identity is not None
    deployment = model.identity["deployment"]
    urls = model.endpoint or " ".join(deployment.get("urls", ()))
    if "revision" in deployment:
        return f"revision {deployment['revision']}" + (f" ({urls})" if urls else "")
    if "started" in deployment:
        return "a vLLM server started by the run"
    return urls.replace(" ", ", ") or "an unrecorded endpoint"


def _line(model: CachedModel, ours: Mapping[str, Any]) -> str:
    assert model.identity is not None
    n = model.entries
    theirs = model.identity.get("deployment")
    if not isinstance(theirs, Mapping):
        return (
            f"cache: {n} entries for this model were written before the cache recorded "
            "deployments; not used"
        )
    here = ours["deployment"]
    if theirs.get("urls") and theirs.get("urls") == here.get("urls"):
        was = theirs.get("served") or "an unlisted model"
        now = here.get("served") or "an unlisted model"
        if was != now:
            return (
                f"cache: {n} entries for this model were written when {_where(model)} served "
                f"{was}; not used (it now serves {now})"
            )
    return (
        f"cache: {n} entries for this model were written against {_where(model)}; "
        "not used (another deployment)"
    )


def cache_header_lines(cache: Cache | None, client: ModelClient | None) -> list[str]:
    """Header lines about the cache for the model under test: this model's entries written
    against another deployment (not used), and, under a revision, entries written against
    other URLs (used). Empty when there is nothing to say or the cache is not read."""
    if cache is None or client is None or not cache.reads:
        return []
    ours = client_identity(client)
    here = ours.get("deployment")
    if not isinstance(here, Mapping):
        return []
    base = _base(ours)
    lines: list[str] = []
    others: list[CachedModel] = []
    for model in sorted(cache.identities(), key=lambda m: -m.latest):
        if model.identity is None or _base(model.identity) != base:
            continue
        if model.identity == ours:
            if (
                "revision" in here
                and model.endpoint
                and _urls(model.endpoint) != _urls(" ".join(client.endpoints))
            ):
                lines.append(
                    f"cache: {model.entries} entries of revision {here['revision']} were last "
                    f"written against {model.endpoint.replace(' ', ', ')}; used (same revision)"
                )
            continue
        others.append(model)
    lines += [_line(m, ours) for m in others[:SHOWN_DEPLOYMENTS]]
    rest = others[SHOWN_DEPLOYMENTS:]
    if rest:
        lines.append(
            f"cache: {sum(m.entries for m in rest)} entries for this model from {len(rest)} "
            "more deployments; not used"
        )
    return lines
