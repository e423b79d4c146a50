"""``lrmsafety validate``, ``import``, ``init`` and ``attacks``: the suites and the attacks
they name, without a model."""

from __future__ import annotations

import argparse
import shutil
import sys
from collections.abc import Collection, Sequence
from pathlib import Path

from ..errors import ConfigError
from .common import check_output


def suite_files(paths: Sequence[str]) -> list[Path]:
    """The suite files under ``paths`` (rubric and check files left out)."""
    files: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            files += sorted(
                p
                for p in path.rglob("*")
                if p.suffix in (".yaml", ".yml") and not p.stem.endswith((".rubric", ".check"))
            )
        elif path.exists():
            files.append(path)
        else:
            raise ConfigError(f"{raw}: no such file or folder")
    return files


def cmd_validate(args: argparse.Namespace) -> int:
    from ..attacks import builtin_attacks
    from ..attacks.user import register_attack_files
    from ..cases.loader import load_suite
    from ..errors import SuiteError
    from ..judges.names import BUILTIN_JUDGES

    attacks = builtin_attacks()
    register_attack_files(attacks, [(Path(f), f) for f in args.attack_file or []], "--attack-file")
    judges = {*BUILTIN_JUDGES, *(args.judge or [])}
    files = suite_files(args.paths or ["cases"])
    if not files:
        where = ", ".join(args.paths or ["cases"])
        print(f"lrmsafety validate: {where}: no suite files (.yaml, .yml) found", file=sys.stderr)
        return 2
    bad = 0
    probes = 0
    for path in files:
        try:
            suite = load_suite(path, str(path), attacks=set(attacks), judges=judges)
        except SuiteError as exc:
            print(f"FAIL {exc}")
            bad += 1
            continue
        count = sum(
            len(c.attacks) * max(1, len(c.efforts)) * max(1, len(c.budgets)) * c.samples
            for c in suite.cases
        )
        probes += count
        print(f"ok   {path}: {len(suite.cases)} cases, {count} probes, {len(suite.gates)} gates")
    print(f"{len(files) - bad} of {len(files)} suites valid; {probes} probes")
    return 1 if bad else 0


def judge_names(value: str, option: str, known: Collection[str]) -> tuple[str, ...]:
    """A comma-separated list of built-in judges, each one of ``known``; a usage error
    naming the option and the name otherwise (repeats kept once)."""
    given = [n.strip() for n in value.split(",")]
    if not all(given):
        raise ConfigError(f"{option} {value!r}: an empty name (comma-separated judges)")
    unknown = [n for n in given if n not in known]
    if unknown:
        raise ConfigError(
            f"{option}: no built-in judge {unknown[0]!r}; known: {', '.join(sorted(known))} "
            "(your plugins' judges: add them to the suite by hand)"
        )
    return tuple(dict.fromkeys(given))


def cmd_import(args: argparse.Namespace) -> int:
    from ..attacks import builtin_attacks
    from ..cases.loader import load_suite
    from ..importers import import_suite
    from ..judges.names import BUILTIN_JUDGES

    out = check_output(args.output, "-o/--output", f"{args.format}.yaml")
    assert out is not None  # a required option
    attacks = tuple(a.strip() for a in args.attacks.split(",")) if args.attacks else None
    judges = None if args.judges is None else judge_names(args.judges, "--judges", BUILTIN_JUDGES)
    known = set(builtin_attacks())
    own_judges = 0  # cases that name their own judges, which --judges leaves as they are

    def check(written: Path) -> None:
        # The suite must load like any other before it lands where the next run collects it.
        nonlocal own_judges
        suite = load_suite(written, str(out), attacks=known, judges=BUILTIN_JUDGES)
        own_judges = sum(1 for c in suite.cases if judges and c.judges != judges)

    try:
        written, total = import_suite(
            args.format,
            Path(args.source),
            out,
            sample=args.sample,
            seed=args.seed,
            attacks=attacks,
            judges=judges,
            check=check,
        )
    except OSError as exc:
        raise ConfigError(f"-o/--output: cannot write {str(out)!r}: {exc.strerror}") from None
    print(f"{out}: {written} cases from {total} rows of {args.source} ({args.format})")
    if own_judges:
        print(
            f"{out}: {own_judges} cases name judges of their own (the format's), which "
            "--judges does not change"
        )
    return 0


