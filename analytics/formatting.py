"""How a number reads, decided by what it is: a rate, a difference of rates, a p-value...

Shared by the report (HTML and summary.md) and the command line's tables, so a
p-value or a difference reads the same everywhere. Pure functions on plain
numbers (no pandas, no numpy needed), cheap to import from the CLI.

* A rate (a share of executions) is a percentage: ``74.5%``.
* A difference of two rates, or a rate's change per day, is in percentage
  points: ``+41.9 pp``. "41.9%" would claim a relative change.
* A p-value is never printed as 0 (floating point underflow is not
  certainty): below :data:`P_FLOOR` it reads ``< 0.0001``.
* A correlation coefficient and its interval are plain numbers in [-1, 1]:
  ``0.952``, never a percentage.
"""

from __future__ import annotations

import math

MISSING = "—"
P_FLOOR = 1e-4
"""Smallest p-value printed as a number; anything below reads ``< 0.0001``."""


def is_missing(value: float | None) -> bool:
    """True for ``None`` and NaN (a statistic that is not defined)."""
    return value is None or (isinstance(value, float) and math.isnan(value))


def p_value(value: float | None) -> str:
    """``0.0331``, ``1``, or ``< 0.0001``; never ``0`` and never ``1e-140``."""
    if is_missing(value):
        return MISSING
    assert value is not None
    return f"< {P_FLOOR:g}" if value < P_FLOOR else f"{value:.3g}"


def p_text(value: float | None) -> str:
    """``p = 0.0331`` or ``p < 0.0001``, for a sentence."""
    shown = p_value(value)
    return f"p {shown}" if shown.startswith("<") else f"p = {shown}"


def percent(value: float | None, digits: int = 1) -> str:
    """A rate as a percentage: ``0.745`` -> ``74.5%``."""
    if is_missing(value):
        return MISSING
    assert value is not None
    return f"{value:.{digits}%}"


def points(value: float | None, digits: int = 1, *, signed: bool = True,
           unit: str = " pp") -> str:
    """A difference of rates in percentage points: ``0.419`` -> ``+41.9 pp``."""
    if is_missing(value):
        return MISSING
    assert value is not None
    sign = "+" if signed else ""
    return f"{value * 100:{sign}.{digits}f}{unit}"


def correlation(value: float | None) -> str:
    """A correlation coefficient (or a bound of its interval): ``0.952``, ``-0.253``."""
    if is_missing(value):
        return MISSING
    assert value is not None
    return f"{value:.3f}"


def score(value: float | None) -> str:
    """A bounded score or effect size in [0, 1] (Cramér's V, ROC-AUC, Brier): ``0.505``."""
    return correlation(value)


def number(value: float | None) -> str:
    """Any other measurement: four significant digits."""
    if is_missing(value):
        return MISSING
    assert value is not None
    return f"{value:.4g}"


def count(value: int | None) -> str:
    """A count with thousands separators: ``20,000``."""
    return MISSING if value is None else f"{value:,}"


def money(value: float | None) -> str:
    """US dollars to the hundredth of a cent: ``$0.0039``."""
    if is_missing(value):
        return MISSING
    assert value is not None
    return f"${value:,.4f}"


__all__ = ["MISSING", "P_FLOOR", "correlation", "count", "is_missing", "money", "number",
           "p_text", "p_value", "percent", "points", "score"]
