"""Success rates per group with Wilson intervals and counts.

"No data" is never "0 %": a combination with no executions is simply absent
from the table (``lookup`` returns ``None``; ``pivot`` leaves NaN for a
heatmap to show as empty), while a group with executions and no successes has
``rate == 0.0`` and a real interval.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

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

    def to_dict(self) -> dict[str, Any]:
        return jsonable({**self.keys, "n": self.n, "successes": self.successes,
                         "rate": self.rate, "ci_low": self.ci_low, "ci_high": self.ci_high})


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
            "interval": "wilson",
            "rows": [row.to_dict() for row in self.rows],
        }


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
    grouped = grouped.sort_values(["rate", "n"], ascending=[False, False], kind="stable")
    return RateTable(tuple(columns), alpha, grouped.reset_index(drop=True))


def all_rates(frame: pd.DataFrame, *, alpha: float = 0.05) -> dict[str, RateTable]:
    """The standard groupings: template, model, template x model, domain, difficulty."""
    return {
        name: success_rates(frame, columns, alpha=alpha)
        for name, columns in GROUPINGS.items()
        if all(column in frame for column in columns)
    }
