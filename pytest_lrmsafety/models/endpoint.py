"""What identifies a deployment, and the check of an endpoint before a run asks it anything.

A cache entry is only as good as the server that wrote it: the same model name on another
server (another deployment, other weights) must not be answered from the cache. A
deployment is named by the run's base URLs (replicas of one run together), by the
weights the server reports at ``GET /models`` (vLLM's ``root``), or by a revision the user
gives (``--lrm-model-revision``), which then stands for it whatever the URLs.
"""

from __future__ import annotations

import http.client
import json
import urllib.error
import urllib.request
from abc import abstractmethod
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from ..errors import ConfigError
from .base import ModelClient

CHECK_TIMEOUT_S = 5.0
#: Statuses meaning "this server has no model list": the check then accepts the model.
NO_MODEL_LIST = (404, 405, 501)
_OFFERED_SHOWN = 10


class EndpointDown(ConfigError):
    """The server does not answer, or fails to list its models (replicas fail over)."""


class ServedClient(ModelClient):
    """A client of a model behind a server: it has a deployment (what cache keys name, see
    ``engine/deployments.py``), learns what the server serves the model from, and can check
    the server once before the run asks it anything."""

    #: What names the deployment in cache keys (``url_deployment`` of its URLs, or
    #: ``{"revision": ...}``, ``{"started": ...}``), set by ``settle_deployment``.
    deployment: dict[str, Any]
    #: What the server serves the model from (``GET /models``), once checked.
    served: str | None = None

    @abstractmethod
    def check_endpoint(self, where: str, timeout: float = CHECK_TIMEOUT_S) -> str | None:
        """Checks that the server serves the model; returns what it serves it from.

        Raises :class:`EndpointDown` when it does not answer, :class:`ConfigError` when it
        answers without the model (``where`` names the option, for both)."""


def normalize_url(url: str) -> str:
    """``HTTP://Host:8000/v1/`` -> ``http://host:8000/v1``: one spelling per endpoint, and
    nothing that may hold a secret (``user:password@``, a query such as ``?key=``): this
    is what cache keys, the cache and messages show."""
    parts = urlsplit(url.strip())
    host = parts.netloc.rpartition("@")[2].lower()
    return urlunsplit((parts.scheme.lower(), host, parts.path.rstrip("/"), "", ""))


def mask_url(url: str) -> str:
    """The URL as written, with the password of any ``user:password@`` replaced by ``***``
    (the user name too): what the header, reports and messages show."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        return url
    authority, slash, path = rest.partition("/")
    if "@" not in authority:
        return url
    return f"{scheme}://***@{authority.rpartition('@')[2]}{slash}{path}"


def url_problem(url: str) -> str | None:
    """Why ``url`` cannot be a server's base URL (``None`` when it can): an http(s) scheme,
    a host, and a port that is a number."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port  # raises on a port that is not a number in 0..65535
    except ValueError as exc:
        return f"is not a URL ({exc})"
    if parts.scheme.lower() not in ("http", "https"):
        return "is not an http(s) URL"
    if not parts.hostname:
        return "has no host (write http://HOST:PORT/v1)"
    if port == 0:
        return "has port 0, which no server listens on"
    return None


def url_deployment(urls: Iterable[str]) -> dict[str, Any]:
    """The deployment of a run that talks to these URLs: all of them, in one order."""
    return {"urls": sorted({normalize_url(u) for u in urls})}


def redact(text: str, secret: str | None) -> str:
    """Removes a secret (and its common truncations) from text shown to users."""
    if secret and len(secret) >= 4:
        text = text.replace(secret, "***")
        # Some providers echo a prefix of a wrong key ("sk-abc1****").
        text = text.replace(secret[:8], "***") if len(secret) > 8 else text
    return text


