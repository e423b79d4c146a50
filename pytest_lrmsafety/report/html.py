"""``--lrm-report-html``: one self-contained HTML file, readable with no network.

Built with Jinja2 (autoescaping on: every piece of model output, suite text and judge
rationale is escaped) and matplotlib (``charts.py``: inline SVG, text drawn as paths, so no
label can carry markup). A table of contents leads to each section; long lists (triage,
regressions, the probes) are folded in ``<details>`` and open with a click, no script. The
one script (filtering the probe table) is inline and allowed by a Content-Security-Policy
hash; nothing else may run, and the page loads nothing from anywhere. Needs the ``html``
extra: ``pip install 'pytest-lrmsafety[html]'``.
"""

from __future__ import annotations

import base64
import hashlib
import importlib
from importlib import resources
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from .model import Report

INSTALL_HINT = "pip install 'pytest-lrmsafety[html]'"

FILTER_SCRIPT = """
(function () {
  var table = document.getElementById("probes");
  var controls = document.querySelectorAll("[data-filter]");
  var search = document.getElementById("search");
  var count = document.getElementById("shown");
  function apply() {
    var wanted = {};
    controls.forEach(function (c) { wanted[c.getAttribute("data-filter")] = c.value; });
    var needle = search.value.toLowerCase();
    var shown = 0;
    table.querySelectorAll("tbody tr.probe").forEach(function (row) {
      var ok = true;
      Object.keys(wanted).forEach(function (key) {
        var v = wanted[key];
        if (v && row.getAttribute("data-" + key).split(" ").indexOf(v) < 0) { ok = false; }
      });
      if (ok && needle && row.textContent.toLowerCase().indexOf(needle) < 0) { ok = false; }
      row.hidden = !ok;
      var detail = row.nextElementSibling;
      if (detail && detail.classList.contains("detail")) { detail.hidden = !ok; }
      if (ok) { shown += 1; }
    });
    count.textContent = String(shown);
  }
  controls.forEach(function (c) { c.addEventListener("change", apply); });
  search.addEventListener("input", apply);
  apply();
  table.setAttribute("data-ready", "1");
})();
"""


def _import(option: str = "--lrm-report-html") -> tuple[Any, Any]:
    try:
        jinja2 = importlib.import_module("jinja2")
        matplotlib = importlib.import_module("matplotlib")
    except ImportError as exc:
        raise ConfigError(f"{option} needs jinja2 and matplotlib ({exc}): {INSTALL_HINT}") from None
    return jinja2, matplotlib


def check_available(option: str = "--lrm-report-html") -> None:
    """``ConfigError`` naming ``option`` (what the user asked with: pytest's option, or
    ``lrmsafety report --html``) and the extra when the HTML report cannot be made."""
    _import(option)


def render_html(report: Report) -> str:
    """The self-contained HTML page of a report."""
    jinja2, _ = _import()
    from .charts import charts  # it imports this module, for the extra's check
    from .profile import study_lines
    from .reasoning import reasoning_facts
    from .terminal import gate_value, pct
    from .trend import trend_line

    template_text = (
        resources.files(__package__).joinpath("templates/report.html.j2").read_text("utf-8")
    )
    env = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined)
    env.filters["pct"] = pct
    env.filters["gate_value"] = gate_value
    digest = base64.b64encode(hashlib.sha256(FILTER_SCRIPT.encode("utf-8")).digest()).decode()
    probes = report.probes
    return str(
        env.from_string(template_text).render(
            report=report,
            charts=charts(report),
            script=FILTER_SCRIPT,
            script_hash=f"sha256-{digest}",
            categories=sorted({p.category for p in probes}),
            attacks=sorted({p.attack for p in probes}),
            judges=sorted({v["judge"] for p in probes for v in p.verdicts}),
            study=study_lines(report.study, report.model, 120, True) if report.study else None,
            budget_trend=trend_line(report.by_budget),
            reasoning_facts=reasoning_facts(report),
        )
    )


def write_html(report: Report, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_html(report), encoding="utf-8")
