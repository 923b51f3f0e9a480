"""Every result passes through jsonable: no NaN, no infinities, no numpy types in JSON."""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np
import pandas as pd

from analytics.jsonsafe import finite_or_none, jsonable


@dataclass(frozen=True)
class Holder:
    value: float
    when: pd.Timestamp


def test_non_finite_numbers_become_null_and_numpy_types_plain() -> None:
    data = jsonable({
        "nan": float("nan"), "inf": np.inf, "np_float": np.float32(0.5), "np_int": np.int64(3),
        "np_bool": np.bool_(True), "array": np.array([1.0, np.nan]), "tuple": (1, None),
        "nat": pd.NaT, "stamp": pd.Timestamp("2026-01-01", tz="UTC"),
        "nested": Holder(float("-inf"), pd.Timestamp("2026-01-02", tz="UTC")), 7: "key",
    })
    text = json.dumps(data, allow_nan=False)
    assert json.loads(text) == {
        "nan": None, "inf": None, "np_float": 0.5, "np_int": 3, "np_bool": True,
        "array": [1.0, None], "tuple": [1, None], "nat": None,
        "stamp": "2026-01-01T00:00:00+00:00",
        "nested": {"value": None, "when": "2026-01-02T00:00:00+00:00"}, "7": "key",
    }
    assert finite_or_none("not a number") is None and finite_or_none(2) == 2.0
