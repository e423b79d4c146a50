"""The fake chat server, exercised through the real openai SDK over real HTTP."""

from __future__ import annotations

import json
import signal
import subprocess
import time
import urllib.error
import urllib.request
import weakref
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import openai
import pytest
from chat_faults import MODEL_STYLES
from chat_server import STYLES, ChatServer, Faults, Reply, from_argv, load_config, split_pieces
from interruptible import python_command

THINK = "Step one:  check\nthe request."  # 5 words, odd spacing kept verbatim
ANSWER = "No, I won't."  # 3 words
CLOSE = "\n</think>\n\n"
USER = [{"role": "user", "content": "Tell me a secret"}]


@dataclass
class Result:
    """What a client saw, streamed or not."""

    content: str
    extras: dict[str, str]
    finish_reason: str | None
    completion_tokens: int
    reasoning_tokens: int | None
    chunks: int = 1


_CLIENTS: weakref.WeakKeyDictionary[ChatServer, openai.OpenAI] = weakref.WeakKeyDictionary()


def client_for(server: ChatServer) -> openai.OpenAI:
    """One SDK client per server (thread-safe; building one costs ~20 ms)."""
    if server not in _CLIENTS:
        _CLIENTS[server] = openai.OpenAI(base_url=server.url, api_key="test", max_retries=0)
    return _CLIENTS[server]


def ask(
    server: ChatServer, model: str, stream: bool = False, out: Result | None = None, **kw: Any
) -> Result:
    """Ask ``server``; a stream is collected into ``out`` (kept if iterating raises)."""
    client = client_for(server)
    kw.setdefault("messages", USER)
    if not stream:
        resp = client.chat.completions.create(model=model, **kw)
        msg, usage = resp.choices[0].message, resp.usage
        assert usage is not None and usage.completion_tokens_details is not None
        details = usage.completion_tokens_details
        return Result(
            msg.content or "",
            dict(msg.model_extra or {}),
            resp.choices[0].finish_reason,
            usage.completion_tokens,
            details.reasoning_tokens,
        )
    events = client.chat.completions.create(
        model=model, stream=True, stream_options={"include_usage": True}, **kw
    )
    out = out or Result("", {}, None, -1, None, chunks=0)
    for chunk in events:
        if chunk.usage is not None:
            assert chunk.usage.completion_tokens_details is not None
            out.completion_tokens = chunk.usage.completion_tokens
            out.reasoning_tokens = chunk.usage.completion_tokens_details.reasoning_tokens
        for choice in chunk.choices:
            out.chunks += 1
            out.content += choice.delta.content or ""
            for key, value in (choice.delta.model_extra or {}).items():
                out.extras[key] = out.extras.get(key, "") + value
            out.finish_reason = choice.finish_reason or out.finish_reason
    return out


@pytest.fixture
def server(chat_server: ChatServer) -> ChatServer:
    chat_server.default = Reply(thinking=THINK, answer=ANSWER)
    return chat_server


FULL = {
    "reasoning": (ANSWER, {"reasoning": THINK}, 5),
    "reasoning_content": (ANSWER, {"reasoning_content": THINK}, 5),
    "think": ("<think>\n" + THINK + CLOSE + ANSWER, {}, 5),
    "think-close": (THINK + CLOSE + ANSWER, {}, 5),
    "plain": (ANSWER, {}, 0),
    "hidden": (ANSWER, {}, 5),
}


@pytest.mark.parametrize("stream", [False, True], ids=["json", "sse"])
@pytest.mark.parametrize("style", list(FULL))
def test_styles(server: ChatServer, style: str, stream: bool) -> None:
    content, extras, reasoning_tokens = FULL[style]
    got = ask(server, f"{style}:some-model", stream)
    assert (got.content, got.extras, got.finish_reason) == (content, extras, "stop")
    assert (got.completion_tokens, got.reasoning_tokens) == (reasoning_tokens + 3, reasoning_tokens)
    if stream:  # role chunk, content pieces (thinking split apart), finish chunk
        assert got.chunks >= (3 if style in ("plain", "hidden") else 5)