def cmd_init(args: argparse.Namespace) -> int:
    from ..header import BUILTIN_SUITES

    dest = Path(args.folder)
    sources = sorted(BUILTIN_SUITES.glob("*.yaml"))
    if dest.exists() and not dest.is_dir():
        raise ConfigError(f"{dest}: exists and is not a folder")
    clashes = [dest / p.name for p in sources if (dest / p.name).exists()]
    if clashes and not args.force:
        shown = ", ".join(str(p) for p in clashes)
        raise ConfigError(f"{shown}: already there; --force overwrites (your edits are lost)")
    dest.mkdir(parents=True, exist_ok=True)
    for source in sources:
        (dest / source.name).write_bytes(source.read_bytes())
        print(f"wrote {dest / source.name}")
    print(
        f"{len(sources)} starter suites in {dest}/: edit them; `pytest --lrm-model SPEC` now runs "
        "this folder instead of the built-in copies"
    )
    return 0


def cmd_attacks(args: argparse.Namespace) -> int:
    from ..attacks import builtin_attacks
    from ..attacks.user import register_attack_files

    registry = builtin_attacks()
    register_attack_files(registry, [(Path(f), f) for f in args.attack_file or []], "--attack-file")
    columns = shutil.get_terminal_size().columns
    print("\n".join(registry.listing(sources=args.sources, width=columns)))
    return 0


# The subcommands' parsers, added by ``cli.parser`` in the order ``--help`` lists them.


def add_validate(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    v = sub.add_parser("validate", help="check suites against the schema")
    v.add_argument("paths", nargs="*", help="suite files or folders (default: cases)")
    v.add_argument("--attack-file", action="append", help="your attack files, if suites use them")
    v.add_argument("--judge", action="append", help="judge names registered by your plugins")
    v.set_defaults(run=cmd_validate)


def add_import(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from ..importers.formats import FORMATS, describe

    i = sub.add_parser(
        "import",
        help="a public data set (your copy) as a suite",
        description="Formats:\n" + "\n".join(describe()),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    i.add_argument("format", choices=sorted(FORMATS), metavar="FORMAT", help="see the list above")
    i.add_argument("source", help="your copy of the data set's file")
    i.add_argument(
        "-o", "--output", required=True, help="the suite to write, e.g. cases/xstest.yaml"
    )
    i.add_argument("--sample", type=int, help="keep N cases, stratified by category")
    i.add_argument("--seed", type=int, default=0, help="seed of the sampling (default 0)")
    i.add_argument("--attacks", help="comma-separated attacks for every case (default: direct)")
    i.add_argument(
        "--judges",
        help="comma-separated built-in judges, written into the suite's defaults, e.g. "
        "benchmark,reward (default: the format's: benchmark where the data set has a judging "
        "protocol, else default)",
    )
    i.set_defaults(run=cmd_import)


def add_init(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    n = sub.add_parser("init", help="copy the starter suites into cases/ to edit them")
    n.add_argument("folder", nargs="?", default="cases", help="where (default: cases)")
    n.add_argument("--force", action="store_true", help="overwrite suites already there")
    n.set_defaults(run=cmd_init)


def add_attacks(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    a = sub.add_parser("attacks", help="list the attacks")
    a.add_argument("--attack-file", action="append", help="your attack files")
    a.add_argument(
        "--sources", action="store_true", help="each attack's source (paper) under its line"
    )
    a.set_defaults(run=cmd_attacks)
