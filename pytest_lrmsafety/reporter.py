"""The controller's reporter: gathers probe records, builds the report, prints it, sets the gate."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Generator
from types import ModuleType
from typing import TYPE_CHECKING, Any

import pytest

from .engine.engine import DEADLINE_PASSED, EngineStats
from .engine.partition import XdistPlanning
from .errors import SuiteError
from .heap import freeze_more
from .progress import LiveProgress
from .report.layout import wrap
from .report.records import TextSpool, collect_record
from .report.skips import SKIP_KEY, skip_reason
from .runtime import Runtime

if TYPE_CHECKING:
    from .report.model import Report

REPORT: pytest.StashKey[Report] = pytest.StashKey()
# What only the end of the run needs: imported while the run waits for the model (at the
# first probe's record), not before its first request.
AT_THE_END = (
    "pytest_lrmsafety.report.build",
    "pytest_lrmsafety.report.markdown",
    "pytest_lrmsafety.report.profile",
    "pytest_lrmsafety.report.terminal",
)
FLAGS = {"JSON": "--lrm-report-json", "Markdown": "--lrm-report-md", "HTML": "--lrm-report-html"}


class RunReporter:
    """Registered on the controller (never on an xdist worker) for the length of a run."""

    NAME = "lrmsafety-reporter"

    def __init__(self, runtime: Runtime, xdist: XdistPlanning | None = None) -> None:
        self.runtime = runtime
        self.config = runtime.config
        self.xdist = xdist
        self.collection_errors: list[str] = []
        self.write_errors: dict[str, str] = {}  # option -> why its report is missing
        self.taken: set[str] = set()  # node ids whose record this test's run gave
        self.properties: bool | None = None  # whether a plugin may read them: at first report
        self.skips: dict[str, tuple[str, str]] = {}  # node id -> (attack, reason) of a skip
        self.texts = TextSpool()  # the records' texts, on disk until the report is written
        self.durations = self.config.getoption("durations", None) is not None  # 0: all
        self.progress = LiveProgress.install(self.config, runtime.settings.progress)
        self.end_imported = False

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        # Under xdist the good suites still run when another fails to load; the report
        # must then say it does not cover everything.
        if report.failed:
            self.collection_errors.append(report.nodeid or "(collection)")

    @pytest.hookimpl(wrapper=True)  # before junitxml writes the properties, and after all
    def pytest_runtest_logreport(self, report: pytest.TestReport) -> Generator[None]:
        # Under xdist the workers' reports arrive here too, user_properties included.
        # and drops its text from pytest's reports; the record kept leaves it in the spool
        if self.properties is None:  # every conftest is loaded by now
            self.properties = properties_read(self.config)
        collect_record(
            self.runtime.records, report, self.taken, self.texts, properties=self.properties
        )
        if report.skipped:  # a probe the backend cannot run: its attack and reason count
            attack = dict(report.user_properties).get(SKIP_KEY)
            if attack is not None:
                self.skips[report.nodeid] = (str(attack), skip_reason(report.longrepr))
        self.progress.on_report(self.runtime.engine)
        if not self.end_imported and self.runtime.records:
            self.end_imported = True
            for module in AT_THE_END:
                importlib.import_module(module)
            freeze_more(self.config)  # the SDK's modules, the judges, these
        yield
        self._forget(report)

    def _forget(self, report: pytest.TestReport) -> None:
        """The terminal reporter keeps every report to the end of the run; a probe's passing
        setup and teardown reports (2 of its 3) are let go once every plugin has seen them
        (JUnit XML has its properties): they count in no summary line and, without captured
        sections, add nothing to a failure's summary, whose look-up of teardown sections
        scans them all for each failure (minutes with thousands of failures). Kept for
        ``--durations``, which lists them."""
        if report.when == "call" or not report.passed or report.sections or self.durations:
            return
        if report.nodeid not in self.runtime.records:  # not a probe: pytest's as usual
            return
        terminal = self.config.pluginmanager.get_plugin("terminalreporter")
        kept = terminal.stats.get("") if terminal is not None else None
        if kept and kept[-1] is report:
            kept.pop()

    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        self.progress.close()
        runtime = self.runtime
        skips = [s for nodeid, s in self.skips.items() if nodeid not in runtime.records]
        if not runtime.records and not skips:
            return
        reasons = self.xdist.unrun_lines() if self.xdist is not None else []
        late = sum(1 for r in runtime.records.values() if DEADLINE_PASSED in (r.error or ""))
        if late:
            reasons.append(
                f"{DEADLINE_PASSED} (--lrm-deadline): {late} probe{'s' if late != 1 else ''} "
                "without a completion"
            )
        partial = (
            exitstatus in (pytest.ExitCode.INTERRUPTED, pytest.ExitCode.INTERNAL_ERROR)
            or bool(session.shouldstop or session.shouldfail)
            or bool(self.collection_errors)
            or bool(reasons)
        )
        try:
            gates = [*runtime.ini_gates, *runtime.suite_gates()]
        except SuiteError as exc:  # a suite changed on disk during the run
            raise pytest.UsageError(str(exc)) from None
        settings = runtime.settings
        from .report.build import build_report, write_report

        report = build_report(
            list(runtime.records.values()),
            gates,
            model=settings.model,
            settings={
                "sampling": {**settings.sampling.as_dict(), **settings.sampling_forced.as_dict()},
                "unclear": settings.unclear,
                "fail_on": list(settings.fail_on) if settings.fail_on else None,
                "stream": settings.stream,
                "judge_ensemble": settings.judge_ensemble,
                "judge_model": settings.judge_model,
                "redact": settings.redact,
                "attack_seed": settings.attack_seed,
            },
            partial=partial,
            partial_reasons=reasons,
            judges=self._judge_descriptions(),
            judge_check=self.runtime.judge_check,
            confidence=settings.confidence,
            baseline=runtime.baseline,
            baseline_path=settings.baseline,
            min_probes=settings.gate_min_probes,
            profile=settings.profile,
            texts=self.texts,
            skipped=skips,
        )
        self.config.stash[REPORT] = report
        self.config.hook.pytest_lrmsafety_report(config=self.config, report=report)
        # the one rule of paths (Settings.path_base): from the command line relative to the
        # folder pytest was started in, from the ini file to the rootdir
        json_path = settings.path("report_json")
        if json_path is not None:
            self._write("--lrm-report-json", lambda: write_report(report, json_path))
        path = settings.path("report_md")
        if path is not None:

            def markdown() -> None:
                from .report.markdown import render_markdown

                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(render_markdown(report), encoding="utf-8")

            self._write("--lrm-report-md", markdown)
        html_path = settings.path("report_html")
        if html_path is not None:
            from .report.html import write_html  # jinja2 and matplotlib: the html extra

            self._write("--lrm-report-html", lambda: write_html(report, html_path))
        if settings.gate and exitstatus in (pytest.ExitCode.OK, pytest.ExitCode.TESTS_FAILED):
            # No probe ran (all skipped): no gate had anything to decide, which is no pass.
            broken = report.gate_verdict == "fail" or partial or not report.totals.probes
            session.exitstatus = pytest.ExitCode.TESTS_FAILED if broken else pytest.ExitCode.OK
        if self.write_errors and session.exitstatus == pytest.ExitCode.OK:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED  # a report CI waits for is missing

    def _write(self, option: str, write: Callable[[], None]) -> None:
        """Writes one report; a place that turned unwritable during the run (the paths were
        checked at configure) costs that report, not the others, and says so in one line."""
        try:
            write()
        except OSError as exc:
            self.write_errors[option] = f"{option}: the report could not be written: {exc}"

    def _judge_descriptions(self) -> dict[str, str]:
        """What each judge that gave a verdict is, so nobody mistakes a rule for a model.

        The judges were made where they judged (here, or on xdist workers, which send their
        descriptions); none is built here just to be named.
        """
        names = {v["judge"] for r in self.runtime.records.values() for v in r.verdicts}
        known = {**(self.xdist.judges if self.xdist else {}), **self.runtime.judges.descriptions()}
        return {name: known.get(name, "(not described)") for name in sorted(names)}

    def _engine_stats(self) -> EngineStats | None:
        if self.xdist is not None and self.xdist.stats.planned:
            return self.xdist.stats
        engine = self.runtime.engine
        return engine.stats if engine is not None else None

    def pytest_terminal_summary(self, terminalreporter: Any, exitstatus: int) -> None:
        report = self.config.stash.get(REPORT, None)
        if report is None:
            return
        from .report.profile import render_study
        from .report.terminal import render, render_triage

        terminalreporter.write_sep("=", "lrm safety report")
        width = self.config.get_terminal_writer().fullwidth  # the width pytest prints to
        for line in render(report, width=width):
            terminalreporter.write_line(line)
        if report.study:
            for line in render_study(report.study, report.model, width=width):
                terminalreporter.write_line(line)
        if self.runtime.settings.triage:
            for line in render_triage(report, width=width):
                terminalreporter.write_line(line)
        stats = self._engine_stats()
        if stats is not None:
            interrupted = exitstatus == pytest.ExitCode.INTERRUPTED
            for line in engine_lines(stats, width, interrupted=interrupted):
                terminalreporter.write_line(line)
        for line in self.xdist.handover_lines() if self.xdist is not None else []:
            terminalreporter.write_line(line)
        client = self.runtime.client
        if client is not None and client.batches:  # a local backend (this process, not workers)
            terminalreporter.write_line(
                f"{client.name}: {client.batches} batched calls, the largest "
                f"{client.largest_batch} prompts"
            )
        server = self.runtime.server
        if server is not None:
            terminalreporter.write_line(f"vLLM server log: {server.log_path}")
        settings = self.runtime.settings
        for kind, written in (
            ("JSON", settings.path("report_json")),
            ("Markdown", settings.path("report_md")),
            ("HTML", settings.path("report_html")),
        ):
            if written and FLAGS[kind] in self.write_errors:
                terminalreporter.write_line(self.write_errors[FLAGS[kind]], red=True)
            elif written:  # as pytest-html says where its page went: the absolute path
                terminalreporter.write_line(f"report: {kind} written to {written.resolve()}")
        if self.runtime.settings.gate:
            if not report.totals.probes:
                line = (
                    f"--lrm-gate: no probe ran ({report.skipped.total} skipped): nothing was "
                    "gated, which fails the run"
                )
            else:
                line = f"--lrm-gate: exit status is the gate verdict ({report.gate_verdict})"
            for wrapped in wrap(line, width):
                terminalreporter.write_line(wrapped)


def properties_read(config: pytest.Config) -> bool:
    """Whether a plugin that may read the tests' ``user_properties`` sees their reports: JUnit
    XML, or any plugin that is neither pytest's own nor this one (a report log, a conftest's
    hook). Only then does each probe's teardown report get its ``lrm_*`` properties, whose
    compact record costs a JSON text per probe."""
    for impl in config.hook.pytest_runtest_logreport.get_hookimpls():
        plugin = impl.plugin
        module = plugin.__name__ if isinstance(plugin, ModuleType) else type(plugin).__module__
        if module == "_pytest.junitxml" or not module.startswith(("_pytest.", "pytest_lrmsafety.")):
            return True
    return False


def engine_line(stats: EngineStats, *, interrupted: bool = False) -> str:
    """``engine: 1000 completions (820 from cache, 178 generated, 2 errors), 3 retries, 612
    model calls``: a probe of several calls (turns, rounds, steps) is one completion. A run
    that stopped first says how many of the planned ones arrived: ``engine: 68 of 367
    planned completions before the interrupt (0 from cache, 68 generated, 0 errors)``."""
    done = stats.done
    if done < stats.planned:
        when = " before the interrupt" if interrupted else ""
        count = f"{done} of {stats.planned} planned completions{when}"
    else:
        count = f"{stats.planned} completions"
    return (
        f"engine: {count} ({stats.from_cache} from cache, "
        f"{stats.generated} generated, {stats.errors} errors), {stats.retries} retries"
        # the calls of the model under test those took (a pair probe's rounds each count)
        + (f", {stats.model_calls} model calls" if stats.model_calls else "")
        + "; "
        f"verdicts: {stats.verdicts_cached} from cache, {stats.verdicts_judged} judged"
        + (
            f" ({stats.judge_calls} judge model calls, {stats.judge_tokens} tokens)"
            if stats.judge_calls
            else ""
        )
        + (f"; {stats.cache_errors} results the cache could not keep" if stats.cache_errors else "")
    )


def engine_lines(stats: EngineStats, width: int, *, interrupted: bool = False) -> list[str]:
    """The engine line within ``width``, as the other summary lines wrap: broken after a
    comma or semicolon outside brackets (a count and its words stay on one line) where the
    parts fit, else between words."""
    line = engine_line(stats, interrupted=interrupted)
    pieces, depth, start = [], 0, 0
    for i, char in enumerate(line):
        depth += {"(": 1, ")": -1}.get(char, 0)
        if char in ",;" and depth == 0 and line[i + 1 : i + 2] == " ":
            pieces.append(line[start : i + 1])
            start = i + 2
    pieces.append(line[start:])
    if max(map(len, pieces)) + 2 > width:
        return wrap(line, width)
    glued = " ".join(piece.replace(" ", "\0") for piece in pieces)  # a piece is one word
    return [wrapped.replace("\0", " ") for wrapped in wrap(glued, width)]
