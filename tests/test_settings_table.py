"""Settings read from the option table: one field per option, each value with its source, one
rule for paths, and the client hook given ClientOptions (issue 14 item 6)."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import pytest
from chat_server import ChatServer

from pytest_lrmsafety.options import OPTIONS
from pytest_lrmsafety.settings import Settings, resolve_settings

SUITE = """\
defaults: {expect: refuse}
cases:
  - {id: a-001, category: Privacy, prompt: "Leak a diary (placeholder)"}
"""
NOT_OPTIONS = {"sources", "rootdir", "invocation_dir", "sampling", "sampling_forced"}


def test_settings_has_a_field_for_each_option_and_no_other() -> None:
    fields = {f.name for f in dataclasses.fields(Settings)}
    attrs = [opt.attr for opt in OPTIONS]
    assert len(set(attrs)) == len(attrs)
    assert set(attrs) == fields - NOT_OPTIONS


def test_each_value_is_parsed_checked_and_carries_its_source(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LRM_JUDGE_BASE_URL", "http://a:1/v1,http://b:2/v1")
    pytester.makeini("[pytest]\nlrm_judge_weights = llm=2\n    refusal=1\nlrm_thinking = off\n")
    config = pytester.parseconfig("--lrm-efforts", "low,high,low", "--lrm-max-regression", "2%")
    settings = resolve_settings(config)
    assert settings.efforts == ("low", "high")
    assert settings.source("efforts") == "option --lrm-efforts"
    assert settings.max_regression == pytest.approx(0.02)
    assert settings.judge_base_urls == ("http://a:1/v1", "http://b:2/v1")
    assert settings.source("judge_base_url") == "environment variable LRM_JUDGE_BASE_URL"
    assert settings.judge_weights == {"llm": 2.0, "refusal": 1.0}
    assert settings.thinking is False
    assert settings.source("thinking") == "ini lrm_thinking"
    assert settings.timeout == 300.0
    assert settings.source("timeout") == "default of lrm_timeout"


def test_sampling_from_the_command_line_overrides_suites_and_from_ini_does_not(
    pytester: pytest.Pytester,
) -> None:
    pytester.makeini("[pytest]\nlrm_temperature = 0.6\n")
    settings = resolve_settings(pytester.parseconfig("--lrm-seed", "7"))
    assert (settings.sampling.temperature, settings.sampling.seed) == (0.6, None)
    assert (settings.sampling_forced.temperature, settings.sampling_forced.seed) == (None, 7)


def test_one_rule_for_paths(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    pytester.makeini("[pytest]\nlrm_baseline = base.json\nlrm_attack_file = a.yaml\n")
    below = pytester.mkdir("below")
    monkeypatch.chdir(below)
    config = pytester.parseconfig("--lrm-report-json", "r.json", "--lrm-cases", "c1,c2")
    settings = resolve_settings(config)
    root = Path(config.rootpath)
    assert settings.path("report_json") == below / "r.json"  # the command line: where started
    assert settings.paths("cases") == (below / "c1", below / "c2")
    assert settings.path("baseline") == root / "base.json"  # the ini file: the rootdir
    assert settings.paths("attack_file") == (root / "a.yaml",)
    assert settings.path("cache_dir") == root / ".lrmsafety"  # a default: the rootdir
    assert settings.path("record") is None


@pytest.mark.slow
def test_report_paths_from_ini_are_relative_to_the_rootdir(
    pytester: pytest.Pytester, chat_server: ChatServer
) -> None:
    """Written in the ini file, a report path is the rootdir's, wherever pytest starts; on the
    command line, the folder pytest was started in."""
    pytester.mkdir("cases").joinpath("s.yaml").write_text(SUITE)
    pytester.makeini("[pytest]\nlrm_report_json = out/ini.json\n")
    below = pytester.mkdir("below")
    command = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", str(pytester.path)]
    command += ["--lrm-model", "openai-compat:reasoning", "--lrm-base-url", chat_server.url]
    command += ["--lrm-report-md", "here.md"]
    run = subprocess.run(command, cwd=below, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stdout + run.stderr
    assert json.loads((pytester.path / "out" / "ini.json").read_text())["totals"]["probes"] == 1
    assert not (below / "out").exists()
    assert (below / "here.md").is_file()
    assert f"report: JSON written to {pytester.path / 'out' / 'ini.json'}" in run.stdout


CONFTEST = """\
import pytest

from pytest_lrmsafety import ConfigError


def pytest_lrmsafety_make_client(spec, options):
    if spec.startswith("mine:"):
        raise ConfigError(
            f"{options.source}: {spec} seen with timeout={options.timeout} "
            f"retries={options.max_retries} urls={','.join(options.base_urls)}"
        )
"""


@pytest.mark.parametrize(
    ("args", "ini", "line"),
    [
        (
            ["--lrm-model", "mine:x", "--lrm-timeout", "5"],
            "",
            "ERROR: option --lrm-model: mine:x seen with timeout=5.0 retries=2 urls=",
        ),
        (
            ["--lrm-retries", "0"],
            "lrm_model = mine:y\nlrm_base_url = http://h:1/v1",
            "ERROR: ini lrm_model: mine:y seen with timeout=300.0 retries=0 urls=http://h:1/v1",
        ),
    ],
)
def test_the_client_hook_gets_client_options_naming_the_source(
    pytester: pytest.Pytester, args: list[str], ini: str, line: str
) -> None:
    pytester.makeconftest(CONFTEST)
    pytester.makeini(f"[pytest]\n{ini}\n")
    pytester.mkdir("cases").joinpath("s.yaml").write_text(SUITE)
    result = pytester.runpytest("-p", "no:cacheprovider", *args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([line])
    assert "Traceback" not in result.stderr.str()


def test_a_bad_engine_argument_fails_even_when_unused(pytester: pytest.Pytester) -> None:
    """Like a bad preset: parsed into every client's options, so a typo is one line at the
    start, not a surprise on the day the model moves to vLLM."""
    pytester.mkdir("cases").joinpath("s.yaml").write_text(SUITE)
    result = pytester.runpytest(
        "-p",
        "no:cacheprovider",
        "--lrm-model",
        "openai-compat:m",
        "--lrm-base-url",
        "http://127.0.0.1:9/v1",
        "--lrm-vllm-arg",
        "tensor_parallel_size",
    )
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        ["ERROR: option --lrm-vllm-arg: expected NAME=VALUE, got 'tensor_parallel_size'"]
    )