def _error_message(body: bytes) -> str:
    """The ``message`` of an OpenAI-style error body, else the start of the body."""
    text = body.decode("utf-8", "replace")
    try:
        data = json.loads(text)
    except ValueError:
        return " ".join(text.split())[:200]
    inner = data.get("error", data) if isinstance(data, dict) else None
    message = inner.get("message") if isinstance(inner, dict) else None
    if isinstance(message, str):
        return message
    if isinstance(data, dict) and isinstance(data.get("detail"), str):  # FastAPI servers
        return str(data["detail"])
    return " ".join(text.split())[:200]


def list_models(
    url: str, api_key: str, where: str, timeout: float = CHECK_TIMEOUT_S
) -> list[dict[str, Any]] | None:
    """The models a server lists at ``GET {url}/models``; ``None`` when it has no list.

    Raises :class:`ConfigError` (one line, never the key) when the server does not answer,
    refuses the key or fails.
    """
    shown = normalize_url(url)
    parts = urlsplit(url.strip())
    request = urllib.request.Request(
        # urllib reads ``user:pw@`` as part of the host name: the key goes in the header
        urlunsplit(
            parts._replace(
                netloc=parts.netloc.rpartition("@")[2], path=parts.path.rstrip("/") + "/models"
            )
        ),
        headers={"Authorization": f"Bearer {api_key}", "Accept": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            body = response.read()
    except urllib.error.HTTPError as exc:
        if exc.code in NO_MODEL_LIST:
            return None
        detail = redact(f"HTTP {exc.code}: {_error_message(exc.read())}", api_key)
        if exc.code in (401, 403):
            raise ConfigError(
                f"{where}: the server at {shown} refused the API key ({detail})"
            ) from None
        raise EndpointDown(
            f"{where}: the server at {shown} failed to list its models ({detail})"
        ) from None
    except (urllib.error.URLError, OSError, http.client.HTTPException) as exc:
        reason = getattr(exc, "reason", None) or exc
        if isinstance(reason, TimeoutError):  # socket.timeout is TimeoutError since 3.10
            raise EndpointDown(
                f"{where}: no answer from {shown} within {timeout:g} s (GET /models)"
            ) from None
        text = reason.strerror if isinstance(reason, OSError) and reason.strerror else reason
        detail = redact(str(text) or type(reason).__name__, api_key)
        raise EndpointDown(f"{where}: no server answers at {shown} ({detail})") from None
    try:
        data = json.loads(body)
    except ValueError:
        return None  # not an OpenAI-style server at that path: the chat requests will tell
    entries = data.get("data") if isinstance(data, dict) else None
    if not isinstance(entries, list):
        return None
    return [e for e in entries if isinstance(e, dict) and isinstance(e.get("id"), str)]


def served_model(
    url: str, model: str, api_key: str, where: str, timeout: float = CHECK_TIMEOUT_S
) -> str | None:
    """Checks that the server at ``url`` serves ``model``; returns what it serves it from.

    That is the weights the server names (``root``, as vLLM and SGLang report it), else the
    id it lists; ``None`` when the server has no model list, or an empty one (then anything
    is accepted). Raises :class:`ConfigError` naming the model, the URL and what the server offers.
    """
    entries = list_models(url, api_key, where, timeout)
    if not entries:  # no list, or an empty one (a proxy that does not enumerate its routes)
        return None
    by_id = {str(e["id"]): e for e in entries}
    # The names servers list a model under besides its own: Ollama "qwq:latest" for "qwq",
    # Gemini "models/gemini-2.0-flash" for "gemini-2.0-flash".
    names = (model, *(() if ":" in model else (model + ":latest",)), "models/" + model)
    entry = next((by_id[n] for n in names if n in by_id), None)
    if entry is None:
        ids = list(by_id)
        offered = ", ".join(ids[:_OFFERED_SHOWN])
        if len(ids) > _OFFERED_SHOWN:
            offered += f" and {len(ids) - _OFFERED_SHOWN} more"
        raise ConfigError(
            f"{where}: the server at {normalize_url(url)} does not serve {model!r}; "
            f"it offers: {offered}"
        )
    root = entry.get("root")
    return str(root) if isinstance(root, str) and root else str(entry["id"])
