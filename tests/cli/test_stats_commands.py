"""``rev-analytics ab-test`` and ``analyze`` end to end on a real SQLite store."""

from __future__ import annotations

import csv
import json
import os
import re
import subprocess
import sys
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import pytest

from analytics.abtest import ab_test
from analytics.load import load_executions
from rev_analytics.cli.main import main
from storage import open_store
from streams.simulate.workload import synthetic_prompt_events
from tests.consumer_support import ROOT

START = datetime(2026, 2, 1, tzinfo=UTC)
CONTRACT_KEYS = {"a", "b", "difference", "ci_low", "ci_high", "z", "p_value", "cohens_h",
                 "significant", "practically_significant", "recommendation"}


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("stats") / "store.db"
    with open_store(path) as db:
        db.insert_events(list(synthetic_prompt_events(6000, seed=4, start=START)))
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


def table_rows(out: str, after: str) -> list[list[str]]:
    """The body rows of the first rich table printed after the line starting with ``after``."""
    lines = out.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(after))
    rows = []
    for line in lines[start + 4:]:  # title, top border, heading, rule
        if not line.startswith("│"):
            break
        rows.append([cell.strip() for cell in line.strip("│").split("│")])
    return rows


def test_analyze_says_what_it_shows_and_which_way_differences_go(
    store: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["analyze", "--db", str(store), "--json"]) == 0
    data = strict(capsys.readouterr().out)
    comparisons = data["comparisons"]["comparisons"]
    assert len(comparisons) == 28
    assert main(["analyze", "--db", str(store)]) == 0
    out = capsys.readouterr().out
    assert "showing 15 of 28 comparisons (the most significant; --json for all)" in out
    assert "b − a (points)" in out
    rows = table_rows(out, "Template comparisons")
    assert len(rows) == 15
    truth = {(c["a"], c["b"]): c for c in comparisons}
    for a, b, rate_a, rate_b, difference, p_adjusted, significant in rows:
        expected = truth[(a, b)]
        # b - a, in percentage points: positive means b succeeds more often.
        assert float(difference) == pytest.approx(
            100 * (expected["rate_b"] - expected["rate_a"]), abs=0.051)
        assert float(difference) == pytest.approx(
            float(rate_b.rstrip("%")) - float(rate_a.rstrip("%")), abs=0.11)
        # Never "0": an underflowed p-value reads "< 0.0001".
        if expected["p_adjusted"] < 1e-4:
            assert p_adjusted == "< 0.0001"
        else:
            assert float(p_adjusted) == pytest.approx(expected["p_adjusted"], rel=0.01)
        assert significant == ("yes" if expected["significant"] else "no")
    # Underflow to exactly 0 happens (the outcome-derived quality score): it printed "0".
    assert 0.0 in [f["p_adjusted"] for f in data["correlations"]["features"]]
    correlations = table_rows(out, "Correlation with success")
    assert len(correlations) == len(data["correlations"]["features"])
    p_cells = [row[2] for row in correlations]
    p_cells += [row[3] for row in table_rows(out, "Discrimination power")]
    p_cells += [row[3] for row in table_rows(out, "Trends over event time")]
    assert len(p_cells) > 20 and "< 0.0001" in p_cells
    assert all(cell == "< 0.0001" or float(cell) >= 1e-4 for cell in p_cells), p_cells
    assert not re.search(r"p = 0(\.0+)?(?![\d.])", out)


LONG_ID = "template_with_a_name_long_enough_that_no_eighty_column_terminal_could_hold_its_row"


@pytest.fixture(scope="module")
def long_id_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("long-ids") / "store.db"
    events = [e._replace(template_id=LONG_ID) if e.template_id == "code_generation" else e
              for e in synthetic_prompt_events(3000, seed=5, start=START)]
    with open_store(path) as db:
        db.insert_events(events)
    return path


def piped(*args: str) -> str:
    """Run the CLI as a user would with its output piped into another program."""
    result = subprocess.run(
        [sys.executable, "-m", "rev_analytics", *args], cwd=ROOT, capture_output=True,  # pipes
        text=True, timeout=240,
        # COLUMNS=80 is what rich would otherwise wrap to; FORCE_COLOR must not add codes.
        env={**os.environ, "COLUMNS": "80", "FORCE_COLOR": "1"},
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_output_through_a_pipe_is_neither_wrapped_nor_coloured(long_id_store: Path) -> None:
    out = piped("analyze", "--db", str(long_id_store))
    assert "\x1b[" not in out
    lines = out.splitlines()
    # The long id is whole on its table rows, and those rows are wider than 80 columns.
    rows = [line for line in lines if LONG_ID in line and line.startswith("│")]
    assert len(rows) >= 3 and all(len(line) > 80 for line in rows)
    assert "showing 15 of 28 comparisons (the most significant; --json for all)" in lines
    assert max(len(line) for line in lines) > 120
    ab = piped("ab-test", "--db", str(long_id_store), "--a", LONG_ID, "--b", "math_reasoning")
    assert "\x1b[" not in ab
    assert any(LONG_ID in line for line in ab.splitlines())
    # The recommendation is one line, however long.
    (recommendation,) = [line for line in ab.splitlines() if line.startswith("recommendation:")]
    assert len(recommendation) > 80
