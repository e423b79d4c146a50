"""`lrmsafety import --judges`: the judges written into an imported suite's defaults (e.g.
``reward`` beside AIR-Bench's own judge, for the R1 study's Figure 3), checked against the
built-in judge names before any data is read."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from test_importers import fixtures

from pytest_lrmsafety.attacks import builtin_attacks
from pytest_lrmsafety.cases.loader import load_suite
from pytest_lrmsafety.cli import main as lrmsafety
from pytest_lrmsafety.judges.names import BUILTIN_JUDGES


def imported(path: Path) -> dict[str, object]:
    return dict(yaml.safe_load(path.read_text()))


def test_the_judges_go_into_the_suites_defaults(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = fixtures(tmp_path)["airbench"]
    out = tmp_path / "cases" / "air.yaml"
    code = lrmsafety(
        ["import", "airbench", str(source), "-o", str(out), "--judges", "benchmark, reward,reward"]
    )
    assert code == 0, capsys.readouterr().err
    assert imported(out)["defaults"]["judges"] == ["benchmark", "reward"]  # type: ignore[index]
    suite = load_suite(out, "air.yaml", attacks=set(builtin_attacks()), judges=BUILTIN_JUDGES)
    assert all(c.judges == ("benchmark", "reward") for c in suite.cases)
    assert "judges of their own" not in capsys.readouterr().out


def test_without_judges_the_format_chooses(tmp_path: Path) -> None:
    source = fixtures(tmp_path)["airbench"]
    out = tmp_path / "air.yaml"
    assert lrmsafety(["import", "airbench", str(source), "-o", str(out)]) == 0
    assert imported(out)["defaults"]["judges"] == ["benchmark"]  # type: ignore[index]
    xstest = fixtures(tmp_path)["xstest"]
    assert lrmsafety(["import", "xstest", str(xstest), "-o", str(out), "--judges", "default"]) == 0
    assert "judges" not in imported(out)["defaults"]  # type: ignore[operator]


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("benchmark,rewad", "--judges: no built-in judge 'rewad'; known: airbench, aware, "),
        ("benchmark,,reward", "--judges 'benchmark,,reward': an empty name"),
        ("", "--judges '': an empty name"),
    ],
)
def test_a_wrong_judge_is_one_line_and_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], value: str, message: str
) -> None:
    source = fixtures(tmp_path)["airbench"]
    out = tmp_path / "cases" / "air.yaml"
    code = lrmsafety(["import", "airbench", str(source), "-o", str(out), "--judges", value])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith(f"lrmsafety import: {message}") and err.count("\n") == 1, err
    assert not (tmp_path / "cases").exists()


def test_cases_with_judges_of_their_own_are_named(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Spear-phishing cases name their skill judges themselves: --judges sets the defaults,
    and the import says that those cases keep theirs."""
    source = fixtures(tmp_path)["cyberseceval-phishing"]
    out = tmp_path / "phishing.yaml"
    code = lrmsafety(
        [
            "import",
            "cyberseceval-phishing",
            str(source),
            "-o",
            str(out),
            "--judges",
            "default,reward",
        ]
    )
    assert code == 0
    assert imported(out)["defaults"]["judges"] == ["default", "reward"]  # type: ignore[index]
    printed = capsys.readouterr().out
    assert (
        "cases name judges of their own (the format's), which --judges does not change" in printed
    )
