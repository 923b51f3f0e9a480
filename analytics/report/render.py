"""Render a :class:`Report` as one self-contained HTML page and as Markdown.

HTML goes through Jinja2 with autoescaping on for every value, so an id such
as ``<script>`` is text, never markup; figures are embedded as ``data:`` PNGs
and a Content-Security-Policy forbids scripts and any network fetch, so the
file opens offline and stays inert even if some value slipped through.

How a value reads depends on what it is (:class:`~analytics.report.model.Kind`:
a rate, a difference in points, a p-value, a correlation...), never on where
it appears; :data:`KINDS` gives each row key its kind once for the whole
report, and a table overrides it where a key means something else.

summary.md is plain Markdown that reads the same raw and rendered: ids and
numbers appear verbatim (``adversarial_jailbreak``, ``p < 0.0001``), and only
a character that CommonMark would really turn into markup is backslash-escaped.
"""

from __future__ import annotations

import base64
import json
import re
from datetime import datetime
from typing import Any

import jinja2
from markupsafe import Markup, escape

from analytics import formatting
from analytics.report.model import REPORT_SCHEMA_VERSION, Kind, Report, Table

KINDS: dict[str, Kind] = {
    **dict.fromkeys(("template_id", "model_id", "a", "b", "key", "feature", "name",
                     "experiment_id", "previous_id"), Kind.ID),
    **dict.fromkeys(("note", "reason", "direction", "bucket", "measure"), Kind.TEXT),
    **dict.fromkeys(("n", "n_a", "n_b", "successes", "executions", "models", "present",
                     "missing"), Kind.COUNT),
    **dict.fromkeys(("rate", "ci_low", "ci_high", "rate_a", "rate_b", "rate_before",
                     "rate_after", "success_rate", "recall"), Kind.RATE),
    "difference": Kind.POINTS,
    "rate_change_per_day": Kind.POINTS_PER_DAY,
    **dict.fromkeys(("p_value", "p_adjusted", "z_p_value"), Kind.P_VALUE),
    "r": Kind.CORRELATION,
    **dict.fromkeys(("cramers_v", "v_ci_low", "v_ci_high", "mean_score", "roc_auc", "brier"),
                    Kind.SCORE),
    **dict.fromkeys(("total_cost", "cost_per_success"), Kind.MONEY),
    **dict.fromkeys(("changed_at", "first_event", "last_event", "start", "end"), Kind.TIME),
    "significant": Kind.FLAG,
}
"""The kind of each row key across the report (a table's ``kinds`` overrides it)."""

NUMERIC_KINDS = frozenset({Kind.COUNT, Kind.RATE, Kind.POINTS, Kind.POINTS_PER_DAY,
                           Kind.P_VALUE, Kind.CORRELATION, Kind.SCORE, Kind.MONEY,
                           Kind.NUMBER})
_BUCKETS = {"h": "hour", "D": "day", "W": "week"}

CONTENT_SECURITY_POLICY = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"


def kind_of(key: str, value: Any = None) -> Kind:
    """The kind of ``key``'s values; an unknown key is judged by its value's type."""
    if key in KINDS:
        return KINDS[key]
    if isinstance(value, bool):
        return Kind.FLAG
    if isinstance(value, int):
        return Kind.COUNT
    if isinstance(value, float):
        return Kind.NUMBER
    if isinstance(value, datetime):
        return Kind.TIME
    return Kind.TEXT


def format_cell(value: Any, kind: Kind | str) -> str:
    """One value as it reads in a table, in summary.md and in the headline cards."""
    kind = Kind(kind)
    if value is None or (isinstance(value, float) and value != value):
        return formatting.MISSING
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False)
    if kind is Kind.TIME:
        if isinstance(value, str):
            try:
                value = datetime.fromisoformat(value)
            except ValueError:
                return value
        if isinstance(value, datetime):
            return value.strftime("%Y-%m-%d %H:%M UTC")
    if isinstance(value, int | float):
        number = float(value)
        if kind is Kind.COUNT:
            return f"{value:,}" if isinstance(value, int) else formatting.number(number)
        formatter = {
            Kind.RATE: formatting.percent,
            Kind.POINTS: formatting.points,
            Kind.POINTS_PER_DAY: lambda v: formatting.points(v, 2),
            Kind.P_VALUE: formatting.p_value,
            Kind.CORRELATION: formatting.correlation,
            Kind.SCORE: formatting.score,
            Kind.MONEY: formatting.money,
        }.get(kind)
        if formatter is not None:
            return formatter(number)
        return f"{value:,}" if isinstance(value, int) else formatting.number(number)
    if kind is Kind.TEXT and value in _BUCKETS:
        return _BUCKETS[str(value)]
    return str(value)


def format_value(value: Any, key: str = "") -> str:
    """A value of the row key ``key`` as it reads everywhere in the report."""
    return format_cell(value, kind_of(key, value))


