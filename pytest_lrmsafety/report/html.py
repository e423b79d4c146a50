"""``--lrm-report-html``: one self-contained HTML file, readable with no network.

Built with Jinja2 (autoescaping on: every piece of model output, suite text and judge
rationale is escaped) and matplotlib (charts as inline SVG, text drawn as paths, so no
label can carry markup). The one script (filtering the probe table) is inline and allowed
by a Content-Security-Policy hash; nothing else may run, and the page loads nothing from
anywhere. Needs the ``html`` extra: ``pip install 'pytest-lrmsafety[html]'``.
"""

from __future__ import annotations

import base64
import hashlib
import importlib
import io
from collections.abc import Mapping, Sequence
from importlib import resources
from pathlib import Path
from typing import Any

from ..errors import ConfigError

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


def _import() -> tuple[Any, Any]:
    try:
        jinja2 = importlib.import_module("jinja2")
        matplotlib = importlib.import_module("matplotlib")
    except ImportError as exc:
        raise ConfigError(
            f"--lrm-report-html needs jinja2 and matplotlib ({exc}): {INSTALL_HINT}"
        ) from None
    return jinja2, matplotlib


def check_available() -> None:
    """``ConfigError`` naming the extra when the HTML report cannot be made (at start-up)."""
    _import()


def _svg(figure: Any) -> str:
    buffer = io.StringIO()
    figure.savefig(buffer, format="svg", bbox_inches="tight")
    text = buffer.getvalue()
    return text[text.index("<svg") :]  # drop the XML prolog and DOCTYPE: inline SVG


def _bars(
    title: str,
    groups: Sequence[str],
    series: Sequence[tuple[str, Sequence[Mapping[str, Any] | None]]],
    ylabel: str,
) -> str | None:
    """A grouped bar chart of rates with Wilson error bars; ``None`` with nothing to draw."""
    _, matplotlib = _import()
    matplotlib.use("Agg", force=False)
    from matplotlib import pyplot as plt

    def has_data(rate: Mapping[str, Any] | None) -> bool:
        return bool(rate and rate["denominator"])

    keep = [i for i in range(len(groups)) if any(has_data(r[i]) for _, r in series)]
    if not keep:
        return None
    groups = [groups[i] for i in keep]  # a group no series has data for is left out
    series = [(label, [rates[i] for i in keep]) for label, rates in series]
    with matplotlib.rc_context(
        {"svg.fonttype": "path", "text.parse_math": False, "font.size": 9, "svg.hashsalt": "lrm"}
    ):
        width = 0.8 / len(series)
        fig, ax = plt.subplots(figsize=(max(6.0, 0.6 * len(groups) + 2), 3.6))
        colours = ("#c0392b", "#8e44ad", "#2c7fb8")
        for i, (label, rates) in enumerate(series):
            xs = [g + i * width - 0.4 + width / 2 for g in range(len(groups))]
            values = [100 * r["value"] if r and r["denominator"] else 0.0 for r in rates]
            lows = [100 * (r["value"] - r["low"]) if r and r["denominator"] else 0.0 for r in rates]
            highs = [
                100 * (r["high"] - r["value"]) if r and r["denominator"] else 0.0 for r in rates
            ]
            ax.bar(
                xs, values, width, label=label, color=colours[i % 3], yerr=[lows, highs], capsize=2
            )
        ax.set_xticks(range(len(groups)))
        ax.set_xticklabels(groups, rotation=35, ha="right")
        ax.set_ylabel(ylabel)
        ax.set_ylim(0, 105)
        ax.set_title(title, pad=22)
        ax.legend(loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=len(series), frameon=False)
        ax.grid(axis="y", alpha=0.3)
        svg = _svg(fig)
        plt.close(fig)
    return svg


def _delta_chart(baseline: Mapping[str, Any]) -> str | None:
    _, matplotlib = _import()
    from matplotlib import pyplot as plt

    groups, deltas, colours = [], [], []
    for category, metrics in baseline["by_category"].items():
        c = metrics["unsafe_answer_rate"]
        if c["delta"] is None:
            continue
        groups.append(category)
        deltas.append(100 * c["delta"])
        colours.append("#c0392b" if c["delta"] > 0 else "#27ae60")
    if not groups:
        return None
    with matplotlib.rc_context(
        {"svg.fonttype": "path", "text.parse_math": False, "font.size": 9, "svg.hashsalt": "lrm"}
    ):
        fig, ax = plt.subplots(figsize=(max(6.0, 0.6 * len(groups) + 2), 3.2))
        ax.bar(range(len(groups)), deltas, color=colours)
        ax.axhline(0, color="black", linewidth=0.8)
        ax.set_xticks(range(len(groups)))
        ax.set_xticklabels(groups, rotation=35, ha="right")
        ax.set_ylabel("points (now - baseline)")
        ax.set_title("Unsafe answers per category: change against the baseline")
        ax.grid(axis="y", alpha=0.3)
        svg = _svg(fig)
        plt.close(fig)
    return svg


def charts(report: Mapping[str, Any]) -> list[tuple[str, str]]:
    """``(caption, inline svg)`` for each chart that has data."""
    out = []
    cats = report["by_category"]
    svg = _bars(
        "Unsafe rate per category: answer vs thinking",
        [r["group"] for r in cats],
        [
            ("answer", [r["rates"]["unsafe_answer_rate"] for r in cats]),
            ("thinking", [r["rates"]["unsafe_thinking_rate"] for r in cats]),
        ],
        "% of refuse probes",
    )
    if svg:
        out.append(("Unsafe answers and unsafe thinking per category, with intervals", svg))
    attacks = report["by_attack"]
    svg = _bars(
        "Attack success per attack: answer vs thinking",
        [r["group"] for r in attacks],
        [
            ("answer", [r["rates"]["attack_success_rate"] for r in attacks]),
            ("thinking", [r["rates"]["thinking_attack_success_rate"] for r in attacks]),
        ],
        "% of probes",
    )
    if svg:
        out.append(("Attack success per attack, with intervals", svg))
    if report.get("baseline"):
        svg = _delta_chart(report["baseline"])
        if svg:
            out.append(("Change in unsafe answers against the baseline", svg))
    return out


def render_html(report: Mapping[str, Any]) -> str:
    jinja2, _ = _import()
    from .terminal import gate_value, pct

    template_text = (
        resources.files(__package__).joinpath("templates/report.html.j2").read_text("utf-8")
    )
    env = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined)
    env.filters["pct"] = pct
    env.filters["gate_value"] = gate_value
    digest = base64.b64encode(hashlib.sha256(FILTER_SCRIPT.encode("utf-8")).digest()).decode()
    probes = report["probes"]
    return str(
        env.from_string(template_text).render(
            report=report,
            charts=charts(report),
            script=FILTER_SCRIPT,
            script_hash=f"sha256-{digest}",
            categories=sorted({p["category"] for p in probes}),
            attacks=sorted({p["attack"] for p in probes}),
            judges=sorted({v["judge"] for p in probes for v in p["verdicts"]}),
        )
    )


def write_html(report: Mapping[str, Any], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_html(report), encoding="utf-8")
