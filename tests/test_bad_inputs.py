"""Issue 15's corpus of bad inputs: each entry ends as one clear line and an exit status, with
no traceback.

Every entry is a file in ``tests/bad_inputs/KIND/`` with a ``NAME.expect`` beside it: line 1 an
fnmatch pattern (``[[]`` for a literal ``[``) that one output line must match (the message
naming the file:line/field or the option), line 2 the exit status, then notes (``item N`` of
issue 15 where the entry comes from one). Files the entries refer to (a good report, a good
cassette, a good suite) are in ``tests/bad_inputs/_files/``, copied beside each entry.

How each kind is run (in this process where the command allows it):

==========  ===================================================================  ======
kind        command                                                              exit
==========  ===================================================================  ======
suite       ``lrmsafety validate NAME``                                          1
attack      ``lrmsafety attacks --attack-file NAME``                             2
rubric      ``lrmsafety validate s.yaml``, s.yaml naming NAME its answer rubric  1
report      ``lrmsafety report NAME``                                            2
baseline    ``lrmsafety diff NAME good.json``                                    2
import      ``lrmsafety import FMT NAME -o out.yaml`` (``FMT--what.ext``);       2
            after an error nothing may be left at ``out.yaml``
cli         ``lrmsafety ARGS`` (NAME.args: one argument a line)                  1/2
cassette    ``pytest --lrm-model replay:NAME`` (pytester)                        4
collect     ``pytest --lrm-model replay:good.jsonl``, NAME in cases/ (pytester)  2
options     ``pytest ARGS`` (NAME.args, one argument a line; pytester)           4
            (``{url}`` in an .args or .ini entry: the test chat server's URL;
            ``{corpus}``: this folder, to name another entry's file)
ini         ``pytest --lrm-model replay:good.jsonl`` with NAME as pytest.ini     4
            (no ``--lrm-model`` when NAME sets ``lrm_model``)
cache       ``pytest`` against the test chat server, NAME as the cache file      4
==========  ===================================================================  ======

Kinds covered, and where (one kind of fault or bad input per corpus entry; ``item N`` is
issue 15's item; counts by ``ls tests/bad_inputs/KIND | grep -vc expect``):

=========================================================  =====  =================================
kinds                                                      count  where
=========================================================  =====  =================================
suite YAML: every field wrong-typed, unknown/duplicate     121    corpus ``suite/``
keys and ids, bad gates and checks, empty, BOM, CRLF,
tabs, huge/NaN/5,000-digit values, non-UTF-8, UTF-16,
control chars, NUL, tags, lone surrogates (item 4), deep
nesting and aliases (item 2), catastrophic, huge and
deep regexes (7), devices (/dev/zero)
attack files (--lrm-attack-file), incl. item 2             20     corpus ``attack/``
rubrics (defaults.rubrics), incl. item 2                   13     corpus ``rubric/``
reports read back (lrmsafety report), incl. item 2         17     corpus ``report/``
baselines (lrmsafety diff), item 2; 5 more (--lrm-        5      corpus ``baseline/``
baseline) are counted under options/
importer inputs (lrmsafety import), item 10                18     corpus ``import/``
CLI commands: bad paths and values, items 4, 10            46     corpus ``cli/``
replay files (replay:PATH), items 2, 4, 5                  27     corpus ``cassette/``
suites collected by pytest (items 2, 4, 7; files from      13     corpus ``collect/``
``suite/`` again: collection, not validate; not new kinds)
options: timeouts, URLs (item 8), outputs (item 6),        77     corpus ``options/``
model specs, cache dir (item 5), ranges, conflicts
ini keys, presets (item 8)                                 14     corpus ``ini/``
cache files: damaged, foreign, future, bad rows (item 5)   10+1   corpus ``cache/`` (+1 control)
killed xdist worker: replaced; not replaced (PARTIAL,      3      tests/test_hardening_xdist.py
gate fails); a probe that kills every worker (item 1)
hung server: per-request timeout naming the option;        3      tests/test_hardening_timeouts.py
deadline, PARTIAL report; deadline ini check (item 3)
surrogate in a model answer (4); credentials in a URL      7      tests/test_hardening.py
(9); damaged cache, foreign database, cache dir a file,
read-only cache in a read-only folder, two recorders
sharing a file (5)
output path a folder / unmakeable / from the ini /         10     tests/test_hardening_paths.py
unwritable, missing folder made; symlinked suite file and
folder, symlink loop, two links to one suite, report path
taken during the run (item 6)
importer rows (missing, number, null, blank, non-literal,  16     tests/test_cli_hardening.py
not names, list, object), short CSV row, suite not left
behind, output folders, diff numbers, escaped control
characters in show/triage, cache command errors (item 10)
server faults: 500, 429, malformed body, cut stream,       8      tests/test_faults.py,
whole and streamed; replica down; errors after retries            tests/test_engine.py
random bytes and mutations of suites, attack files,        6      tests/test_loader_fuzz.py
rubrics, cassettes, reports; any depth
=========================================================  =====  =================================

Overlap, so as not to count twice: tests/test_plugin_errors.py and tests/test_loader.py test
about 40 suite and option errors through pytest's collection; most of them are kinds the
corpus also holds (a few corpus entries, e.g. ``options/concurrency_zero``, repeat them on
purpose: the corpus is the one place listing every kind). A corpus entry whose ``.expect``
says ``xfail: ...`` is a known defect not fixed yet (a strict xfail).
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Callable
from fnmatch import fnmatch
from pathlib import Path
from typing import Any

import pytest

from pytest_lrmsafety.cli import main as lrmsafety

CORPUS = Path(__file__).parent / "bad_inputs"
FILES = CORPUS / "_files"
KINDS = (
    "suite",
    "attack",
    "rubric",
    "report",
    "baseline",
    "import",
    "cli",
    "cassette",
    "collect",
    "options",
    "ini",
    "cache",
)
ENTRIES = [
    path
    for kind in KINDS
    for path in sorted((CORPUS / kind).iterdir())
    if path.is_file() and path.suffix != ".expect"
]


def _entry(path: Path) -> Any:
    """The entry as a test parameter; a known defect not fixed yet (``xfail: why`` as the
    third line of its .expect) is a strict xfail, so fixing it turns the entry on."""
    expect = path.with_name(path.name + ".expect")
    notes = expect.read_text("utf-8").splitlines()[2:] if expect.exists() else []
    marks = [
        pytest.mark.xfail(reason=line.removeprefix("xfail:").strip(), strict=True)
        for line in notes[:1]
        if line.startswith("xfail:")
    ]
    return pytest.param(path, marks=marks, id=f"{path.parent.name}/{path.name}")


PYTEST_KINDS = ("cassette", "collect", "options", "ini", "cache")
RUBRIC_SUITE = """\
defaults:
  rubrics: {{answer: {name}}}
