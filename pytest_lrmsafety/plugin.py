"""pytest-lrmsafety's entry point: its hooks at load time and its public fixtures.

Installed, the plugin is loaded into every pytest run of the environment. This module keeps
that cheap: it imports nothing beyond pytest, the option table and the switch
(:mod:`pytest_lrmsafety.switch`), which registers the plugin's real hooks
(:mod:`pytest_lrmsafety.hooks`: collection of suites, the engine, the reports) only when a run
uses the plugin. The fixtures' work is in :mod:`pytest_lrmsafety.fixtures`, imported on use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from . import hookspecs
from .options import add_options
from .switch import activate, fixtures_wanted, plugin_wanted

if TYPE_CHECKING:
    from .cases.model import Probe
    from .engine.engine import Engine
    from .judges.base import Verdict
    from .models.base import Completion, ModelClient, SamplingParams
    from .outcome import Decision


def pytest_addhooks(pluginmanager: pytest.PytestPluginManager) -> None:
    pluginmanager.add_hookspecs(hookspecs)
    skip_assertion_rewriting(pluginmanager)


def skip_assertion_rewriting(pluginmanager: pytest.PytestPluginManager) -> None:
    """Imports the rest of the package as plain Python, not through pytest's assertion
    rewriter. pytest marks every module of an installed plugin for rewriting; each import
    then re-reads and hashes the module's source to validate its rewritten bytecode (about
    60 ms of every run for this package's ~100 modules, measured by sampling a warm rerun),
    and PYTEST_DONT_REWRITE in a docstring does not avoid that check. The package's asserts
    are internal invariants, which gain nothing from rewritten messages. The set of marked
    names is private to pytest (no public way to unmark): read defensively, left alone if
    it is not there."""
    marked = getattr(pluginmanager.rewrite_hook, "_must_rewrite", None)
    if isinstance(marked, set):
        marked.discard(__package__)


def pytest_addoption(parser: pytest.Parser) -> None:
    add_options(parser)


@pytest.hookimpl(tryfirst=True)
def pytest_load_initial_conftests(early_config: pytest.Config, args: list[str]) -> None:
    """A path option written with a space (``--lrm-baseline ../run.json``) is read by pytest as
    a test path before this plugin's options exist, which can move the rootdir and drop the
    project's configuration: say so, and how to write it, before anything runs."""
    if any(str(arg).startswith("--lrm-") for arg in args):
        from .spaced import check_spaced_options

        check_spaced_options(early_config, args)


@pytest.hookimpl(tryfirst=True)
def pytest_cmdline_main(config: pytest.Config) -> int | None:
    """``--lrm-list-attacks``: list the registry and stop, as ``--fixtures`` does."""
    if not config.getoption("lrm_list_attacks", False):
        return None
    from .hooks import list_attacks

    return list_attacks(config)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "lrm: a probe collected from a pytest-lrmsafety suite")
    if plugin_wanted(config):
        activate(config)


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if fixtures_wanted(config, items):
        activate(config)


# The public fixtures. They are defined here, where pytest always finds them; their work is
# done in :mod:`pytest_lrmsafety.fixtures`, imported on first use.


@pytest.fixture(scope="session")
def lrm_model(pytestconfig: pytest.Config) -> ModelClient:
    """The model under test, from ``--lrm-model``. Override it in a conftest to test your own."""
    from .fixtures import model_under_test

    return model_under_test(pytestconfig)


@pytest.fixture
def lrm_probe(request: pytest.FixtureRequest) -> Probe:
    """The probe of this test: set by collection, or by parametrizing with :func:`suite_probes`."""
    from .fixtures import probe_of_request

    return probe_of_request(request)


@pytest.fixture(scope="session")
def lrm_engine(pytestconfig: pytest.Config, lrm_model: ModelClient) -> Engine:
    """The generation engine of this process, started on first use with every planned probe."""
    from .runtime import get_runtime

    return get_runtime(pytestconfig).start_engine(lrm_model)


@pytest.fixture
def lrm_sampling(pytestconfig: pytest.Config, lrm_probe: Probe) -> SamplingParams:
    """Sampling for this probe: ini, then the suite's ``sampling``, then command line."""
    from .runtime import get_runtime, sampling_for

    return sampling_for(get_runtime(pytestconfig).settings, lrm_probe)


@pytest.fixture
def lrm_completion(
    lrm_engine: Engine, lrm_probe: Probe, lrm_sampling: SamplingParams
) -> Completion:
    """The model's completion for this probe; a failed call is an ``error``, not a result.

    The engine generated it ahead (or found it in the cache); the test waits only for it.
    """
    from .fixtures import completion_of

    return completion_of(lrm_engine, lrm_probe, lrm_sampling)


@pytest.fixture
def lrm_verdicts(lrm_engine: Engine, lrm_probe: Probe, lrm_completion: Completion) -> list[Verdict]:
    """Every judge of the case on each target: the answer, and the thinking where there is one."""
    from .fixtures import verdicts_of

    return verdicts_of(lrm_engine, lrm_probe, lrm_completion)


@pytest.fixture
def lrm_outcome(request: pytest.FixtureRequest, lrm_probe: Probe, lrm_engine: Engine) -> Decision:
    """The probe's outcome against its expectation; recorded for the scoreboard and gates.

    ``outcome.message`` is the failure text: category, attack, expectation, excerpts of the
    thinking and the answer, and every verdict with its rationale. The completion and the
    verdicts are the engine's, the same that ``lrm_completion`` and ``lrm_verdicts`` give.
    """
    from .fixtures import evaluate

    return evaluate(request.node, lrm_probe, lrm_engine)
