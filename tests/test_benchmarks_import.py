"""Every benchmark imports cleanly.

The benchmarks run in CI only in their short versions, after lint and types;
an import that a refactor broke (a helper renamed in ``analytics.load``) used
to surface there, minutes in, instead of in the suite.
"""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest

BENCHMARKS = sorted(
    path.stem for path in (Path(__file__).resolve().parents[1] / "benchmarks").glob("*.py")
    if path.stem != "__init__"
)


def test_there_are_benchmarks() -> None:
    assert {"bench_ingest", "bench_analytics", "bench_stats"} <= set(BENCHMARKS)


@pytest.mark.parametrize("name", BENCHMARKS)
def test_benchmark_imports(name: str) -> None:
    module = importlib.import_module(f"benchmarks.{name}")
    if name.startswith(("bench_", "soak")):
        assert callable(getattr(module, "main", None)), f"{name} has no main()"
