"""All analyses of one time range in one call: what ``rev-analytics analyze`` and the report use.

Each section is a typed result from its own module; a section that cannot run
on this data (e.g. prediction when every execution succeeded) is ``None`` with
the reason in ``notes``, so one degenerate section never hides the others.
``to_dict()`` is JSON-safe (no NaN).

With ``prompt_id`` in the frame (:data:`ANALYSIS_INPUT_COLUMNS`), every
section that can treats the prompt as the unit where prompts repeat (rates,
comparisons, discrimination, trends, change points); ``design`` says what the
data looks like and ``independence`` lists what still counts executions as
independent.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import numpy as np
import pandas as pd

from analytics.clustered import clustered_rates
from analytics.correlation import CorrelationResult, correlations
from analytics.defaults import DEFAULT_MIN_EFFECT
from analytics.discrimination import DiscriminationResult, discrimination_power
from analytics.identification import IdentificationResult, identify_models
from analytics.jsonsafe import jsonable
from analytics.load import STATISTICS_COLUMNS
from analytics.multiple import Correction, MultipleComparisons, compare_templates
from analytics.prediction import PredictionResult, predict_success
from analytics.rates import RateTable, all_rates
from analytics.trends import ChangeDetection, Trend, detect_changes, trends_by_template
from rev_analytics.core.errors import AnalysisError, NothingToReportError

ANALYSIS_INPUT_COLUMNS: tuple[str, ...] = STATISTICS_COLUMNS
"""What ``analyze`` loads: the statistics' columns, ``prompt_id`` (the unit) among them."""
ASSUMES_INDEPENDENCE: dict[str, str] = {
    "correlations": "point-biserial p-values count executions as independent",
    "prediction": "cross-validation folds split executions, not prompts: a prompt's repeats "
                  "can sit on both sides, so scores may be optimistic",
    "identification": "cross-validation folds split executions, not prompts, and the "
                      "accuracy interval counts executions as independent",
}
"""Sections not adjusted for repeated prompts, and what that means (reported, not hidden)."""
SECTIONS: tuple[str, ...] = (
    "rates", "comparisons", "discrimination", "trends", "changes", "correlations",
    "prediction", "identification",
)
Progress = Callable[[str], None]
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Overview:
    """The range analysed."""

    n: int
    successes: int
    rate: float
    ci_low: float
    ci_high: float
    start: pd.Timestamp
    end: pd.Timestamp
    templates: int
    models: int
    prompts: int | None = None
    runs_per_prompt: float | None = None
    design_effect: float | None = None
    """Of the overall rate; ``None`` when no prompt repeats (or no prompt ids)."""

    @property
    def design(self) -> str:
        return "clustered" if self.prompts is not None and self.prompts < self.n else \
            "independent"

    def to_dict(self) -> dict[str, Any]:
        values = {name: getattr(self, name) for name in self.__slots__}
        return jsonable({**values, "design": self.design})


@dataclass(frozen=True, slots=True)
class AnalysisReport:
    """Every section of one analysis run; ``None`` sections are explained in ``notes``."""

    alpha: float
    overview: Overview
    rates: dict[str, RateTable]
    comparisons: MultipleComparisons | None
    discrimination: DiscriminationResult | None
    trends: list[Trend]
    changes: ChangeDetection | None
    correlations: CorrelationResult | None
    prediction: PredictionResult | None
    identification: IdentificationResult | None
    notes: dict[str, str] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return jsonable({
            "alpha": self.alpha,
            "overview": self.overview.to_dict(),
            "rates": {name: table.to_dict() for name, table in self.rates.items()},
            "comparisons": self.comparisons.to_dict() if self.comparisons else None,
            "discrimination": self.discrimination.to_dict() if self.discrimination else None,
            "trends": [trend.to_dict() for trend in self.trends],
            "changes": self.changes.to_dict() if self.changes else None,
            "correlations": self.correlations.to_dict() if self.correlations else None,
            "prediction": self.prediction.to_dict() if self.prediction else None,
            "identification": self.identification.to_dict() if self.identification else None,
            "notes": self.notes,
            "design": self.overview.design,
            "independence": ASSUMES_INDEPENDENCE if self.overview.design == "clustered" else {},
            "timings_seconds": self.timings,
        })


