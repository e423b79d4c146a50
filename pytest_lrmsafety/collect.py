"""Collection: suite files become pytest items, one per probe (case x attack x sample)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Sequence
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from .attacks import AttackRegistry
from .cases.loader import load_suite
from .cases.model import Probe, Suite
from .engine.engine import Engine
from .errors import ConfigError, SuiteError
from .fixtures import evaluate
from .outcome import Decision
from .report.scoreboard import RECORD_KEY
from .runtime import get_runtime

SUITE_SUFFIXES = (".yaml", ".yml")
# YAML files beside suites that are not suites: rubrics (x.rubric.yaml), judge-check sets.
NOT_SUITES = (".rubric", ".check")


def expand_probes(
    suite: Suite,
    attacks: AttackRegistry,
    *,
    seed: int = 0,
    efforts: Sequence[str] | None = None,
    budgets: Sequence[int] | None = None,
) -> list[Probe]:
    """Every probe of a suite, in file order: case x attack x effort x budget x sample.

    Args:
        seed: The attack seed (``--lrm-attack-seed``): what attacks choose at random.
        efforts: Reasoning efforts for every case (``--lrm-efforts``), else each case's own.
        budgets: Thinking budgets for every case (``--lrm-thinking-budgets``), else each
            case's own.
    """
    probes = []
    for case in suite.cases:
        for name in case.attacks:
            attack = attacks[name]
            messages, turns = case.messages, case.turns
            if turns and attack.rewrite is not None:
                # A scripted conversation: a rewriting attack rewrites its last turn.
                turns = (*turns[:-1], attack.rewrite(turns[-1]))
            else:
                variant = attack.expand(
                    case.id, case.category, case.messages, payload=case.payload, seed=seed
                )
                messages, turns = variant.messages, (*case.turns, *variant.turns)
            for effort in efforts or case.efforts or (None,):
                for budget in budgets or case.budgets or (None,):
                    for sample in range(1, case.samples + 1):
                        probes.append(
                            Probe(
                                case,
                                name,
                                sample,
                                messages,
                                turns=turns,
                                effort=effort,
                                decoder=attack.answer_decoder,
                                needs=attack.needs,
                                sampling=attack.sampling,
                                budget=budget,
                            )
                        )
    return probes


@cache  # a handful of names, asked once per probe
def keyword(name: str) -> str:
    """A ``-k``-friendly form of a category or attack name: ``Self-harm`` -> ``self_harm``."""
    return re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")


def probe_meta(probe: Probe, nodeid: str) -> str:
    """What a probe's failed setup report carries when the plugin could not record it (a
    user's fixture raised first), so that the error is still counted."""
    case = probe.case
    return json.dumps(
        {
            "nodeid": nodeid,
            "suite": case.suite,
            "case_id": case.id,
            "category": case.category,
            "attack": probe.attack,
            "sample": probe.sample,
            "expect": case.expect,
            "severity": case.severity,
            "tags": list(case.tags),
            "subset": case.subset,
            **({"budget": probe.budget} if probe.budget is not None else {}),
        },
        sort_keys=True,
    )


class FailureText:
    """A probe's failure as pytest shows it: the message the plugin wrote, nothing more.

    pytest builds a traceback-based representation for every failure (about 10 ms each,
    most of a run's reporting time when a third of the probes fail); a probe's expected
    failure and its ``pytest.fail(..., pytrace=False)`` errors have no traceback to show,
    so this stands in for it. It offers what pytest's reporters read: ``toterminal``, a
    ``reprcrash`` with the first line (the short summary, JUnit's ``message``) and ``str``
    (xdist sends that to the controller).
    """

    __slots__ = ("reprcrash", "text")

    def __init__(self, text: str, path: str, lineno: int) -> None:
        self.text = text
        self.reprcrash = _Crash(path, lineno, text)

    def toterminal(self, tw: Any) -> None:
        for line in self.text.split("\n"):
            tw.line(line)

    def __str__(self) -> str:
        return self.text


class _Crash:
    __slots__ = ("lineno", "message", "path")

    def __init__(self, path: str, lineno: int, message: str) -> None:
        self.path, self.lineno, self.message = path, lineno, message


