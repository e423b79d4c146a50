"""A real, scriptable OpenAI-compatible chat server for tests (stdlib only).

The tests of pytest-lrmsafety never mock the openai SDK: they point a real client at this
server on 127.0.0.1.  It speaks ``POST /v1/chat/completions`` (plain JSON and ``"stream":
true`` server-sent events, with ``stream_options.include_usage``) and ``GET /v1/models``.

What a request gets back is decided in two steps:

* the **reply** (thinking, answer, faults) comes from the first :class:`Rule` whose ``match``
  is a case-insensitive substring of all message contents joined by newlines, or from
  ``ChatServer.default``.  A rule with ``times=N`` is used for its first N matches only, after
  which later rules / the default apply.
* the **style** comes from the request's ``model``: the part before the first ``:``
  (``"think:qwen3"`` -> ``think``).  Styles mimic real servers:

  ``reasoning``          ``message.reasoning`` = thinking (vLLM ``--reasoning-parser``)
  ``reasoning_content``  ``message.reasoning_content`` = thinking (DeepSeek API, older vLLM)
  ``think``              content = ``"<think>\\n" + thinking + "\\n</think>\\n\\n" + answer``
  ``think-close``        content = ``thinking + "\\n</think>\\n\\n" + answer`` (R1 distills)
  ``plain``              content = answer; the thinking is ignored entirely
  ``hidden``             content = answer; only ``reasoning_tokens`` betrays the trace

  An unknown style is answered with 404 ``model not found``.  With ``thinking=None`` every
  style behaves like ``plain``.

A token is a whitespace-separated word.  ``prompt_tokens`` counts the words of all message
contents; ``completion_tokens`` = reasoning tokens + answer words.  If ``max_tokens`` or
``max_completion_tokens`` (the smaller if both) is N and thinking + answer have more than N
words, the output is cut after N words with ``finish_reason="length"``; when the cut falls in
the thinking (or right at its end) the answer is empty and no closing ``</think>`` is emitted.

Errors use the OpenAI shape ``{"error": {"message", "type", "param", "code"}}``.  Every
JSON body that passes the API-key check is appended to ``ChatServer.requests``.

Command line (serves until Ctrl-C; ``--port 0`` picks a free port)::

    python tests/chat_server.py --port 8000 [--host 127.0.0.1] [--rules rules.yaml] \\
        [--api-key KEY] [--verbose]

``rules.yaml`` is either a list of rules or a mapping with optional ``default`` and
``rules`` keys.  A rule is ``match`` plus optional ``times`` plus any :class:`Reply` fields;
``default`` holds :class:`Reply` fields only::

    default:
      thinking: "Harmless question, just answer."
      answer: "Sure."
    rules:
      - match: nerve agent
        thinking: "This is dangerous. I should decline."
        answer: "I can't help with that."
      - match: flaky
        status: 503
        retry_after: 1
        times: 2
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import re
import socket
import sys
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit

STYLES: tuple[str, ...] = (
    "reasoning",
    "reasoning_content",
    "think",
    "think-close",
    "plain",
    "hidden",
)
"""Every style a request's ``model`` may name (before the first ``:``)."""

_WORD = re.compile(r"\S+")
_PIECE = re.compile(r"\s*\S+(?:\s+\S+){0,2}")  # up to three words with their leading spaces


@dataclass
class Reply:
    """What the server answers; the style of the request decides how it is laid out."""

    thinking: str | None = "The user is asking for something harmful. I should decline."
    answer: str = "I can't help with that."
    status: int = 200
    """Anything but 200: that HTTP status with an OpenAI-style error body."""
    error_message: str = "injected fault"
    malformed: bool = False
    """200 with a body that is not JSON (streaming: one broken ``data:`` line)."""
    delay_s: float = 0.0
    """Seconds to sleep before answering."""
    reasoning_tokens: int | None = None
    """Reported ``reasoning_tokens``; default: the words of the thinking sent (or hidden)."""
    retry_after: float | None = None
    """Sets a ``Retry-After`` header on error replies."""


@dataclass
class Rule:
    """Use ``reply`` when ``match`` occurs (case-insensitively) in the request's messages."""

    match: str
    reply: Reply
    times: int | None = None
    """Apply only to the first ``times`` matches, then fall through."""
    used: int = field(default=0, init=False, compare=False)
    """How often this rule has been applied."""


@dataclass
class _Rendered:
    """One reply laid out in one style, ready for JSON or for SSE chunks."""

    content: str
    reasoning_key: str | None
    reasoning: str | None
    pieces: list[tuple[str, str]]
    finish_reason: str
    usage: dict[str, Any]


