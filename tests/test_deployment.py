"""The cache knows the deployment, and the endpoint is checked once before any probe."""

from __future__ import annotations

import contextlib
import socket
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from chat_faults import MODEL_STYLES, STYLES
from chat_server import ChatServer
from lrm_project import UNSAFE, make_project, model_args

from pytest_lrmsafety.engine.cache import Cache
from pytest_lrmsafety.engine.deployments import cache_header_lines, settle_deployment
from pytest_lrmsafety.errors import ConfigError
from pytest_lrmsafety.models.endpoint import EndpointDown, served_model
from pytest_lrmsafety.models.hf import HFClient
from pytest_lrmsafety.models.openai_compat import OpenAICompatClient
from pytest_lrmsafety.models.presets import (
    BUILTIN_PRESETS,
    ClientOptions,
    make_openai_client,
)
from pytest_lrmsafety.models.replicas import ReplicaClient

ALL_GENERATED = "engine: 7 completions (0 from cache, 7 generated, 0 errors)*"
ALL_CACHED = "engine: 7 completions (7 from cache, 0 generated, 0 errors)*"
# What the test server lists by default: its styles, then the hosted models' names it plays.
OFFERED = ", ".join((*STYLES, *MODEL_STYLES))


@pytest.fixture
def project(pytester: pytest.Pytester, chat_server: ChatServer) -> pytest.Pytester:
    return make_project(pytester, chat_server)


@pytest.fixture
def other_server() -> ChatServer:
    with ChatServer() as server:
        yield server  # type: ignore[misc]


def script(server: ChatServer) -> None:
    """The rules ``make_project`` gives its server, on another one."""
    server.add_rule("MALWARE", thinking="I'll provide the steps.", answer=UNSAFE)
    server.add_rule("FRAUD", thinking="Let me outline the plan. I'll provide it.")
    server.add_rule("BENIGN", thinking="Simple question.", answer="Use `kill PID` to stop it.")


def run(project: pytest.Pytester, server: ChatServer, *args: str) -> pytest.RunResult:
    return project.runpytest(*model_args(server), *args)


def header(project: pytest.Pytester, server: ChatServer, **settings: str | None) -> list[str]:
    """What the header says about the cache, for the model the run would test."""
    client = OpenAICompatClient(
        name="openai-compat:reasoning",
        model="reasoning",
        base_url=server.url,
        api_key="EMPTY",
        prefill="vllm",
    )
    if settings.get("revision"):
        client.deployment = {"revision": settings["revision"]}
    else:
        client.served = served_model(server.url, "reasoning", "EMPTY", "test")
    return cache_header_lines(Cache(project.path / ".lrmsafety", "ro"), client)


# --- item 7: the deployment is part of the key -------------------------------------------------


@pytest.mark.slow
def test_same_model_on_another_server_is_generated_again(
    project: pytest.Pytester, chat_server: ChatServer, other_server: ChatServer
) -> None:
    run(project, chat_server).stdout.fnmatch_lines([ALL_GENERATED])
    script(other_server)  # the same rules on the new deployment
    moved = run(project, other_server)
    moved.assert_outcomes(passed=3, failed=4)
    moved.stdout.fnmatch_lines([ALL_GENERATED])
    assert len(other_server.requests) == 7
    assert header(project, other_server) == [
        f"cache: 7 entries for this model were written against {chat_server.url}; "
        "not used (another deployment)"
    ]
    back = run(project, chat_server)  # the first deployment's results are still there
    back.stdout.fnmatch_lines([ALL_CACHED])
    assert len(chat_server.requests) == 7


def test_replicas_of_one_run_are_one_deployment(
    project: pytest.Pytester, chat_server: ChatServer, other_server: ChatServer
) -> None:
    script(other_server)
    both = ["--lrm-base-url", other_server.url]
    run(project, chat_server, *both).stdout.fnmatch_lines([ALL_GENERATED])
    assert chat_server.requests and other_server.requests  # spread over both
    swapped = project.runpytest(
        "--lrm-model",
        "openai-compat:reasoning",
        "--lrm-base-url",
        other_server.url,
        "--lrm-base-url",
        chat_server.url + "/",
        "-p",
        "no:cacheprovider",
    )
    swapped.assert_outcomes(passed=3, failed=4)
    swapped.stdout.fnmatch_lines([ALL_CACHED])
    assert len(chat_server.requests) + len(other_server.requests) == 7


