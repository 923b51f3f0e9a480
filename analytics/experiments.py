"""Per-experiment view: what each REV experiment ran, how well, and what changed since the last.

REV tags each execution with the experiment it belongs to (``experiment_id``,
CONTRACT.md section 1). :func:`experiment_view` takes the loaded frame and
returns, in the order the experiments started:

* per experiment: its templates and models, executions, prompts, the success
  rate with its interval (Wilson on the effective sample size where prompts
  repeat, clustered by ``prompt_id``: :func:`analytics.rates.success_rates`),
  and per template the same;
* per experiment after the first, the change against the previous one: which
  templates and models came or went, the overall difference in success rate
  and, for every template both ran, the difference with the test its data
  calls for (:func:`analytics.abtest.compare_arms` with the experiments as
  arms: ``paired`` when the two experiments ran the same prompts, which is
  what REV does, ``clustered`` or ``independent`` otherwise) and Holm-adjusted
  p-values across those templates. ``significant`` follows the adjusted p.

The overall difference mixes templates: when the template mix changed it says
more about the mix than about any template, and the result carries a note.
Executions without an ``experiment_id`` are counted, not assigned.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from itertools import pairwise
from typing import Any

import pandas as pd

from analytics.abtest import compare_arms
from analytics.jsonsafe import jsonable
from analytics.multiple import adjust_p_values
from analytics.rates import success_rates
from rev_analytics.core.errors import AnalysisError

COLUMN = "experiment_id"
REQUIRED = (COLUMN, "template_id", "model_id", "success", "timestamp")
RATE_METHOD = ("Wilson on the effective sample size where prompts repeat (cluster-robust by "
               "prompt_id); plain Wilson otherwise")


@dataclass(frozen=True, slots=True)
class Rate:
    """Success of one group: executions, prompts, rate and its interval."""

    n: int
    successes: int
    rate: float
    ci_low: float | None
    ci_high: float | None
    prompts: int | None = None
    design_effect: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return jsonable({name: getattr(self, name) for name in self.__slots__})


@dataclass(frozen=True, slots=True)
class ExperimentSummary:
    """One experiment: what ran, when, and how well."""

    experiment_id: str
    first_event: datetime
    last_event: datetime
    templates: tuple[str, ...]
    models: tuple[str, ...]
    overall: Rate
    per_template: dict[str, Rate]

    def to_dict(self) -> dict[str, Any]:
        return jsonable({
            "experiment_id": self.experiment_id, "first_event": self.first_event,
            "last_event": self.last_event, "templates": list(self.templates),
            "models": list(self.models), **self.overall.to_dict(),
            "per_template": {k: v.to_dict() for k, v in self.per_template.items()},
        })


@dataclass(frozen=True, slots=True)
class Difference:
    """``current`` minus ``previous`` in success rate, with the design's test."""

    previous_rate: float
    current_rate: float
    difference: float
    ci_low: float
    ci_high: float
    p_value: float
    design: str | None
    method: str | None
    p_adjusted: float | None = None
    significant: bool = False

    def to_dict(self) -> dict[str, Any]:
        return jsonable({name: getattr(self, name) for name in self.__slots__})


@dataclass(frozen=True, slots=True)
class ExperimentChange:
    """What changed from ``previous`` to ``experiment``."""

    experiment_id: str
    previous_id: str
    templates_added: tuple[str, ...]
    templates_removed: tuple[str, ...]
    models_added: tuple[str, ...]
    models_removed: tuple[str, ...]
    overall: Difference | None
    per_template: dict[str, Difference]
    notes: tuple[str, ...] = ()

    @property
    def significant_templates(self) -> list[str]:
        return [t for t, d in self.per_template.items() if d.significant]

    def to_dict(self) -> dict[str, Any]:
        return jsonable({
            "experiment_id": self.experiment_id, "previous_id": self.previous_id,
            "templates_added": list(self.templates_added),
            "templates_removed": list(self.templates_removed),
            "models_added": list(self.models_added), "models_removed": list(self.models_removed),
            "overall": self.overall.to_dict() if self.overall else None,
            "per_template": {k: v.to_dict() for k, v in self.per_template.items()},
            "significant_templates": self.significant_templates,
            "notes": list(self.notes),
        })


@dataclass(frozen=True, slots=True)
class ExperimentView:
    """Every experiment in start order and the change of each against the one before."""

    experiments: list[ExperimentSummary]
    changes: list[ExperimentChange]
    alpha: float
    without_experiment: int
    """Executions that carry no experiment_id (left out of this view)."""
    rate_method: str = RATE_METHOD
    correction: str = "holm"
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return jsonable({
            "alpha": self.alpha, "confidence": 1.0 - self.alpha,
            "rate_method": self.rate_method, "correction": self.correction,
            "without_experiment": self.without_experiment,
            "experiments": [e.to_dict() for e in self.experiments],
            "changes": [c.to_dict() for c in self.changes],
            "notes": self.notes,
        })


def _rate(row: Any) -> Rate:
    data = row.to_dict()
    return Rate(n=int(data["n"]), successes=int(data["successes"]), rate=float(data["rate"]),
                ci_low=data.get("ci_low"), ci_high=data.get("ci_high"),
                prompts=data.get("prompts"), design_effect=data.get("design_effect"))