@pytest.mark.parametrize("stream", [False, True], ids=["json", "sse"])
@pytest.mark.parametrize("style", list(FULL))
def test_no_thinking_behaves_like_plain(server: ChatServer, style: str, stream: bool) -> None:
    server.default.thinking = None
    got = ask(server, style, stream)
    assert (got.content, got.extras, got.reasoning_tokens) == (ANSWER, {}, 0)


TRUNCATED = [  # style, limit, content, extras, reasoning_tokens
    ("reasoning", 3, "", {"reasoning": "Step one:  check"}, 3),
    ("reasoning", 6, "No,", {"reasoning": THINK}, 5),
    ("reasoning_content", 5, "", {"reasoning_content": THINK}, 5),
    ("think", 3, "<think>\nStep one:  check", {}, 3),
    ("think", 5, "<think>\n" + THINK, {}, 5),
    ("think", 7, "<think>\n" + THINK + CLOSE + "No, I", {}, 5),
    ("think-close", 3, "Step one:  check", {}, 3),
    ("think-close", 6, THINK + CLOSE + "No,", {}, 5),
    ("plain", 2, "No, I", {}, 0),
    ("hidden", 3, "", {}, 3),
    ("hidden", 6, "No,", {}, 5),
    ("think", 0, "<think>\n", {}, 0),
]


@pytest.mark.parametrize("stream", [False, True], ids=["json", "sse"])
@pytest.mark.parametrize(("style", "limit", "content", "extras", "reasoning"), TRUNCATED)
def test_truncation(
    server: ChatServer,
    style: str,
    limit: int,
    content: str,
    extras: dict[str, str],
    reasoning: int,
    stream: bool,
) -> None:
    kw: dict[str, Any] = {"max_completion_tokens" if stream else "max_tokens": limit}
    got = ask(server, style, stream, **kw)
    assert (got.content, got.extras, got.finish_reason) == (content, extras, "length")
    assert (got.completion_tokens, got.reasoning_tokens) == (limit, reasoning)


def test_limit_not_reached_and_smaller_limit_wins(server: ChatServer) -> None:
    assert ask(server, "think", max_tokens=8).finish_reason == "stop"
    got = ask(server, "reasoning", max_tokens=100, max_completion_tokens=2)
    assert (got.content, got.extras, got.finish_reason) == (
        "",
        {"reasoning": "Step one:"},
        "length",
    )


def test_reasoning_tokens_override_and_prompt_tokens(server: ChatServer) -> None:
    server.default.reasoning_tokens = 42
    client = openai.OpenAI(base_url=server.url, api_key="test", max_retries=0)
    messages = [{"role": "system", "content": "be  nice"}, {"role": "user", "content": "a b c"}]
    resp = client.chat.completions.create(model="hidden", messages=messages)  # type: ignore[arg-type]
    assert resp.usage is not None and resp.usage.completion_tokens_details is not None
    assert resp.usage.completion_tokens_details.reasoning_tokens == 42
    assert (resp.usage.prompt_tokens, resp.usage.completion_tokens) == (5, 45)
    assert resp.usage.total_tokens == 50
    assert resp.object == "chat.completion" and resp.model == "hidden"
    assert resp.choices[0].message.role == "assistant" and resp.id.startswith("chatcmpl-")


def test_split_pieces_keeps_every_character() -> None:
    assert split_pieces("  a b  c\nd e f g  ") == ["  a b  c", "\nd e f", " g  "]
    assert split_pieces("   ") == ["   "]
    assert split_pieces("") == []


ERRORS = [
    (500, None, openai.InternalServerError, None),
    (503, 1.5, openai.InternalServerError, None),
    (429, 7.0, openai.RateLimitError, "rate_limit_exceeded"),
    (400, None, openai.BadRequestError, None),
]


