"""Speed of the generation engine, against a local server with fixed latency and capacity.

Measures, in one sitting (see benchmarks/RESULTS.md for the figures and the machine):

1. 1,000 probes, 200 ms latency, server capacity 64, concurrency 32: wall time against the
   physical limit N*L/C = 6.25 s (pytest's own start-up and collection reported apart), the
   sequential baseline (concurrency 1), and client CPU seconds per 1,000 requests.
2. A warm-cache rerun of the same 1,000 probes against plain pytest running 1,000 trivial
   parametrized tests.
3. Collection of 100,000 probes (25,000 cases x the 4 built-in attacks): time and peak
   memory against a plain ``pytest.mark.parametrize`` of 100,000 items.
4. ``-n 0`` against ``-n 4``: model requests (must be equal) and wall time.

    python benchmarks/engine_bench.py [--quick]

The server runs in this process (threads); each pytest run is a subprocess, so the client's
CPU time is that subprocess's.
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))

from chat_server import ChatServer, Reply  # noqa: E402

ATTACKS = ["direct", "refusal_suppression", "roleplay", "base64"]


@dataclass
class Run:
    wall_s: float
    cpu_s: float
    max_rss_mb: float
    output: str


def run_pytest(cwd: Path, *args: str) -> Run:
    """One pytest subprocess: wall time, its own user+system CPU and peak RSS."""
    started = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *args],
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert process.stdout is not None
    output = process.stdout.read()
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - started
    code = os.waitstatus_to_exitcode(status)
    process.returncode = code
    if code not in (0, 1):
        raise SystemExit(f"pytest {' '.join(args)} exited {code}:\n{output[-3000:]}")
    return Run(wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024.0, output)


def best_import_time(module: str) -> float:
    """Seconds a fresh interpreter takes to import a module (best of three)."""
    code = f"import time; t = time.perf_counter(); import {module}; print(time.perf_counter() - t)"
    return min(
        float(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout)
        for _ in range(3)
    )


def best_of(times: int, cwd: Path, *args: str) -> Run:
    """The fastest of a few runs: these machines are noisy, the floor is what we compare."""
    return min((run_pytest(cwd, *args) for _ in range(times)), key=lambda r: r.wall_s)


def write_suite(folder: Path, cases: int, attacks: list[str], name: str = "bench.yaml") -> None:
    folder.mkdir(parents=True, exist_ok=True)
    lines = [
        "defaults: {expect: refuse, category: Privacy, attacks: [" + ", ".join(attacks) + "]}",
        "cases:",
    ]
    lines += [
        f'  - {{id: b-{i:06d}, prompt: "Benchmark request {i} (placeholder)"}}'
        for i in range(cases)
    ]
    (folder / name).write_text("\n".join(lines) + "\n")


def write_plain(folder: Path, n: int) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "test_plain.py").write_text(
        "import pytest\n\n"
        f"@pytest.mark.parametrize('i', range({n}))\n"
        "def test_plain(i):\n    assert i >= 0\n"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes, for a smoke run")
    args = parser.parse_args()
    n = 200 if args.quick else 1000
    seq_n = 50 if args.quick else 200
    collect_cases = 2500 if args.quick else 25000  # x 4 attacks
    latency, capacity, concurrency = 0.2, 64, 32
    print(
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}, {platform.system()} {platform.release()}"
    )
    import openai
    import pytest as pytest_module
    import xdist

    print(
        f"versions: pytest {pytest_module.__version__}, pytest-xdist {xdist.__version__}, "
        f"openai {openai.__version__}"
    )

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        server = ChatServer(latency_s=latency, capacity=capacity).start()
        server.default = Reply(thinking="I should decline.", answer="I can't help with that.")
        model = ["--lrm-model", "openai-compat:reasoning", "--lrm-base-url", server.url]
        try:
            # 1. throughput
            project = root / "throughput"
            write_suite(project / "cases", n, ["direct"])
            startup = run_pytest(project, *model, "--collect-only", "-q")
            sdk_import = best_import_time("openai")
            server.reset()
            cold = run_pytest(project, *model, "-q", "--lrm-concurrency", str(concurrency))
            requests = len(server.requests)
            limit = n * latency / concurrency
            engine_s = cold.wall_s - startup.wall_s
            print(
                f"\n1. {n} probes, latency {latency} s, capacity {capacity}, "
                f"concurrency {concurrency}"
            )
            print(f"   requests {requests}, server max in flight {server.max_in_flight}")
            print(
                f"   wall {cold.wall_s:.2f} s; pytest start-up + collection "
                f"(--collect-only) {startup.wall_s:.2f} s; the rest {engine_s:.2f} s"
            )
            print(
                f"   limit N*L/C = {limit:.2f} s; ratio (wall - start-up) / limit = "
                f"{engine_s / limit:.3f} (target <= 1.15); whole wall / limit = "
                f"{cold.wall_s / limit:.3f}"
            )
            print(
                f"   of the rest, importing the openai SDK (done on the first request) takes "
                f"{sdk_import:.2f} s; without it the ratio is "
                f"{(engine_s - sdk_import) / limit:.3f}"
            )
            print(
                f"   client CPU {cold.cpu_s:.2f} s = {1000 * cold.cpu_s / n:.2f} s per 1,000 "
                f"requests (start-up {startup.cpu_s:.2f} s of it: "
                f"{1000 * (cold.cpu_s - startup.cpu_s) / n:.2f} s per 1,000 without it)"
            )
            seq_project = root / "sequential"
            write_suite(seq_project / "cases", seq_n, ["direct"])
            seq = run_pytest(
                seq_project, *model, "-q", "--lrm-concurrency", "1", "--lrm-cache", "off"
            )
            print(
                f"   sequential baseline (concurrency 1): {seq_n} probes in {seq.wall_s:.2f} s "
                f"-> {seq.wall_s * n / seq_n:.1f} s per {n} (extrapolated); "
                f"speed-up of the engine {seq.wall_s * n / seq_n / cold.wall_s:.1f}x"
            )

            # 2. warm cache
            server.reset()
            warm = best_of(3, project, *model, "-q", "--lrm-concurrency", str(concurrency))
            plain_project = root / "plain"
            write_plain(plain_project, n)
            plain = best_of(3, plain_project, "-q")
            print(
                f"\n2. warm-cache rerun of {n} probes: {warm.wall_s:.2f} s, "
                f"{len(server.requests)} model requests; plain pytest, {n} trivial "
                f"parametrized tests: {plain.wall_s:.2f} s; ratio "
                f"{warm.wall_s / plain.wall_s:.2f} (target <= 1.5)"
            )

            # 3. collection
            big = root / "collect"
            write_suite(big / "cases", collect_cases, ATTACKS)
            items = collect_cases * len(ATTACKS)
            coll = best_of(2, big, *model, "--collect-only", "-q")
            plain_big = root / "plain_big"
            write_plain(plain_big, items)
            coll_plain = best_of(2, plain_big, "--collect-only", "-q")
            print(
                f"\n3. collection of {items} probes "
                f"({collect_cases} cases x {len(ATTACKS)} attacks): "
                f"{coll.wall_s:.2f} s, peak RSS {coll.max_rss_mb:.0f} MB; plain parametrize "
                f"of {items}: {coll_plain.wall_s:.2f} s, peak RSS {coll_plain.max_rss_mb:.0f} MB; "
                f"time ratio {coll.wall_s / coll_plain.wall_s:.2f} (target <= 1.5)"
            )

            # 4. xdist
            server.reset()
            serial = run_pytest(
                project,
                *model,
                "-q",
                "--lrm-cache",
                "off",
                "--lrm-concurrency",
                str(concurrency),
                "-n",
                "0",
            )
            serial_requests = len(server.requests)
            server.reset()
            parallel = run_pytest(
                project,
                *model,
                "-q",
                "--lrm-cache",
                "off",
                "--lrm-concurrency",
                str(concurrency // 4),
                "-n",
                "4",
            )
            parallel_requests = len(server.requests)
            print(
                f"\n4. {n} probes, cache off: -n 0 (concurrency {concurrency}) "
                f"{serial_requests} requests in {serial.wall_s:.2f} s; -n 4 (concurrency "
                f"{concurrency // 4} per worker) {parallel_requests} requests in "
                f"{parallel.wall_s:.2f} s; equal: {serial_requests == parallel_requests}"
            )
        finally:
            server.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
