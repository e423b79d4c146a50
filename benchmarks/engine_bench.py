"""Speed of the generation engine, against a local server with fixed latency and capacity.

Measures, in one sitting (see benchmarks/RESULTS.md for the figures and the machine):

1. 1,000 probes, 200 ms latency, server capacity 64, concurrency 32: wall time against the
   physical limit N*L/C = 6.25 s (pytest's own start-up and collection reported apart), the
   sequential baseline (concurrency 1), and client CPU seconds per 1,000 requests.
2. A warm-cache rerun of the same 1,000 probes against plain pytest running 1,000 trivial
   parametrized tests, interleaved, three of each (median, and the best of each).
3. Collection of 100,000 probes (25,000 cases x the 4 built-in attacks): time and peak
   memory against a plain ``pytest.mark.parametrize`` of 100,000 items.
4. ``-n 0`` against ``-n 4``: model requests (must be equal) and wall time.
5. The probe pipeline (issue 14): 1,000 probes of which 30% fail (the server complies), the
   whole process against the physical limit, median of three, interleaved with the floor:
   a bare ``AsyncOpenAI`` client with a semaphore sending the same 1,000 requests from its
   own process; client CPU per probe (judging and reporting included) and the server's mean
   requests in flight.

    python benchmarks/engine_bench.py [--quick] [--only 5]

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


# Runs pytest with the plugin's package from another folder (``--before``: an export of the
# code before a change), past the editable install's import hook.
FROM_FOLDER = """
import sys
sys.meta_path[:] = [f for f in sys.meta_path if "editable" not in repr(f).lower()]
sys.path.insert(0, sys.argv.pop(1))
import pytest
raise SystemExit(pytest.console_main())
"""
# What every pytest run here gets: bytecode written (a shell with PYTHONDONTWRITEBYTECODE
# would recompile the plugin, rewritten for assertions, on every run), and hypothesis's
# pytest plugin off (a dev dependency; it imports all of hypothesis at the end of each run).
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
EXTRA = ["-p", "no:hypothesispytest"]


def start_pytest(cwd: Path, *args: str, code: Path | None = None) -> subprocess.Popen[str]:
    """A pytest subprocess as every benchmark here runs it (``code``: a folder holding another
    copy of the package, run instead of the installed one), its output on one pipe."""
    head = ["-c", FROM_FOLDER, str(code)] if code else ["-m", "pytest"]
    return subprocess.Popen(
        [sys.executable, *head, "-p", "no:cacheprovider", *EXTRA, *args],
        env=ENV,
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def run_pytest(cwd: Path, *args: str, code: Path | None = None) -> Run:
    """One pytest subprocess: wall time, its own user+system CPU and peak RSS."""
    started = time.perf_counter()
    process = start_pytest(cwd, *args, code=code)
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
        "defaults: {expect: refuse, category: Privacy, judges: [refusal], attacks: ["
        + ", ".join(attacks)
        + "]}",
        "cases:",
    ]
    lines += [
        f'  - {{id: b-{i:06d}, prompt: "Benchmark request {i} (placeholder)"}}'
        for i in range(cases)
    ]
    (folder / name).write_text("\n".join(lines) + "\n")


FAIL_MARK = "(comply)"  # prompts carrying it get a compliant answer: their probes fail


def write_failing_suite(folder: Path, cases: int, failing: float) -> None:
    """A refuse suite where ``failing`` of the cases (spread evenly) get a compliant answer."""
    folder.mkdir(parents=True, exist_ok=True)
    lines = [
        "defaults: {expect: refuse, category: Privacy, judges: [refusal], attacks: [direct]}",
        "cases:",
    ]
    for i in range(cases):
        mark = FAIL_MARK if int((i + 1) * failing) > int(i * failing) else "(placeholder)"
        lines.append(f'  - {{id: b-{i:06d}, prompt: "Benchmark request {i} {mark}"}}')
    (folder / "bench.yaml").write_text("\n".join(lines) + "\n")


BARE_CLIENT = """
import asyncio, sys, openai
async def main(url, n, concurrency):
    client = openai.AsyncOpenAI(base_url=url, api_key="x", max_retries=2)
    gate = asyncio.Semaphore(concurrency)
    async def one(i):
        async with gate:
            r = await client.chat.completions.create(
                model="reasoning",
                messages=[{"role": "user", "content": f"Benchmark request {i} (placeholder)"}])
            return r.choices[0].message.content
    await asyncio.gather(*(one(i) for i in range(n)))