def _counts(frame: pd.DataFrame) -> pd.DataFrame:
    keys = [k for k in (COLUMN, "template_id", "model_id", "prompt_id") if k in frame]
    return (frame.groupby(keys, observed=True)["success"].agg(["size", "sum"])
            .rename(columns={"size": "n", "sum": "successes"}).reset_index()
            .astype({"n": "int64", "successes": "int64"}))


def _difference(counts: pd.DataFrame, previous: str, current: str, alpha: float,
                template: str | None) -> Difference:
    result = compare_arms(counts, COLUMN, previous, current, alpha=alpha,
                          within=("template_id", template) if template is not None else None)
    design = result.design
    return Difference(
        previous_rate=result.a.rate, current_rate=result.b.rate, difference=result.difference,
        ci_low=result.ci_low, ci_high=result.ci_high, p_value=result.p_value,
        design=design.design.kind if design is not None else None,
        method=design.method if design is not None else None,
        significant=result.significant,
    )


def _summaries(data: pd.DataFrame, order: list[str], alpha: float) -> list[ExperimentSummary]:
    overall = success_rates(data, (COLUMN,), alpha=alpha)
    by_template = success_rates(data, (COLUMN, "template_id"), alpha=alpha)
    summaries = []
    for experiment in order:
        rows = data[data[COLUMN] == experiment]
        row = overall.lookup(experiment_id=experiment)
        assert row is not None
        per_template = {
            str(r.keys["template_id"]): _rate(r) for r in by_template.rows
            if r.keys[COLUMN] == experiment
        }
        summaries.append(ExperimentSummary(
            experiment_id=experiment,
            first_event=rows["timestamp"].min().to_pydatetime(),
            last_event=rows["timestamp"].max().to_pydatetime(),
            templates=tuple(sorted(rows["template_id"].unique().tolist())),
            models=tuple(sorted(rows["model_id"].unique().tolist())),
            overall=_rate(row),
            per_template=dict(sorted(per_template.items())),
        ))
    return summaries


def _change(counts: pd.DataFrame, previous: ExperimentSummary, current: ExperimentSummary,
            alpha: float) -> ExperimentChange:
    common = sorted(set(previous.templates) & set(current.templates))
    per_template: dict[str, Difference] = {}
    for template in common:
        try:
            per_template[template] = _difference(counts, previous.experiment_id,
                                                 current.experiment_id, alpha, template)
        except AnalysisError:  # pragma: no cover - both ran it, so both arms have rows
            continue
    if per_template:
        reject, adjusted = adjust_p_values([d.p_value for d in per_template.values()],
                                           "holm", alpha)
        per_template = {
            template: _replace(d, p_adjusted=float(p), significant=bool(r))
            for (template, d), p, r in zip(per_template.items(), adjusted, reject, strict=True)
        }
    notes = []
    if set(previous.templates) != set(current.templates):
        notes.append("the template mix changed: the overall difference reflects the mix as "
                     "well as the templates; compare templates both experiments ran")
    return ExperimentChange(
        experiment_id=current.experiment_id, previous_id=previous.experiment_id,
        templates_added=tuple(sorted(set(current.templates) - set(previous.templates))),
        templates_removed=tuple(sorted(set(previous.templates) - set(current.templates))),
        models_added=tuple(sorted(set(current.models) - set(previous.models))),
        models_removed=tuple(sorted(set(previous.models) - set(current.models))),
        overall=_difference(counts, previous.experiment_id, current.experiment_id, alpha, None),
        per_template=per_template, notes=tuple(notes),
    )


def _replace(difference: Difference, **changes: Any) -> Difference:
    values = {name: getattr(difference, name) for name in difference.__slots__}
    values.update(changes)
    return Difference(**values)


def experiment_view(frame: pd.DataFrame, *, alpha: float = 0.05) -> ExperimentView | None:
    """The per-experiment view of ``frame``; ``None`` when no execution has an experiment_id.

    ``frame`` needs ``experiment_id``, ``template_id``, ``model_id``, ``success``,
    ``timestamp`` and, for prompt-clustered intervals and paired tests, ``prompt_id``.
    """
    missing = [c for c in REQUIRED if c not in frame]
    if missing:
        raise KeyError(f"experiment_view: frame lacks column(s) {missing}")
    tagged = frame[COLUMN].notna()
    data = frame[tagged]
    if data.empty:
        return None
    columns: Sequence[str] = [c for c in (*REQUIRED, "prompt_id") if c in data]
    data = data[list(columns)].assign(**{COLUMN: data[COLUMN].astype(str)})
    starts = data.groupby(COLUMN, observed=True)["timestamp"].min().sort_values(kind="stable")
    order = [str(e) for e in starts.index]
    summaries = _summaries(data, order, alpha)
    counts = _counts(data)
    changes = [_change(counts, a, b, alpha) for a, b in pairwise(summaries)]
    notes = []
    without = int((~tagged).sum())
    if without:
        notes.append(f"{without:,} execution(s) carry no experiment_id and are not shown here")
    return ExperimentView(summaries, changes, alpha, without, notes=notes)