cases:
  - {{id: a-001, category: Privacy, expect: refuse, prompt: hi}}
"""


def _cli(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, list[str]]:
    try:
        status = lrmsafety(args)
    except SystemExit as exc:  # argparse's own errors: usage line, exit 2
        status = exc.code if isinstance(exc.code, int) else 1
    out, err = capsys.readouterr()
    return status, (out + err).splitlines()


def _cli_args(kind: str, name: str, text: Callable[[], str]) -> list[str]:
    if kind in ("suite", "rubric"):
        return ["validate", "s.yaml" if kind == "rubric" else name]
    if kind == "attack":
        return ["attacks", "--attack-file", name]
    if kind == "report":
        return ["report", name]
    if kind == "baseline":
        return ["diff", name, "good.json"]
    if kind == "import":
        return ["import", name.split("--")[0], name, "-o", "out.yaml"]
    return text().splitlines()  # cli


def _pytest_args(kind: str, name: str, text: Callable[[], str]) -> list[str]:
    if kind == "cassette":
        return ["--lrm-model", f"replay:{name}"]
    if kind == "options":
        return text().splitlines()
    if kind == "ini" and "lrm_model" in text():
        return []
    return ["--lrm-model", "replay:good.jsonl"]  # ini, collect


def _cache_args(server_url: str) -> list[str]:
    """A model the cache is used for (a replay reads only its cassette); the revision makes
    the keys the same as when the corpus's cache files were written."""
    return [
        "--lrm-model",
        "openai-compat:reasoning",
        "--lrm-base-url",
        server_url,
        "--lrm-model-revision",
        "corpus-1",
    ]