def table_columns(table: Table) -> list[tuple[str, str, Kind]]:
    """``(key, heading, kind)`` for each column of ``table``, in order."""
    sample = table.rows[0] if table.rows else {}
    return [(key, heading, table.kinds.get(key) or kind_of(key, sample.get(key)))
            for key, heading in table.columns.items()]


def css_class(kind: Kind) -> str:
    """The class of a cell (and its heading): numbers right-aligned, ids never wrapped."""
    return "num" if kind in NUMERIC_KINDS else str(kind)


# Browsers break lines after a hyphen, a dash or a slash, which cuts ids
# ("llama-3-/70b"), intervals ("45.2%-/50.1%") and dates in prose. A token of
# text (what lies between spaces) that holds one is kept whole; a very long
# one (a URL, a hostile id) may still break rather than overflow its box.
_TOKEN = re.compile(r"([^ \t\n]+)")
_BREAKABLE = re.compile(r".[-‐‑‒–—/]")
_LONGEST_UNBROKEN = 48
_SIGN_BEFORE_NUMBER = re.compile(r"(?<!\S)([<>≤≥]) (?=[\d.])")


_CODE = re.compile(r"`([^`]+)`")


def _whole_tokens(text: str, longest: int | None) -> Markup:
    parts = []
    for position, token in enumerate(_TOKEN.split(text)):
        keep = position % 2 and _BREAKABLE.search(token) and \
            (longest is None or len(token) <= longest)
        parts.append(Markup('<span class="nw">%s</span>') % token if keep else escape(token))
    return Markup("").join(parts)


def identifier(text: object) -> Markup:
    """An id escaped for HTML, verbatim, that may wrap at its spaces but nowhere else."""
    return _whole_tokens(str(text), None)


def prose(text: object) -> Markup:
    """``text`` escaped for HTML, wrapping only between words (``p < 0.0001`` stays whole).

    A `command` in backticks becomes a ``<code>`` element, kept on one line.
    """
    parts = []
    for index, piece in enumerate(_CODE.split(str(text))):
        if index % 2:
            parts.append(Markup('<code class="nw">%s</code>') % piece)
            continue
        # A comparison sign stays with its number: "p <" at a line's end reads as a typo.
        parts.append(_whole_tokens(_SIGN_BEFORE_NUMBER.sub("\\1\u00a0", piece),
                                   _LONGEST_UNBROKEN))
    return Markup("").join(parts)


def date_range(first: datetime, last: datetime) -> str:
    """The days a report covers: ``2026-03-01 to 2026-03-07`` (one date if one day)."""
    start, end = f"{first:%Y-%m-%d}", f"{last:%Y-%m-%d}"
    return start if start == end else f"{start} to {end}"


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("analytics.report", "templates"),
        autoescape=True,  # every {{ value }} is HTML-escaped, whatever the template name
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["cell"] = format_cell
    env.filters["value"] = format_value
    env.filters["pct"] = lambda v: format_cell(v, Kind.RATE)
    env.filters["columns"] = table_columns
    env.filters["css"] = css_class
    env.filters["prose"] = prose
    env.filters["identifier"] = identifier
    return env


_ENV = _environment()


def render_html(report: Report) -> str:
    """report.html: one file, figures embedded, no script, no external resource."""
    images = {f.name: "data:image/png;base64," + base64.b64encode(f.png).decode("ascii")
              for f in report.figures}
    h = report.headline
    return _ENV.get_template("report.html.j2").render(
        report=report, h=h, images=images, figures={f.name: f for f in report.figures},
        csp=CONTENT_SECURITY_POLICY, schema_version=REPORT_SCHEMA_VERSION,
        covered=date_range(h.first_event, h.last_event),
    )


# CommonMark turns these into markup wherever they stand: escapes, code, emphasis,
# links, strikethrough (GFM).
_MD_ALWAYS = r"[\\`*\[\]~]"
# '<' opens a tag, comment or autolink only before a letter, '/', '!' or '?':
# "p < 0.0001" stays as it is.
_MD_TAG = r"<(?=[A-Za-z/!?])"
# '&' matters only where it starts an entity reference (&amp; &#60; &#x3c;).
_MD_ENTITY = r"&(?=#[0-9]{1,7};|#[xX][0-9a-fA-F]{1,6};|[A-Za-z][A-Za-z0-9]*;)"
# '_' between two letters or digits never emphasises (adversarial_jailbreak is
# fine); anywhere else it may.
_MD_UNDERSCORE = r"(?<![^\W_])_|_(?![^\W_])"
_MD_SPECIAL = re.compile("|".join((_MD_ALWAYS, _MD_TAG, _MD_ENTITY, _MD_UNDERSCORE)))
# At the start of a line (a list item's text) these begin a heading, a quote, a
# list, a thematic break or a setext underline.
_MD_BLOCK_START = re.compile(
    r"^(\s*)(#{1,6}(?=\s|$)|>|[-+](?=\s|$)|\d{1,9}[.)](?=\s|$)|[-=](?=[-=\s]*$))")