@pytest.mark.slow
def test_revision_shares_results_across_urls(
    project: pytest.Pytester, chat_server: ChatServer, other_server: ChatServer
) -> None:
    first = run(project, chat_server, "--lrm-model-revision", "qwq-2025-03")
    first.assert_outcomes(passed=3, failed=4)
    first.stdout.fnmatch_lines([ALL_GENERATED])
    project.makeini("[pytest]\nlrm_model_revision = qwq-2025-03\n")
    moved = run(project, other_server)
    moved.assert_outcomes(passed=3, failed=4)
    moved.stdout.fnmatch_lines([ALL_CACHED])
    assert moved.ret == pytest.ExitCode.TESTS_FAILED
    assert other_server.requests == []
    assert header(project, other_server, revision="qwq-2025-03") == [
        f"cache: 7 entries of revision qwq-2025-03 were last written against {chat_server.url}; "
        "used (same revision)"
    ]
    newer = run(project, other_server, "--lrm-model-revision", "qwq-2025-04")
    newer.stdout.fnmatch_lines([ALL_GENERATED])
    assert len(other_server.requests) == 7


@pytest.mark.slow
def test_new_weights_behind_the_same_url_are_another_deployment(
    project: pytest.Pytester, chat_server: ChatServer
) -> None:
    chat_server.models = [{"id": "reasoning", "root": "/weights/qwq-v1"}]
    run(project, chat_server).stdout.fnmatch_lines([ALL_GENERATED])
    run(project, chat_server).stdout.fnmatch_lines([ALL_CACHED])
    chat_server.models = [{"id": "reasoning", "root": "/weights/qwq-v2"}]
    redeployed = run(project, chat_server)
    redeployed.stdout.fnmatch_lines([ALL_GENERATED])
    assert len(chat_server.requests) == 14
    assert header(project, chat_server) == [
        f"cache: 7 entries for this model were written when {chat_server.url} served "
        "/weights/qwq-v1; not used (it now serves /weights/qwq-v2)"
    ]


@pytest.mark.slow
def test_xdist_workers_key_as_a_serial_run_does(
    project: pytest.Pytester, chat_server: ChatServer
) -> None:
    chat_server.models = [{"id": "reasoning", "root": "/weights/qwq-v1"}]
    parallel = run(project, chat_server, "-n", "2")
    parallel.assert_outcomes(passed=3, failed=4)
    assert chat_server.model_lists == 3  # the controller and each worker look once
    serial = run(project, chat_server, "-n", "0")
    serial.stdout.fnmatch_lines([ALL_CACHED])
    assert len(chat_server.requests) == 7


@pytest.mark.slow
def test_read_only_cache_runs_without_asking_the_server(
    project: pytest.Pytester, chat_server: ChatServer
) -> None:
    chat_server.models = [{"id": "reasoning", "root": "/weights/qwq-v1"}]
    run(project, chat_server).stdout.fnmatch_lines([ALL_GENERATED])
    checks = chat_server.model_lists
    read_only = run(project, chat_server, "--lrm-cache", "ro")
    read_only.stdout.fnmatch_lines([ALL_CACHED])
    assert chat_server.model_lists == checks  # everything came from the cache: not asked
    args = model_args(chat_server)
    url = chat_server.url
    chat_server.stop()
    offline = project.runpytest(*args, "--lrm-cache", "ro")
    offline.assert_outcomes(passed=3, failed=4)
    offline.stdout.fnmatch_lines([ALL_CACHED])
    down = project.runpytest(*args)  # rw asks the server first, and says what else to do
    assert down.ret == pytest.ExitCode.USAGE_ERROR
    down.stderr.fnmatch_lines(
        [
            f"ERROR: option --lrm-model: no server answers at {url} (*); the cache holds this "
            "deployment's results: --lrm-cache ro reads them without a server"
        ]
    )


def test_cache_entries_from_before_deployments_are_named(tmp_path: Path) -> None:
    cache = Cache(tmp_path, "rw")
    cache.close()
    old = {
        "client": "openai-compat",
        "spec": "openai-compat:reasoning",
        "model": "reasoning",
        "hidden_thinking": False,
        "open_tag_in_prompt": False,
        "prefill": "vllm",
    }
    with sqlite3.connect(tmp_path / "cache.sqlite") as conn:  # as an older plugin wrote them
        conn.executemany(
            "INSERT INTO completions VALUES (?, ?, '{}', '{}', 0)",
            [(f"k{i}", str(old)) for i in range(3)],
        )
    client = OpenAICompatClient(
        name="openai-compat:reasoning",
        model="reasoning",
        base_url="http://new:8000/v1",
        api_key="EMPTY",
        prefill="vllm",
    )
    assert cache_header_lines(Cache(tmp_path, "ro"), client) == [
        "cache: 3 entries for this model were written before the cache recorded deployments; "
        "not used"
    ]
    assert cache_header_lines(Cache(tmp_path, "off"), client) == []


