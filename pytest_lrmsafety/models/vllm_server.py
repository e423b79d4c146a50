"""``vllm-server:<model>``: a vLLM OpenAI-compatible server, started for the run or attached.

``--lrm-serve`` starts ``python -m vllm.entrypoints.openai.api_server`` in its own process
group on a free port of 127.0.0.1, with a reasoning parser (``--lrm-reasoning-parser``, else
chosen from the model's name), waits until ``/v1/models`` answers (or the process dies, or
``--lrm-serve-timeout`` passes) before the first probe, keeps its log in
``.lrmsafety/vllm-server-PORT.log``, and stops it (SIGTERM, then SIGKILL) when the run ends.
Under xdist the controller starts it and the workers attach. With ``--lrm-base-url`` instead,
the run attaches to a server that runs already, after the same health check.

Thinking budgets (``--lrm-thinking-budgets``, a suite's ``budgets:``) reach vLLM as the
request field ``thinking_token_budget`` (``models/budget.py``), which vLLM enforces only when
the server knows the strings that open and close the trace: from ``--reasoning-config``, or
(vLLM 0.32) from the reasoning parser. Without them vLLM 0.32 refuses such a request
(``thinking_token_budget is set but reasoning_config is not configured``), and earlier
versions, whose config did not read the parser, accepted the field and ignored it. So a
server started here for a model served with a ``<think>`` parser (``deepseek_r1``,
``qwen3``) or with none gets ``--reasoning-config`` with the ``<think>`` tags, in the field
names of the vLLM installed (``reasoning_start_str`` / ``reasoning_end_str``;
``think_start_str`` / ``think_end_str`` before vLLM renamed them); another parser brings its
own strings. Always, not only for runs with budgets: the suites' budgets are read after the
server starts, and a request without a budget is not touched by it. A ``reasoning_config``
given with ``--lrm-vllm-arg`` is used instead. A server attached to (``--lrm-base-url``) must
have been started so by whoever started it.
"""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..errors import ConfigError

PREFIX = "vllm-server:"

# Reasoning parsers by model family (vLLM's parser names); the first match in the name wins.
FAMILY_PARSERS: tuple[tuple[tuple[str, ...], str], ...] = (
    (("qwen3",), "qwen3"),
    (("deepseek-r1", "deepseek_r1", "r1-distill", "qwq", "deepseek-reasoner"), "deepseek_r1"),
    (("gpt-oss",), "openai_gptoss"),
    (("granite",), "granite"),
)


#: vLLM's reasoning parsers for traces in ``<think>`` tags: the tags a thinking budget counts
#: between (``--reasoning-config``).
THINK_TAG_PARSERS = frozenset({"deepseek_r1", "qwen3"})
THINK_TAGS = ("<think>", "</think>")


def reasoning_config_fields(python: str = sys.executable) -> tuple[str, str] | None:
    """The names vLLM's ``ReasoningConfig`` gives the trace's opening and closing strings,
    read from the installed vLLM's source without importing it (``None``: this vLLM has no
    reasoning config, so it applies no thinking budget). For another interpreter than this
    one, the current names."""
    current = ("reasoning_start_str", "reasoning_end_str")
    if python != sys.executable:
        return current
    spec = importlib.util.find_spec("vllm")  # finds the package, runs none of it
    if spec is None or not spec.submodule_search_locations:
        return current
    source = Path(next(iter(spec.submodule_search_locations)), "config", "reasoning.py")
    try:
        text = source.read_text("utf-8")
    except OSError:
        return None
    if "reasoning_start_str" in text:
        return current
    if "think_start_str" in text:
        return ("think_start_str", "think_end_str")
    return None


def reasoning_config_for(
    parser: str | None, fields: tuple[str, str] | None
) -> dict[str, str] | None:
    """The ``--reasoning-config`` that makes vLLM enforce ``thinking_token_budget``: the think
    tags, for a parser of ``<think>`` traces or none (the trace split from the text, where
    open models write ``<think>``) and a vLLM that has the config, else ``None`` (another
    parser names its own strings)."""
    if (parser is not None and parser not in THINK_TAG_PARSERS) or fields is None:
        return None
    return dict(zip(fields, THINK_TAGS, strict=True))


