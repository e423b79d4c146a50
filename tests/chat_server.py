"""A real, scriptable OpenAI-compatible chat server for tests (stdlib only).

The tests of pytest-lrmsafety never mock the openai SDK: they point a real client at this
server on 127.0.0.1.  It speaks ``POST /v1/chat/completions`` (plain JSON and ``"stream":
true`` server-sent events, with ``stream_options.include_usage``) and ``GET /v1/models``.
What a request gets back (rules, styles, faults, truncation) is described in
:mod:`chat_faults`; this module is the HTTP side:

* **Load**: every valid chat request holds one of ``capacity`` serving slots (unlimited if
  ``None``; extra requests queue for a slot) for at least ``latency_s`` seconds plus its
  reply's ``delay_s`` before the first byte of its answer, like a GPU server with a fixed
  batch.  ``max_in_flight`` is the most requests ever served at once.
* **Faults**: with ``faults=Faults(...)`` each chat request (valid or not) draws one number
  from ``random.Random(faults.seed)`` in arrival order, which picks at most one fault; a reply
  with a fault of its own (status, malformed, cut) keeps it.
* **Logs**: every JSON body that passes the API-key check is appended to ``requests``; every
  chat request (past the API-key check) gets one entry in ``log``, in arrival order:
  ``{"n", "prompt", "model", "stream", "outcome"}`` where outcome is ``pending`` until the
  answer's last write, then ``ok``, ``malformed``, ``cut``, the HTTP status as a string
  (``"500"``, ``"429"``, ``"400"`` ...), ``disconnected`` (a write failed: the client hung
  up) or ``stopped`` (``stop()`` came while it was queued or in its latency: no answer).

Command line (serves until Ctrl-C; ``--port 0`` picks a free port; for ``rules.yaml`` see
:func:`chat_faults.load_config`)::

    python tests/chat_server.py --port 8000 [--host 127.0.0.1] [--rules rules.yaml] \\
        [--api-key KEY] [--verbose] [--latency S] [--capacity N] [--fault-500 P] \\
        [--fault-429 P] [--fault-malformed P] [--fault-cut P] [--seed N]
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import random
import socket
import sys
import threading
import time
from collections.abc import Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit

import chat_faults as cf
from chat_faults import MODEL_STYLES, STYLES, Faults, Reply, Rule, load_config, split_pieces

_FRESH_ENTRY = {"prompt": "", "model": None, "stream": False, "outcome": "pending"}

__all__ = ["STYLES", "ChatServer", "Faults", "Reply", "Rule", "load_config", "split_pieces"]


class _HTTPServer(ThreadingHTTPServer):
    """Threading HTTP server that knows its :class:`ChatServer` and its open connections."""

    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 1024  # listen backlog: many clients may connect at once

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
    _entry: dict[str, Any] | None = None  # the log entry of the chat request being served
    _holding = False  # whether that request holds a serving slot

    def setup(self) -> None:
        """Register the connection so that ``stop()`` can cut it; no Nagle delays."""
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
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

    def _settle(self, outcome: str | None = None) -> None:
        """Log the chat request's outcome (if given) and leave its slot (once)."""
        if self._entry is not None:
            self.server.chat._settle(self._entry, outcome, self._holding)
            self._holding = False

    def _send(self, answer: cf.Answer) -> None:
        """Write ``answer``, logging its outcome just before the last write."""
        self.send_response(answer.status)
        frames = answer.frames
        if answer.stream:
            head = {"Content-Type": "text/event-stream", "Cache-Control": "no-cache"}
            head["Transfer-Encoding"] = "chunked"
            frames = [b"%x\r\n%s\r\n" % (len(frame), frame) for frame in frames]
            if not answer.cut:  # else the client sees the connection drop mid-body
                frames[-1] += b"0\r\n\r\n"
        else:
            head = {"Content-Type": "application/json", "Content-Length": str(len(frames[0]))}
            if answer.cut:
                frames = [frames[0][: len(frames[0]) // 2]]
        for name, value in {**head, **answer.headers}.items():
            self.send_header(name, value)
        self.end_headers()
        for frame in frames[:-1]:
            self.wfile.write(frame)
            self.wfile.flush()
        self._settle(answer.outcome)
        self.close_connection = self.close_connection or answer.cut
        self.wfile.write(frames[-1])

    def _send_error(self, status: int, message: str, code: str | None = None) -> None:
        self._send(cf.error_answer(status, message, code))

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
        """``GET /v1/models``: :attr:`ChatServer.models`, by default one model per style."""
        if not self._authorized():
            return
        chat = self.server.chat
        with chat._lock:
            chat.model_lists += 1
        if self._path() != "/v1/models":
            self._send_error(404, f"Unknown path {self._path()}", "not_found")
            return
        if chat.models_status != 200:  # a server without a model list, or a failing one
            self._send_error(chat.models_status, chat.models_error)
            return
        models = [
            {"object": "model", "created": 0, "owned_by": "chat_server", **entry}
            for entry in (
                chat.models
                if chat.models is not None
                else [{"id": name} for name in (*STYLES, *MODEL_STYLES)]
            )
        ]
        self._send(cf.Answer(200, [json.dumps({"object": "list", "data": models}).encode()], "ok"))

    def do_POST(self) -> None:
        """``POST /v1/chat/completions``."""
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        if not self._authorized():
            return
        if self._path() not in ("/v1/chat/completions", "/beta/chat/completions"):
            self._send_error(404, f"Unknown path {self._path()}", "not_found")
            return
        self._entry, fault = self.server.chat._open()
        try:
            self._chat(raw, fault)
        except OSError:  # the client hung up, or stop() cut the connection
            self.close_connection = True
            self._settle("disconnected")
        finally:
            self._settle()
            self._entry = None

    def _chat(self, raw: bytes, fault: dict[str, Any]) -> None:
        chat = self.server.chat
        try:
            body = json.loads(raw)
        except ValueError:
            self._send_error(400, "Request body is not valid JSON.")
            return
        if not isinstance(body, dict):
            self._send_error(400, "Request body must be a JSON object.")
            return
        assert self._entry is not None
        chat._record(body, self._entry)
        try:
            request = cf.parse_request(body)
        except cf.BadRequest as err:
            self._send_error(err.status, err.message, err.code)
            return
        reply = chat._choose(request.prompt, body)
        if fault and reply.faultless:
            reply = dataclasses.replace(reply, **fault)
        self._holding = chat._enter()
        if not self._holding or chat._stopping.wait(chat.latency_s + reply.delay_s):
            self.close_connection = True  # stop() came first: hang up without an answer
            self._settle("stopped")
            return
        self._send(cf.answer(request, reply))


class ChatServer:
    """A scriptable OpenAI-compatible chat server running in a background thread."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        api_key: str | None = None,
        *,
        latency_s: float = 0.0,
        capacity: int | None = None,
        faults: Faults | None = None,
    ) -> None:
        if capacity is not None and capacity < 1:
            raise ValueError("capacity must be at least 1 (or None: unlimited)")
        self.host = host
        self.port = port
        """The requested port; after :meth:`start`, the bound one."""
        self.api_key = api_key
        self.rules: list[Rule] = []
        self.default = Reply()
        self.requests: list[dict[str, Any]] = []
        self.log: list[dict[str, Any]] = []
        """One entry per chat request, in arrival order (see the module docstring)."""
        self.verbose = False
        self.models: list[dict[str, Any]] | None = None
        """What ``GET /v1/models`` lists (each at least an ``id``; vLLM adds ``root``, the
        weights); ``None``: one per style and per hosted name it plays. Chat requests still
        take any style."""
        self.models_status = 200
        """Another status makes ``GET /v1/models`` fail with it (404: no model list)..."""
        self.models_error = "Cannot list models here."
        """... and this message."""
        self.model_lists = 0
        """How many ``GET`` requests came (past the API-key check)."""
        self.latency_s = latency_s
        """Seconds each chat request holds its slot before answering (plus ``delay_s``)."""
        self.in_flight = 0
        """Chat requests holding a serving slot right now."""
        self.max_in_flight = 0
        """The most chat requests ever served at once (since the start or :meth:`reset`)."""
        self._busy_area = 0.0  # integral of in_flight over time, from the first request in
        self._busy_since: float | None = None
        self._busy_last = 0.0
        self._capacity = capacity
        self._slots = None if capacity is None else threading.BoundedSemaphore(capacity)
        self._lock = threading.Lock()
        self._seq = 0
        self._rng = random.Random(0)
        self._faults: Faults | None = None
        self.faults = faults
        self._stopping = threading.Event()
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def capacity(self) -> int | None:
        """How many chat requests are served at once (``None``: unlimited); fixed at init."""
        return self._capacity

    @property
    def faults(self) -> Faults | None:
        """The random faults; setting them (re)seeds the fault sequence with their seed."""
        return self._faults

    @faults.setter
    def faults(self, faults: Faults | None) -> None:
        with self._lock:
            self._faults = faults
            self._rng = random.Random(faults.seed if faults is not None else 0)

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
        self._stopping.clear()
        self._httpd = _HTTPServer((self.host, self.port), self)
        self.port = int(self._httpd.server_address[1])
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.01},
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
        self._stopping.set()
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

    def add_rule(
        self,
        match: str,
        *,
        times: int | None = None,
        body: dict[str, Any] | None = None,
        **reply_fields: Any,
    ) -> Rule:
        """Append ``Rule(match, Reply(**reply_fields), times, body)`` and return it."""
        rule = Rule(match, Reply(**reply_fields), times, body)
        with self._lock:
            self.rules.append(rule)
        return rule

    def reset(self) -> None:
        """Forget logged requests and ``max_in_flight`` (rules, their counters, ``n`` and the
        fault sequence go on)."""
        with self._lock:
            self.requests.clear()
            self.log.clear()
            self.max_in_flight = self.in_flight
            self._busy_area, self._busy_since = 0.0, None

    @property
    def mean_in_flight(self) -> float:
        """Requests served at once on average, from the first request's slot to the last
        answer (since the start or :meth:`reset`); 0.0 before any request."""
        with self._lock:
            if self._busy_since is None or self._busy_last <= self._busy_since:
                return 0.0
            return self._busy_area / (self._busy_last - self._busy_since)

    def _account(self) -> None:
        """Adds the time since the last change at the current ``in_flight`` (lock held)."""
        now = time.monotonic()
        if self._busy_since is None:
            self._busy_since = now
        else:
            self._busy_area += self.in_flight * (now - self._busy_last)
        self._busy_last = now

    def wait_settled(self, timeout: float = 5.0) -> None:
        """Wait until no log entry is ``pending``: a client can see a broken answer and raise
        before the handler thread has recorded its outcome."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if all(entry["outcome"] != "pending" for entry in self.log):
                    return
            time.sleep(0.005)

    def ok_count(self, prompt_substring: str | None = None) -> int:
        """Chat requests answered in full (outcome ``ok``), optionally only those whose
        prompt contains ``prompt_substring`` (case-insensitively)."""
        needle = None if prompt_substring is None else prompt_substring.lower()
        with self._lock:
            return sum(
                entry["outcome"] == "ok" and (needle is None or needle in entry["prompt"].lower())
                for entry in self.log
            )

    # -- bookkeeping for the handler threads ----------------------------------------------

    def _open(self) -> tuple[dict[str, Any], dict[str, Any]]:
        """Log a new chat request and draw its random fault (as Reply overrides)."""
        with self._lock:
            entry = {"n": self._seq, **_FRESH_ENTRY}
            self._seq += 1
            self.log.append(entry)
            fault = self._faults.draw(self._rng) if self._faults is not None else {}
        return entry, fault

    def _record(self, body: dict[str, Any], entry: dict[str, Any]) -> None:
        with self._lock:
            self.requests.append(body)
            model, stream = body.get("model"), body.get("stream") is True
            entry.update(prompt=cf.message_text(body.get("messages")), model=model, stream=stream)

    def _choose(self, text: str, body: dict[str, Any] | None = None) -> Reply:
        """The reply of the first applicable rule, else the default (counts the use)."""
        haystack = text.lower()
        with self._lock:
            for rule in self.rules:
                spent = rule.times is not None and rule.used >= rule.times
                fits = rule.body is None or all(
                    (body or {}).get(k) == v for k, v in rule.body.items()
                )
                if not spent and fits and rule.match.lower() in haystack:
                    rule.used += 1
                    return rule.reply
            return self.default

    def _enter(self) -> bool:
        """Wait for a serving slot; False if the server stops first."""
        while self._slots is not None and not self._slots.acquire(timeout=0.05):
            if self._stopping.is_set():
                return False
        with self._lock:
            self._account()
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        return True

    def _settle(self, entry: dict[str, Any], outcome: str | None, leave: bool) -> None:
        with self._lock:
            if outcome is not None:
                entry["outcome"] = outcome
            if leave:
                self._account()
                self.in_flight -= 1
        if leave and self._slots is not None:
            self._slots.release()


_FAULT_FLAGS = {"500": "error_500", "429": "rate_limit_429", "malformed": "malformed"}
_FAULT_FLAGS["cut"] = "cut_stream"


def from_argv(argv: Sequence[str] | None = None) -> ChatServer:
    """Build (not start) a :class:`ChatServer` from command-line arguments."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--rules", type=Path, help="YAML file with default/rules")
    parser.add_argument("--api-key", help="require 'Authorization: Bearer KEY'")
    parser.add_argument("--verbose", action="store_true", help="log every request")
    parser.add_argument("--latency", type=float, default=0.0, metavar="S", help="seconds/request")
    parser.add_argument("--capacity", type=int, metavar="N", help="requests served at once")
    for name, dest in _FAULT_FLAGS.items():
        help = f"probability of a {name} fault per chat request"
        parser.add_argument(
            f"--fault-{name}", dest=dest, type=float, default=0.0, metavar="P", help=help
        )
    parser.add_argument("--seed", type=int, default=0, help="seed of the random faults")
    args = parser.parse_args(argv)
    odds = {dest: getattr(args, dest) for dest in _FAULT_FLAGS.values()}
    faults = Faults(**odds, seed=args.seed) if any(odds.values()) else None
    server = ChatServer(
        args.host,
        args.port,
        args.api_key,
        latency_s=args.latency,
        capacity=args.capacity,
        faults=faults,
    )
    server.verbose = args.verbose
    if args.rules is not None:
        import yaml

        server.default, server.rules = load_config(yaml.safe_load(args.rules.read_text()))
    return server


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point: serve until Ctrl-C."""
    server = from_argv(argv).start()
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
