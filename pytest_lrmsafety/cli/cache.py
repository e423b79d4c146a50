"""``lrmsafety cache stats`` and ``cache purge``: what the completion cache holds, per model
and deployment, and deleting entries (all, by age or by model), then shrinking the file."""

from __future__ import annotations

import argparse
import math
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import ConfigError
from .common import width

if TYPE_CHECKING:
    from ..engine.cache import Cache, CacheGroup


def open_cache(args: argparse.Namespace, mode: str) -> Cache:
    """The cache in ``--cache-dir`` (none there: one line naming the option)."""
    from ..engine.cache import FILE_NAME, Cache

    folder = Path(args.cache_dir)
    if not (folder / FILE_NAME).is_file():
        raise ConfigError(f"--cache-dir {folder}: no cache there (no {folder / FILE_NAME})")
    return Cache(folder, mode)


def deployment(group: CacheGroup) -> str:
    """Where a model's completions came from, in a few words."""
    identity = group.identity or {}
    deployed = identity.get("deployment")
    if not isinstance(deployed, dict):
        return str(identity.get("client") or "-")  # a local backend, a replay
    if "revision" in deployed:
        return f"revision {deployed['revision']}"
    if "started" in deployed:
        return "a vLLM server started by the run"
    urls = group.endpoint or " ".join(deployed.get("urls", ()))
    served = deployed.get("served")
    return (urls.replace(" ", ", ") or "-") + (f" ({served})" if served else "")


def model_names(group: CacheGroup) -> list[str]:
    """The names ``--model`` matches: the served model, the spec, the client's name."""
    identity = group.identity or {}
    names = [identity.get(k) for k in ("model", "spec", "name")]
    return [str(n) for n in dict.fromkeys(names) if n] or [group.name]


def when(stamp: float) -> str:
    import time

    return time.strftime("%Y-%m-%d %H:%M", time.localtime(stamp))


def size(n: int) -> str:
    """A file size for people: bytes, KB, MB, GB."""
    if n < 1024:
        return f"{n} bytes"
    scaled, unit = n / 1024, "KB"
    for bigger in ("MB", "GB"):
        if scaled < 1024:
            break
        scaled, unit = scaled / 1024, bigger
    return f"{scaled:.1f} {unit}"


def cmd_cache_stats(args: argparse.Namespace) -> int:
    from ..report.layout import Cell, table, visible

    cache = open_cache(args, "ro")
    groups = cache.groups()
    completions = [g for g in groups if g.table == "completions"]
    verdicts = [g for g in groups if g.table == "verdicts"]
    print(
        f"cache {cache.path}: {size(cache.size())}; {sum(g.entries for g in completions)} "
        f"completions of {len(completions)} models, {sum(g.entries for g in verdicts)} verdicts"
    )
    columns = width(args)
    if completions:
        rows: list[list[Cell]] = [
            [model_names(g)[0], deployment(g), g.entries, when(g.oldest), when(g.newest)]
            for g in completions
        ]
        lines = table(
            ["model", "deployment", "entries", "oldest", "newest"], rows, columns, shrink=(1, 0)
        )
        print(visible("\n".join(["", *lines])))
    if verdicts:
        rows = [[g.name, g.entries, when(g.oldest), when(g.newest)] for g in verdicts]
        lines = table(["judge", "verdicts", "oldest", "newest"], rows, columns)
        print(visible("\n".join(["", *lines])))
    return 0


def cmd_cache_purge(args: argparse.Namespace) -> int:
    import sqlite3
    import time

    if args.older_than is not None and not (
        math.isfinite(args.older_than) and args.older_than >= 0
    ):
        raise ConfigError(f"--older-than {args.older_than:g}: must be a number of days, 0 or more")
    cache = open_cache(args, "rw")
    models = None
    if args.model is not None:
        groups = [g for g in cache.groups() if g.table == "completions"]
        models = [g.name for g in groups if args.model in model_names(g)]
        if not models:
            known = sorted({model_names(g)[0] for g in groups})
            raise ConfigError(
                f"--model {args.model}: no completions of that model in {cache.path} "
                f"(models: {', '.join(known) or 'none'})"
            )
    before = None if args.older_than is None else time.time() - args.older_than * 86400
    was = cache.size()
    try:
        removed = cache.purge(before=before, models=models)
    except sqlite3.OperationalError as exc:  # a run holding the file ("database is locked")
        raise ConfigError(f"cache {cache.path}: cannot purge it now: {exc}") from None
    print(f"cache {cache.path}: {removed} entries removed; {size(was)} -> {size(cache.size())}")
    return 0


def add_cache(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """``cache stats`` and ``cache purge``'s parsers."""
    c = sub.add_parser("cache", help="what the completion cache holds; purge it")
    actions = c.add_subparsers(dest="action", required=True)
    for name, run, text in (
        ("stats", cmd_cache_stats, "entries per model and deployment, size, oldest and newest"),
        ("purge", cmd_cache_purge, "delete entries (all of them unless narrowed), then shrink"),
    ):
        action = actions.add_parser(name, help=text, description=text)
        action.add_argument(
            "--cache-dir", default=".lrmsafety", help="the cache's folder (default: .lrmsafety)"
        )
        action.set_defaults(run=run)
    purge = actions.choices["purge"]
    purge.add_argument("--older-than", type=float, metavar="DAYS", help="only entries this old")
    purge.add_argument(
        "--model",
        metavar="NAME",
        help="only this model's completions (its name or spec, as `cache stats` shows)",
    )
    stats = actions.choices["stats"]
    stats.add_argument("--width", type=int, help="columns of the output (default: terminal's)")
