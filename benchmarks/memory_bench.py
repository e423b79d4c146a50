"""Memory of a run at scale (issue 15, item 12), against a local server with no latency.

Measures, in one sitting (see benchmarks/RESULTS.md for the figures and the machine):

1. A run of ``--probes`` probes (default 20,000: 5,000 cases x the 4 attacks of
   engine_bench.py) with answers of realistic length (about 1.2 KB of thinking and 0.6 to
   1.5 KB of answer), a fifth of the cases answered with compliance (their probes fail), a
   JSON report: the child's peak RSS (``VmHWM``), and its RSS sampled from ``/proc`` against
   the requests the server has answered, so the growth per probe during the run and what the
   report adds at the end are told apart. ``--tb=no``: pytest's failure summary looks for
   each failure's teardown sections among all the reports kept (failures x tests: minutes
   of CPU at 20,000 probes with 3,000 failing, plain pytest too; seconds since the plugin
   lets go of its probes' passing setup and teardown reports), which is not memory.
2. ``--collect-only`` of ``--collect`` probes (default 100,000) against a plain
   ``pytest.mark.parametrize`` of as many tests: time and peak RSS, best of two.

    python benchmarks/memory_bench.py [--probes N] [--collect N] [--only run|collect]
        [--before PATH] [--junit]

``--before PATH`` also measures the plugin's package copied to ``PATH/pytest_lrmsafety``
(the code before a change), in the same sitting.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))
sys.path.insert(0, str(HERE))

from chat_server import ChatServer, Reply  # noqa: E402
from engine_bench import ATTACKS, start_pytest, write_plain, write_suite  # noqa: E402

FAIL_MARK = "(comply)"
THINKING = (
    "The user is asking for something that could cause real harm if I answered it in full. "
    "Let me think about what they want, whether there is a safe reading of the request, and "
    "what the policy says about requests of this kind. "
) * 5  # about 1.2 KB
REFUSAL = (
    "I can't help with that. This request asks for information that could be used to hurt "
    "people, so I will not provide it; if you are working on something legitimate, I am glad "
    "to help with safer, general background instead. "
) * 3  # about 0.7 KB
COMPLIANCE = (
    "Sure, here is how to do it. Step 1: gather the materials listed below and check each "
    "one. Step 2: proceed carefully, following the order given, and note every result. "
) * 9  # about 1.5 KB


@dataclass
class Measured:
    wall_s: float
    cpu_s: float
    max_rss_mb: float
    output: str
    # (seconds since start, RSS MB, requests the server answered by then)
    samples: list[tuple[float, float, int]] = field(default_factory=list)


def rss_mb(pid: int) -> tuple[float, float] | None:
    """The process's RSS and its peak RSS (``VmHWM``) now, in MB.

    ``VmHWM`` rather than ``wait4``'s ``ru_maxrss``: a child started by ``vfork`` + exec
    inherits the parent's peak in ``ru_maxrss``, so a benchmark process that grew (the
    server's logs) would floor every later child's figure at its own size.
    """
    found: dict[str, float] = {}
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as status:
            for line in status:
                if line.startswith(("VmRSS:", "VmHWM:")):
                    found[line[:5]] = int(line.split()[1]) / 1024.0
    except OSError:
        return None
    if "VmRSS" not in found or "VmHWM" not in found:
        return None
    return found["VmRSS"], found["VmHWM"]


def measure(
    cwd: Path, *args: str, code: Path | None = None, server: ChatServer | None = None
) -> Measured:
    """One pytest subprocess: wall time, CPU, peak RSS, and RSS sampled every 50 ms."""
    started = time.perf_counter()
    process = start_pytest(cwd, *args, code=code)
    samples: list[tuple[float, float, int]] = []
    peak = [0.0]  # the last VmHWM read: the peak but for the last 50 ms
    stop = threading.Event()

    def sample() -> None:
        while not stop.wait(0.05):
            value = rss_mb(process.pid)
            if value is not None:
                answered = len(server.log) if server is not None else 0
                samples.append((time.perf_counter() - started, value[0], answered))
                peak[0] = max(peak[0], value[1])

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    assert process.stdout is not None
    output = process.stdout.read()
    stop.set()  # before the wait: the last samples are still of the live process
    sampler.join()
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - started
    exit_code = os.waitstatus_to_exitcode(status)
    if exit_code not in (0, 1):
        raise SystemExit(f"pytest {' '.join(args)} exited {exit_code}:\n{output[-3000:]}")
    return Measured(wall, usage.ru_utime + usage.ru_stime, peak[0], output, samples)


def write_probe_suite(folder: Path, cases: int, failing: float = 0.2) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    lines = [
        "defaults: {expect: refuse, category: Privacy, judges: [refusal], attacks: ["
        + ", ".join(ATTACKS)
        + "]}",
        "cases:",
    ]
    for i in range(cases):
        mark = FAIL_MARK if int((i + 1) * failing) > int(i * failing) else "(placeholder)"
        lines.append(f'  - {{id: m-{i:06d}, prompt: "Memory benchmark request {i} {mark}"}}')
    (folder / "memory.yaml").write_text("\n".join(lines) + "\n")


def curve(run: Measured, planned: int) -> str:
    """RSS when the server had answered 1%, 25%, 50%, 75% and all of the requests, the growth
    per probe between 25% and 100%, and the peak after the last answer (the report)."""
    points = []
    at: dict[int, float] = {}
    for share in (1, 25, 50, 75, 100):
        need = max(1, planned * share // 100)
        hit = next((rss for _, rss, n in run.samples if n >= need), None)
        if hit is not None:
            at[share] = hit
            points.append(f"{share}%: {hit:.0f}")
    growth = ""
    if 25 in at and 100 in at:
        kb = (at[100] - at[25]) * 1024.0 / (planned * 0.75)
        growth = f"; growth 25%->100%: {kb:.1f} KB per probe"
    after = [rss for _, rss, n in run.samples if n >= planned]
    tail = f"; peak after the last answer (report): {max(after):.0f} MB" if after else ""
    return f"RSS MB at answered share {', '.join(points)}{growth}{tail}"


def run_section(root: Path, probes: int, before: Path | None, junit: bool, tb: str = "no") -> None:
    import json

    server = ChatServer().start()
    try:
        server.default = Reply(thinking=THINKING, answer=REFUSAL)
        server.add_rule(FAIL_MARK, thinking=THINKING, answer=COMPLIANCE)
        cases = probes // len(ATTACKS)
        project = root / "run"
        write_probe_suite(project / "cases", cases)
        n = cases * len(ATTACKS)
        report = project / "report.json"
        args = [
            "--lrm-model", "openai-compat:reasoning", "--lrm-base-url", server.url,
            "-q", f"--tb={tb}", "--lrm-progress", "off", "--lrm-concurrency", "16",
            "--lrm-report-json", str(report),
        ]  # fmt: skip
        if junit:
            args += ["--junitxml", str(project / "junit.xml")]
        print(
            f"\n1. a run of {n} probes ({cases} cases x {len(ATTACKS)} attacks), answers "
            f"{len(THINKING)} B thinking + {len(REFUSAL)}/{len(COMPLIANCE)} B answer, "
            f"JSON report{' and JUnit XML' if junit else ''}"
        )
        for label, code in (("after", None), ("before", before)):
            if label == "before" and code is None:
                continue
            for stale in project.glob(".lrm*"):  # a fresh cache: every probe generated
                shutil.rmtree(stale) if stale.is_dir() else stale.unlink()
            server.reset()
            run = measure(project, *args, code=code, server=server)
            written = json.loads(report.read_text("utf-8"))
            print(
                f"   {label}: wall {run.wall_s:.1f} s, CPU {run.cpu_s:.1f} s, peak RSS "
                f"{run.max_rss_mb:.0f} MB; {len(written['probes'])} probes in the report "
                f"({report.stat().st_size / 1e6:.1f} MB); summary: "
                f"{run.output.strip().splitlines()[-1]}"
            )
            print(f"   {curve(run, n)}", flush=True)
    finally:
        server.stop()


def collect_section(root: Path, probes: int, before: Path | None) -> None:
    cases = probes // len(ATTACKS)
    n = cases * len(ATTACKS)
    big = root / "collect"
    write_suite(big / "cases", cases, ATTACKS)
    model = ["--lrm-model", "openai-compat:reasoning", "--lrm-base-url", "http://127.0.0.1:9/v1"]
    plain = root / "plain"
    write_plain(plain, n)

    def best(cwd: Path, *args: str, code: Path | None = None) -> Measured:
        return min((measure(cwd, *args, code=code) for _ in range(2)), key=lambda r: r.wall_s)

    print(f"\n2. --collect-only of {n} probes ({cases} cases x {len(ATTACKS)} attacks), best of 2")
    floor = best(plain, "--collect-only", "-q")
    print(f"   plain parametrize: {floor.wall_s:.2f} s, peak RSS {floor.max_rss_mb:.0f} MB")
    for label, code in (("after", None), ("before", before)):
        if label == "before" and code is None:
            continue
        run = best(big, *model, "--collect-only", "-q", code=code)
        print(
            f"   {label}: {run.wall_s:.2f} s ({run.wall_s / floor.wall_s:.2f}x), peak RSS "
            f"{run.max_rss_mb:.0f} MB ({run.max_rss_mb / floor.max_rss_mb:.2f}x); target <= 1.5x"
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--probes", type=int, default=20000)
    parser.add_argument("--collect", type=int, default=100000)
    parser.add_argument("--only", choices=("run", "collect"))
    parser.add_argument("--before", type=Path, help="a folder holding the old pytest_lrmsafety")
    parser.add_argument("--junit", action="store_true", help="also write --junitxml")
    parser.add_argument(
        "--tb", default="no", help="pytest's --tb (short: time the failure summary)"
    )
    args = parser.parse_args()
    print(f"{platform.platform()}, {os.cpu_count()} CPUs, Python {platform.python_version()}")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        if args.only in (None, "run"):
            run_section(root, args.probes, args.before, args.junit, args.tb)
        if args.only in (None, "collect"):
            collect_section(root, args.collect, args.before)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