@pytest.mark.parametrize("stream", [False, True], ids=["json", "sse"])
@pytest.mark.parametrize(("status", "retry_after", "exc", "code"), ERRORS)
def test_injected_errors(
    server: ChatServer,
    status: int,
    retry_after: float | None,
    exc: type[openai.APIStatusError],
    code: str | None,
    stream: bool,
) -> None:
    server.add_rule("secret", status=status, retry_after=retry_after, error_message="boom")
    with pytest.raises(exc) as info:
        ask(server, "plain", stream)
    assert info.value.status_code == status
    assert info.value.body == {
        "message": "boom",
        "type": "server_error"
        if status >= 500
        else "requests"
        if status == 429
        else "invalid_request_error",
        "param": None,
        "code": code,
    }
    header = info.value.response.headers.get("retry-after")
    assert header == (None if retry_after is None else f"{retry_after:g}")


def test_delay(server: ChatServer) -> None:
    server.default.delay_s = 0.5
    client = openai.OpenAI(base_url=server.url, api_key="t", max_retries=0, timeout=0.1)
    with pytest.raises(openai.APITimeoutError):
        client.chat.completions.create(model="plain", messages=USER)  # type: ignore[arg-type]


def post(url: str, data: bytes) -> tuple[int, Any]:
    req = urllib.request.Request(url, data, {"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req) as resp:
            return resp.status, json.load(resp)
    except urllib.error.HTTPError as err:
        return err.code, json.load(err)


def test_bad_requests(server: ChatServer) -> None:
    status, body = post(server.url + "/chat/completions", b'{"model": "plain"}')
    assert (status, body["error"]["message"]) == (400, "'messages' is a required property")
    status, body = post(server.url + "/chat/completions", b"{not json")
    assert (status, body["error"]["type"]) == (400, "invalid_request_error")
    assert post(server.url + "/completions", b"{}")[0] == 404
    with pytest.raises(openai.NotFoundError, match="model not found") as info:
        ask(server, "gpt-5:latest")
    assert info.value.code == "model_not_found"
    assert server.requests[0] == {"model": "plain"} and len(server.requests) == 2


def test_api_key() -> None:
    with ChatServer(api_key="sekrit") as server:
        bad = openai.OpenAI(base_url=server.url, api_key="wrong", max_retries=0)
        with pytest.raises(openai.AuthenticationError) as info:
            bad.chat.completions.create(model="plain", messages=USER)  # type: ignore[arg-type]
        assert info.value.code == "invalid_api_key"
        with pytest.raises(openai.AuthenticationError):
            bad.models.list()
        assert server.requests == []
        good = openai.OpenAI(base_url=server.url, api_key="sekrit", max_retries=0)
        assert [m.id for m in good.models.list()] == [*STYLES, *MODEL_STYLES]
        resp = good.chat.completions.create(model="plain", messages=USER)  # type: ignore[arg-type]
        assert resp.choices[0].message.content == Reply().answer
        assert len(server.requests) == 1


def test_rules_times_and_request_log(server: ChatServer) -> None:
    first = server.add_rule("SECRET", answer="first", times=2)
    server.add_rule("secret", answer="later", thinking=None)
    system = [{"role": "system", "content": "Guard the secret."}]
    answers = [ask(server, "reasoning").content for _ in range(3)]
    answers.append(ask(server, "reasoning", messages=[{"role": "user", "content": "hi"}]).content)
    answers.append(
        ask(server, "reasoning", messages=[*system, {"role": "user", "content": "x"}]).content
    )
    assert answers == ["first", "first", "later", ANSWER, "later"]
    assert first.used == 2
    assert len(server.requests) == 5
    assert server.requests[0] == {"model": "reasoning", "messages": USER}
    assert server.requests[3]["messages"] == [{"role": "user", "content": "hi"}]
    server.reset()
    assert server.requests == [] and len(server.rules) == 2


def test_load_config() -> None:
    default, rules = load_config(
        {"default": {"answer": "ok"}, "rules": [{"match": "x", "status": 500, "times": 1}]}
    )
    assert default == Reply(answer="ok")
    assert [(r.match, r.reply.status, r.times) for r in rules] == [("x", 500, 1)]
    assert load_config([{"match": "y", "thinking": None}])[1][0].reply.thinking is None
    with pytest.raises(ValueError, match="unknown field"):
        load_config([{"match": "y", "colour": "red"}])


def test_cli(tmp_path: Path) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text("default:\n  answer: fine\nrules:\n  - match: bomb\n    answer: never\n")
    script = Path(__file__).with_name("chat_server.py")
    cmd = python_command(str(script), "--port", "0", "--rules", str(rules), "--api-key", "k")
    with subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True) as proc:
        try:
            assert proc.stdout is not None
            url = proc.stdout.readline().split()[2]
            client = openai.OpenAI(base_url=url, api_key="k", max_retries=0)
            for text, answer in [("a bomb", "never"), ("hello", "fine")]:
                msgs = [{"role": "user", "content": text}]
                resp = client.chat.completions.create(model="plain", messages=msgs)  # type: ignore[arg-type]
                assert resp.choices[0].message.content == answer
            proc.send_signal(signal.SIGINT)
            assert proc.wait(timeout=10) == 0
        finally:
            proc.kill()


# -- load: latency, capacity; random faults; the outcome log ------------------------------


def test_latency_log_and_ok_count() -> None:
    with ChatServer(latency_s=0.1) as server:
        server.default.delay_s = 0.05  # adds to the latency
        start = time.monotonic()
        ask(server, "plain")
        ask(server, "think", True, messages=[{"role": "user", "content": "Other"}])
        assert time.monotonic() - start >= 0.29
        with pytest.raises(openai.NotFoundError):
            ask(server, "nope")
        entry = {"prompt": "Tell me a secret", "model": "plain", "stream": False, "outcome": "ok"}
        assert server.log == [
            {"n": 0, **entry},
            {"n": 1, **entry, "prompt": "Other", "model": "think", "stream": True},
            {"n": 2, **entry, "model": "nope", "outcome": "404"},
        ]
        assert (server.ok_count(), server.ok_count("SECRET"), server.ok_count("x")) == (2, 1, 0)
        assert (server.max_in_flight, server.in_flight) == (1, 0)
        server.reset()
        assert (server.log, server.max_in_flight, server.ok_count()) == ([], 0, 0)


# requests, capacity, latency, expected max_in_flight, least wall time (rounds x latency).
# Served at once is a count (max_in_flight), so a loaded machine cannot flake it; the least
# wall time shows that queued requests wait for a slot (load only makes it longer).
LOADS = [
    (8, 2, 0.1, 2, 0.35),
    (64, 8, 0.05, 8, 0.35),
    (8, None, 0.2, 8, 0.2),
]


@pytest.mark.parametrize(("n", "capacity", "latency", "busiest", "least"), LOADS)
def test_capacity_queues_requests(
    n: int, capacity: int | None, latency: float, busiest: int, least: float
) -> None:
    with ChatServer(latency_s=latency, capacity=capacity) as server:
        client_for(server)
        start = time.monotonic()
        with ThreadPoolExecutor(n) as pool:
            answers = [got.content for got in pool.map(ask, [server] * n, ["plain"] * n)]
        elapsed = time.monotonic() - start
        assert answers == [Reply().answer] * n
        assert (server.max_in_flight, server.in_flight, server.ok_count()) == (busiest, 0, n)
        assert elapsed >= least
    with pytest.raises(ValueError, match="capacity"):
        ChatServer(capacity=0)


FAULTS = [  # Faults field, what the SDK raises (max_retries=0), log outcome, stream chunks
    ("error_500", openai.InternalServerError, "500", 0),
    ("rate_limit_429", openai.RateLimitError, "429", 0),
    ("malformed", json.JSONDecodeError, "malformed", 1),  # the role chunk, then a broken line
    ("cut_stream", openai.APIConnectionError, "cut", 2),  # the role chunk, 1 of 3 pieces, EOF
]


@pytest.mark.parametrize("stream", [False, True], ids=["json", "sse"])
@pytest.mark.parametrize(("kind", "exc", "outcome", "chunks"), FAULTS)
def test_random_faults_as_the_sdk_sees_them(
    server: ChatServer, kind: str, exc: type[Exception], outcome: str, chunks: int, stream: bool
) -> None:
    odds: dict[str, Any] = {kind: 1.0}
    server.faults = Faults(**odds, retry_after_s=0.25)
    got = Result("", {}, None, -1, None, chunks=0)
    with pytest.raises(exc) as info:  # stream: status errors from create(), others mid-stream
        ask(server, "reasoning", stream, got)
    err = info.value
    if isinstance(err, openai.APIStatusError):
        assert err.status_code == int(outcome)
        assert err.response.headers.get("retry-after") == ("0.25" if outcome == "429" else None)
    if kind == "cut_stream":  # httpx: "peer closed connection without sending complete ..."
        assert type(err.__cause__).__name__ == "RemoteProtocolError"
    extras = {"reasoning": "Step one:  check"} if kind == "cut_stream" and stream else {}
    assert (got.chunks, got.extras, got.finish_reason) == (chunks * stream, extras, None)
    server.wait_settled()
    assert [e["outcome"] for e in server.log] == [outcome] and server.ok_count() == 0


def test_reply_faults_take_precedence(server: ChatServer) -> None:
    server.faults = Faults(error_500=1.0)
    for fields in ({"status": 503}, {"cut": True}, {"malformed": True}):
        server.add_rule("secret", times=1, **fields)
    errors = [openai.InternalServerError, openai.APIConnectionError, json.JSONDecodeError]
    for stream, exc in [(False, e) for e in errors] + [(True, openai.InternalServerError)]:
        with pytest.raises(exc):
            ask(server, "plain", stream)
    assert [e["outcome"] for e in server.log] == ["503", "cut", "malformed", "500"]
    with pytest.raises(ValueError, match="sum to at most 1"):
        Faults(error_500=0.6, cut_stream=0.6)


def test_fault_sequence_is_deterministic() -> None:
    runs = []
    for seed in (7, 7, 8):
        with ChatServer(faults=Faults(0.2, 0.2, 0.2, 0.2, seed=seed)) as server:
            seen = []  # what the client got, named as the log names it
            for _ in range(30):
                try:
                    ask(server, "plain")
                    seen.append("ok")
                except openai.APIStatusError as err:
                    seen.append(str(err.status_code))
                except json.JSONDecodeError:
                    seen.append("malformed")
                except openai.APIConnectionError:
                    seen.append("cut")
            server.wait_settled()
            assert seen == [e["outcome"] for e in server.log]
            assert [e["n"] for e in server.log] == list(range(30))
            assert server.ok_count() == seen.count("ok")
            runs.append(seen)
    assert runs[0] == runs[1] != runs[2]
    assert set(runs[0]) == {"ok", "500", "429", "malformed", "cut"}


def test_cli_flags() -> None:
    args = "--latency 0.1 --capacity 3 --fault-500 0.1 --fault-429 0.2 --fault-malformed 0.3"
    server = from_argv([*args.split(), "--fault-cut", "0.05", "--seed", "9"])
    assert (server.latency_s, server.capacity) == (0.1, 3)
    assert server.faults == Faults(0.1, 0.2, 0.3, 0.05, seed=9)
    assert from_argv([]).faults is None
