"""Render a :class:`Report` as one self-contained HTML page and as Markdown.

HTML goes through Jinja2 with autoescaping on for every value, so an id such
as ``<script>`` is text, never markup; figures are embedded as ``data:`` PNGs
and a Content-Security-Policy forbids scripts and any network fetch, so the
file opens offline and stays inert even if some value slipped through.
Markdown escapes ids too (viewers render inline HTML and emphasis).
"""

from __future__ import annotations

import base64
import json
import re
from datetime import datetime
from typing import Any

import jinja2

from analytics.report.model import REPORT_SCHEMA_VERSION, Report

_PERCENT_KEYS = frozenset({"rate", "ci_low", "ci_high", "rate_a", "rate_b", "difference",
                           "rate_before", "rate_after", "success_rate", "rate_change_per_day",
                           "recall"})
_P_KEYS = frozenset({"p_value", "p_adjusted", "z_p_value"})
_MONEY_KEYS = frozenset({"total_cost", "cost_per_success"})
_TIME_KEYS = frozenset({"changed_at", "first_event", "last_event", "start", "end"})
_BUCKETS = {"h": "hour", "D": "day", "W": "week"}

CONTENT_SECURITY_POLICY = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"


def format_value(value: Any, key: str = "") -> str:
    """A table cell: percentages for rates, 3 significant digits for p, '—' for missing."""
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if value != value:
            return "—"
        if key == "rate_change_per_day":
            return f"{value:+.2%}"
        if key in _PERCENT_KEYS:
            return f"{value:+.1%}" if key == "difference" else f"{value:.1%}"
        if key in _P_KEYS:
            return f"{value:.3g}" if value >= 1e-4 else "< 0.0001"
        if key in _MONEY_KEYS:
            return f"${value:,.4f}"
        return f"{value:.4g}"
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M UTC")
    if key in _TIME_KEYS and isinstance(value, str):
        try:
            return format_value(datetime.fromisoformat(value))
        except ValueError:
            return value
    if key == "bucket" and value in _BUCKETS:
        return _BUCKETS[str(value)]
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("analytics.report", "templates"),
        autoescape=True,  # every {{ value }} is HTML-escaped, whatever the template name
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["cell"] = format_value
    env.filters["pct"] = lambda v: format_value(v, "rate")
    return env


_ENV = _environment()


def render_html(report: Report) -> str:
    """report.html: one file, figures embedded, no script, no external resource."""
    images = {f.name: "data:image/png;base64," + base64.b64encode(f.png).decode("ascii")
              for f in report.figures}
    return _ENV.get_template("report.html.j2").render(
        report=report, h=report.headline, images=images, figures={f.name: f for f in
                                                                   report.figures},
        csp=CONTENT_SECURITY_POLICY, schema_version=REPORT_SCHEMA_VERSION,
    )


_MD_SPECIAL = re.compile(r"([\\`*_\[\]|~])")


def md_text(text: object) -> str:
    """``text`` safe inside Markdown: no emphasis, links or raw HTML can come from an id."""
    escaped = str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return _MD_SPECIAL.sub(r"\\\1", escaped).replace("\n", " ")


def render_summary_markdown(report: Report) -> str:
    """summary.md: the executive summary — headline numbers, risks, actions."""
    h = report.headline
    lines = [
        "# REV prompt analytics: executive summary",
        "",
        f"Report `{report.report_id}`, generated {format_value(report.generated_at)}; "
        f"events {format_value(h.first_event)} to {format_value(h.last_event)}.",
        "",
        "## Headline numbers",
        "",
        f"- Executions: **{h.executions:,}** ({h.successes:,} successful)",
        f"- Success rate: **{format_value(h.success_rate, 'rate')}** "
        f"({h.confidence:.0%} CI {format_value(h.ci_low, 'rate')}–"
        f"{format_value(h.ci_high, 'rate')})",
        f"- Templates: **{h.templates}**, models: **{h.models}**",
        f"- Total cost: **{format_value(h.total_cost, 'total_cost')}**, per successful "
        f"execution: **{format_value(h.cost_per_success, 'cost_per_success')}**",
        "",
        "## Risks",
        "",
    ]
    lines += [f"- **{r.severity.upper()}**: {md_text(r.action)} — {md_text(r.evidence)}"
              for r in report.risks] or ["- No risk found in this range."]
    lines += ["", "## Actions", ""]
    lines += [f"{i}. {md_text(r.action)} — {md_text(r.evidence)}"
              for i, r in enumerate(report.recommendations, 1)] or \
        ["No action needed."]
    lines += ["", "Full report: report.html (figures in figures/, data in report.json).", ""]
    return "\n".join(lines)
