"""Figures: valid PNGs, and the data behind each picture is what the statistics said."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from matplotlib.image import imread

from analytics.figures import (
    MAX_HEATMAP_TEMPLATES,
    axis_limit,
    confusion_matrix,
    distributions,
    network_graph,
    png_is_valid,
    safe_name,
    short_label,
    success_heatmap,
    success_time_series,
)
from analytics.rates import success_rates
from tests.analytics.report_data import MISSING_CELL, events_frame, make_events


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    return events_frame(make_events(600))


def pixels(png: bytes) -> np.ndarray:
    return np.asarray(imread(io.BytesIO(png), format="png"))


def test_heatmap_shows_a_missing_cell_as_missing_not_zero(frame: pd.DataFrame) -> None:
    rates = success_rates(frame, ("template_id", "model_id"))
    figure = success_heatmap(rates)
    assert png_is_valid(figure.png) and pixels(figure.png).shape[0] > 200
    template, model = MISSING_CELL
    assert figure.data.isna().loc[template, model]  # the data drawn: no data, not 0 %
    assert figure.data.attrs["n"].loc[template, model] != 0
    # Every other cell holds exactly the rate the statistics computed.
    for row in rates.rows:
        drawn = figure.data.loc[row.keys["template_id"], row.keys["model_id"]]
        assert drawn == pytest.approx(row.rate)
    assert int(figure.data.isna().sum().sum()) == 1


def test_heatmap_zero_percent_cell_is_zero_not_missing(frame: pd.DataFrame) -> None:
    zero = frame.copy()
    zero.loc[zero["template_id"] == "tpl_bad", "success"] = False
    figure = success_heatmap(success_rates(zero, ("template_id", "model_id")))
    assert (figure.data.loc["tpl_bad"] == 0.0).all()


def test_heatmap_caps_templates_and_says_so() -> None:
    many = pd.DataFrame({
        "template_id": [f"t{i}" for i in range(45) for _ in range(3)],
        "model_id": ["m"] * 135,
        "success": [True, False, True] * 45,
    })
    figure = success_heatmap(success_rates(many, ("template_id", "model_id")))
    assert figure.data.shape == (MAX_HEATMAP_TEMPLATES, 1) and "busiest" in figure.title


def test_time_series_draws_each_bucket_with_its_interval(frame: pd.DataFrame) -> None:
    bucketed = frame.assign(bucket=frame["timestamp"].dt.floor("D"))
    rates = success_rates(bucketed, ("template_id", "bucket")).frame
    figure = success_time_series(rates)
    assert png_is_valid(figure.png)
    assert set(figure.data["template_id"]) == set(frame["template_id"])
    assert (figure.data["ci_low"] <= figure.data["rate"]).all()
    assert (figure.data["rate"] <= figure.data["ci_high"]).all()
    assert figure.data["n"].sum() == len(frame)


def test_network_graph_edges_carry_executions_and_success(frame: pd.DataFrame) -> None:
    rates = success_rates(frame, ("template_id", "model_id"))
    figure = network_graph(rates)
    assert png_is_valid(figure.png)
    edges = {(r.template_id, r.model_id): (r.n, r.rate) for r in figure.data.itertuples()}
    assert MISSING_CELL not in edges and len(edges) == 11
    counts = frame.groupby(["template_id", "model_id"]).size().to_dict()
    assert all(edges[key][0] == counts[key] for key in edges)


def test_confusion_matrix_keeps_counts_and_refuses_bad_shapes() -> None:
    figure = confusion_matrix(["a", "b"], [[8, 2], [1, 9]])
    assert png_is_valid(figure.png)
    assert figure.data.loc["a", "b"] == 2 and figure.data.loc["b", "a"] == 1
    with pytest.raises(ValueError, match="square"):
        confusion_matrix(["a", "b"], [[1, 2, 3]])


def test_distributions_count_missing_values_instead_of_drawing_zero(
    frame: pd.DataFrame,
) -> None:
    gappy = frame.copy()
    gappy.loc[gappy.index[:50], "cost"] = np.nan
    figure = distributions(gappy)
    assert png_is_valid(figure.png)
    cost = figure.data[figure.data["measure"] == "cost"]
    assert cost["missing"].sum() == 50 and cost["present"].sum() == len(frame) - 50


def test_a_long_latency_tail_is_folded_into_a_last_bin_and_counted(
    frame: pd.DataFrame,
) -> None:
    # 3 % of executions time out after 30-90 s; the rest take 0.2-4 s.
    slow = frame.copy()
    timeouts = slow.index[::31]
    slow.loc[timeouts, "execution_time"] = np.linspace(30.0, 90.0, len(timeouts))
    figure = distributions(slow)
    assert png_is_valid(figure.png)
    latency = figure.data[figure.data["measure"] == "execution_time"]
    limit = latency["axis_limit"].iloc[0]
    # The axis stops just past the typical values, not at the 90 s outliers ...
    assert 4.0 <= limit < 15.0
    assert (latency["axis_limit"] == limit).all()
    # ... and every execution beyond it is counted, per model, in the last bin.
    assert latency["above_limit"].sum() == len(timeouts)
    by_model = slow.loc[timeouts].groupby("model_id").size()
    assert (by_model > 0).sum() >= 2
    assert latency.set_index("model_id")["above_limit"].to_dict() == \
        by_model.reindex(latency["model_id"], fill_value=0).to_dict()
    assert "last, grey bin" in figure.caption and "latency" not in figure.caption
    # Uniform costs have no far tail: that axis shows every value.
    cost = figure.data[figure.data["measure"] == "cost"]
    assert cost["axis_limit"].isna().all() and (cost["above_limit"] == 0).all()


def test_axis_limit_is_tukeys_far_out_fence_and_only_when_needed() -> None:
    typical = np.linspace(1.0, 3.0, 97)
    tailed = np.append(typical, [40.0, 60.0, 90.0])
    q1, q3 = np.quantile(tailed, [0.25, 0.75])
    assert axis_limit(tailed) == pytest.approx(q3 + 3 * (q3 - q1))
    assert 5.0 < q3 + 3 * (q3 - q1) < 6.0
    assert axis_limit(typical) is None  # nothing beyond the fence: show everything
    assert axis_limit(np.full(50, 2.0)) is None  # no spread: nothing to fold
    assert axis_limit([1.0, 2.0]) is None


def test_ids_with_markup_dollars_and_paths_are_harmless(tmp_path: Path) -> None:
    odd = pd.DataFrame({
        "template_id": ["$\\frac{1}{0}$ <b>x</b>", "../../etc/passwd", "a$b"],
        "model_id": ["m$", "m$", "m2"],
        "success": [True, False, True],
    })
    figure = success_heatmap(success_rates(odd, ("template_id", "model_id")))
    assert png_is_valid(figure.png)
    for text in ("../../etc/passwd", "<script>x</script>", "", "a/b\\c..d"):
        name = safe_name(text)
        assert name and "/" not in name and "\\" not in name and ".." not in name
        assert (tmp_path / f"{name}.png").resolve().parent == tmp_path.resolve()
    assert len(short_label("x" * 300)) == 32