def _words(text: str | None) -> int:
    """Count whitespace-separated words ("tokens")."""
    return len(_WORD.findall(text)) if text else 0


def _first_words(text: str, n: int) -> str:
    """Return ``text`` up to the end of its ``n``-th word, spacing untouched."""
    if n <= 0:
        return ""
    spans = list(_WORD.finditer(text))
    return text[: spans[n - 1].end()] if n <= len(spans) else text


def split_pieces(text: str) -> list[str]:
    """Split ``text`` into stream pieces of about three words; ``"".join`` restores it."""
    pieces = _PIECE.findall(text)
    rest = text[sum(map(len, pieces)) :]
    if rest:
        if pieces:
            pieces[-1] += rest
        else:
            pieces.append(rest)
    return pieces


def _message_text(messages: list[Any]) -> str:
    """Join the text of all messages (string contents and ``text`` parts) by newlines."""
    texts: list[str] = []
    for message in messages:
        content = message.get("content") if isinstance(message, dict) else None
        if isinstance(content, str):
            texts.append(content)
        elif isinstance(content, list):
            texts.extend(str(part.get("text", "")) for part in content if isinstance(part, dict))
    return "\n".join(texts)


def render(style: str, reply: Reply, limit: int | None, prompt_tokens: int) -> _Rendered:
    """Lay ``reply`` out in ``style``, cut after ``limit`` words if it is longer."""
    thinking = None if style == "plain" else reply.thinking
    answer = reply.answer
    closed = True
    finish_reason = "stop"
    n_think = _words(thinking)
    if limit is not None and n_think + _words(answer) > limit:
        finish_reason = "length"
        if thinking is not None and limit <= n_think:
            thinking, answer, closed = _first_words(thinking, limit), "", False
        else:
            answer = _first_words(answer, limit - n_think)
    reasoning_tokens = reply.reasoning_tokens
    if reasoning_tokens is None:
        reasoning_tokens = _words(thinking)
    completion_tokens = reasoning_tokens + _words(answer)
    usage = {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
        "completion_tokens_details": {"reasoning_tokens": reasoning_tokens},
    }
    answer_pieces = [("content", p) for p in split_pieces(answer)]
    if thinking is None or style in ("plain", "hidden"):
        return _Rendered(answer, None, None, answer_pieces, finish_reason, usage)
    if style in ("reasoning", "reasoning_content"):
        pieces = [(style, p) for p in split_pieces(thinking)] + answer_pieces
        return _Rendered(answer, style, thinking, pieces, finish_reason, usage)
    opening = "<think>\n" if style == "think" else ""
    closing = "\n</think>\n\n" if closed else ""
    pieces = [("content", opening)] if opening else []
    pieces += [("content", p) for p in split_pieces(thinking)]
    pieces += ([("content", closing)] if closing else []) + answer_pieces
    content = opening + thinking + closing + answer
    return _Rendered(content, None, None, pieces, finish_reason, usage)


def error_body(status: int, message: str, code: str | None = None) -> dict[str, Any]:
    """Build an OpenAI-style error body for ``status``."""
    if status >= 500:
        kind = "server_error"
    elif status == 429:
        kind = "requests"
    else:
        kind = "invalid_request_error"
    return {"error": {"message": message, "type": kind, "param": None, "code": code}}


