"""How ``vllm-server:`` starts vLLM so that it enforces thinking budgets: the command line, and
the reasoning config's field names read from the installed vLLM. No vLLM needed (the server
itself runs in tests/test_vllm_backend.py's vLLM stage)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from pytest_lrmsafety.models.vllm_server import (
    VLLMServer,
    reasoning_config_fields,
    reasoning_parser_for,
)


def command(
    model: str, tmp_path: Path, parser: str | None = None, engine_args: dict[str, str] | None = None
) -> list[str]:
    chosen = reasoning_parser_for(model, parser)
    server = VLLMServer(model, log_dir=tmp_path, reasoning_parser=chosen, engine_args=engine_args)
    return server.command()


def flag(cmd: list[str], name: str) -> str | None:
    return cmd[cmd.index(name) + 1] if name in cmd else None


def fake_vllm(root: Path, reasoning_source: str | None) -> Path:
    """A ``vllm`` package on disk with (or without) a ``config/reasoning.py``: only its text is
    read, never run."""
    package = root / "vllm"
    (package / "config").mkdir(parents=True)
    (package / "__init__.py").write_text("raise ImportError('never imported')\n")
    if reasoning_source is not None:
        (package / "config" / "reasoning.py").write_text(reasoning_source)
    return root


@pytest.mark.parametrize(
    ("model", "chosen", "parser"),
    [
        ("deepseek-ai/DeepSeek-R1-Distill-Qwen-1.5B", None, "deepseek_r1"),
        ("Qwen/Qwen3-0.6B", None, "qwen3"),
        ("Qwen/QwQ-32B", None, "deepseek_r1"),
        ("my-org/reasoner-7b", None, None),  # no family: the trace split from the text
        ("deepseek-ai/DeepSeek-R1", "none", None),
    ],
)
def test_a_think_tag_model_is_served_with_the_budget_reasoning_config(
    model: str, chosen: str | None, parser: str | None, tmp_path: Path
) -> None:
    cmd = command(model, tmp_path, parser=chosen)
    assert flag(cmd, "--reasoning-parser") == parser
    start, end = reasoning_config_fields() or ("?", "?")
    config = flag(cmd, "--reasoning-config")
    assert config is not None and json.loads(config) == {start: "<think>", end: "</think>"}


def test_no_reasoning_config_without_think_tags_or_when_the_user_gives_one(
    tmp_path: Path,
) -> None:
    assert "--reasoning-config" not in command("openai/gpt-oss-20b", tmp_path)  # channels
    seed = command("ByteDance-Seed/Seed-OSS-36B", tmp_path, parser="seed_oss")
    assert "--reasoning-config" not in seed  # its parser names its own strings
    theirs = '{"reasoning_start_str": "<seed:think>", "reasoning_end_str": "</seed:think>"}'
    cmd = command("Qwen/Qwen3-8B", tmp_path, engine_args={"reasoning_config": theirs})
    assert cmd.count("--reasoning-config") == 1 and flag(cmd, "--reasoning-config") == theirs


def test_the_field_names_follow_the_installed_vllm(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    current = "class ReasoningConfig:\n    reasoning_start_str: str = ''\n"
    older = "class ReasoningConfig:\n    think_start_str: str | None = None\n"
    cases = [("current", current), ("older", older), ("none", None)]
    found = {}
    for name, source in cases:
        root = fake_vllm(tmp_path / name, source)
        with monkeypatch.context() as patch:
            patch.syspath_prepend(str(root))
            for module in [m for m in sys.modules if m == "vllm" or m.startswith("vllm.")]:
                patch.delitem(sys.modules, module)
            found[name] = reasoning_config_fields()
            if name == "older":
                cmd = command("Qwen/Qwen3-8B", tmp_path)
                config = json.loads(flag(cmd, "--reasoning-config") or "{}")
                assert config == {"think_start_str": "<think>", "think_end_str": "</think>"}
            if name == "none":  # a vLLM without a reasoning config: nothing it would refuse
                assert "--reasoning-config" not in command("Qwen/Qwen3-8B", tmp_path)
    assert found == {
        "current": ("reasoning_start_str", "reasoning_end_str"),
        "older": ("think_start_str", "think_end_str"),
        "none": None,
    }
    # a server run by another interpreter: the current names, its vLLM unread
    other = reasoning_config_fields("/opt/other/bin/python")
    assert other == ("reasoning_start_str", "reasoning_end_str")
