"""analytics.experiments: the per-experiment view finds the change the simulator planted."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pytest

from analytics.experiments import experiment_view
from streams.simulate.workload import DEGRADING_TEMPLATE, Workload

START = datetime(2026, 3, 1, tzinfo=UTC)
COUNT = 20_000


def _frame(events: list) -> pd.DataFrame:  # type: ignore[type-arg]
    frame = pd.DataFrame(events, columns=list(events[0]._fields))
    frame["timestamp"] = pd.to_datetime(frame["timestamp"], unit="us", utc=True)
    return frame.sort_values("timestamp", kind="stable", ignore_index=True)


@pytest.fixture(scope="module")
def simulated() -> pd.DataFrame:
    workload = Workload(0, start=START, late_fraction=0.02)
    return _frame(list(workload.prompt_events(COUNT)))


def test_experiments_in_start_order_with_what_ran_and_clustered_intervals(
    simulated: pd.DataFrame,
) -> None:
    truth = Workload(0, start=START).ground_truth(COUNT)
    view = experiment_view(simulated)
    assert view is not None and view.without_experiment == 0
    assert [e.experiment_id for e in view.experiments] == [
        e.experiment_id for e in truth.experiments]
    for summary in view.experiments:
        assert len(summary.templates) == 8 and len(summary.models) == 5
        rate = summary.overall
        assert rate.ci_low is not None and rate.ci_high is not None
        assert rate.ci_low < rate.rate < rate.ci_high
        # Prompts repeat within an experiment: the interval is widened for it.
        assert rate.prompts is not None and rate.prompts < rate.n
        assert rate.design_effect is not None and rate.design_effect > 1.2
        assert set(summary.per_template) == set(summary.templates)
    assert sum(e.overall.n for e in view.experiments) == COUNT
    document = json.loads(json.dumps(view.to_dict(), allow_nan=False))
    assert len(document["experiments"]) == 4 and len(document["changes"]) == 3


def test_only_the_experiment_that_shipped_the_change_changes(simulated: pd.DataFrame) -> None:
    truth = Workload(0, start=START).ground_truth(COUNT)
    view = experiment_view(simulated)
    assert view is not None
    for change in view.changes:
        assert not (change.templates_added or change.templates_removed or change.models_added
                    or change.models_removed)
        assert all(d.design == "paired" for d in change.per_template.values())
        if change.experiment_id == truth.changed_experiment:
            assert change.significant_templates == [DEGRADING_TEMPLATE]
            drop = change.per_template[DEGRADING_TEMPLATE]
            true_drop = (truth.template_rate(DEGRADING_TEMPLATE, after_change=True)
                         - truth.template_rate(DEGRADING_TEMPLATE))
            assert drop.ci_low < true_drop < drop.ci_high < -0.1
            assert drop.p_adjusted is not None and drop.p_adjusted < 1e-6
        else:
            assert change.significant_templates == []


def _tiny() -> pd.DataFrame:
    rng = np.random.default_rng(1)
    rows = []
    plan = {"exp-1": (["t1", "t2"], ["m1"]), "exp-2": (["t2", "t3"], ["m1", "m2"])}
    for day, (experiment, (templates, models)) in enumerate(plan.items()):
        for template in templates:
            for model in models:
                for prompt in range(12):
                    for run in range(3):
                        rows.append({
                            "experiment_id": experiment, "template_id": template,
                            "model_id": model, "prompt_id": f"{template}:{prompt}",
                            "success": bool(rng.random() < 0.6),
                            "timestamp": pd.Timestamp(2026, 3, 1 + day, run, tz="UTC")})
    rows.append({"experiment_id": None, "template_id": "t1", "model_id": "m1",
                 "prompt_id": "t1:0", "success": True,
                 "timestamp": pd.Timestamp(2026, 3, 1, tz="UTC")})
    return pd.DataFrame(rows)


def test_templates_and_models_that_came_and_went() -> None:
    view = experiment_view(_tiny())
    assert view is not None
    assert view.without_experiment == 1 and "no experiment_id" in view.notes[0]
    (change,) = view.changes
    assert (change.previous_id, change.experiment_id) == ("exp-1", "exp-2")
    assert change.templates_added == ("t3",) and change.templates_removed == ("t1",)
    assert change.models_added == ("m2",) and change.models_removed == ()
    assert list(change.per_template) == ["t2"]  # only what both ran is compared
    assert "template mix changed" in change.notes[0]
    json.dumps(view.to_dict(), allow_nan=False)


def test_no_experiment_ids_is_none_and_missing_columns_are_named() -> None:
    frame = _tiny().assign(experiment_id=None)
    assert experiment_view(frame) is None
    with pytest.raises(KeyError, match="experiment_id"):
        experiment_view(frame.drop(columns=["experiment_id"]))
