"""tests/interruptible.py: a child that a test stops with SIGINT gets Python's default handler
even when whatever launched the tests ignores SIGINT (nohup, a CI runner, ``cmd &``)."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import pytest
from interruptible import python_command

CHILD = """\
import signal, sys, time
named = {signal.SIG_IGN: "ignored", signal.default_int_handler: "raises"}
try:  # the line inside the try: a SIGINT that follows it at once is caught too
    print(named.get(signal.getsignal(signal.SIGINT)), flush=True)
    time.sleep(60)
except KeyboardInterrupt:
    print("interrupted", flush=True)
    sys.exit(3)
"""

# Starts the rest of its command line with SIGINT ignored, as nohup or a CI runner would.
IGNORING = (
    "import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_IGN); "
    "os.execv(sys.argv[1], sys.argv[1:])"
)


def _launched_ignoring_sigint(command: list[str], cwd: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", IGNORING, *command], cwd=cwd, stdout=subprocess.PIPE, text=True
    )


@pytest.mark.parametrize("form", ["script", "module"])
def test_a_child_under_a_launcher_that_ignores_sigint_is_interrupted(
    tmp_path: Path, form: str
) -> None:
    (tmp_path / "child.py").write_text(CHILD)
    args = ["child.py"] if form == "script" else ["-m", "child"]
    plain = _launched_ignoring_sigint([sys.executable, *args], tmp_path)
    try:  # the failure python_command prevents: the child inherits SIG_IGN
        assert plain.stdout is not None
        assert plain.stdout.readline().strip() == "ignored"
    finally:
        plain.kill()
        plain.communicate(timeout=30)
    child = _launched_ignoring_sigint(python_command(*args), tmp_path)
    try:
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "raises"
        child.send_signal(signal.SIGINT)
        assert child.communicate(timeout=30)[0] == "interrupted\n"  # the timeout: a hang guard
        assert child.returncode == 3
    finally:
        child.kill()


def test_a_command_needs_a_module_or_a_script() -> None:
    with pytest.raises(ValueError, match="'-m MODULE' or a script"):
        python_command("-m")
