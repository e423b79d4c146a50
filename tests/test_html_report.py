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

pytest.importorskip("jinja2")
pytest.importorskip("matplotlib")

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

    shot = pytester.path / "report.png"
    taken = browse(page, f"--screenshot={shot}", "--window-size=1280,2000")
    assert taken.returncode == 0, taken.stderr[-2000:]
    assert shot.read_bytes().startswith(b"\x89PNG") and shot.stat().st_size > 20_000
    keep = os.environ.get("LRM_KEEP_SCREENSHOT")
    if keep:  # to look at it: LRM_KEEP_SCREENSHOT=/tmp/report.png
        shutil.copy(shot, keep)
    report = read_report(pytester.path / "new.json")
    assert report["gate_verdict"] == "fail"


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
