"""Success-rate tables: counts, Wilson intervals, and "no data" kept apart from 0 %."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from analytics.rates import all_rates, success_rates
from tests.analytics._frames import arms


def test_rates_counts_and_wilson_bounds() -> None:
    table = success_rates(arms([("t1", "m1", 40, 30), ("t2", "m1", 10, 0)]), ["template_id"])
    t1 = table.lookup(template_id="t1")
    assert t1 is not None and (t1.n, t1.successes, t1.rate) == (40, 30, 0.75)
    assert (t1.ci_low, t1.ci_high) == pytest.approx((0.598060, 0.858129), abs=1e-6)
    t2 = table.lookup(template_id="t2")
    assert t2 is not None and t2.rate == 0.0 and t2.ci_high > 0.2  # 0 % is data, with doubt


def test_missing_combination_is_absent_never_zero() -> None:
    # The original heatmap filled (t2, m2) with 0 %: indistinguishable from total failure.
    frame = arms([("t1", "m1", 20, 10), ("t1", "m2", 20, 5), ("t2", "m1", 20, 0)])
    table = success_rates(frame, ["template_id", "model_id"])
    assert table.lookup(template_id="t2", model_id="m2") is None
    assert table.lookup(template_id="t2", model_id="m1").rate == 0.0  # type: ignore[union-attr]
    grid = table.pivot("template_id", "model_id")
    assert np.isnan(grid.loc["t2", "m2"]) and grid.loc["t2", "m1"] == 0.0
    assert json.dumps(table.to_dict(), allow_nan=False)


def test_missing_group_values_form_their_own_group() -> None:
    frame = arms([("t1", "m1", 10, 5)])
    frame["domain"] = ["math"] * 6 + [None] * 4
    table = success_rates(frame, ["domain"])
    assert table.lookup(domain=None).n == 4  # type: ignore[union-attr]
    assert sum(row.n for row in table.rows) == 10
    assert table.to_dict()["rows"][-1]["domain"] is None or any(
        r["domain"] is None for r in table.to_dict()["rows"])


def test_empty_frame_gives_empty_table_and_standard_groupings() -> None:
    empty = pd.DataFrame({"template_id": [], "success": pd.Series([], dtype=bool)})
    assert success_rates(empty).rows == []
    frame = arms([("t1", "m1", 10, 5)])
    frame["domain"], frame["difficulty_level"] = "math", 3.0
    assert set(all_rates(frame)) == {"template", "model", "template_model", "domain",
                                     "difficulty"}


def test_repeated_prompts_widen_the_interval_and_say_how() -> None:
    rng = np.random.default_rng(3)
    q = rng.beta(3, 1.3, 30)
    frame = pd.DataFrame({
        "template_id": "t", "model_id": "m",
        "prompt_id": np.repeat([f"p{i}" for i in range(30)], 20),
        "success": (rng.random((30, 20)) < q[:, None]).ravel(),
    })
    clustered = success_rates(frame, ["template_id"]).rows[0]
    plain = success_rates(frame.drop(columns="prompt_id"), ["template_id"]).rows[0]
    assert (clustered.n, clustered.successes) == (plain.n, plain.successes)
    assert clustered.prompts == 30 and clustered.design_effect is not None
    assert clustered.design_effect > 2.0
    assert clustered.ci_high - clustered.ci_low > 1.4 * (plain.ci_high - plain.ci_low)
    table = success_rates(frame, ["template_id"]).to_dict()
    assert "effective sample size" in table["interval"]
    assert table["rows"][0]["design_effect"] == pytest.approx(clustered.design_effect)
    # Each prompt once: the plain Wilson interval, exactly.
    once = frame.assign(prompt_id=[f"u{i}" for i in range(len(frame))])
    row = success_rates(once, ["template_id"]).rows[0]
    assert (row.ci_low, row.ci_high) == pytest.approx((plain.ci_low, plain.ci_high), abs=1e-12)
    assert row.design_effect is None and success_rates(once).to_dict()["interval"] == "wilson"
