"""The plugin's hooks for a run that uses it: configuration, collection of suites, selection,
planning, reporting and the gate (registered by :func:`pytest_lrmsafety.switch.activate`).

Wiring only; the logic lives in the modules named by each hook.
"""

from __future__ import annotations

from collections.abc import Generator
from pathlib import Path
from typing import Any

import pytest

from .attacks.phishing import victim_spec
from .case_roots import (
    case_roots,
    cases_by_default,
    check_case_roots,
    named_paths,
    runs_suites,
    suite_wanted,
)
from .cases.loader import unknown_name
from .collect import SUITE_SUFFIXES, ProbeItem, SuiteFile, probe_meta, probe_of
from .engine.partition import XdistPlanning, export_to_controller, my_share
from .errors import ConfigError
from .fixtures import NO_MODEL, unsupported
from .gates import Gate, GateSyntaxError, parse_gate
from .header import header_lines
from .heap import freeze_for_run
from .outputs import check_outputs
from .plugin import lrm_model
from .report.scoreboard import META_KEY, RECORD_KEY
from .report.skips import SKIP_KEY
from .reporter import RunReporter
from .runtime import RUNTIME, SERVE_URL_KEY, Runtime, get_runtime, sampling_for
from .settings import Settings, resolve_settings
from .switch import activate


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "lrm: a probe collected from a pytest-lrmsafety suite")
    try:
        settings = resolve_settings(config)
        roots = case_roots(settings)
        runtime = Runtime(config, settings, roots, named_paths(config))
        config.stash[RUNTIME] = runtime
        if settings.attack_files:  # a bad attack file is a usage error, before collection
            runtime.attacks  # noqa: B018
        for name in settings.attacks:
            if name not in runtime.attacks:
                message = unknown_name("attack", name, list(runtime.attacks))
                raise ConfigError(f"option --lrm-attack: {message}")
        runtime.ini_gates = _ini_gates(settings)
        if _is_controller(config):  # a report that cannot be written: say so before the run
            check_outputs(settings)
        if settings.report_html:  # the extra is missing: say so now, not after the run
            from .report.html import check_available

            check_available()
        baseline = settings.path("baseline")
        if baseline is not None:
            from .report.baseline import ReportError, load_report

            try:
                runtime.baseline = load_report(baseline, settings.baseline)
            except ReportError as exc:
                raise ConfigError(f"{settings.source('baseline')}: {exc}") from None
        if runs_suites(settings) and not settings.list_attacks:
            runtime.serve_if_asked()
            paths_given = config.args_source == pytest.Config.ArgsSource.ARGS
            if not paths_given or not cases_by_default(settings):
                check_case_roots(roots, settings)
            runtime.client = runtime.make_client()
            runtime.open_cache(runtime.client)
            name, _ = runtime.harm_judge()  # an unknown --lrm-harm-judge: fail now
            if settings.judge_model or name == "llm":  # a bad judge spec or a missing key
                runtime.judges.get("llm")
            if settings.guard_model:
                runtime.judges.get("llama_guard")
            if settings.victim_model:  # likewise the phishing attack's victim model
                runtime.victim()
            if settings.attacker_model:  # a bad attacker spec or a missing key: fail now
                runtime.attacker()
            if settings.translator_model:  # likewise the translator's
                runtime.translator()
            if not paths_given:  # `pytest --lrm-model X` runs the suites, not testpaths
                config.args = [str(root) for root in roots]
                # pytest's header would otherwise say "testpaths: tests"; ours names the suites
                config.args_source = pytest.Config.ArgsSource.ARGS
            record = settings.path("record")
            if record is not None and _is_controller(config):
                record.parent.mkdir(parents=True, exist_ok=True)
                record.write_text("")  # every process of this run appends to it
    except ConfigError as exc:
        raise pytest.UsageError(str(exc)) from None
    if _is_controller(config):  # aggregation happens on the controller only
        xdist = None
        if config.pluginmanager.hasplugin("xdist") and runs_suites(runtime.settings):
            xdist = XdistPlanning()
            config.pluginmanager.register(xdist, XdistPlanning.NAME)
        config.pluginmanager.register(RunReporter(runtime, xdist), RunReporter.NAME)


