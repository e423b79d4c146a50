"""OpenAICompatClient and the presets, against the real local chat server (no SDK mocks)."""

from __future__ import annotations

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
STREAM = pytest.mark.parametrize("stream", [False, True], ids=["whole", "stream"])


def client(server: ChatServer, model: str, *, stream: bool = False, **kw: object) -> OpenAICompatClient:
    kw.setdefault("max_retries", 0)
    return OpenAICompatClient(
        name="test", model=model, base_url=server.url, api_key="test-key", stream=stream, **kw  # type: ignore[arg-type]
    )


@pytest.fixture
def server(chat_server: ChatServer) -> ChatServer:
    chat_server.default = Reply(thinking=THINK, answer=ANSWER)
    return chat_server


@STREAM
@pytest.mark.parametrize(
    ("style", "thinking", "status", "reasoning_tokens", "extra"),
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
def test_styles(
    server: ChatServer, stream: bool, style: str, thinking: str | None, status: str,
    reasoning_tokens: int, extra: dict[str, bool],
) -> None:
    completion = client(server, f"{style}:m1", stream=stream, **extra).generate(USER, SamplingParams())
    assert completion.thinking == thinking
    assert completion.answer == ANSWER
    assert completion.thinking_status == status
    assert completion.finish_reason == "stop"
    completion_tokens = reasoning_tokens + 3
    assert dict(completion.usage) == {
        "prompt_tokens": 2,
        "completion_tokens": completion_tokens,
        "total_tokens": 2 + completion_tokens,
        "reasoning_tokens": reasoning_tokens,
    }
    assert completion.model == f"{style}:m1"
    assert completion.latency_s > 0
    assert server.requests[-1]["messages"] == USER
    assert bool(server.requests[-1].get("stream")) is stream


@STREAM
@pytest.mark.parametrize(
    ("style", "limit", "thinking", "answer", "status", "extra"),
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
def test_truncation(
    server: ChatServer, stream: bool, style: str, limit: int, thinking: str | None, answer: str,
    status: str, extra: dict[str, bool],
) -> None:
    c = client(server, style, stream=stream, **extra)
    completion = c.generate(USER, SamplingParams(max_tokens=limit))
    assert (completion.thinking, completion.answer, completion.thinking_status) == (
        thinking, answer, status
    )
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
    assert (sent["temperature"], sent["top_p"], sent["reasoning_effort"], sent["seed"]) == (
        0.6, 0.95, "low", 7,
    )
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
    ("match", "fault", "expected"),
    [
        ("boom", {"status": 500, "error_message": "engine died"}, "HTTP 500: engine died"),
        ("slow", {"status": 429, "error_message": "rate limited"}, "HTTP 429: rate limited"),
        ("bad", {"malformed": True}, "malformed response: "),
    ],
)
def test_faults(
    server: ChatServer, stream: bool, match: str, fault: dict[str, object], expected: str
) -> None:
    server.add_rule(match, **fault)
    with pytest.raises(GenerationError) as info:
        client(server, "think", stream=stream).generate(
            [{"role": "user", "content": match}], SamplingParams()
        )
    assert str(info.value).startswith(f"{server.url}: {expected}")
    assert len(server.requests) == 1  # max_retries=0: no retry


@STREAM
def test_unknown_model(server: ChatServer, stream: bool) -> None:
    with pytest.raises(GenerationError) as info:
        client(server, "nosuch-model", stream=stream).generate(USER, SamplingParams())
    assert str(info.value) == f"{server.url}: HTTP 404: model not found: nosuch-model"


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
        c = OpenAICompatClient(
            name="t", model="think", base_url=server.url, api_key=wrong, stream=stream, max_retries=0
        )
        with pytest.raises(GenerationError) as info:
            c.generate(USER, SamplingParams())
        assert server.requests == []
    message = str(info.value)
    assert message == f"{url}: HTTP 401: Incorrect API key provided."
    assert wrong not in message and wrong not in repr(c)
    assert repr(c) == f"OpenAICompatClient(name='t', model='think', url='{url}')"


@STREAM
def test_key_echoed_by_the_server_is_redacted(stream: bool) -> None:
    key = "sk-right-key-123456"
    with ChatServer(api_key=key) as server:
        url = server.url
        server.add_rule("echo", status=401, error_message=f"Bad key {key}, starts {key[:8]}****")
        c = OpenAICompatClient(
            name="t", model="think", base_url=server.url, api_key=key, stream=stream, max_retries=0
        )
        with pytest.raises(GenerationError) as info:
            c.generate([{"role": "user", "content": "echo"}], SamplingParams())
    message = str(info.value)
    assert message == f"{url}: HTTP 401: Bad key ***, starts *******"
    assert key[:8] not in message and key not in repr(c)


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


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("gpt-nope", "option --lrm-model: unknown model 'gpt-nope'; known: deepseek-r1, o3-mini, "
         "openai-compat:MODEL (add more with lrm_presets)"),
        ("openai-compat:", "option --lrm-model: 'openai-compat:' needs a model name, "
         "e.g. openai-compat:Qwen/QwQ-32B"),
    ],
)
def test_resolve_preset_errors(spec: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        resolve_preset(spec, {}, "option --lrm-model")
    assert str(info.value) == message


def test_make_client_needs_base_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(LOCAL_KEY_ENV, raising=False)
    preset = resolve_preset("openai-compat:m", {}, "ini lrm_model")
    with pytest.raises(ConfigError) as info:
        make_openai_client("openai-compat:m", preset, ClientOptions(), "ini lrm_model")
    assert str(info.value) == (
        "ini lrm_model: 'openai-compat:m' needs a server: pass --lrm-base-url http://HOST:PORT/v1"
    )


@pytest.mark.parametrize(("spec", "env"), [("deepseek-r1", "DEEPSEEK_API_KEY"), ("o3-mini", "OPENAI_API_KEY")])
def test_make_client_needs_key(monkeypatch: pytest.MonkeyPatch, spec: str, env: str) -> None:
    monkeypatch.delenv(env, raising=False)
    with pytest.raises(ConfigError) as info:
        make_openai_client(spec, BUILTIN_PRESETS[spec], ClientOptions(), "option --lrm-model")
    assert str(info.value) == (
        f"option --lrm-model: {spec!r} needs an API key: set the environment variable {env}"
    )


def test_make_client_local_key(monkeypatch: pytest.MonkeyPatch) -> None:
    with ChatServer(api_key="local-secret") as server:
        preset = resolve_preset("openai-compat:think:x", {}, "--lrm-model")
        options = ClientOptions(base_url=server.url, stream=True, max_retries=0)
        monkeypatch.setenv(LOCAL_KEY_ENV, "local-secret")
        made = make_openai_client("openai-compat:think:x", preset, options, "--lrm-model")
        assert (made.name, made.model, made.base_url, made.stream) == (
            "openai-compat:think:x", "think:x", server.url, True
        )
        assert made.generate(USER, SamplingParams()).answer == "I can't help with that."
        monkeypatch.delenv(LOCAL_KEY_ENV)  # no key: 'EMPTY', which this server rejects
        anonymous = make_openai_client("openai-compat:think:x", preset, options, "--lrm-model")
        with pytest.raises(GenerationError, match="HTTP 401"):
            anonymous.generate(USER, SamplingParams())


def test_make_client_applies_preset_and_options(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-openai-test-000000")
    made = make_openai_client(
        "o3-mini", BUILTIN_PRESETS["o3-mini"],
        ClientOptions(base_url="http://127.0.0.1:9/v1", open_tag_in_prompt=True), "--lrm-model",
    )
    assert (made.model, made.base_url, made.hidden_thinking, made.open_tag_in_prompt) == (
        "o3-mini", "http://127.0.0.1:9/v1", True, True
    )
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
        "r1-distill": Preset(model="deepseek-ai/DeepSeek-R1-Distill-Qwen-7B", open_tag_in_prompt=True),
        "o": Preset(model="o4-mini", api_key_env="MY_KEY", hidden_thinking=True,
                    max_tokens_field="max_completion_tokens"),
        "off": Preset(model="m"),
    }


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("just-a-name", "bad preset 'just-a-name': expected 'NAME = MODEL [key=value ...]'"),
        (" = model", "bad preset '= model': expected 'NAME = MODEL [key=value ...]'"),
        ("x =", "bad preset 'x =': expected 'NAME = MODEL [key=value ...]'"),
        ("x = base_url=http://h/v1", "bad preset 'x = base_url=http://h/v1': "
         "expected 'NAME = MODEL [key=value ...]'"),
        ("x = m colour=red", "preset 'x': unknown setting 'colour=red'; allowed: api_key_env, "
         "base_url, hidden_thinking, max_tokens_field, open_tag_in_prompt"),
        ("x = m base_url", "preset 'x': unknown setting 'base_url'; allowed: api_key_env, "
         "base_url, hidden_thinking, max_tokens_field, open_tag_in_prompt"),
        ("x = m hidden_thinking=maybe", "preset 'x': hidden_thinking must be true or false"),
        ("x = m open_tag_in_prompt=", "preset 'x': open_tag_in_prompt must be true or false"),
        ("x = m max_tokens_field=max_tokenz", "preset 'x': max_tokens_field must be max_tokens "
         "or max_completion_tokens"),
        ('x = "unclosed', "bad preset 'x = \"unclosed': No closing quotation"),
    ],
)
def test_parse_preset_lines_errors(line: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_preset_lines(["ok = m", line], "ini lrm_presets")
    assert str(info.value) == f"ini lrm_presets: {message}"