def _plain_failure(item: pytest.Item, excinfo: pytest.ExceptionInfo[BaseException]) -> Any:
    """The cheap representation of a ``pytest.fail(..., pytrace=False)``, else ``None``."""
    value = excinfo.value
    if isinstance(value, pytest.fail.Exception) and not value.pytrace:
        if item.config.getoption("fulltrace", False):
            return None
        path, line, _ = item.location
        return FailureText(value.msg or "", path, (line or 0) + 1)
    return None


def _probe_test(lrm_engine: Engine) -> None:
    """Declares what a collected probe needs; :meth:`ProbeItem.setup` does the work."""


# Fixture infos (one per suite file: its items share it) whose closure is session-scoped
# fixtures only, and that an item has set up through pytest's fixtures once.
_SET_UP = pytest.StashKey[set[int]]()
_SHOWS_FIXTURES = ("setupshow", "setuponly", "setupplan")


def _note_set_up(item: ProbeItem) -> None:
    """Remembers that the item's fixtures are set up, where each of them is session-scoped
    (``lrm_engine``, ``lrm_model``, ``pytestconfig`` unless a conftest adds to them)."""
    info = item._fixtureinfo
    defs = info.name2fixturedefs
    names = [name for name in info.names_closure if name != "request"]  # pytest's own
    if all(name in defs and defs[name][-1].scope == "session" for name in names):
        item.config.stash.setdefault(_SET_UP, set()).add(id(info))


def _session_values(item: ProbeItem) -> dict[str, Any] | None:
    """The values of the item's fixtures when all are session-scoped and already set up
    (pytest would hand back the same cached values, at some cost per test), else ``None``:
    an autouse or ``usefixtures`` fixture of narrower scope, a fixture that failed, or
    ``--setup-show`` (which lists each test's fixtures) takes pytest's own path."""
    info = item._fixtureinfo
    if id(info) not in item.config.stash.get(_SET_UP, ()):
        return None
    option = item.config.option
    if any(getattr(option, name, False) for name in _SHOWS_FIXTURES):
        return None
    values: dict[str, Any] = {}
    for name in info.names_closure:
        if name == "request":
            values[name] = item._request
            continue
        cached = info.name2fixturedefs[name][-1].cached_result
        if cached is None or cached[2] is not None:  # torn down, or it raised
            return None
        values[name] = cached[0]
    return values


class ProbeItem(pytest.Function):
    """One probe as a pytest test; fixtures (``lrm_model`` ...) resolve as for any test."""

    lrm_probe: Probe
    lrm_decision: Decision | None = None

    def setup(self) -> None:
        # The probe is decided during setup, as the lrm_outcome fixture would: a generation
        # or judge failure is then an ERROR, never a failed test. Calling it directly rather
        # than through four function-scoped fixtures keeps a cached rerun near plain speed.
        values = _session_values(self)
        if values is None:
            super().setup()
            _note_set_up(self)
        else:  # what the fixtures would give again: their session-wide values, as they are
            self.funcargs.update(values)
        engine = self.funcargs["lrm_engine"]
        assert isinstance(engine, Engine)
        self.lrm_decision = evaluate(self, self.lrm_probe, engine)

    def runtest(self) -> None:
        decision = self.lrm_decision
        self._drop_record()  # the setup report carried it to the controller
        if decision is not None and decision.outcome == "fail":
            pytest.fail(decision.message, pytrace=False)

    def teardown(self) -> None:
        # What the probe held is in its setup report now; the item (kept by pytest to the
        # end of the run) and the engine let it go, so memory stays flat in the probes.
        self._drop_record()
        self.lrm_decision = None
        engine = (self.funcargs or {}).get("lrm_engine")
        if isinstance(engine, Engine):
            engine.release(self.lrm_probe)
        super().teardown()

    def _drop_record(self) -> None:
        if any(key == RECORD_KEY for key, _ in self.user_properties):
            self.user_properties = [p for p in self.user_properties if p[0] != RECORD_KEY]

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException]) -> Any:  # type: ignore[override]
        """A probe's failure text as it is (see :class:`FailureText`); others as pytest's."""
        return _plain_failure(self, excinfo) or super().repr_failure(excinfo)

    def _repr_failure_py(self, excinfo: Any, style: Any = None) -> Any:
        # pytest formats setup errors through this private method, with no public hook; a
        # probe's errors (generation failed, a judge failed) are pytest.fail(pytrace=False)
        # and get the same cheap text as its failures.
        return _plain_failure(self, excinfo) or super()._repr_failure_py(excinfo, style)

    if hasattr(pytest.Item, "id"):  # pytest >= 9.2 keeps a structured node id

        @property
        def id(self) -> Any:
            # A name with brackets ("weapons-001[direct]") is stored as one name, but the
            # cache reads "file::weapons-001[direct]" back as name + params, so --lf would
            # find no match. Re-reading our own id the same way keeps the two equal.
            # (Node.id has no public setter; this is the narrowest place to do it.)
            # Parsed once: pytest asks for it in each of the three reports of a test.
            parsed = self.__dict__.get("_lrm_id")
            if parsed is None:
                base = super().id
                parsed = self.__dict__["_lrm_id"] = type(base).parse(str(base))
            return parsed

    def reportinfo(self) -> tuple[Path, int | None, str]:
        return self.path, self.lrm_probe.case.line - 1, self.name


