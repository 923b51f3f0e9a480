"""Every batch command gives the same answer on a PostgreSQL store as on SQLite, same rows."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from rev_analytics.cli.main import main
from storage import open_store
from streams.simulate.workload import synthetic_prompt_events
from tests.postgres_server import PostgresServer, fresh_database

START = datetime(2026, 2, 1, tzinfo=UTC)
PROVENANCE = frozenset({"generated_at", "report_id", "timings_seconds", "db", "store"})


@pytest.fixture(scope="module")
def stores(tmp_path_factory: pytest.TempPathFactory,
           postgres_server: PostgresServer) -> tuple[str, str]:
    """The same 6,000 executions (some in experiments) in a SQLite file and in PostgreSQL."""
    events = [event._replace(experiment_id=("exp-a" if i % 3 == 0 else None))
              for i, event in enumerate(synthetic_prompt_events(6000, seed=4, start=START))]
    lite = str(tmp_path_factory.mktemp("parity") / "store.db")
    pg = fresh_database(postgres_server)
    for db in (lite, pg):
        with open_store(db) as store:
            store.insert_events(events, ingested_at=START.timestamp())
    return lite, pg


def output(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    assert main(list(argv)) == 0, capsys.readouterr().err
    return capsys.readouterr().out


@pytest.mark.parametrize("argv", [
    ["ab-test", "--a", "math_reasoning", "--b", "code_generation", "--json"],
    ["ab-test", "--a", "math_reasoning", "--b", "code_generation", "--model", "gpt-4o",
     "--since", "2026-02-01T12:00:00Z", "--json"],
    ["ab-test", "--a", "math_reasoning", "--b", "factual_recall", "--experiment", "exp-a",
     "--json"],
    ["compare-models", "--a", "gpt-4o", "--b", "claude-3-5-sonnet", "--json"],
    ["compare-models", "--a", "gpt-4o", "--b", "claude-3-5-sonnet", "--template",
     "math_reasoning", "--json"],
    ["analyze", "--json"],
    ["analyze", "--experiment", "exp-a", "--json"],
], ids=lambda argv: " ".join(argv[:1] + argv[-3:-1]))
def test_json_is_identical(stores: tuple[str, str], capsys: pytest.CaptureFixture[str],
                           argv: list[str]) -> None:
    lite, pg = stores
    from_lite = output(capsys, argv[0], "--db", lite, *argv[1:])
    from_pg = output(capsys, argv[0], "--db", pg, *argv[1:])
    assert _without_provenance(json.loads(from_pg)) == _without_provenance(json.loads(from_lite))


def _without_provenance(report: Any) -> Any:
    """A command's JSON minus when, how fast and from which store it was made."""
    if isinstance(report, dict):
        return {k: _without_provenance(v) for k, v in report.items()
                if k not in PROVENANCE}
    if isinstance(report, list):
        return [_without_provenance(v) for v in report]
    return report


def test_report_is_identical(stores: tuple[str, str], tmp_path: Path,
                             capsys: pytest.CaptureFixture[str]) -> None:
    lite, pg = stores
    for name, db in (("lite", lite), ("pg", pg)):
        output(capsys, "report", "--db", db, "--out", str(tmp_path / name))
    reports = [json.loads((tmp_path / name / "report.json").read_text()) for name in ("lite", "pg")]
    assert _without_provenance(reports[1]) == _without_provenance(reports[0])


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "parquet"])
def test_export_is_identical(stores: tuple[str, str], tmp_path: Path,
                             capsys: pytest.CaptureFixture[str], fmt: str) -> None:
    lite, pg = stores
    paths = [tmp_path / f"{name}.{fmt}" for name in ("lite", "pg")]
    for db, path in zip((lite, pg), paths, strict=True):
        output(capsys, "export", "--db", db, "--format", fmt, "--out", str(path),
               "--chunk-rows", "1000")
    if fmt == "parquet":
        assert pq.read_table(paths[1]).equals(pq.read_table(paths[0]))
    else:
        assert paths[1].read_bytes() == paths[0].read_bytes()


def test_a_store_that_is_not_there_is_exit_2(postgres_server: PostgresServer,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    empty = fresh_database(postgres_server)
    assert main(["ab-test", "--db", empty, "--a", "x", "--b", "y", "--json"]) == 2
    assert "not a rev-analytics database" in capsys.readouterr().err


@pytest.mark.parametrize("argv", [
    ["ab-test", "--a", "x", "--b", "y", "--json"],
    ["export", "--format", "csv", "--out", "out.csv"],
    ["consume", "--redis-url", "redis://127.0.0.1:1/0", "--no-metrics"],
], ids=lambda argv: argv[0])
def test_a_missing_postgresql_driver_is_exit_2_naming_the_pip_install(
        argv: list[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name in (
        "psycopg", "adbc_driver_postgresql") else real(name, *a))
    monkeypatch.chdir(tmp_path)
    code = main([argv[0], "--db", "postgresql://rev:secret@db.invalid/rev", *argv[1:]])
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert "pip install 'rev-analytics[postgresql]'" in err and len(err.splitlines()) == 1
    assert "secret" not in err