def pytest_report_header(config: pytest.Config) -> list[str]:
    """What the run tests and with what: the model, its endpoint, the suites."""
    runtime = config.stash.get(RUNTIME, None)
    if runtime is None or not runs_suites(runtime.settings):
        return []
    return header_lines(runtime)


def list_attacks(config: pytest.Config) -> int:
    """``--lrm-list-attacks``: the registry, one line each, as ``--fixtures`` lists fixtures."""
    from _pytest.main import wrap_session  # what --fixtures and --markers use

    activate(config)

    def show(config: pytest.Config, session: pytest.Session) -> int:
        runtime = get_runtime(config)
        writer = config.get_terminal_writer()
        for line in runtime.attacks.listing():
            writer.line(line, bold=line.endswith(":"))
        writer.line("")
        writer.line(
            f"{len(runtime.attacks)} attacks; what each does, with an example: docs/attacks.md"
        )
        return 0

    return int(wrap_session(config, show))


def pytest_sessionstart(session: pytest.Session) -> None:
    config = session.config
    runtime = config.stash.get(RUNTIME, None)
    if runtime is None or not runtime.settings.judge_check or not _is_controller(config):
        return
    try:
        below = runtime.check_judges()
    except ConfigError as exc:
        raise pytest.UsageError(str(exc)) from None
    if below and runtime.settings.judge_check_action == "fail":
        check = runtime.judge_check or {}
        shares = ", ".join(
            f"{j['judge']} {j['agreement']:.0%}"
            for j in check.get("judges", [])
            if j["judge"] in below
        )
        pytest.exit(
            f"judge check: agreement with {check.get('set')} below {check.get('min'):.0%}: "
            f"{shares} (lrm_judge_check_action = warn to run anyway)",
            returncode=pytest.ExitCode.TESTS_FAILED,
        )


def pytest_collection_finish(session: pytest.Session) -> None:
    """Plans the generations of the probes this process will run (its share under xdist)."""
    config = session.config
    if config.option.collectonly:
        return
    runtime = get_runtime(config)
    workerinput = getattr(config, "workerinput", None)
    items = my_share(session.items, workerinput) if workerinput else session.items
    settings = runtime.settings
    client = runtime.client
    runtime.plan = [
        (probe, sampling_for(settings, probe))
        for item in items
        if (probe := probe_of(item))
        and not (
            client
            and unsupported(
                probe,
                client,
                attacker=bool(settings.attacker_model),
                translator=bool(settings.translator_model),
                victim=victim_spec(settings) is not None,
            )
        )
    ]
    if runtime.plan:
        freeze_for_run(config)


def pytest_sessionfinish(session: pytest.Session) -> None:
    runtime = session.config.stash.get(RUNTIME, None)
    if runtime is None:
        return
    if runtime.engine is not None:
        runtime.engine.close()
    stats = runtime.engine.stats if runtime.engine is not None else None
    export_to_controller(session.config, stats, runtime.judges.descriptions())


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node: Any) -> None:
    """xdist: workers attach to the server the controller started."""
    runtime = node.config.stash.get(RUNTIME, None)
    if runtime is not None and runtime.serve_url is not None:
        node.workerinput[SERVE_URL_KEY] = runtime.serve_url


def pytest_unconfigure(config: pytest.Config) -> None:
    runtime = config.stash.get(RUNTIME, None)
    if runtime is not None:
        runtime.stop_server()
    for name in (RunReporter.NAME, XdistPlanning.NAME):
        plugin = config.pluginmanager.get_plugin(name)
        if plugin is not None:
            config.pluginmanager.unregister(plugin)


