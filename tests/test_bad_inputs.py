"""Issue 15's corpus of bad inputs: each file in ``tests/bad_inputs`` ends as one line
(``NAME.expect``: an fnmatch pattern, then the exit status), with no traceback.

``*.yaml`` goes through ``lrmsafety validate``, ``*.jsonl`` is replayed by pytest
(``--lrm-model replay:FILE``) and ``*.json`` is read back by ``lrmsafety report``.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from fnmatch import fnmatch
from pathlib import Path

import pytest

CORPUS = Path(__file__).parent / "bad_inputs"
INPUTS = sorted(p for p in CORPUS.iterdir() if p.suffix != ".expect")


def _command(path: Path) -> list[str]:
    if path.suffix == ".yaml":
        return [sys.executable, "-m", "pytest_lrmsafety.cli", "validate", path.name]
    if path.suffix == ".jsonl":
        model = f"replay:{path.name}"
        return [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--lrm-model", model]
    return [sys.executable, "-m", "pytest_lrmsafety.cli", "report", path.name]


@pytest.mark.parametrize("path", INPUTS, ids=[p.name for p in INPUTS])
def test_bad_input_gives_one_line(path: Path, tmp_path: Path) -> None:
    pattern, status = path.with_name(path.name + ".expect").read_text("utf-8").splitlines()[:2]
    shutil.copy(path, tmp_path / path.name)
    run = subprocess.run(
        _command(path), cwd=tmp_path, capture_output=True, text=True, timeout=60, check=False
    )
    lines = [line for line in (run.stdout + run.stderr).splitlines() if line.strip()]
    assert run.returncode == int(status), lines
    assert any(fnmatch(line, pattern) for line in lines), (pattern, lines)
    assert not any("Traceback" in line or "INTERNALERROR" in line for line in lines), lines