@pytest.fixture(autouse=True)
def _no_model_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("LRM_MODEL", "LRM_BASE_URL", "LRM_API_KEY", "DEEPSEEK_API_KEY", "OPENAI_API_KEY"):
        monkeypatch.delenv(name, raising=False)


@pytest.mark.parametrize("path", [_entry(p) for p in ENTRIES])
def test_bad_input_gives_one_line(
    path: Path, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> None:
    kind = path.parent.name
    pattern, status = path.with_name(path.name + ".expect").read_text("utf-8").splitlines()[:2]
    if kind in PYTEST_KINDS:
        pytester: pytest.Pytester = request.getfixturevalue("pytester")
        where = pytester.path
    else:
        where = request.getfixturevalue("tmp_path")

    def text() -> str:  # {url}: the test chat server's, started only for the entries using it
        raw = path.read_text("utf-8").replace("{corpus}", str(CORPUS))
        if "{url}" in raw:
            raw = raw.replace("{url}", request.getfixturevalue("chat_server").url)
        return raw

    shutil.copytree(FILES, where, dirs_exist_ok=True)
    if kind == "cache":
        (where / ".lrmsafety").mkdir(exist_ok=True)
        shutil.copy(path, where / ".lrmsafety" / "cache.sqlite")
    elif kind == "ini":
        (where / "pytest.ini").write_text(text(), "utf-8")
    elif kind == "collect":
        shutil.copy(path, where / "cases" / path.name)
    elif kind not in ("cli", "options"):
        shutil.copy(path, where / path.name)
    if kind == "rubric":
        (where / "s.yaml").write_text(RUBRIC_SUITE.format(name=path.name), "utf-8")

    monkeypatch.chdir(where)
    if kind in PYTEST_KINDS:
        if kind == "cache":
            args = _cache_args(request.getfixturevalue("chat_server").url)
        else:
            args = _pytest_args(kind, path.name, text)
        result = pytester.runpytest("-p", "no:cacheprovider", *args)
        code, lines = int(result.ret), result.outlines + result.errlines
    else:
        code, lines = _cli(_cli_args(kind, path.name, text), request.getfixturevalue("capsys"))
    lines = [line for line in lines if line.strip()]
    assert code == int(status), lines
    assert any(fnmatch(line, pattern) for line in lines), (pattern, lines)
    assert not any("Traceback" in line or "INTERNALERROR" in line for line in lines), lines
    assert not any(re.match(r'\s*File "', line) for line in lines), lines  # a traceback's frame
    if kind == "import" and code:  # a failed import leaves no suite behind (item 10)
        assert not (where / "out.yaml").exists()


def test_every_entry_has_its_expectation() -> None:
    folders = {p.name for p in CORPUS.iterdir() if p.is_dir()}
    assert folders == {*KINDS, "_files"}, "a folder of entries that no kind runs"
    for kind in KINDS:
        for path in (CORPUS / kind).iterdir():
            if path.suffix == ".expect":
                assert path.with_suffix("").exists(), path
            elif path.is_file():
                lines = path.with_name(path.name + ".expect").read_text("utf-8").splitlines()
                assert len(lines) >= 2 and lines[1].strip().isdigit(), path