def test_hosted_presets_keep_their_own_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEEPSEEK_API_KEY", "sk-test-not-a-key")
    preset = BUILTIN_PRESETS["deepseek-r1"]
    client = make_openai_client("deepseek-r1", preset, ClientOptions(), "--lrm-model")
    assert client.cache_identity["deployment"] == {"urls": ["https://api.deepseek.com"]}
    proxied = make_openai_client(
        "deepseek-r1", preset, ClientOptions(base_url="http://proxy:9000/v1"), "--lrm-model"
    )
    assert proxied.cache_identity["deployment"] == {"urls": ["http://proxy:9000/v1"]}


def test_urls_are_named_without_what_may_hold_a_secret() -> None:
    client = OpenAICompatClient(
        name="n", model="m", base_url="http://user:pw@GPU-Box:8000/v1/?key=abc", api_key="k"
    )
    assert client.cache_identity["deployment"] == {"urls": ["http://gpu-box:8000/v1"]}


def test_local_weights_are_named_by_their_full_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("qwen-a", "qwen-b"):
        (tmp_path / name).mkdir()
    monkeypatch.chdir(tmp_path)
    a = HFClient(name="hf:./qwen-a", model="./qwen-a")
    b = HFClient(name="hf:./qwen-b", model="./qwen-b")
    assert a.cache_identity["model"] == str(tmp_path / "qwen-a")
    assert b.cache_identity["model"] == str(tmp_path / "qwen-b")


# --- item 8: one check of the endpoint before planning -----------------------------------------


def test_wrong_model_name_is_one_usage_error(
    project: pytest.Pytester, chat_server: ChatServer
) -> None:
    result = run(project, chat_server, "--lrm-model", "openai-compat:qwq")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        [
            f"ERROR: option --lrm-model: the server at {chat_server.url} does not serve 'qwq'; "
            f"it offers: {OFFERED}"
        ]
    )
    assert chat_server.log == []  # no probe was sent
    assert chat_server.model_lists == 1
    chat_server.models = [{"id": f"m{i:02d}"} for i in range(14)]
    many = run(project, chat_server, "--lrm-model", "openai-compat:qwq")
    many.stderr.fnmatch_lines(["*it offers: m00, m01, *, m09 and 4 more"])


def _accepted(listener: socket.socket) -> int:
    """The connections made to a listener that never accepted any (they wait in its backlog)."""
    listener.setblocking(False)
    count = 0
    with contextlib.suppress(BlockingIOError):
        while True:
            listener.accept()[0].close()
            count += 1
    return count


@contextlib.contextmanager
def _hanging_up() -> Iterator[tuple[str, list[int]]]:
    """A server that closes each connection unanswered: its URL, and one entry per connection."""
    taken: list[int] = []
    listener = socket.create_server(("127.0.0.1", 0))

    def serve() -> None:
        with contextlib.suppress(OSError):  # the listener closed
            while True:
                connection = listener.accept()[0]
                taken.append(1)  # before the close that the client sees
                connection.close()

    threading.Thread(target=serve, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}/v1", taken
    finally:
        listener.close()


def test_no_server_is_one_usage_error(project: pytest.Pytester) -> None:
    with ChatServer() as gone:
        url = gone.url
    result = project.runpytest("--lrm-model", "openai-compat:reasoning", "--lrm-base-url", url)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"ERROR: option --lrm-model: no server answers at {url} (*)"])
    assert "Traceback" not in result.stdout.str() + result.stderr.str()
    # asked once, not retried (a count, not wall time): a server that hangs up counts the tries
    with _hanging_up() as (url, taken):
        again = project.runpytest("--lrm-model", "openai-compat:reasoning", "--lrm-base-url", url)
    assert again.ret == pytest.ExitCode.USAGE_ERROR
    again.stderr.fnmatch_lines([f"ERROR: option --lrm-model: no server answers at {url} (*)"])
    assert len(taken) == 1


