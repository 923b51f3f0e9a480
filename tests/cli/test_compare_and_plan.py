"""``compare-models`` and ``plan`` end to end on real SQLite stores, and the design keys of
``ab-test`` on REV-shaped data (prompts repeated, shared across models)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from statsmodels.stats.contingency_tables import mcnemar

from analytics.abtest import compare_models
from analytics.load import Selection, load_executions, load_outcome_counts
from rev_analytics.cli.main import main
from tests.analytics.prompt_data import prompt_events
from tests.analytics.report_data import write_store

MODELS = {"m_strong": 0.5, "m_weak": 0.0, "m_other": -0.3}


def strict(text: str) -> dict[str, Any]:
    def refuse(value: str) -> None:
        raise AssertionError(f"non-finite number {value} in JSON")

    data: dict[str, Any] = json.loads(text, parse_constant=refuse)
    return data


@pytest.fixture(scope="module")
def repeated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    events = prompt_events({"t_math": 0.6, "t_code": 0.75}, MODELS, prompts=60, runs=4,
                           spread=1.2, seed=1)
    return write_store(tmp_path_factory.mktemp("repeated") / "store.db", events)


@pytest.fixture(scope="module")
def single(tmp_path_factory: pytest.TempPathFactory) -> Path:
    events = prompt_events({"t_math": 0.6}, MODELS, prompts=300, runs=1, spread=1.2, seed=2)
    return write_store(tmp_path_factory.mktemp("single") / "store.db", events)


def run_json(capsys: pytest.CaptureFixture[str], *argv: str) -> dict[str, Any]:
    assert main([*argv, "--json"]) == 0
    return strict(capsys.readouterr().out)


def test_compare_models_is_paired_with_ab_tests_keys(
    repeated: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    data = run_json(capsys, "compare-models", "--db", str(repeated), "--a", "m_weak",
                    "--b", "m_strong")
    ab = run_json(capsys, "ab-test", "--db", str(repeated), "--a", "t_math", "--b", "t_code")
    assert set(data) == set(ab)
    assert data["a"]["model_id"] == "m_weak" and data["b"]["model_id"] == "m_strong"
    assert data["design"] == "paired" and data["pairs"] == 120
    assert data["clusters"] == {"a": 120, "b": 120}
    assert data["correlation"] > 0.3 and data["gain"] > 1.5
    assert data["significant"] and data["difference"] > 0
    assert data["unpaired"]["p_value"] > data["p_value"]
    assert [s["template_id"] for s in data["stratified"]["strata"]] == ["t_code", "t_math"]
    # The command is the function on the store's counts.
    counts = load_outcome_counts(repeated, Selection(models=["m_weak", "m_strong"]),
                                 by=("template_id", "model_id", "prompt_id"))
    expected = compare_models(counts, "m_weak", "m_strong").to_dict()
    assert data["p_value"] == pytest.approx(expected["p_value"])
    assert data["ci_low"] == pytest.approx(expected["ci_low"])
    # Two templates on different prompts, each prompt run on three models x 4: clustered.
    assert ab["design"] == "clustered" and ab["pairs"] == 0
    assert ab["clusters"] == {"a": 60, "b": 60} and ab["design_effect"] > 1.5
    assert ab["pooled"]["p_value"] < ab["p_value"]


def test_compare_models_within_one_template_from_the_environment(
    repeated: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("REV_ANALYTICS_TEMPLATE", "t_code")
    data = run_json(capsys, "compare-models", "--db", str(repeated), "--a", "m_weak",
                    "--b", "m_other")
    assert data["template"] == "t_code" and data["stratified"] is None
    assert data["pairs"] == 60 and data["a"]["n"] == 240


def test_single_runs_on_shared_prompts_are_mcnemar(
    single: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    data = run_json(capsys, "compare-models", "--db", str(single), "--a", "m_other",
                    "--b", "m_strong")
    assert data["design"] == "paired" and data["test"] == "McNemar's test"
    frame = load_executions(single, Selection(models=["m_other", "m_strong"]))
    table = frame.pivot(index="prompt_id", columns="model_id", values="success")
    a, b = table["m_other"].to_numpy(), table["m_strong"].to_numpy()
    ref = mcnemar([[np.sum(a & b), np.sum(a & ~b)], [np.sum(~a & b), np.sum(~a & ~b)]],
                  exact=False, correction=False)
    assert data["p_value"] == pytest.approx(ref.pvalue, abs=1e-9)
    assert data["z"] ** 2 == pytest.approx(ref.statistic, rel=1e-9)
    assert data["ci_method"].startswith("Tango")
    assert (data["ci_low"] > 0) == (data["p_value"] < 0.05)


def test_compare_models_table_output(repeated: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["compare-models", "--db", str(repeated), "--a", "m_weak", "--b",
                 "m_strong"]) == 0
    out = capsys.readouterr().out
    for text in ("Model comparison", "paired", "pairing", "pooled z-test (naive)",
                 "recommendation", "stratified by template"):
        assert text in out, text


@pytest.mark.parametrize(("args", "message"), [
    (["--a", "m_weak", "--b", "nope"], "model 'nope' has no executions"),
    (["--a", "m_weak", "--b", "m_weak"], "different models"),
    (["--a", "m_weak", "--b", "m_strong", "--models", "m_other"], "--models does not apply"),
    (["--a", "m_weak", "--b", "m_strong", "--alpha", "2"], "--alpha"),
    (["--a", "m_weak", "--b", "m_strong", "--template", "nope"], "on template nope"),
])
def test_compare_models_bad_input_exits_2_with_one_line(
    repeated: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str,
) -> None:
    assert main(["compare-models", "--db", str(repeated), *args]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1 and "Traceback" not in err


def test_plan_measures_the_icc_from_the_store(
    repeated: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    data = run_json(capsys, "plan", "--db", str(repeated), "--effect", "0.1")
    inputs = data["inputs"]
    assert inputs["sources"]["icc"] == "store" and 0.05 < inputs["icc"] < 0.6
    assert inputs["runs_per_prompt"] == 12.0 and inputs["prompts_per_arm"] == 60
    assert data["minimum_detectable_effect"] > 0
    prompts = [o["prompts_per_arm"] for o in data["options"]]
    assert prompts == sorted(prompts, reverse=True) and 12 in [
        o["runs_per_prompt"] for o in data["options"]]
    flagged = run_json(capsys, "plan", "--db", str(repeated), "--effect", "0.1", "--icc", "0.0")
    assert flagged["inputs"]["sources"]["icc"] == "flag"
    assert flagged["options"][-1]["prompts_per_arm"] < prompts[-1]
    paired = run_json(capsys, "plan", "--db", str(repeated), "--effect", "0.1", "--paired",
                      "--models", "m_weak,m_strong")
    assert paired["design"] == "paired" and paired["inputs"]["prompt_correlation"] > 0.5
    assert paired["options"][0]["prompts_per_arm"] < prompts[0]


def test_plan_from_flags_and_its_table(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["plan", "--rate", "0.7", "--icc", "0.19"]) == 0
    out = capsys.readouterr().out
    assert "Prompts per arm needed" in out and "however many runs" in out


@pytest.mark.parametrize(("args", "message"), [
    (["--icc", "0.1"], "--rate"),
    (["--rate", "0.7", "--icc", "0.1", "--paired"], "--prompt-correlation"),
    (["--rate", "0.7", "--icc", "1.5"], "--icc"),
    (["--rate", "0.7", "--icc", "0.1", "--effect", "0"], "effect"),
    (["--db", "/nonexistent/x.db"], "no database"),
])
def test_plan_bad_input_exits_2_with_one_line(
    capsys: pytest.CaptureFixture[str], args: list[str], message: str,
) -> None:
    assert main(["plan", *args]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1 and "Traceback" not in err
