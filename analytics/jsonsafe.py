"""Turn analysis results into JSON-safe values: no NaN, no infinities, no numpy types.

Every ``to_dict()`` in :mod:`analytics` ends here, so a report or a CLI line can
be ``json.dumps(..., allow_nan=False)``-ed without surprises: a number that is
not finite means "not defined" and becomes ``None`` (JSON ``null``).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from datetime import date, datetime
from typing import Any

import numpy as np
import pandas as pd


def finite_or_none(value: object) -> float | None:
    """``value`` as a float, or ``None`` when missing, NaN or infinite."""
    if value is None:
        return None
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def jsonable(value: Any) -> Any:
    """Recursively convert ``value`` to plain JSON types (NaN/inf -> ``None``)."""
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, int | np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        return finite_or_none(value)
    if isinstance(value, pd.Timestamp | datetime):
        return None if pd.isna(value) else value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if hasattr(value, "to_dict") and not isinstance(value, pd.DataFrame | pd.Series):
        return jsonable(value.to_dict())
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Mapping):
        return {str(key): jsonable(item) for key, item in value.items()}
    if isinstance(value, np.ndarray):
        return [jsonable(item) for item in value.tolist()]
    if isinstance(value, list | tuple | set | frozenset):
        return [jsonable(item) for item in value]
    if value is pd.NA or value is pd.NaT:
        return None
    return str(value)