def _escape_block_start(match: re.Match[str]) -> str:
    marker = match.group(2)
    # A backslash before a digit is a literal backslash: escape the '.' of "1." instead.
    escaped = marker[:-1] + "\\" + marker[-1] if marker[0].isdigit() else "\\" + marker
    return match.group(1) + escaped


def md_text(text: object) -> str:
    """``text`` as Markdown that renders as exactly ``text`` and reads as it raw.

    Only what CommonMark would interpret is backslash-escaped, so ordinary
    ids, numbers and ``p < 0.0001`` appear verbatim, while ``<script>``,
    ``**bold**`` or ``[link](x)`` inside an id stay literal text.
    """
    one_line = " ".join(str(text).splitlines())
    escaped = _MD_SPECIAL.sub(lambda match: "\\" + match.group(0), one_line)
    return _MD_BLOCK_START.sub(_escape_block_start, escaped)


def _experiment_lines(report: Report) -> list[str]:
    """summary.md's experiments: each one's success, then what changed since the one before."""
    view = report.experiments
    if not view or not view["experiments"]:
        return []
    confidence = view["confidence"]
    lines = ["", "## Experiments", ""]
    for e in view["experiments"]:
        lines.append(
            f"- {md_text(e['experiment_id'])} ({format_cell(e['first_event'], Kind.TIME)} to "
            f"{format_cell(e['last_event'], Kind.TIME)}): {e['n']:,} executions, "
            f"{len(e['templates'])} templates, {len(e['models'])} models, success "
            f"**{format_cell(e['rate'], Kind.RATE)}** ({confidence:.0%} CI "
            f"{format_cell(e['ci_low'], Kind.RATE)}–{format_cell(e['ci_high'], Kind.RATE)})")
    if view["changes"]:
        lines += ["", "What changed against the previous experiment (templates both ran, Holm "
                  "across templates):", ""]
    for change in view["changes"]:
        found = [
            f"{md_text(template)} {format_cell(d['difference'], Kind.POINTS)} "
            f"({confidence:.0%} CI {format_cell(d['ci_low'], Kind.POINTS)} to "
            f"{format_cell(d['ci_high'], Kind.POINTS)}, {d['design']}, "
            f"{formatting.p_text(d['p_adjusted'])} Holm)"
            for template, d in change["per_template"].items() if d["significant"]]
        came = [f"{label} {', '.join(md_text(i) for i in change[key])}"
                for key, label in (("templates_added", "added templates"),
                                   ("templates_removed", "dropped templates"),
                                   ("models_added", "added models"),
                                   ("models_removed", "dropped models")) if change[key]]
        what = "; ".join([*came, *found]) if came or found else "no significant change"
        lines.append(f"- {md_text(change['experiment_id'])} against "
                     f"{md_text(change['previous_id'])}: {what}")
    return lines


def render_summary_markdown(report: Report) -> str:
    """summary.md: the executive summary — headline numbers, risks, actions."""
    h = report.headline
    lines = [
        f"# REV prompt analytics: executive summary, {date_range(h.first_event, h.last_event)}",
        "",
        f"Executions from {format_cell(h.first_event, Kind.TIME)} "
        f"to {format_cell(h.last_event, Kind.TIME)}; generated "
        f"{format_cell(report.generated_at, Kind.TIME)} (report id `{report.report_id}`).",
        "",
        "## Headline numbers",
        "",
        f"- Executions: **{h.executions:,}** ({h.successes:,} successful)",
        f"- Success rate: **{format_cell(h.success_rate, Kind.RATE)}** "
        f"({h.confidence:.0%} CI {format_cell(h.ci_low, Kind.RATE)}–"
        f"{format_cell(h.ci_high, Kind.RATE)})",
        f"- Templates: **{h.templates}**, models: **{h.models}**",
        f"- Total cost: **{format_cell(h.total_cost, Kind.MONEY)}**, per successful "
        f"execution: **{format_cell(h.cost_per_success, Kind.MONEY)}**",
        "",
        "## Risks",
        "",
    ]
    lines += [f"- **{r.severity.upper()}**: {md_text(r.action)} — {md_text(r.evidence)}"
              for r in report.risks] or ["- No risk found in this range."]
    lines += _experiment_lines(report)
    lines += ["", "## Actions", ""]
    lines += [f"{i}. {md_text(r.action)} — {md_text(r.evidence)}"
              for i, r in enumerate(report.recommendations, 1)] or \
        ["No action needed."]
    lines += ["", "Full report: report.html (figures in figures/, data in report.json).", ""]
    return "\n".join(lines)