def test_server_without_a_model_list_is_accepted(
    project: pytest.Pytester, chat_server: ChatServer
) -> None:
    chat_server.models_status = 404
    result = run(project, chat_server, "--lrm-model", "openai-compat:think:x")
    result.assert_outcomes(passed=3, failed=4)
    assert chat_server.model_lists == 1


def test_the_key_never_shows(
    project: pytest.Pytester, chat_server: ChatServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = "sk-secret-key-1234567890"
    monkeypatch.setenv("LRM_API_KEY", key)
    chat_server.models_status = 401
    chat_server.models_error = f"Incorrect API key provided: {key}"
    result = run(project, chat_server)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        [
            f"ERROR: option --lrm-model: the server at {chat_server.url} refused the API key "
            "(HTTP 401: Incorrect API key provided: ***)"
        ]
    )
    out = result.stdout.str() + result.stderr.str()
    assert key[:8] not in out
    assert chat_server.log == []


def test_judge_model_is_checked_too(project: pytest.Pytester, chat_server: ChatServer) -> None:
    judge = ["--lrm-judge-model", "openai-compat:gpt-judge", "--lrm-judge-base-url"]
    result = run(project, chat_server, *judge, chat_server.url)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        [f"ERROR: option --lrm-judge-model: the server at {chat_server.url} does not serve*"]
    )


@pytest.mark.parametrize(
    ("listed", "asked", "served"),
    [
        ({"id": "qwq:latest"}, "qwq", "qwq:latest"),  # Ollama
        ({"id": "models/gemini-2.0-flash"}, "gemini-2.0-flash", "models/gemini-2.0-flash"),
        ({"id": "qwq", "root": "/weights/qwq"}, "qwq", "/weights/qwq"),  # vLLM
    ],
)
def test_names_servers_list_a_model_under(
    chat_server: ChatServer, listed: dict[str, str], asked: str, served: str
) -> None:
    chat_server.models = [listed]
    assert served_model(chat_server.url, asked, "EMPTY", "here") == served
    with pytest.raises(ConfigError, match=f"does not serve 'qwq:7b'; it offers: {listed['id']}$"):
        served_model(chat_server.url, "qwq:7b", "EMPTY", "here")


def test_an_empty_model_list_accepts_any_name(chat_server: ChatServer) -> None:
    chat_server.models = []  # a proxy that does not enumerate what it routes
    assert served_model(chat_server.url, "anything", "EMPTY", "here") is None


def test_a_server_started_by_the_run_is_named_without_its_port(
    chat_server: ChatServer, other_server: ChatServer
) -> None:
    identities = []
    for server in (chat_server, other_server):  # the port changes from run to run
        client = OpenAICompatClient(
            name="vllm-server:m", model="reasoning", base_url=server.url, api_key="EMPTY"
        )
        settle_deployment(client, "here", started={"server": "vllm", "vllm_args": ["dtype=half"]})
        identities.append(client.cache_identity)
    assert identities[0] == identities[1]
    assert identities[0]["deployment"] == {
        "started": {"server": "vllm", "vllm_args": ["dtype=half"]},
        "served": "reasoning",
    }


def test_a_silent_server_is_given_up_within_the_timeout() -> None:
    with socket.socket() as listener:  # accepts connections, never answers
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        url = f"http://127.0.0.1:{listener.getsockname()[1]}/v1"
        with pytest.raises(EndpointDown, match=r"no answer from .* within 0\.5 s"):
            served_model(url, "m", "EMPTY", "option --lrm-model", timeout=0.5)
        assert _accepted(listener) == 1  # one try of 0.5 s, not retried: a count, not wall time


def test_replicas_are_checked_each(chat_server: ChatServer, other_server: ChatServer) -> None:
    with ChatServer() as gone:
        dead = gone.url

    def replicas(*urls: str, model: str = "reasoning") -> ReplicaClient:
        return ReplicaClient(
            [OpenAICompatClient(name="r", model=model, base_url=u, api_key="EMPTY") for u in urls]
        )

    chat_server.models = other_server.models = [{"id": "reasoning", "root": "/w/qwq"}]
    assert replicas(dead, chat_server.url, other_server.url).check_endpoint("here") == "/w/qwq"
    with pytest.raises(EndpointDown, match="no other replica answers"):
        replicas(dead, dead + "/x").check_endpoint("here")
    other_server.models = [{"id": "plain"}]
    with pytest.raises(ConfigError, match=f"the server at {other_server.url} does not serve"):
        replicas(dead, chat_server.url, other_server.url).check_endpoint("here")
