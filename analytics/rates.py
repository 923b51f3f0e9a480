"""Success rates per group with Wilson intervals and counts.

"No data" is never "0 %": a combination with no executions is simply absent
from the table (``lookup`` returns ``None``; ``pivot`` leaves NaN for a
heatmap to show as empty), while a group with executions and no successes has
``rate == 0.0`` and a real interval.

Where the frame has ``prompt_id`` and a group ran some prompt more than once,
its executions are not independent: the interval is Wilson on the effective
sample size (:func:`analytics.clustered.clustered_rates`), ``prompts`` says how
many prompts the group has and ``design_effect`` how much the repetition
inflates the variance. Groups whose prompts each ran once keep the plain
Wilson interval.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from analytics.clustered import CLUSTERED_RATE_METHOD, clustered_rates
from analytics.intervals import wilson_interval
from analytics.jsonsafe import jsonable

GROUPINGS: dict[str, tuple[str, ...]] = {
    "template": ("template_id",),
    "model": ("model_id",),
    "template_model": ("template_id", "model_id"),
    "domain": ("domain",),
    "difficulty": ("difficulty_level",),
}

_STAT_COLUMNS = ("n", "successes", "rate", "ci_low", "ci_high")


@dataclass(frozen=True, slots=True)
class RateRow:
    """One group's success rate: ``keys`` maps each grouping column to its value."""

    keys: dict[str, Any]
    n: int
    successes: int
    rate: float
    ci_low: float
    ci_high: float
    prompts: int | None = None
    design_effect: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return jsonable({**self.keys, "n": self.n, "successes": self.successes,
                         "rate": self.rate, "ci_low": self.ci_low, "ci_high": self.ci_high,
                         "prompts": self.prompts, "design_effect": self.design_effect})


@dataclass(frozen=True, slots=True)
class RateTable:
    """Success rates grouped ``by`` some columns, at confidence ``1 - alpha``.

    ``frame`` has the grouping columns plus ``n, successes, rate, ci_low,
    ci_high``, sorted by rate (best first) then n. Groups whose key is missing
    in the data (e.g. no ``domain`` given) appear with key ``None``.
    """

    by: tuple[str, ...]
    alpha: float
    frame: pd.DataFrame

    @property
    def clustered(self) -> bool:
        """Some group's interval is adjusted for repeated prompts."""
        return "design_effect" in self.frame and bool(self.frame["design_effect"].notna().any())

    @property
    def rows(self) -> list[RateRow]:
        records = self.frame.to_dict("records")
        return [
            RateRow(
                keys={column: _key(record[column]) for column in self.by},
                n=int(record["n"]),
                successes=int(record["successes"]),
                rate=float(record["rate"]),
                ci_low=float(record["ci_low"]),
                ci_high=float(record["ci_high"]),
                prompts=int(record["prompts"]) if "prompts" in record else None,
                design_effect=_optional(record.get("design_effect")),
            )
            for record in records
        ]

    def lookup(self, **keys: Any) -> RateRow | None:
        """The row for one combination, or ``None`` when it has no executions."""
        for row in self.rows:
            if all(row.keys.get(column) == value for column, value in keys.items()):
                return row
        return None

    def pivot(self, index: str, columns: str, value: str = "rate") -> pd.DataFrame:
        """A matrix of ``value`` (e.g. template x model); NaN marks "no data", never 0."""
        return self.frame.pivot(index=index, columns=columns, values=value)

    def to_dict(self) -> dict[str, Any]:
        return {
            "by": list(self.by),
            "confidence": 1.0 - self.alpha,
            "interval": CLUSTERED_RATE_METHOD if self.clustered else "wilson",
            "rows": [row.to_dict() for row in self.rows],
        }


def _optional(value: Any) -> float | None:
    return None if value is None or pd.isna(value) else float(value)


def _key(value: Any) -> Any:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return None
    if isinstance(value, np.generic):
        return value.item()
    return value


def success_rates(
    frame: pd.DataFrame, by: Sequence[str] = ("template_id",), *, alpha: float = 0.05
) -> RateTable:
    """Success rate, count and Wilson interval for each observed group of ``by``.

    Only combinations present in ``frame`` appear; missing group values
    (``None``/NaN) form their own group rather than vanishing.
    """
    columns = list(by)
    missing = [column for column in [*columns, "success"] if column not in frame]
    if missing:
        raise KeyError(f"success_rates: frame lacks column(s) {missing}")
    if frame.empty:
        empty = pd.DataFrame({column: pd.Series(dtype=object) for column in columns})
        for column in _STAT_COLUMNS:
            empty[column] = pd.Series(dtype="float64")
        return RateTable(tuple(columns), alpha, empty)
    if "prompt_id" in frame:
        return RateTable(tuple(columns), alpha, _clustered_table(frame, columns, alpha))
    grouped = (
        frame.groupby(columns, dropna=False, observed=True, sort=False)["success"]
        .agg(["size", "sum"])
        .reset_index()
        .rename(columns={"size": "n", "sum": "successes"})
    )
    grouped["n"] = grouped["n"].astype("int64")
    grouped["successes"] = grouped["successes"].astype("int64")
    grouped["rate"] = grouped["successes"] / grouped["n"]
    low, high = wilson_interval(grouped["successes"].to_numpy(), grouped["n"].to_numpy(), alpha)
    grouped["ci_low"] = low
    grouped["ci_high"] = high
    return RateTable(tuple(columns), alpha, _ranked(grouped))


def _ranked(grouped: pd.DataFrame) -> pd.DataFrame:
    grouped = grouped.sort_values(["rate", "n"], ascending=[False, False], kind="stable")
    return grouped.reset_index(drop=True)


def _clustered_table(frame: pd.DataFrame, columns: list[str], alpha: float) -> pd.DataFrame:
    per_prompt = (
        frame.groupby([*columns, "prompt_id"], dropna=False, observed=True, sort=False)[
            "success"].agg(["size", "sum"]).reset_index()
    )
    groups = per_prompt.groupby(columns, dropna=False, observed=True, sort=False)
    codes = groups.ngroup().to_numpy()
    keys = groups.size().reset_index()[columns]
    rates = clustered_rates(codes, per_prompt["size"].to_numpy(), per_prompt["sum"].to_numpy(),
                            groups=len(keys), alpha=alpha)
    table = keys.assign(
        n=rates.n.astype("int64"), successes=rates.successes.astype("int64"),
        rate=rates.successes / rates.n, ci_low=rates.ci_low, ci_high=rates.ci_high,
        prompts=rates.prompts, design_effect=rates.design_effect,
    )
    return _ranked(table)


def all_rates(frame: pd.DataFrame, *, alpha: float = 0.05) -> dict[str, RateTable]:
    """The standard groupings: template, model, template x model, domain, difficulty."""
    return {
        name: success_rates(frame, columns, alpha=alpha)
        for name, columns in GROUPINGS.items()
        if all(column in frame for column in columns)
    }
