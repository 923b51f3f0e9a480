"""``rev-analytics ab-test`` and ``analyze`` end to end on a real SQLite store."""

from __future__ import annotations

import csv
import json
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import pytest

from analytics.abtest import ab_test
from analytics.load import load_executions
from rev_analytics.cli.main import main
from storage import open_store
from streams.simulate.workload import synthetic_prompt_events

START = datetime(2026, 2, 1, tzinfo=UTC)
CONTRACT_KEYS = {"a", "b", "difference", "ci_low", "ci_high", "z", "p_value", "cohens_h",
                 "significant", "practically_significant", "recommendation"}


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("stats") / "store.db"
    with open_store(path) as db:
        db.insert_events(synthetic_prompt_events(6000, seed=4, start=START))
    return path


def strict(text: str) -> dict:  # type: ignore[type-arg]
    def refuse(value: str) -> None:
        raise AssertionError(f"non-finite number {value} in JSON")

    return json.loads(text, parse_constant=refuse)


def test_ab_test_json_is_the_contract(store: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["ab-test", "--db", str(store), "--a", "math_reasoning", "--b",
                 "code_generation", "--json"])
    out = capsys.readouterr().out
    assert code == 0
    data = strict(out)
    assert set(data) >= CONTRACT_KEYS
    expected = ab_test(load_executions(store), "math_reasoning", "code_generation").to_dict()
    for key in CONTRACT_KEYS:
        assert data[key] == pytest.approx(expected[key]) if isinstance(
            expected[key], float) else data[key] == expected[key]
    assert data["b"]["template_id"] == "code_generation"
    assert data["difference"] == pytest.approx(data["b"]["rate"] - data["a"]["rate"])
    assert data["stratified"] is not None  # no --model: CMH across models beside the pooled test


def test_ab_test_model_alpha_from_environment_and_sequential(
    store: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("REV_ANALYTICS_ALPHA", "0.01")
    code = main(["ab-test", "--db", str(store), "--a", "math_reasoning", "--b",
                 "factual_recall", "--model", "gpt-4o", "--sequential", "--json"])
    data = strict(capsys.readouterr().out)
    assert code == 0 and data["alpha"] == 0.01 and data["model"] == "gpt-4o"
    assert data["stratified"] is None and data["sequential"]["always_valid_p_value"] <= 1


def test_ab_test_table_output(store: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["ab-test", "--db", str(store), "--a", "math_reasoning", "--b",
                 "code_generation"]) == 0
    out = capsys.readouterr().out
    assert "recommendation" in out and "math_reasoning" in out and "Cohen's h" in out


@pytest.mark.parametrize(("args", "message"), [
    (["--a", "math_reasoning", "--b", "no_such_template"], "'no_such_template' has no executions"),
    (["--a", "math_reasoning", "--b", "code_generation", "--alpha", "1.5"], "--alpha"),
    (["--a", "math_reasoning", "--b", "code_generation", "--min-effect", "nan"], "--min-effect"),
    (["--a", "x", "--b", "y", "--since", "yesterday"], "--since"),
])
def test_ab_test_bad_input_exits_2_with_one_line(
    store: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str,
) -> None:
    assert main(["ab-test", "--db", str(store), *args]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1 and "Traceback" not in err


def test_missing_database_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["ab-test", "--db", str(tmp_path / "none.db"), "--a", "a", "--b", "b"]) == 2
    assert main(["analyze", "--db", str(tmp_path / "none.db")]) == 2
    assert "no database" in capsys.readouterr().err


def test_analyze_json_and_table(store: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["analyze", "--db", str(store), "--json", "--baseline", "math_reasoning",
                 "--correction", "fdr_bh"]) == 0
    data = strict(capsys.readouterr().out)
    assert data["overview"]["n"] == 6000
    assert data["comparisons"]["mode"] == "vs_baseline"
    assert data["comparisons"]["correction"] == "fdr_bh"
    for section in ("rates", "discrimination", "trends", "changes", "correlations",
                    "prediction", "identification"):
        assert data[section], section
    assert main(["analyze", "--db", str(store), "--templates", "math_reasoning,code_generation",
                 "--models", "gpt-4o,llama-3-8b"]) == 0
    out = capsys.readouterr().out
    assert "Success by template" in out and "Confusion matrix" in out
    assert "factual_recall" not in out


def test_analyze_empty_range_is_a_message_and_exit_0(
    store: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["analyze", "--db", str(store), "--since", "2030-01-01"]) == 0
    assert "nothing to analyse" in capsys.readouterr().out


def test_analyze_unknown_baseline_exits_2(store: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["analyze", "--db", str(store), "--baseline", "nope"]) == 2
    assert "--baseline" in capsys.readouterr().err


def test_an_id_with_a_comma_is_selected_with_a_backslash(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The contract allows commas in ids; "\," names one in --templates/--models.
    events = [event._replace(template_id=event.template_id.replace("_", ", "))
              for event in synthetic_prompt_events(600, seed=9, start=START)]
    path = tmp_path / "store.db"
    with open_store(path) as db:
        db.insert_events(events)
    wanted = "math, reasoning"
    out = tmp_path / "picked.csv"
    assert main(["export", "--db", str(path), "--format", "csv", "--out", str(out),
                 "--templates", r"math\, reasoning,code\, generation"]) == 0
    picked = Counter(row["template_id"] for row in csv.DictReader(out.open()))
    truth = Counter(e.template_id for e in events if e.template_id in (wanted, "code, generation"))
    assert picked == truth and picked[wanted] > 0
    # The same escape in the environment variable.
    monkeypatch.setenv("REV_ANALYTICS_TEMPLATES", r"math\, reasoning")
    out = tmp_path / "from-env.csv"
    assert main(["export", "--db", str(path), "--format", "csv", "--out", str(out)]) == 0
    picked = Counter(row["template_id"] for row in csv.DictReader(out.open()))
    assert picked == Counter({wanted: truth[wanted]})
