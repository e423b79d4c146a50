"""The README's main command as a new user meets it: the wheel installed in a fresh venv, run
from an empty folder against a model server (the repository's test server), and an unrelated
project in the same venv.

It builds a wheel and installs it with its dependencies from the package index, so it takes a
minute and needs the index: CI runs it in its own stage (``LRM_WHEEL_TEST=1``); elsewhere it is
skipped with that reason.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from chat_server import ChatServer

REPO = Path(__file__).resolve().parent.parent

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        os.environ.get("LRM_WHEEL_TEST") != "1",
        reason="builds and installs the wheel (a minute, the package index): "
        "LRM_WHEEL_TEST=1 runs it",
    ),
]


@pytest.fixture(scope="module")
def venv_bin(tmp_path_factory: pytest.TempPathFactory) -> Path:
    where = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(where), str(REPO)],
        check=True,
    )
    wheel = next(where.glob("pytest_lrmsafety-*.whl"))
    subprocess.run([sys.executable, "-m", "venv", str(where / "venv")], check=True)
    bin_dir = where / "venv" / "bin"
    subprocess.run([str(bin_dir / "python"), "-m", "pip", "install", "-q", str(wheel)], check=True)
    return bin_dir


def run(bin_dir: Path, cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LRM_", "PYTEST_"))}
    return subprocess.run(
        [str(bin_dir / args[0]), *args[1:]],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
    )


def test_the_main_command_from_an_empty_folder(
    venv_bin: Path, tmp_path: Path, chat_server: ChatServer
) -> None:
    model = ["--lrm-model", "openai-compat:reasoning", f"--lrm-base-url={chat_server.url}"]
    done = run(venv_bin, tmp_path, "pytest", *model, "--lrm-report-json=out/report.json")
    out = done.stdout + done.stderr
    assert done.returncode == 1, out  # the test server over-refuses the benign look-alikes
    assert "lrm suites: the built-in starter suites (benign, harmful, injection)" in out
    assert "collected 367 items" in out
    assert "Traceback" not in out
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert len(report["probes"]) == 367
    assert report["partial"] is False

    # `lrmsafety init` copies the suites; the next run uses cases/ and says so
    init = run(venv_bin, tmp_path, "lrmsafety", "init")
    assert init.returncode == 0, init.stderr
    assert sorted(p.name for p in (tmp_path / "cases").iterdir()) == [
        "benign.yaml",
        "harmful.yaml",
        "injection.yaml",
    ]
    again = run(venv_bin, tmp_path, "pytest", *model, "-k", "weapons")
    assert "lrm suites: cases (default of lrm_cases)" in again.stdout, again.stdout


def test_help_and_an_unrelated_project(venv_bin: Path, tmp_path: Path) -> None:
    helped = run(venv_bin, tmp_path, "pytest", "--help")
    assert helped.returncode == 0, helped.stderr
    assert "--lrm-max-regression" in helped.stdout
    (tmp_path / "test_other.py").write_text("def test_one():\n    assert True\n")
    other = run(venv_bin, tmp_path, "pytest", "-q")
    assert other.returncode == 0, other.stdout + other.stderr
    assert "1 passed" in other.stdout
    assert "lrm" not in other.stdout
