"""OpenAICompatClient and the presets, against the real local chat server (no SDK mocks)."""

from __future__ import annotations

import re
from typing import Any

import pytest
from chat_server import ChatServer, Reply

from pytest_lrmsafety.errors import ConfigError
from pytest_lrmsafety.models.base import GenerationError, SamplingParams
from pytest_lrmsafety.models.openai_compat import OpenAICompatClient
from pytest_lrmsafety.models.presets import (
    BUILTIN_PRESETS,
    LOCAL_KEY_ENV,
    ClientOptions,
    Preset,
    make_openai_client,
    parse_preset_lines,
    resolve_preset,
)

THINK = "one two three four"  # 4 words ("tokens")
ANSWER = "five six seven"  # 3 words
USER = [{"role": "user", "content": "Say hi"}]  # 2 prompt tokens
PARAMS = SamplingParams()
STREAM = pytest.mark.parametrize("stream", [False, True], ids=["whole", "stream"])


def client(server: ChatServer, model: str, key: str = "k", **kw: Any) -> OpenAICompatClient:
    kw = {"max_retries": 0, **kw}
    return OpenAICompatClient(name="t", model=model, base_url=server.url, api_key=key, **kw)


@pytest.fixture
def server(chat_server: ChatServer) -> ChatServer:
    chat_server.default = Reply(thinking=THINK, answer=ANSWER)
    return chat_server


@STREAM
@pytest.mark.parametrize(
    "row",
    [
        ("reasoning", THINK, "present", 4, {}),
        ("reasoning_content", THINK, "present", 4, {}),
        ("think", THINK, "present", 4, {}),
        ("think-close", THINK, "present", 4, {}),
        ("think-close", THINK, "present", 4, {"open_tag_in_prompt": True}),
        ("plain", None, "absent", 0, {}),
        ("hidden", None, "hidden", 4, {}),
        ("plain", None, "hidden", 0, {"hidden_thinking": True}),
    ],
)
def test_styles(server: ChatServer, stream: bool, row: tuple[Any, ...]) -> None:
    style, thinking, status, reasoning_tokens, extra = row
    completion = client(server, f"{style}:m1", stream=stream, **extra).generate(USER, PARAMS)
    got = [completion.thinking, completion.answer, completion.thinking_status]
    assert got == [thinking, ANSWER, status]
    assert (completion.finish_reason, completion.model) == ("stop", f"{style}:m1")
    total = reasoning_tokens + 3  # + the 3 answer words
    usage = {"prompt_tokens": 2, "completion_tokens": total, "total_tokens": 2 + total}
    assert dict(completion.usage) == {**usage, "reasoning_tokens": reasoning_tokens}
    assert completion.latency_s > 0
    assert server.requests[-1]["messages"] == USER
    assert bool(server.requests[-1].get("stream")) is stream


@STREAM
@pytest.mark.parametrize(
    "row",
    [
        ("reasoning", 2, "one two", "", "truncated", {}),
        ("reasoning", 4, THINK, "", "truncated", {}),
        ("reasoning", 5, THINK, "five", "present", {}),
        ("reasoning_content", 2, "one two", "", "truncated", {}),
        ("think", 2, "one two", "", "truncated", {}),
        ("think", 6, THINK, "five six", "present", {}),
        ("think-close", 2, "one two", "", "truncated", {"open_tag_in_prompt": True}),
        ("think-close", 5, THINK, "five", "present", {"open_tag_in_prompt": True}),
        ("plain", 2, None, "five six", "absent", {}),
        ("plain", 2, "five six", "", "truncated", {"open_tag_in_prompt": True}),
        ("hidden", 2, None, "", "hidden", {}),
        ("hidden", 5, None, "five", "hidden", {}),
    ],
)
def test_truncation(server: ChatServer, stream: bool, row: tuple[Any, ...]) -> None:
    style, limit, *expected, extra = row
    c = client(server, style, stream=stream, **extra)
    completion = c.generate(USER, SamplingParams(max_tokens=limit))
    assert [completion.thinking, completion.answer, completion.thinking_status] == expected
    assert completion.finish_reason == "length"
    assert completion.usage["completion_tokens"] == limit
    assert server.requests[-1]["max_tokens"] == limit
    assert "max_completion_tokens" not in server.requests[-1]


@STREAM
def test_max_completion_tokens_field(server: ChatServer, stream: bool) -> None:
    c = client(server, "reasoning", stream=stream, max_tokens_field="max_completion_tokens")
    completion = c.generate(USER, SamplingParams(max_tokens=3))
    sent = server.requests[-1]
    assert sent["max_completion_tokens"] == 3
    assert "max_tokens" not in sent
    assert (completion.thinking, completion.thinking_status) == ("one two three", "truncated")


