"""The ``lrmsafety`` command: work with suites and reports without running a model.

    lrmsafety validate cases/                  check suites against the schema
    lrmsafety report run.json --html r.html    re-render a recorded run (HTML, Markdown, terminal;
                                               --intervals: Wilson intervals in every table)
    lrmsafety diff old.json new.json           compare two reports (as --lrm-baseline does)
    lrmsafety show run.json NODEID             one probe, whole
    lrmsafety attacks                          list the attacks
    lrmsafety init                             copy the starter suites into cases/ to edit
    lrmsafety import xstest xstest_prompts.csv -o cases/xstest.yaml   a data set as a suite
                                               (--judges benchmark,reward: the suite's judges)
    lrmsafety cache stats                      what the cache holds, per model and deployment
    lrmsafety cache purge --older-than 30      delete entries (all, by age or --model), shrink
    lrmsafety --version                        the installed version

One module per group of commands: ``suites.py`` (validate, import, init, attacks),
``reports.py`` (report, diff, show), ``cache.py``; ``common.py`` what they share.

The terminal output fits the terminal's width (``COLUMNS``, else 100 when not a terminal;
``--width`` sets it).

Exit status: 0 done (``validate``: every suite is good; ``diff``: no regression gate broken),
1 a check failed, 2 bad input (a wrong or truncated file, a bad option), with one line
naming the file and what is wrong.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from ..errors import ConfigError, SuiteError
from ..report.baseline import ReportError
from . import cache, reports, suites

__all__ = ["main", "parser"]


def _version() -> str:
    from importlib import metadata

    try:
        return metadata.version("pytest-lrmsafety")
    except metadata.PackageNotFoundError:  # a source tree that was never installed
        return "0+unknown"


def parser() -> argparse.ArgumentParser:
    """The command's parser: each subcommand's ``run`` set as its default."""
    top = argparse.ArgumentParser(
        prog="lrmsafety", description="Suites and reports of pytest-lrmsafety, without a model."
    )
    top.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    sub = top.add_subparsers(dest="command", required=True)
    suites.add_validate(sub)
    reports.add_report(sub)
    reports.add_diff(sub)
    reports.add_show(sub)
    suites.add_import(sub)
    suites.add_init(sub)
    cache.add_cache(sub)
    suites.add_attacks(sub)
    return top


def main(argv: Sequence[str] | None = None) -> int:
    """``lrmsafety``'s entry point: the exit status (errors: one line on stderr, status 2)."""
    args = parser().parse_args(argv)
    try:
        return int(args.run(args))
    except (ReportError, ConfigError, SuiteError) as exc:
        print(f"lrmsafety {args.command}: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # `lrmsafety show ... | head`
        return 0