def reasoning_parser_for(model: str, chosen: str | None) -> str | None:
    """The parser to serve ``model`` with: the one chosen, else by family, else none
    (``none`` turns it off)."""
    if chosen:
        return None if chosen == "none" else chosen
    name = model.lower()
    for needles, parser in FAMILY_PARSERS:
        if any(n in name for n in needles):
            return parser
    return None


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def served_models(url: str, timeout: float = 5.0) -> list[str]:
    """The model ids a server lists at ``GET {url}/models``; raises ``OSError`` when down."""
    with urllib.request.urlopen(f"{url.rstrip('/')}/models", timeout=timeout) as response:
        data = json.loads(response.read().decode("utf-8"))
    return [str(m.get("id")) for m in data.get("data", [])]


def engine_flags(engine_args: Mapping[str, Any]) -> list[str]:
    """``{"max_model_len": 512, "enforce_eager": True}`` -> server command-line flags."""
    flags: list[str] = []
    for key, value in engine_args.items():
        flag = "--" + key.replace("_", "-")
        if value is True:
            flags.append(flag)
        elif value is False or value is None:
            continue
        else:
            flags += [flag, str(value)]
    return flags


class VLLMServer:
    """One vLLM server process for the run."""

    def __init__(
        self,
        model: str,
        *,
        log_dir: Path,
        reasoning_parser: str | None = None,
        engine_args: Mapping[str, Any] | None = None,
        host: str = "127.0.0.1",
        port: int | None = None,
        python: str = sys.executable,
        startup_timeout: float = 600.0,
    ) -> None:
        self.model = model
        self.host = host
        self.port = port or free_port(host)
        self.reasoning_parser = reasoning_parser
        self.engine_args = dict(engine_args or {})
        self.python = python
        self.startup_timeout = startup_timeout
        self.log_path = log_dir / f"vllm-server-{self.port}.log"
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/v1"

    def command(self) -> list[str]:
        cmd = [
            self.python,
            "-m",
            "vllm.entrypoints.openai.api_server",
            "--model",
            self.model,
            "--host",
            self.host,
            "--port",
            str(self.port),
        ]
        if self.reasoning_parser:
            cmd += ["--reasoning-parser", self.reasoning_parser]
        if "reasoning_config" not in self.engine_args:  # the user's own, else the think tags
            config = reasoning_config_for(
                self.reasoning_parser, reasoning_config_fields(self.python)
            )
            if config is not None:
                cmd += ["--reasoning-config", json.dumps(config)]
        return cmd + engine_flags(self.engine_args)

    def start(self) -> VLLMServer:
        """Starts the process and waits until it serves; ``ConfigError`` with the log's end
        when it dies or does not come up in time."""
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        env = {**os.environ}
        env.setdefault("HF_HUB_OFFLINE", "1")
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                self.command(),
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,  # its own process group: stop() ends all of it
                env=env,
            )
        deadline = time.monotonic() + self.startup_timeout
        while True:
            code = self.process.poll()
            if code is not None:
                self.process = None
                raise ConfigError(
                    f"the vLLM server for {self.model} exited with status {code} before it "
                    f"served; its log ({self.log_path}) ends:\n{self.log_tail()}"
                )
            try:
                served_models(self.url, timeout=2.0)
                return self
            except (OSError, ValueError):
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise ConfigError(
                    f"the vLLM server for {self.model} did not answer within "
                    f"{self.startup_timeout:.0f} s (--lrm-serve-timeout); its log "
                    f"({self.log_path}) ends:\n{self.log_tail()}"
                )
            time.sleep(1.0)

    def log_tail(self, lines: int = 20) -> str:
        try:
            text = self.log_path.read_text("utf-8", errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])

    def stop(self, grace_s: float = 30.0) -> None:
        """SIGTERM to the process group, SIGKILL after ``grace_s``; idempotent."""
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        try:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=grace_s)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)
        except ProcessLookupError:
            pass


def check_attached(url: str, model: str, option: str) -> None:
    """The health check before attaching: the server answers and serves ``model``."""
    try:
        models = served_models(url)
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{option}: no vLLM server answers at {url} ({exc})") from None
    if model not in models:
        listed = ", ".join(models) or "none"
        raise ConfigError(
            f"{option}: the server at {url} does not serve {model!r} (it serves {listed})"
        )
