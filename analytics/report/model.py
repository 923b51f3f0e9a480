"""The report as data: what report.json holds and what report.html and summary.md show.

A :class:`Report` is built once (``analytics.report.build``) and then rendered
three ways; nothing in the renderers decides content. Every value is JSON-safe
(``jsonable``: no NaN, no numpy types), so ``json.dumps(..., allow_nan=False)``
cannot fail and "not defined" is ``null``, never a made-up 0.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from analytics.figures import Figure
from analytics.jsonsafe import jsonable

REPORT_SCHEMA_VERSION = 2
"""Version of report.json's layout; bumped when keys are added, change meaning or disappear
(docs/report.md). 2: the ``experiments`` key and section, ``selection.experiments``."""


class Kind(StrEnum):
    """What a column's values are, which decides how they read (``analytics.formatting``)."""

    ID = "id"
    """A template, model, feature or series id: verbatim, wrapped only at a space it holds."""
    TEXT = "text"
    """Prose (a note, a reason): wraps between words."""
    COUNT = "count"
    RATE = "rate"
    """A share of executions (or of anything): a percentage."""
    POINTS = "points"
    """A difference of two rates: percentage points."""
    POINTS_PER_DAY = "points_per_day"
    P_VALUE = "p_value"
    CORRELATION = "correlation"
    """A correlation coefficient or a bound of its interval: a number in [-1, 1]."""
    SCORE = "score"
    """An effect size or score in [0, 1] (Cramér's V, ROC-AUC, Brier score)."""
    MONEY = "money"
    TIME = "time"
    FLAG = "flag"
    NUMBER = "number"


@dataclass(frozen=True, slots=True)
class Table:
    """Rows of JSON-safe values; ``columns`` maps each row key to its heading, in order.

    ``kinds`` says what a column holds where its key alone would mislead (a
    correlation's ``ci_low`` is not a rate's); other columns take the kind
    their key has everywhere in the report (``analytics.report.render.KINDS``).
    """

    columns: dict[str, str]
    rows: list[dict[str, Any]]
    caption: str = ""
    kinds: dict[str, Kind] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return jsonable({"caption": self.caption, "columns": self.columns, "rows": self.rows})


@dataclass(frozen=True, slots=True)
class Section:
    """One titled part of the report: prose, tables, figures and the underlying result."""

    id: str
    title: str
    paragraphs: list[str] = field(default_factory=list)
    tables: list[Table] = field(default_factory=list)
    figures: list[str] = field(default_factory=list)
    """Names of figures (in ``Report.figures``) shown in this section."""
    data: Any = None
    """The statistics' own ``to_dict()`` output, kept whole for machines."""
    available: bool = True
    """False when the data could not support this analysis; ``paragraphs`` says why."""

    def to_dict(self) -> dict[str, Any]:
        return jsonable({
            "id": self.id, "title": self.title, "available": self.available,
            "paragraphs": self.paragraphs, "tables": [t.to_dict() for t in self.tables],
            "figures": self.figures, "data": self.data,
        })


@dataclass(frozen=True, slots=True)
class Recommendation:
    """An action and the evidence behind it; ``severity`` is high, medium or info."""

    action: str
    evidence: str
    severity: str
    subject: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"action": self.action, "evidence": self.evidence, "severity": self.severity,
                "subject": self.subject}


@dataclass(frozen=True, slots=True)
class Headline:
    """The executive summary's numbers."""

    executions: int
    successes: int
    success_rate: float
    ci_low: float | None
    ci_high: float | None
    templates: int
    models: int
    first_event: datetime
    last_event: datetime
    total_cost: float | None
    cost_per_success: float | None
    confidence: float

    def to_dict(self) -> dict[str, Any]:
        return jsonable({name: getattr(self, name) for name in self.__slots__})


@dataclass(frozen=True, slots=True)
class Report:
    """Everything the three outputs show; ``to_dict()`` is report.json."""

    report_id: str
    generated_at: datetime
    selection: dict[str, Any]
    headline: Headline
    risks: list[Recommendation]
    recommendations: list[Recommendation]
    sections: list[Section]
    figures: list[Figure] = field(repr=False)
    timings: dict[str, float] = field(default_factory=dict)
    experiments: dict[str, Any] | None = None
    """The per-experiment view (``analytics.experiments``), ``None`` without experiment ids."""

    def section(self, section_id: str) -> Section:
        for section in self.sections:
            if section.id == section_id:
                return section
        raise KeyError(section_id)

    def figure(self, name: str) -> Figure:
        for figure in self.figures:
            if figure.name == name:
                return figure
        raise KeyError(name)

    def to_dict(self) -> dict[str, Any]:
        return jsonable({
            "schema_version": REPORT_SCHEMA_VERSION,
            "report_id": self.report_id,
            "generated_at": self.generated_at,
            "selection": self.selection,
            "headline": self.headline.to_dict(),
            "risks": [r.to_dict() for r in self.risks],
            "recommendations": [r.to_dict() for r in self.recommendations],
            "sections": [s.to_dict() for s in self.sections],
            "figures": [{"name": f.name, "title": f.title, "caption": f.caption,
                         "file": f"figures/{f.name}.png"} for f in self.figures],
            "experiments": self.experiments,
            "timings_seconds": self.timings,
        })