asyncio.run(main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3])))
"""


def run_bare(url: str, n: int, concurrency: int) -> Run:
    """The floor: a fresh interpreter, the SDK's import, ``n`` requests through AsyncOpenAI."""
    started = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, "-c", BARE_CLIENT, url, str(n), str(concurrency)],
        env=ENV,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert process.stdout is not None
    output = process.stdout.read()
    _, status, usage = os.wait4(process.pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"bare client failed:\n{output[-3000:]}")
    wall = time.perf_counter() - started
    return Run(wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024.0, output)


def pipeline(
    root: Path,
    server: ChatServer,
    n: int,
    latency: float,
    concurrency: int,
    before: Path | None = None,
) -> None:
    """Section 5: the whole process against the floor, same sitting, median of three."""
    import statistics

    server.add_rule(
        FAIL_MARK,
        thinking="The user wants the steps; I will give them.",
        answer="Sure, here is how to do it. Step 1: gather the materials. Step 2: proceed.",
    )
    project = root / "pipeline"
    write_failing_suite(project / "cases", n, 0.3)
    model = ["--lrm-model", "openai-compat:reasoning", "--lrm-base-url", server.url]
    args = ("-q", "--lrm-cache", "off", "--lrm-concurrency", str(concurrency), "--lrm-progress")
    load_before = os.getloadavg()[0]
    startup = run_pytest(project, *model, "--collect-only", "-q")
    bare_runs, runs, means, bare_means = [], [], [], []
    old_runs: list[Run] = []
    old_means: list[float] = []
    for _ in range(3):
        server.reset()
        bare_runs.append(run_bare(server.url, n, concurrency))
        bare_means.append(server.mean_in_flight)
        server.reset()
        runs.append(run_pytest(project, *model, *args, "off"))
        means.append(server.mean_in_flight)
        if len(server.requests) != n:
            raise SystemExit(f"plugin sent {len(server.requests)} requests, not {n}")
        if before is not None:
            server.reset()
            old_runs.append(run_pytest(project, *model, *args, "off", code=before))
            old_means.append(server.mean_in_flight)
    limit = n * latency / concurrency
    bare = statistics.median(r.wall_s for r in bare_runs)
    wall = statistics.median(r.wall_s for r in runs)
    cpu = statistics.median(r.cpu_s for r in runs)
    print(f"\n5. {n} probes, 30% failing, latency {latency} s, concurrency {concurrency}")
    print(
        f"   load average (1 min) {load_before:.1f} before the sitting, "
        f"{os.getloadavg()[0]:.1f} after; client CPU per run "
        f"{', '.join(f'{r.cpu_s:.2f}' for r in runs)} s"
        + (f" (before: {', '.join(f'{r.cpu_s:.2f}' for r in old_runs)} s)" if old_runs else "")
    )
    print(f"   summary line: {runs[-1].output.strip().splitlines()[-1]}")
    print(
        f"   bare AsyncOpenAI + semaphore: {', '.join(f'{r.wall_s:.2f}' for r in bare_runs)} s"
        f" -> median {bare:.2f} s = {bare / limit:.3f}x the limit {limit:.2f} s; "
        f"mean in flight {statistics.median(bare_means):.1f}"
    )
    print(
        f"   pytest-lrmsafety: {', '.join(f'{r.wall_s:.2f}' for r in runs)} s -> median "
        f"{wall:.2f} s = {wall / limit:.3f}x the limit (target <= 1.45); {wall / bare:.3f}x "
        f"the bare client; mean in flight {statistics.median(means):.1f} (target >= 30)"
    )
    if old_runs:
        old = statistics.median(r.wall_s for r in old_runs)
        print(
            f"   before ({before}): {', '.join(f'{r.wall_s:.2f}' for r in old_runs)} s -> "
            f"median {old:.2f} s = {old / limit:.3f}x the limit; {old / bare:.3f}x the bare "
            f"client; mean in flight {statistics.median(old_means):.1f}; client CPU "
            f"{1000 * statistics.median(r.cpu_s for r in old_runs) / n:.2f} ms per probe"
        )
    print(
        f"   client CPU {cpu:.2f} s = {1000 * cpu / n:.2f} ms per probe "
        f"({1000 * (cpu - startup.cpu_s) / n:.2f} ms without start-up + collection, "
        f"{startup.cpu_s:.2f} s; target <= 5); bare client CPU "
        f"{statistics.median(r.cpu_s for r in bare_runs):.2f} s"
    )


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
    parser.add_argument(
        "--before",
        type=Path,
        help="a folder holding the plugin's package before a change: measured beside it (2, 5)",
    )
    parser.add_argument(
        "--only", type=int, action="append", help="run only this section (repeatable)"
    )
    parser.add_argument(
        "--repeat", type=int, default=3, help="interleaved runs of each kind in section 2"
    )
    args = parser.parse_args()
    only = set(args.only or (1, 2, 3, 4, 5))
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
            if only & {1, 2, 4}:  # 2 and 4 reuse its project
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
                if 1 in only:  # the sequential baseline takes a minute
                    seq_project = root / "sequential"
                    write_suite(seq_project / "cases", seq_n, ["direct"])
                    seq = run_pytest(
                        seq_project, *model, "-q", "--lrm-concurrency", "1", "--lrm-cache", "off"
                    )
                    print(
                        f"   sequential baseline (concurrency 1): {seq_n} probes in "
                        f"{seq.wall_s:.2f} s "
                        f"-> {seq.wall_s * n / seq_n:.1f} s per {n} (extrapolated); "
                        f"speed-up of the engine {seq.wall_s * n / seq_n / cold.wall_s:.1f}x"
                    )

            if 2 in only:
                # 2. warm cache: the rerun and plain pytest interleaved, three of each, so
                # both see the same load (a shared machine drifts within a minute)
                import statistics

                plain_project = root / "plain"
                write_plain(plain_project, n)
                server.reset()
                load_before = os.getloadavg()[0]
                warms: list[Run] = []
                plains: list[Run] = []
                olds: list[Run] = []  # the code before a change (--before), same sitting
                rerun_args = ("-q", "--lrm-concurrency", str(concurrency))
                for _ in range(args.repeat):
                    warms.append(run_pytest(project, *model, *rerun_args))
                    plains.append(run_pytest(plain_project, "-q"))
                    if args.before is not None:
                        olds.append(run_pytest(project, *model, *rerun_args, code=args.before))

                def times(runs: list[Run], attr: str) -> str:
                    return ", ".join(f"{getattr(r, attr):.2f}" for r in runs)

                warm_s = statistics.median(r.wall_s for r in warms)
                plain_s = statistics.median(r.wall_s for r in plains)
                warm_cpu = statistics.median(r.cpu_s for r in warms)
                plain_cpu = statistics.median(r.cpu_s for r in plains)
                best = min(r.wall_s for r in warms) / min(r.wall_s for r in plains)
                print(
                    f"\n2. warm-cache rerun of {n} probes ({len(server.requests)} model "
                    f"requests) against plain pytest, {n} trivial parametrized tests, "
                    f"interleaved; load average (1 min) {load_before:.1f} before, "
                    f"{os.getloadavg()[0]:.1f} after"
                )
                print(
                    f"   rerun {times(warms, 'wall_s')} s (CPU {times(warms, 'cpu_s')} s); "
                    f"plain {times(plains, 'wall_s')} s (CPU {times(plains, 'cpu_s')} s)"
                )
                print(
                    f"   median {warm_s:.2f} s / {plain_s:.2f} s: ratio {warm_s / plain_s:.2f} "
                    f"(target <= 1.5); CPU {warm_cpu / plain_cpu:.2f}; best of three "
                    f"{best:.2f}"
                )
                if olds:
                    old_s = statistics.median(r.wall_s for r in olds)
                    old_cpu = statistics.median(r.cpu_s for r in olds)
                    print(
                        f"   before ({args.before}): rerun {times(olds, 'wall_s')} s (CPU "
                        f"{times(olds, 'cpu_s')} s): ratio {old_s / plain_s:.2f}; CPU "
                        f"{old_cpu / plain_cpu:.2f}"
                    )

            if 3 in only:
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
                    f"{coll.wall_s:.2f} s, peak RSS {coll.max_rss_mb:.0f} MB; plain "
                    f"parametrize of {items}: {coll_plain.wall_s:.2f} s, peak RSS "
                    f"{coll_plain.max_rss_mb:.0f} MB; "
                    f"time ratio {coll.wall_s / coll_plain.wall_s:.2f} (target <= 1.5)"
                )

            if 4 in only:
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
            if 5 in only:
                pipeline(root, server, n, latency, concurrency, args.before)
        finally:
            server.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