def overview(frame: pd.DataFrame, alpha: float = 0.05) -> Overview:
    """Size, span and overall success rate of ``frame`` (which must not be empty).

    The interval is prompt-clustered where prompts repeat (plain Wilson otherwise).
    """
    n = len(frame)
    if "prompt_id" in frame:
        per = frame.groupby("prompt_id", observed=True)["success"].agg(["size", "sum"])
        prompts: int | None = len(per)
        counts, wins = per["size"].to_numpy(float), per["sum"].to_numpy(float)
    else:
        prompts = None
        counts, wins = np.array([float(n)]), np.array([float(frame["success"].sum())])
    rates = clustered_rates([0] * len(counts), counts, wins, groups=1, alpha=alpha)
    successes = int(rates.successes[0])
    deff = float(rates.design_effect[0]) if rates.adjusted[0] else None
    return Overview(
        n=n, successes=successes, rate=successes / n, ci_low=float(rates.ci_low[0]),
        ci_high=float(rates.ci_high[0]),
        start=frame["timestamp"].min(), end=frame["timestamp"].max(),
        templates=int(frame["template_id"].nunique()), models=int(frame["model_id"].nunique()),
        prompts=prompts, runs_per_prompt=n / prompts if prompts else None, design_effect=deff,
    )


def run_analysis(
    frame: pd.DataFrame,
    *,
    alpha: float = 0.05,
    baseline: str | None = None,
    correction: Correction = "holm",
    progress: Progress | None = None,
    seed: int = 0,
    min_effect: float = DEFAULT_MIN_EFFECT,
) -> AnalysisReport:
    """Run every section on ``frame`` (as returned by ``load_executions``).

    ``baseline`` switches the template comparisons from all pairs to
    all-versus-baseline. ``progress`` is called with each section's name just
    before it runs. ``min_effect`` is the smallest difference in success rate
    that counts for discrimination and change alarms. Raises
    :class:`NothingToReportError` for an empty frame.
    """
    if frame.empty:
        raise NothingToReportError("nothing to analyse: no executions in the selected range")
    if "prompt_id" in frame and not isinstance(frame["prompt_id"].dtype, pd.CategoricalDtype):
        # Every prompt-level section groups by it: codes once instead of strings each time.
        frame = frame.assign(prompt_id=frame["prompt_id"].astype("category"))
    notes: dict[str, str] = {}
    timings: dict[str, float] = {}

    def section(name: str, work: Callable[[], T]) -> T | None:
        if progress is not None:
            progress(name)
        started = time.perf_counter()
        try:
            return work()
        except (AnalysisError, KeyError, ValueError) as exc:
            notes[name] = str(exc).strip("'\"")
            return None
        finally:
            timings[name] = round(time.perf_counter() - started, 4)

    rates = section("rates", lambda: all_rates(frame, alpha=alpha)) or {}
    comparisons = section("comparisons", lambda: compare_templates(
        frame, baseline=baseline, correction=correction, alpha=alpha))
    discrimination = section("discrimination", lambda: discrimination_power(
        frame, alpha=alpha, min_effect=min_effect))
    trends = section("trends", lambda: trends_by_template(frame, alpha=alpha)) or []
    changes = section("changes", lambda: detect_changes(
        frame, alpha=alpha, min_effect=min_effect))
    correlation = section("correlations", lambda: correlations(frame, alpha=alpha))
    prediction = section("prediction", lambda: predict_success(frame, seed=seed))
    identification = section(
        "identification", lambda: identify_models(frame, seed=seed, alpha=alpha))
    return AnalysisReport(
        alpha=alpha, overview=overview(frame, alpha), rates=rates, comparisons=comparisons,
        discrimination=discrimination, trends=trends, changes=changes,
        correlations=correlation, prediction=prediction, identification=identification,
        notes=notes, timings=timings,
    )