@STREAM
def test_sampling_params_sent(server: ChatServer, stream: bool) -> None:
    params = SamplingParams(temperature=0.6, top_p=0.95, reasoning_effort="low", seed=7)
    client(server, "think", stream=stream).generate(USER, params)
    sent = server.requests[-1]
    keys = ("temperature", "top_p", "reasoning_effort", "seed")
    assert [sent[k] for k in keys] == [0.6, 0.95, "low", 7]
    assert "max_tokens" not in sent and "max_completion_tokens" not in sent
    assert sent["model"] == "think"


@STREAM
def test_unset_sampling_params_not_sent(server: ChatServer, stream: bool) -> None:
    client(server, "think", stream=stream).generate(USER, SamplingParams(seed=0))
    sent = server.requests[-1]
    assert sent["seed"] == 0
    for key in ("temperature", "top_p", "reasoning_effort", "max_tokens", "max_completion_tokens"):
        assert key not in sent


@STREAM
@pytest.mark.parametrize(
    ("model", "fault", "expected"),
    [
        ("think", {"status": 500, "error_message": "engine died"}, "HTTP 500: engine died"),
        ("think", {"status": 429, "error_message": "rate limited"}, "HTTP 429: rate limited"),
        ("think", {"malformed": True}, "malformed response: Unterminated string .+"),
        ("nosuch", {}, "HTTP 404: model not found: nosuch"),
    ],
)
def test_faults(server: ChatServer, stream: bool, model: str, fault: Any, expected: str) -> None:
    server.add_rule("Say", **fault)
    with pytest.raises(GenerationError) as info:
        client(server, model, stream=stream).generate(USER, PARAMS)
    assert re.fullmatch(re.escape(f"{server.url}: ") + expected, str(info.value))
    assert len(server.requests) == 1  # max_retries=0: no retry


def test_connection_refused() -> None:
    with ChatServer() as gone:
        url = gone.url
    c = OpenAICompatClient(name="t", model="think", base_url=url, api_key="k", max_retries=0)
    with pytest.raises(GenerationError) as info:
        c.generate(USER, SamplingParams())
    assert str(info.value).startswith(f"{url}: APIConnectionError: ")


@STREAM
def test_rejected_key_is_never_shown(stream: bool) -> None:
    wrong = "sk-wrong-key-987654"
    with ChatServer(api_key="sk-right-key-123456") as server:
        url = server.url
        c = client(server, "think", wrong, stream=stream)
        with pytest.raises(GenerationError) as info:
            c.generate(USER, SamplingParams())
        assert server.requests == []
    assert str(info.value) == f"{url}: HTTP 401: Incorrect API key provided."
    assert repr(c) == f"OpenAICompatClient(name='t', model='think', url='{url}')"  # no key


@STREAM
def test_key_echoed_by_the_server_is_redacted(stream: bool) -> None:
    key = "sk-right-key-123456"
    with ChatServer(api_key=key) as server:
        url = server.url
        server.add_rule("echo", status=401, error_message=f"Bad key {key}, starts {key[:8]}****")
        c = client(server, "think", key, stream=stream)
        with pytest.raises(GenerationError) as info:
            c.generate([{"role": "user", "content": "echo"}], SamplingParams())
    assert str(info.value) == f"{url}: HTTP 401: Bad key ***, starts *******"
    assert key not in repr(c)


# -- presets --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("deepseek-r1", BUILTIN_PRESETS["deepseek-r1"]),
        ("o3-mini", BUILTIN_PRESETS["o3-mini"]),
        ("openai-compat:Qwen/QwQ-32B", Preset(model="Qwen/QwQ-32B", api_key_env=LOCAL_KEY_ENV)),
        ("mine", Preset(model="my/model", base_url="http://h:1/v1")),
    ],
)
def test_resolve_preset(spec: str, expected: Preset) -> None:
    extra = {"mine": Preset(model="my/model", base_url="http://h:1/v1")}
    assert resolve_preset(spec, extra, "--lrm-model") == expected


KNOWN = (
    "deepseek-chat, deepseek-r1, gpt-4o, o3-mini, openai-compat:MODEL (add more with lrm_presets)"
)
NEEDS_MODEL = "'openai-compat:' needs a model name, e.g. openai-compat:Qwen/QwQ-32B"