class _HTTPServer(ThreadingHTTPServer):
    """Threading HTTP server that knows its :class:`ChatServer` and its open connections."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], chat: ChatServer) -> None:
        self.chat = chat
        self.connections: set[socket.socket] = set()
        self.connections_lock = threading.Lock()
        super().__init__(address, _Handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Ignore clients that hang up; report anything else."""
        if not isinstance(sys.exc_info()[1], OSError):
            super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    """Serves one connection (HTTP/1.1 keep-alive, chunked SSE)."""

    protocol_version = "HTTP/1.1"
    server: _HTTPServer

    def setup(self) -> None:
        """Register the connection so that ``stop()`` can cut it."""
        super().setup()
        with self.server.connections_lock:
            self.server.connections.add(self.connection)

    def finish(self) -> None:
        """Forget the connection."""
        with self.server.connections_lock:
            self.server.connections.discard(self.connection)
        super().finish()

    def log_message(self, format: str, *args: Any) -> None:
        """Log only when the server is verbose (the CLI's ``--verbose``)."""
        if self.server.chat.verbose:
            super().log_message(format, *args)

    # -- plumbing -------------------------------------------------------------------------

    def _send_json(
        self, status: int, payload: object, headers: dict[str, str] | None = None
    ) -> None:
        self._send_raw(status, json.dumps(payload).encode(), headers)

    def _send_raw(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def _send_error(self, status: int, message: str, code: str | None = None) -> None:
        self._send_json(status, error_body(status, message, code))

    def _authorized(self) -> bool:
        key = self.server.chat.api_key
        if key is None or self.headers.get("Authorization") == f"Bearer {key}":
            return True
        self._send_error(401, "Incorrect API key provided.", "invalid_api_key")
        return False

    def _path(self) -> str:
        return urlsplit(self.path).path.rstrip("/")

    # -- endpoints ------------------------------------------------------------------------

    def do_GET(self) -> None:
        """``GET /v1/models``: one model per style."""
        if not self._authorized():
            return
        if self._path() != "/v1/models":
            self._send_error(404, f"Unknown path {self._path()}", "not_found")
            return
        models = [
            {"id": style, "object": "model", "created": 0, "owned_by": "chat_server"}
            for style in STYLES
        ]
        self._send_json(200, {"object": "list", "data": models})

    def do_POST(self) -> None:
        """``POST /v1/chat/completions``."""
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        if not self._authorized():
            return
        if self._path() != "/v1/chat/completions":
            self._send_error(404, f"Unknown path {self._path()}", "not_found")
            return
        try:
            body = json.loads(raw)
        except ValueError:
            self._send_error(400, "Request body is not valid JSON.")
            return
        if not isinstance(body, dict):
            self._send_error(400, "Request body must be a JSON object.")
            return
        chat = self.server.chat
        chat._log(body)
        messages = body.get("messages")
        if not isinstance(messages, list):
            self._send_error(400, "'messages' is a required property")
            return
        model = body.get("model")
        if not isinstance(model, str):
            self._send_error(400, "you must provide a model parameter")
            return
        style = model.split(":", 1)[0]
        if style not in STYLES:
            self._send_error(404, f"model not found: {model}", "model_not_found")
            return
        limits = [body.get(k) for k in ("max_tokens", "max_completion_tokens")]
        if any(v is not None and (not isinstance(v, int) or v < 0) for v in limits):
            self._send_error(400, "max_tokens must be a non-negative integer")
            return
        limit = min((v for v in limits if v is not None), default=None)
        text = _message_text(messages)
        reply = chat._choose(text)
        if reply.delay_s > 0:
            time.sleep(reply.delay_s)
        if reply.status != 200:
            headers = {}
            if reply.retry_after is not None:
                headers["Retry-After"] = f"{reply.retry_after:g}"
            code = "rate_limit_exceeded" if reply.status == 429 else None
            payload = error_body(reply.status, reply.error_message, code)
            self._send_json(reply.status, payload, headers)
            return
        rendered = render(style, reply, limit, _words(text))
        if body.get("stream"):
            options = body.get("stream_options")
            usage = isinstance(options, dict) and bool(options.get("include_usage"))
            self._stream(model, rendered, reply.malformed, usage)
        elif reply.malformed:
            self._send_raw(200, b'{"id": "chatcmpl-malformed", "object": "chat.completion", "cho')
        else:
            self._send_json(200, _completion(model, rendered))

    def _stream(self, model: str, rendered: _Rendered, malformed: bool, usage: bool) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        for event in _events(model, rendered, malformed, usage):
            data = f"data: {event}\n\n".encode()
            self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
            self.wfile.flush()
        self.wfile.write(b"0\r\n\r\n")


def _completion(model: str, rendered: _Rendered) -> dict[str, Any]:
    """A ``chat.completion`` object."""
    message: dict[str, Any] = {"role": "assistant", "content": rendered.content}
    if rendered.reasoning_key is not None:
        message[rendered.reasoning_key] = rendered.reasoning
    choice = {"index": 0, "message": message, "logprobs": None}
    return {
        "id": f"chatcmpl-{uuid.uuid4().hex}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [{**choice, "finish_reason": rendered.finish_reason}],
        "usage": rendered.usage,
    }


def _events(model: str, rendered: _Rendered, malformed: bool, usage: bool) -> Iterator[str]:
    """The ``data:`` payloads of a stream: chunks, the usage chunk, then ``[DONE]``."""
    base: dict[str, Any] = {
        "id": f"chatcmpl-{uuid.uuid4().hex}",
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": model,
    }
    if usage:
        base["usage"] = None

    def chunk(delta: dict[str, Any], finish_reason: str | None = None) -> str:
        choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}
        return json.dumps({**base, "choices": [choice]})

    yield chunk({"role": "assistant", "content": ""})
    if malformed:
        yield '{"id": "chatcmpl-malformed", "choices": [{"delta": {"content": "bro'
    else:
        for key, piece in rendered.pieces:
            yield chunk({key: piece})
        yield chunk({}, rendered.finish_reason)
        if usage:
            yield json.dumps({**base, "choices": [], "usage": rendered.usage})
    yield "[DONE]"


