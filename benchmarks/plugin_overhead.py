"""What an installed but unused plugin costs an unrelated pytest project.

An unrelated project of 10 trivial tests is run with the plugin loaded (as pip installs it,
through its pytest11 entry point) and with it blocked (``-p no:lrmsafety``), interleaved, and
the medians are compared. The goal (issue 12): at most +0.05 s.

    python benchmarks/plugin_overhead.py                  # this environment
    python benchmarks/plugin_overhead.py --fresh-venv     # a new venv with the wheel, as a user

``--fresh-venv`` builds the wheel, makes a venv in a temporary folder and installs the wheel
there (its dependencies from the package index), so that nothing else installed in the
development environment (hypothesis's pytest plugin, for one) is measured with it.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent.parent

PROJECT = """\
import pytest


@pytest.mark.parametrize("i", range(10))
def test_unrelated(i):
    assert i * i >= 0
"""


def fresh_venv(where: Path) -> Path:
    """A venv with the wheel of this checkout installed; returns its python."""
    wheels = where / "wheels"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(wheels), str(HERE)],
        check=True,
    )
    venv = where / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = venv / "bin" / "python"
    wheel = next(wheels.glob("pytest_lrmsafety-*.whl"))
    subprocess.run([str(python), "-m", "pip", "install", "-q", str(wheel)], check=True)
    return python


def run_once(python: Path, project: Path, *extra: str) -> float:
    start = time.perf_counter()
    subprocess.run(
        [str(python), "-m", "pytest", "-q", "-p", "no:cacheprovider", *extra],
        cwd=project,
        check=True,
        stdout=subprocess.DEVNULL,
    )
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--python", type=Path, default=Path(sys.executable))
    parser.add_argument("--fresh-venv", action="store_true", help="build and install the wheel")
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        python = fresh_venv(Path(tmp)) if args.fresh_venv else args.python
        project = Path(tmp) / "project"
        project.mkdir()
        (project / "test_unrelated.py").write_text(PROJECT)
        run_once(python, project)  # warm the file cache and write .pyc files
        run_once(python, project, "-p", "no:lrmsafety")
        loaded: list[float] = []
        blocked: list[float] = []
        for _ in range(args.runs):  # interleaved, so that a noisy moment hits both
            loaded.append(run_once(python, project))
            blocked.append(run_once(python, project, "-p", "no:lrmsafety"))
        imported = import_cost(python, project)
    with_plugin = statistics.median(loaded)
    without = statistics.median(blocked)
    paired = statistics.median(a - b for a, b in zip(loaded, blocked, strict=True))
    print(f"python: {python}")
    print(f"unrelated project, 10 tests, median of {args.runs}:")
    print(f"  plugin blocked (-p no:lrmsafety): {without:.3f} s")
    print(f"  plugin installed and unused:      {with_plugin:.3f} s")
    print(f"  cost of the plugin (paired):      {paired:+.3f} s (goal <= +0.050)")
    print(f"  the plugin's own imports:         {imported * 1000:.1f} ms (python -X importtime)")
    return 0


def import_cost(python: Path, project: Path) -> float:
    """Seconds the plugin's modules take to import in an unused run (``-X importtime``):
    a figure that machine load does not blur as much as wall time."""
    done = subprocess.run(
        [str(python), "-X", "importtime", "-m", "pytest", "-q", "-p", "no:cacheprovider"],
        cwd=project,
        capture_output=True,
        text=True,
        check=True,
    )
    total = 0
    for line in done.stderr.splitlines():
        parts = line.split("|")
        # top-level entries only (nested ones are indented): their cumulative time
        if len(parts) == 3 and parts[2].startswith(" pytest_lrmsafety"):
            total += int(parts[1])
    return total / 1e6


if __name__ == "__main__":
    raise SystemExit(main())