class SuiteFile(pytest.File):
    """A YAML suite file under the configured case paths."""

    def collect(self) -> Iterator[ProbeItem]:
        runtime = get_runtime(self.config)
        display = self.nodeid
        try:
            suite = load_suite(
                self.path,
                display,
                attacks=set(runtime.attacks),
                judges=set(runtime.judges),
                fail_on=runtime.settings.fail_on,
                samples=runtime.settings.samples,
                checked=runtime.cache,  # a suite the cache saw pass the schema is not rechecked
            )
        except SuiteError as exc:
            raise self.CollectError(str(exc)) from None
        runtime.collected_gates[suite.path] = suite.gates
        for case in suite.cases:  # a judge that cannot be made fails here, once, with its line
            for name in case.judges:
                try:
                    runtime.judges.get(name)
                except ConfigError as exc:
                    raise self.CollectError(f"{display}:{case.line}: judges: {exc}") from None
        shared: dict[str, Any] = {}
        # on the file, not on each item: its probes inherit it (`-m lrm`), as a class's
        # methods do a class's marks, and adding a mark costs about as much as an item
        self.add_marker(pytest.mark.lrm)
        settings = runtime.settings
        for probe in expand_probes(
            suite,
            runtime.attacks,
            seed=settings.attack_seed,
            efforts=settings.efforts,
            budgets=settings.thinking_budgets,
        ):
            # Every probe of a file runs the same function with the same fixtures: work out
            # the fixture closure once, as pytest does for the items of one parametrize.
            # (FuncFixtureInfo has no public constructor; reusing the first item's is the
            # only way to pass it on.)
            item = ProbeItem.from_parent(self, name=probe.name, callobj=_probe_test, **shared)
            shared.setdefault("fixtureinfo", item._fixtureinfo)
            item.lrm_probe = probe
            # -k matches these: `-k "self_harm and base64"`, `-k expect_comply`, `-k <tag>`,
            # `-k subset_airbench`.
            item.extra_keyword_matches.update(
                {
                    keyword(probe.case.category),
                    keyword(probe.attack),
                    *((f"effort_{probe.effort}",) if probe.effort else ()),
                    *((f"budget_{probe.budget}",) if probe.budget is not None else ()),
                    f"expect_{probe.case.expect}",
                    f"severity_{probe.case.severity}",
                    *probe.case.tags,
                    *((f"subset_{keyword(probe.case.subset)}",) if probe.case.subset else ()),
                }
            )
            yield item


def probe_of(item: pytest.Item) -> Probe | None:
    """The probe a test runs: a collected probe, or one given by ``suite_probes``."""
    probe = getattr(item, "lrm_probe", None)
    if probe is None and isinstance(item, pytest.Function) and hasattr(item, "callspec"):
        probe = item.callspec.params.get("lrm_probe")
    return probe if isinstance(probe, Probe) else None


def is_under(path: Path, roots: Sequence[Path]) -> bool:
    """Whether ``path`` is one of ``roots`` or inside one of them: as written (a suite linked
    into a case folder from elsewhere), with its folder's links resolved, or resolved."""
    here = path.absolute()
    return any(
        p == root or root in p.parents
        for p in {here, here.parent.resolve() / here.name, here.resolve()}
        for root in roots
    )
