"""The run's model clients: the model under test, and a client of its own for each other model
(judge, attacker, translator, victim), all made through the ``make_client`` hook; the vLLM
server ``--lrm-serve`` starts.

Each client is checked once before any probe (``engine/deployments.py``: a wrong model name
is one usage error, not one error per probe); errors name the option its spec came from.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from .engine.deployments import settle_deployment
from .errors import ConfigError
from .models.base import ModelClient, adopt_client
from .models.presets import BUILTIN_PRESETS, ClientOptions, parse_preset_lines
from .models.vllm_offline import parse_engine_args
from .models.vllm_server import PREFIX as SERVER_PREFIX
from .models.vllm_server import VLLMServer, reasoning_parser_for
from .settings import Settings

if TYPE_CHECKING:
    from .runtime import Runtime

SERVE_URL_KEY = "lrm_serve_url"  # workerinput: the server the controller started


def client_options(
    runtime: Runtime, source: str, urls: tuple[str, ...], *, under_test: bool = False
) -> ClientOptions:
    """What the ``make_client`` hook gets besides the spec: the run's settings a client
    needs, and ``source`` (the option the spec came from) for its errors. The model under
    test also takes the streaming and reasoning switches; a judge or attacker model does
    not."""
    s = runtime.settings
    shared = ClientOptions(
        source=source,
        base_urls=urls,
        timeout=s.timeout,
        max_retries=s.retries,
        device=s.device,
        dtype=s.dtype,
        trust_remote_code=s.trust_remote_code,
        max_batch=s.concurrency,
        # parsed for every client, so a bad preset or engine argument fails even if unused
        presets=parse_preset_lines(s.presets, s.source("presets")),
        engine_args=parse_engine_args(s.vllm_args, s.source("vllm_arg")),
        serve_url=runtime.serve_url,
        path_base=s.path_base(source),
    )
    if not under_test:
        return shared
    return replace(
        shared,
        stream=s.stream,
        open_tag_in_prompt=s.open_tag_in_prompt,
        thinking=s.thinking,
    )


def client_for(
    runtime: Runtime, spec: str, options: ClientOptions, *, under_test: bool = False
) -> ModelClient:
    """The client the ``make_client`` hook makes for ``spec``, adopted and checked against
    its server; the model under test's also opens the cache its deployment is keyed in."""
    config = runtime.config
    source = options.source  # --lrm-model, --lrm-judge-model, ...
    client: ModelClient | None = config.hook.pytest_lrmsafety_make_client(
        config=config, spec=spec, options=options
    )
    if client is None:
        raise ConfigError(f"{source}: no plugin can serve model {spec!r}")
    client = adopt_client(client, f"{source}: pytest_lrmsafety_make_client for {spec!r}")
    # One look at the server before any probe (a wrong model name is one usage error,
    # not one error per probe), and the deployment the cache keys name.
    s = runtime.settings
    started = None
    serve_url = runtime.serve_url
    if under_test and serve_url and client.endpoints == (serve_url,):
        started = {"server": "vllm", "vllm_args": list(s.vllm_args)}
    settle_deployment(
        client,
        source,
        revision=s.model_revision if under_test else None,
        started=started,
        read_only=s.cache == "ro",
        cache=runtime.open_cache(client) if under_test else None,
        check=not getattr(config.option, "collectonly", False),
        keyed_on_served=under_test,
    )
    return client


def client_under_test(runtime: Runtime) -> ModelClient | None:
    """The client for ``--lrm-model`` (``None`` without one)."""
    s = runtime.settings
    if not s.model:
        return None
    options = client_options(runtime, s.source("model"), s.base_urls, under_test=True)
    return client_for(runtime, s.model, options, under_test=True)


def judge_client(
    runtime: Runtime, spec: str | None, source: str, urls: tuple[str, ...], need: str
) -> ModelClient:
    """A model beside the one under test (judge, attacker, translator, victim): its own
    client; ``need`` is the usage error when no spec is set."""
    if not spec:
        raise ConfigError(need)
    return client_for(runtime, spec, client_options(runtime, source, urls))


def model_named(settings: Settings) -> str | None:
    """The model under test as named (``--lrm-model``, with the model a preset names):
    what ``hcot`` reads its family from."""
    spec = settings.model
    if not spec:
        return None
    try:
        presets = parse_preset_lines(settings.presets, settings.source("presets"))
    except ConfigError:
        presets = {}
    preset = presets.get(spec) or BUILTIN_PRESETS.get(spec)
    return f"{spec} {preset.model}" if preset is not None else spec


def serve_if_asked(runtime: Runtime) -> None:
    """``--lrm-serve``: start the vLLM server (controller), or take its URL (xdist
    worker); a failure is a usage error with the end of the server's log."""
    s = runtime.settings
    workerinput = getattr(runtime.config, "workerinput", None)
    if workerinput is not None and workerinput.get(SERVE_URL_KEY):
        runtime.serve_url = str(workerinput[SERVE_URL_KEY])
        return
    if not s.serve:
        return
    if not (s.model or "").startswith(SERVER_PREFIX):
        raise ConfigError(
            f"--lrm-serve starts a vLLM server for --lrm-model vllm-server:MODEL, not for "
            f"{s.model!r}"
        )
    model = s.model[len(SERVER_PREFIX) :]  # type: ignore[index]
    engine_args = parse_engine_args(s.vllm_args, s.source("vllm_arg"))
    runtime.server = server = VLLMServer(
        model,
        log_dir=runtime.cache_dir(),
        reasoning_parser=reasoning_parser_for(model, s.reasoning_parser),
        engine_args=engine_args,
        startup_timeout=float(s.serve_timeout),
    )
    try:
        server.start()
    except ConfigError:
        runtime.server = None
        raise
    runtime.serve_url = server.url
