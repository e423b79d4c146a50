"""Model specs (``deepseek-r1``, ``o3-mini``, ``openai-compat:MODEL``) and their clients."""

from __future__ import annotations

import os
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from .budget import BUDGET_STYLES
from .endpoint import mask_url, url_problem
from .openai_compat import DEFAULT_TIMEOUT_S, OpenAICompatClient
from .replicas import ReplicaClient

OPENAI_COMPAT = "openai-compat"
# vLLM and most local servers accept any key unless started with --api-key.
LOCAL_KEY_ENV = "LRM_API_KEY"


@dataclass(frozen=True)
class Preset:
    """A named way to reach a model: which server, which model name, which key."""

    model: str
    base_url: str | None = None
    api_key_env: str | None = None
    hidden_thinking: bool = False
    open_tag_in_prompt: bool = False
    max_tokens_field: str = "max_tokens"
    prefill: str = "vllm"  # vllm | deepseek | none: how a final assistant turn is continued
    budget: str = "vllm"  # vllm | prefill | none: how a thinking budget is applied (budget.py)


BUILTIN_PRESETS: dict[str, Preset] = {
    "deepseek-r1": Preset(
        model="deepseek-reasoner",
        base_url="https://api.deepseek.com",
        api_key_env="DEEPSEEK_API_KEY",
        prefill="deepseek",
        budget="none",
    ),
    # The default judges of the two hosted reasoning models (see judges/choice.py): DeepSeek's
    # non-reasoning chat model on the same key, and GPT-4o (the R1 study's judge).
    "deepseek-chat": Preset(
        model="deepseek-chat",
        base_url="https://api.deepseek.com",
        api_key_env="DEEPSEEK_API_KEY",
        prefill="deepseek",
        budget="none",
    ),
    "gpt-4o": Preset(
        model="gpt-4o",
        base_url="https://api.openai.com/v1",
        api_key_env="OPENAI_API_KEY",
        prefill="none",
        budget="none",
    ),
    "o3-mini": Preset(
        model="o3-mini",
        base_url="https://api.openai.com/v1",
        api_key_env="OPENAI_API_KEY",
        hidden_thinking=True,
        max_tokens_field="max_completion_tokens",
        prefill="none",
        budget="none",
    ),
}

_PRESET_FIELDS = {
    "base_url",
    "api_key_env",
    "hidden_thinking",
    "open_tag_in_prompt",
    "max_tokens_field",
    "prefill",
    "budget",
}
_MAX_TOKENS_FIELDS = ("max_tokens", "max_completion_tokens")
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def parse_preset_lines(lines: Sequence[str], where: str) -> dict[str, Preset]:
    """Reads presets from config lines ``NAME = MODEL [key=value ...]``.

    ``MODEL`` is the model name sent to the server; keys are ``base_url``, ``api_key_env``,
    ``hidden_thinking``, ``open_tag_in_prompt``, ``max_tokens_field``, ``prefill``
    (``vllm``, the default; ``deepseek``; ``none`` for servers that cannot continue an
    assistant turn) and ``budget`` (how ``--lrm-thinking-budgets`` reaches it: ``vllm``, the
    default; ``prefill``; ``none``; see :mod:`.budget`). Example::

        lrm_presets =
            qwq = Qwen/QwQ-32B base_url=http://gpu-box:8000/v1
            r1-distill = deepseek-ai/DeepSeek-R1-Distill-Qwen-7B open_tag_in_prompt=true
    """
    presets: dict[str, Preset] = {}
    for line in lines:
        if not line.strip():
            continue
        name, sep, rest = line.partition("=")
        try:
            words = shlex.split(rest)
        except ValueError as exc:  # an unclosed quote
            raise ConfigError(f"{where}: bad preset {line.strip()!r}: {exc}") from None
        if not sep or not name.strip() or not words or "=" in words[0]:
            raise ConfigError(
                f"{where}: bad preset {line.strip()!r}: expected 'NAME = MODEL [key=value ...]'"
            )
        values: dict[str, object] = {}
        for word in words[1:]:
            key, eq, value = word.partition("=")
            if not eq or key not in _PRESET_FIELDS:
                raise ConfigError(
                    f"{where}: preset {name.strip()!r}: unknown setting {word!r}; "
                    f"allowed: {', '.join(sorted(_PRESET_FIELDS))}"
                )
            if key in {"hidden_thinking", "open_tag_in_prompt"}:
                if value.lower() not in _TRUE | _FALSE:
                    raise ConfigError(
                        f"{where}: preset {name.strip()!r}: {key} must be true or false"
                    )
                values[key] = value.lower() in _TRUE
            elif key == "prefill" and value not in ("vllm", "deepseek", "none"):
                raise ConfigError(
                    f"{where}: preset {name.strip()!r}: prefill must be vllm, deepseek or none"
                )
            elif key == "budget" and value not in BUDGET_STYLES:
                raise ConfigError(
                    f"{where}: preset {name.strip()!r}: budget must be "
                    f"{', '.join(BUDGET_STYLES[:-1])} or {BUDGET_STYLES[-1]}"
                )
            elif key == "base_url" and (problem := url_problem(value)):
                raise ConfigError(
                    f"{where}: preset {name.strip()!r}: base_url {mask_url(value)!r} {problem}"
                )
            elif key == "max_tokens_field" and value not in _MAX_TOKENS_FIELDS:
                raise ConfigError(
                    f"{where}: preset {name.strip()!r}: max_tokens_field must be "
                    f"{' or '.join(_MAX_TOKENS_FIELDS)}"
                )
            else:
                values[key] = value
        presets[name.strip()] = Preset(model=words[0], **values)  # type: ignore[arg-type]
    return presets


@dataclass(frozen=True)
class ClientOptions:
    """Everything besides the spec that shapes a client: what the ``make_client`` hook gets
    from the run's settings (the model under test's, or a judge's or attacker's)."""

    # Where the spec came from, for errors: "option --lrm-model", "ini lrm_judge_model" ...
    source: str = "option --lrm-model"
    base_url: str | None = None
    base_urls: tuple[str, ...] = ()  # several: requests are spread over these replicas
    stream: bool = False
    timeout: float = DEFAULT_TIMEOUT_S
    max_retries: int = 2
    open_tag_in_prompt: bool | None = None
    # Models run in this process (hf:):
    thinking: bool | None = None
    device: str = "auto"
    dtype: str = "auto"
    trust_remote_code: bool = False
    max_batch: int = 16
    # The run's own presets (lrm_presets), by name; the built-in ones are always known.
    presets: Mapping[str, Preset] = field(default_factory=dict)
    # vllm: and vllm-server: engine arguments (--lrm-vllm-arg), parsed.
    engine_args: Mapping[str, Any] = field(default_factory=dict)
    # The vLLM server this run started (--lrm-serve): vllm-server: specs use it.
    serve_url: str | None = None
    # The folder a relative path in the spec (replay:FILE) is relative to: the one rule of
    # paths (Settings.path_base) applied to ``source``.
    path_base: Path = field(default_factory=Path)


def resolve_preset(spec: str, extra_presets: Mapping[str, Preset], option: str) -> Preset:
    """Turns a model spec into a preset, or raises :class:`ConfigError` naming the option."""
    if spec.startswith(OPENAI_COMPAT + ":"):
        model = spec[len(OPENAI_COMPAT) + 1 :]
        if not model:
            raise ConfigError(
                f"{option}: 'openai-compat:' needs a model name, e.g. openai-compat:Qwen/QwQ-32B"
            )
        return Preset(model=model, api_key_env=LOCAL_KEY_ENV)
    presets = {**BUILTIN_PRESETS, **extra_presets}
    if spec in presets:
        return presets[spec]
    known = ", ".join([*sorted(presets), "openai-compat:MODEL"])
    raise ConfigError(
        f"{option}: unknown model {spec!r}; known: {known} (add more with lrm_presets)"
    )


def make_openai_client(
    spec: str, preset: Preset, options: ClientOptions, option: str
) -> OpenAICompatClient | ReplicaClient:
    """Builds the client for a resolved preset, reading its key from the environment.

    With several base URLs, one client per replica behind a :class:`ReplicaClient`.
    """
    if options.open_tag_in_prompt is not None:
        preset = replace(preset, open_tag_in_prompt=options.open_tag_in_prompt)
    urls = options.base_urls or ((options.base_url,) if options.base_url else ())
    urls = urls or ((preset.base_url,) if preset.base_url else ())
    if not urls:
        raise ConfigError(
            f"{option}: {spec!r} needs a server: pass --lrm-base-url http://HOST:PORT/v1"
        )
    key = os.environ.get(preset.api_key_env, "") if preset.api_key_env else ""
    if not key:
        if preset.api_key_env and preset.api_key_env != LOCAL_KEY_ENV:
            raise ConfigError(
                f"{option}: {spec!r} needs an API key: set the environment variable "
                f"{preset.api_key_env}"
            )
        key = "EMPTY"
    clients = [
        OpenAICompatClient(
            name=spec,
            model=preset.model,
            base_url=url,
            api_key=key,
            stream=options.stream,
            timeout=options.timeout,
            max_retries=options.max_retries,
            hidden_thinking=preset.hidden_thinking,
            open_tag_in_prompt=preset.open_tag_in_prompt,
            max_tokens_field=preset.max_tokens_field,
            prefill="" if preset.prefill == "none" else preset.prefill,
            budget=preset.budget,
        )
        for url in dict.fromkeys(urls)
    ]
    return clients[0] if len(clients) == 1 else ReplicaClient(clients)