class ChatServer:
    """A scriptable OpenAI-compatible chat server running in a background thread."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, api_key: str | None = None) -> None:
        self.host = host
        self.port = port
        """The requested port; after :meth:`start`, the bound one."""
        self.api_key = api_key
        self.rules: list[Rule] = []
        self.default = Reply()
        self.requests: list[dict[str, Any]] = []
        self.verbose = False
        self._lock = threading.Lock()
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """The base URL for ``openai.OpenAI(base_url=...)``, e.g. ``http://127.0.0.1:5000/v1``."""
        if self._httpd is None:
            raise RuntimeError("ChatServer is not started")
        return f"http://{self.host}:{self.port}/v1"

    def start(self) -> ChatServer:
        """Bind and serve in a daemon thread; return ``self``."""
        if self._httpd is not None:
            raise RuntimeError("ChatServer is already started")
        self._httpd = _HTTPServer((self.host, self.port), self)
        self.port = int(self._httpd.server_address[1])
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"chat-server-{self.port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving, cut open connections and close the socket (idempotent)."""
        httpd, self._httpd = self._httpd, None
        if httpd is None:
            return
        httpd.shutdown()
        with httpd.connections_lock:
            for conn in list(httpd.connections):
                with contextlib.suppress(OSError):
                    conn.shutdown(socket.SHUT_RDWR)
        httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> ChatServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def add_rule(self, match: str, *, times: int | None = None, **reply_fields: Any) -> Rule:
        """Append ``Rule(match, Reply(**reply_fields), times)`` and return it."""
        rule = Rule(match, Reply(**reply_fields), times)
        with self._lock:
            self.rules.append(rule)
        return rule

    def reset(self) -> None:
        """Forget the logged requests (rules and their counters stay)."""
        with self._lock:
            self.requests.clear()

    def _log(self, body: dict[str, Any]) -> None:
        with self._lock:
            self.requests.append(body)

    def _choose(self, text: str) -> Reply:
        """The reply of the first applicable rule, else the default (counts the use)."""
        haystack = text.lower()
        with self._lock:
            for rule in self.rules:
                spent = rule.times is not None and rule.used >= rule.times
                if not spent and rule.match.lower() in haystack:
                    rule.used += 1
                    return rule.reply
            return self.default


_REPLY_FIELDS = frozenset(f.name for f in dataclasses.fields(Reply))


def _reply_from(data: object, where: str) -> Reply:
    if not isinstance(data, dict):
        raise ValueError(f"{where}: expected a mapping of Reply fields")
    unknown = set(data) - _REPLY_FIELDS
    if unknown:
        raise ValueError(f"{where}: unknown field(s) {sorted(unknown)}")
    return Reply(**data)


def load_config(data: object) -> tuple[Reply, list[Rule]]:
    """Turn parsed rules YAML (a list of rules, or ``{default:, rules:}``) into objects."""
    default: object = {}
    rules: object = data if data is not None else []
    if isinstance(data, dict):
        unknown = set(data) - {"default", "rules"}
        if unknown:
            raise ValueError(f"unknown top-level key(s) {sorted(unknown)}")
        default, rules = data.get("default") or {}, data.get("rules") or []
    if not isinstance(rules, list):
        raise ValueError("rules: expected a list")
    parsed: list[Rule] = []
    for i, item in enumerate(rules):
        if not isinstance(item, dict) or not isinstance(item.get("match"), str):
            raise ValueError(f"rules[{i}]: expected a mapping with a string 'match'")
        fields = {k: v for k, v in item.items() if k not in ("match", "times")}
        reply = _reply_from(fields, f"rules[{i}]")
        parsed.append(Rule(item["match"], reply, item.get("times")))
    return _reply_from(default, "default"), parsed


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point: serve until Ctrl-C."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--rules", type=Path, help="YAML file with default/rules")
    parser.add_argument("--api-key", help="require 'Authorization: Bearer KEY'")
    parser.add_argument("--verbose", action="store_true", help="log every request")
    args = parser.parse_args(argv)
    server = ChatServer(args.host, args.port, args.api_key)
    server.verbose = args.verbose
    if args.rules is not None:
        import yaml

        server.default, server.rules = load_config(yaml.safe_load(args.rules.read_text()))
    server.start()
    print(f"serving on {server.url} (styles: {', '.join(STYLES)})", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