def _ini_gates(settings: Settings) -> tuple[Gate, ...]:
    gates = []
    where = settings.source("gates")
    for expression in settings.gates:
        try:
            gates.append(parse_gate(expression, source=where))
        except GateSyntaxError as exc:
            raise ConfigError(f"{where}: {exc}") from None
    if settings.max_regression is not None:
        if not settings.baseline:
            raise ConfigError(
                "--lrm-max-regression needs --lrm-baseline (a report to compare with)"
            )
        from .report.baseline import WORSE_WHEN_HIGHER

        for metric in WORSE_WHEN_HIGHER:
            expression = f"delta({metric}) <= {settings.max_regression:g}"
            gates.append(parse_gate(expression, source="lrm_max_regression"))
    return tuple(gates)


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> SuiteFile | None:
    if file_path.suffix not in SUITE_SUFFIXES:  # the cheap test first: most files are not
        return None
    runtime = get_runtime(parent.config)
    active = runs_suites(runtime.settings)
    if not suite_wanted(file_path, runtime.case_roots, runtime.named_paths, active):
        return None
    seen = parent.config.stash.setdefault(SUITES_SEEN, {})
    real = file_path.resolve()
    # One suite reached by two paths (links): its probes count once. The same path again is
    # pytest walking its folder once more (one argument per suite file): not a second path.
    if seen.setdefault(real, file_path) != file_path:
        return None
    return SuiteFile.from_parent(parent, path=file_path)


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    """A linked folder that leads back to a folder above it (``cases/loop -> ..``) is a loop:
    what it holds is collected by its real path, never again through the link."""
    if not collection_path.is_symlink() or not collection_path.is_dir():
        return None
    target = collection_path.resolve()
    above = collection_path.parent.resolve()
    if target == above or target in above.parents:
        return True
    return None


SUITES_SEEN = pytest.StashKey[dict[Path, Path]]()  # real path of a suite -> path collected


def _is_controller(config: pytest.Config) -> bool:
    return not hasattr(config, "workerinput")


def _model_overridden(config: pytest.Config) -> bool:
    """Whether a conftest or plugin defines its own ``lrm_model`` fixture."""
    return any(
        getattr(plugin, "lrm_model", lrm_model) is not lrm_model
        for plugin in config.pluginmanager.get_plugins()
    )


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    runtime = get_runtime(config)
    _select(config, items, runtime.settings)
    # One line instead of an error per probe. Not on xdist workers: a usage error there
    # crashes the worker; there each probe reports NO_MODEL from the fixture instead.
    needs_model = any(isinstance(item, ProbeItem) for item in items)
    if (
        needs_model
        and runtime.client is None
        and not config.option.collectonly
        and _is_controller(config)
        and not _model_overridden(config)
    ):
        raise pytest.UsageError(NO_MODEL)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    # A setup that failed before lrm_outcome could record the probe (a user's fixture
    # raised): attach what the controller needs to count it as an error. Done here, not at
    # collection, because it is rare and collection must stay cheap for 100,000 probes.
    # A probe that skipped (the backend cannot run it) names its attack, for the report's
    # count of skips by reason.
    if report.when != "setup" or not (report.failed or report.skipped):  # most reports
        return report
    probe = probe_of(item)
    if report.skipped:
        if probe is not None:
            report.user_properties.append((SKIP_KEY, probe.attack))
        return report
    recorded = any(key == RECORD_KEY for key, _ in report.user_properties)
    if probe is not None and not recorded:
        report.user_properties.append((META_KEY, probe_meta(probe, item.nodeid)))
    return report


def _select(config: pytest.Config, items: list[pytest.Item], settings: Settings) -> None:
    if not settings.categories and not settings.attacks:
        return
    probes = [(item, probe_of(item)) for item in items]
    known = {p.case.category for _, p in probes if p is not None}
    for name in settings.categories:
        if name not in known:
            raise pytest.UsageError(
                f"option --lrm-category: {name!r} matches no collected probe; "
                f"categories: {', '.join(sorted(known)) or '(none)'}"
            )
    used = {p.attack for _, p in probes if p is not None}
    for name in settings.attacks:
        if name not in used:  # a known attack no suite asks for: nothing would run
            raise pytest.UsageError(
                f"option --lrm-attack: {name!r} matches no collected probe; "
                f"attacks of the suites: {', '.join(sorted(used)) or '(none)'}"
            )
    keep: list[pytest.Item] = []
    drop: list[pytest.Item] = []
    for item, probe in probes:
        wanted = probe is not None and (
            (not settings.categories or probe.case.category in settings.categories)
            and (not settings.attacks or probe.attack in settings.attacks)
        )
        (keep if wanted else drop).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep
