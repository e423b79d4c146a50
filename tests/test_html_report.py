"""The HTML report in real headless Chromium: charts present, model output inert, no network.

Needs the ``html`` extra (jinja2, matplotlib) and Debian's ``chromium``. CI installs both and
sets LRM_REQUIRE_CHROMIUM=1, so there a missing browser fails instead of skipping.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from chat_server import ChatServer
from lrm_project import make_project, model_args, read_report

from pytest_lrmsafety.report.build import build_report
from pytest_lrmsafety.report.charts import charts, newcombe
from pytest_lrmsafety.report.html import render_html
from pytest_lrmsafety.report.model import Report
from pytest_lrmsafety.report.scoreboard import ProbeRecord

pytest.importorskip("jinja2")
# Imported now, before any in-process pytester run: pytester drops the modules first imported
# inside a run, and a later chart would mix the dropped matplotlib's classes with new ones.
pytest.importorskip("matplotlib").use("Agg")
pytest.importorskip("matplotlib.pyplot")
pytest.importorskip("matplotlib.backends.backend_svg")

PAYLOAD = (
    "Sure, here is how: <script>document.title='PWNED'</script>"
    "<img src=x onerror=\"document.body.setAttribute('data-pwned','1')\">"
    "<svg onload=\"document.body.setAttribute('data-pwned','2')\"></svg> 1. [placeholder]"
)


def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        if os.environ.get("LRM_REQUIRE_CHROMIUM"):
            pytest.fail("chromium is required here (LRM_REQUIRE_CHROMIUM) but not installed")
        pytest.skip("headless Chromium is not installed (apt-get install chromium)")
    return found


def browse(page: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            chromium(),
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--virtual-time-budget=3000",
            *args,
            page.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.slow
def test_html_report_in_chromium(pytester: pytest.Pytester, chat_server: ChatServer) -> None:
    project = make_project(pytester, chat_server)
    run = ["--lrm-cache=off", "-p", "no:cacheprovider"]
    chat_server.rules.clear()  # the baseline refuses all but the benign request
    chat_server.add_rule("BENIGN", thinking="Simple.", answer="Use `kill PID` to stop it.")
    base = project.runpytest(*model_args(chat_server), *run, "--lrm-report-json=base.json")
    base.assert_outcomes(passed=7)
    chat_server.add_rule("MALWARE", thinking="Go.", answer=PAYLOAD)
    result = project.runpytest(
        *model_args(chat_server),
        *run,
        "--lrm-baseline=base.json",
        "--lrm-report-html=out/report.html",
        "--lrm-report-json=new.json",
    )
    result.assert_outcomes(passed=5, failed=2)
    page = pytester.path / "out" / "report.html"
    html = page.read_text()
    assert "<script>document.title" not in html  # escaped in the file itself
    assert "&lt;script&gt;document.title=&#39;PWNED&#39;&lt;/script&gt;" in html
    assert "Content-Security-Policy" in html
    assert not re.search(r"""(src|href)\s*=\s*["']?https?:""", html)  # nothing to fetch

    dom = browse(page, "--dump-dom")
    assert dom.returncode == 0, dom.stderr[-2000:]
    text = dom.stdout
    title = re.search(r"<title>(.*?)</title>", text, re.S)
    assert title and "PWNED" not in title.group(1)
    body = re.search(r"<body[^>]*>", text)
    assert body and "data-pwned" not in body.group(0)  # no injected handler ran
    assert 'id="probes" data-ready="1"' in text  # the report's own script did run
    answers = re.findall(r'<pre class="answer">(.*?)</pre>', text, re.S)
    assert any("&lt;script&gt;document.title='PWNED'&lt;/script&gt;" in a for a in answers)
    assert len(re.findall(r"<svg[ >]", text)) >= 3  # category, attack and baseline charts
    assert "Against the baseline" in text and "Passed in the baseline, fail now (2)" in text
    assert "Triage: 2 failed probes by category and attack" in text
    excerpts = re.findall(r'<pre class="excerpt">(.*?)</pre>', text, re.S)
    assert any("&lt;script&gt;" in e for e in excerpts)  # escaped in the triage too
    contents = re.search(r'<nav class="toc".*?</nav>', text, re.S)
    assert contents, "no table of contents"
    targets = re.findall(r'href="#([^"]+)"', contents.group(0))
    assert "baseline" in targets and all(f'id="{t}"' in text for t in targets)

    shot = pytester.path / "report.png"
    taken = browse(page, f"--screenshot={shot}", "--window-size=1280,2000")
    assert taken.returncode == 0, taken.stderr[-2000:]
    assert shot.read_bytes().startswith(b"\x89PNG") and shot.stat().st_size > 20_000
    keep = os.environ.get("LRM_KEEP_SCREENSHOT")
    if keep:  # to look at it: LRM_KEEP_SCREENSHOT=/tmp/report.png
        shutil.copy(shot, keep)
    report = read_report(pytester.path / "new.json")
    assert report["gate_verdict"] == "fail"


@pytest.mark.slow
def test_html_needs_its_extra(pytester: pytest.Pytester, chat_server: ChatServer) -> None:
    """Without jinja2, the run stops at once with the extra to install."""
    project = make_project(pytester, chat_server)
    pytester.makeconftest("import sys\nsys.modules['jinja2'] = None\n")
    result = project.runpytest_subprocess(*model_args(chat_server), "--lrm-report-html=r.html")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        ["*needs jinja2 and matplotlib*pip install 'pytest-lrmsafety[[]html[]]'*"]
    )
    assert chat_server.requests == []


# -- charts, navigation and folding, from built reports ---------------------------------------


def records(failing: int, total: int = 40) -> list[ProbeRecord]:
    """Refuse probes in two categories; ``hidden`` answers without a judged trace (its
    thinking attack success has nothing to measure); the first ``failing`` probes fail."""
    out = []
    for n in range(total):
        attack = "hidden" if n % 2 else "direct"
        unsafe = n < failing
        out.append(
            ProbeRecord(
                nodeid=f"cases/s.yaml::c{n:03d}[{attack}]",
                suite="cases/s.yaml",
                case_id=f"c{n:03d}",
                category="Privacy" if n % 4 < 2 else "Hate",
                attack=attack,
                sample=1,
                expect="refuse",
                severity="high",
                outcome="fail" if unsafe else "pass",
                reasons=["unsafe answer: the answer complied"] if unsafe else [],
                answer_unsafe=unsafe,
                thinking_unsafe=None if attack == "hidden" else unsafe,
                unclear=n % 5 == 0,
            )
        )
    return out


def built(failing: int, *, baseline: int | None = None, total: int = 40) -> Report:
    base = None
    if baseline is not None:
        base = build_report(records(baseline, total), [], model="m0", settings={}, partial=False)
    return build_report(
        records(failing, total),
        [],
        model="m1",
        settings={},
        partial=False,
        baseline=base,
        baseline_path="base.json" if base else None,
    )


def svg_ids(svg: str) -> set[str]:
    return set(re.findall(r'<g id="([^"]+)"', svg))


def test_newcombe_interval_matches_the_published_example() -> None:
    # Newcombe (1998), Statistics in Medicine 17:873, example (a): 56/70 - 48/80, method 10.
    low, high = newcombe(48, 80, 56, 70)
    assert (low, high) == pytest.approx((0.0524, 0.3339), abs=1e-4)
    assert newcombe(0, 10, 0, 10)[0] < 0 < newcombe(0, 10, 0, 10)[1]


def test_charts_draw_na_as_no_bar_and_the_delta_with_intervals() -> None:
    report = built(failing=8, baseline=2)
    drawn = dict((caption.split(",")[0], svg) for caption, svg in charts(report))
    attack = svg_ids(drawn["Attack success per attack"])
    groups = [r.group for r in report.by_attack]
    direct, hidden = groups.index("direct"), groups.index("hidden")
    assert {f"bar-attack-0-{direct}", f"bar-attack-0-{hidden}"} <= attack  # answers: bars
    assert f"bar-attack-1-{direct}" in attack  # the trace was judged: a bar
    assert f"bar-attack-1-{hidden}" not in attack  # nothing to measure: no bar ...
    assert f"na-attack-1-{hidden}" in attack  # ... but an n/a label
    assert "interval-attack-0" in attack
    delta_caption, delta = next((c, s) for c, s in charts(report) if "baseline" in c)
    assert "95% Newcombe intervals" in delta_caption
    ids = svg_ids(delta)
    assert {"bar-delta-0-0", "bar-delta-0-1", "interval-delta-0"} <= ids


def test_page_has_contents_unclear_columns_and_folds_long_lists() -> None:
    long = render_html(built(failing=30, baseline=0, total=80))
    assert len(re.findall(r"<script", long)) == 1  # still only the hashed filter script
    links = re.findall(r'<nav class="toc".*?</nav>', long, re.S)[0]
    targets = re.findall(r'href="#([^"]+)"', links)
    assert {"gates", "categories", "attacks", "baseline", "triage", "probes-heading"} <= set(
        targets
    )
    assert all(f'id="{t}"' in long for t in targets)  # every entry leads somewhere
    for table in ("categories", "attacks"):
        head = re.search(rf'id="{table}".*?</thead>', long, re.S)
        assert head and "<th>unclear</th>" in head.group(0)
    triage = re.findall(r'<details class="fold triage-group"( open)?>', long)
    assert triage == ["", ""]  # 30 failures: one closed fold per category
    assert re.search(r'<details class="fold" id="newly-failing">', long)  # 30 > 10: closed
    assert re.search(r'<details class="fold" id="probe-list">', long)  # 80 > 50: closed
    short = render_html(built(failing=3))
    assert re.findall(r'<details class="fold triage-group"( open)?>', short) == [" open"] * 2
    assert '<details class="fold" id="probe-list" open>' in short  # 40 probes: open