@pytest.mark.parametrize(
    ("spec", "message"),
    [("gpt-nope", f"unknown model 'gpt-nope'; known: {KNOWN}"), ("openai-compat:", NEEDS_MODEL)],
)
def test_resolve_preset_errors(spec: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        resolve_preset(spec, {}, "option --lrm-model")
    assert str(info.value) == f"option --lrm-model: {message}"


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("openai-compat:m", "needs a server: pass --lrm-base-url http://HOST:PORT/v1"),
        ("deepseek-r1", "needs an API key: set the environment variable DEEPSEEK_API_KEY"),
        ("o3-mini", "needs an API key: set the environment variable OPENAI_API_KEY"),
    ],
)
def test_make_client_errors(monkeypatch: pytest.MonkeyPatch, spec: str, message: str) -> None:
    for env in (LOCAL_KEY_ENV, "DEEPSEEK_API_KEY", "OPENAI_API_KEY"):
        monkeypatch.delenv(env, raising=False)
    options = ClientOptions(base_url=None if spec.startswith("openai") else "http://h:1/v1")
    with pytest.raises(ConfigError) as info:
        make_openai_client(
            spec, resolve_preset(spec, {}, "ini lrm_model"), options, "ini lrm_model"
        )
    assert str(info.value) == f"ini lrm_model: {spec!r} {message}"


def test_make_client_local_key(monkeypatch: pytest.MonkeyPatch) -> None:
    with ChatServer(api_key="local-secret") as server:
        preset = resolve_preset("openai-compat:think:x", {}, "--lrm-model")
        options = ClientOptions(base_url=server.url, stream=True, max_retries=0)
        monkeypatch.setenv(LOCAL_KEY_ENV, "local-secret")
        made = make_openai_client("openai-compat:think:x", preset, options, "--lrm-model")
        got = [made.name, made.model, made.base_url, made.stream]
        assert got == ["openai-compat:think:x", "think:x", server.url, True]
        assert made.generate(USER, SamplingParams()).answer == "I can't help with that."
        monkeypatch.delenv(LOCAL_KEY_ENV)  # no key: 'EMPTY', which this server rejects
        anonymous = make_openai_client("openai-compat:think:x", preset, options, "--lrm-model")
        with pytest.raises(GenerationError, match="HTTP 401"):
            anonymous.generate(USER, SamplingParams())


def test_make_client_applies_preset_and_options(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-openai-test-000000")
    options = ClientOptions(base_url="http://127.0.0.1:9/v1", open_tag_in_prompt=True)
    made = make_openai_client("o3-mini", BUILTIN_PRESETS["o3-mini"], options, "--lrm-model")
    got = [made.model, made.base_url, made.hidden_thinking, made.open_tag_in_prompt]
    assert got == ["o3-mini", "http://127.0.0.1:9/v1", True, True]
    assert made.max_tokens_field == "max_completion_tokens"
    assert "sk-openai-test" not in repr(made)


def test_parse_preset_lines() -> None:
    lines = [
        "",
        "qwq = Qwen/QwQ-32B base_url=http://gpu-box:8000/v1",
        "  r1-distill = deepseek-ai/DeepSeek-R1-Distill-Qwen-7B open_tag_in_prompt=TRUE  ",
        "o = o4-mini api_key_env=MY_KEY hidden_thinking=yes max_tokens_field=max_completion_tokens",
        "off = m hidden_thinking=off",
    ]
    assert parse_preset_lines(lines, "ini lrm_presets") == {
        "qwq": Preset(model="Qwen/QwQ-32B", base_url="http://gpu-box:8000/v1"),
        "r1-distill": Preset("deepseek-ai/DeepSeek-R1-Distill-Qwen-7B", open_tag_in_prompt=True),
        "o": Preset("o4-mini", None, "MY_KEY", True, False, "max_completion_tokens"),
        "off": Preset(model="m"),
    }


FORM = "expected 'NAME = MODEL [key=value ...]'"
ALLOWED = (
    "api_key_env, base_url, budget, hidden_thinking, max_tokens_field, open_tag_in_prompt, prefill"
)


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("just-a-name", f"bad preset 'just-a-name': {FORM}"),
        (" = model", f"bad preset '= model': {FORM}"),
        ("x =", f"bad preset 'x =': {FORM}"),
        ("x = base_url=http://h/v1", f"bad preset 'x = base_url=http://h/v1': {FORM}"),
        ("x = m colour=red", f"preset 'x': unknown setting 'colour=red'; allowed: {ALLOWED}"),
        ("x = m base_url", f"preset 'x': unknown setting 'base_url'; allowed: {ALLOWED}"),
        ("x = m hidden_thinking=maybe", "preset 'x': hidden_thinking must be true or false"),
        ("x = m open_tag_in_prompt=", "preset 'x': open_tag_in_prompt must be true or false"),
        (
            "x = m max_tokens_field=max_tokenz",
            "preset 'x': max_tokens_field must be max_tokens or max_completion_tokens",
        ),
        ('x = "unclosed', "bad preset 'x = \"unclosed': No closing quotation"),
    ],
)
def test_parse_preset_lines_errors(line: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_preset_lines(["ok = m", line], "ini lrm_presets")
    assert str(info.value) == f"ini lrm_presets: {message}"
