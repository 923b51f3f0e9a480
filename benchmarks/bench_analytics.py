"""Benchmark of the batch analytics on a large store: load, ``analyze``, ``ab-test``.

Builds (once, cached under /tmp) a SQLite store of simulated REV executions,
then measures in this run:

* loading the range into pandas with :func:`analytics.load.load_executions`
  against a naive baseline (``pandas.read_sql`` of every column, then typing);
* :func:`analytics.analyze.run_analysis` (every section), per section;
* the ``ab-test`` path (load two templates + test), cold, as the CLI runs it;
* the design document's floor on its own sizes: A/B on 1000 samples, the
  correlations, a random forest on 10k samples;
* peak RSS of the process.

Targets (issue 4): analyze (load + all sections) < 15 s, ab-test < 1 s, peak
RSS < 1.5 GB at 1M events. ``--quick`` runs 50k events for CI; the exit code
is 1 if a target is missed.

    python benchmarks/bench_analytics.py            # 1M events
    python benchmarks/bench_analytics.py --quick    # 50k events
"""

from __future__ import annotations

import argparse
import resource
import sqlite3
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from analytics.abtest import ab_test, run_ab_test  # noqa: E402
from analytics.analyze import run_analysis  # noqa: E402
from analytics.correlation import correlations  # noqa: E402
from analytics.load import STATISTICS_COLUMNS, load_executions, typed  # noqa: E402
from analytics.prediction import predict_success  # noqa: E402
from storage.sqlite_store import TABLE, open_store  # noqa: E402
from streams.simulate import synthetic_prompt_events  # noqa: E402

CACHE = Path("/tmp/rev_analytics_bench")
START = 1_700_000_000.0
SPAN = 30 * 86400.0
T = TypeVar("T")


def build_store(events: int, seed: int) -> Path:
    """The cached store for (events, seed), created on first use."""
    CACHE.mkdir(parents=True, exist_ok=True)
    path = CACHE / f"analytics_{events}_seed{seed}.db"
    if path.exists():
        return path
    partial = path.with_suffix(".partial")
    for leftover in CACHE.glob(partial.name + "*"):
        leftover.unlink()
    started = time.perf_counter()
    with open_store(partial) as store:
        batch = []
        for event in synthetic_prompt_events(events, seed=seed, start=START, span_seconds=SPAN):
            batch.append(event)
            if len(batch) == 50_000:
                store.insert_events(batch)
                batch.clear()
        if batch:
            store.insert_events(batch)
        store.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    partial.rename(path)
    print(f"built {path} ({events:,} events) in {time.perf_counter() - started:.1f} s")
    return path


def timed(work: Callable[[], T]) -> tuple[T, float]:
    started = time.perf_counter()
    result = work()
    return result, time.perf_counter() - started


def naive_load(path: Path) -> pd.DataFrame:
    """The baseline: every column through pandas.read_sql, then the same typing."""
    with sqlite3.connect(path) as conn:
        frame = pd.read_sql(f"SELECT * FROM {TABLE} ORDER BY timestamp", conn)
    return typed(frame)


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--quick", action="store_true", help="50k events (for CI)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    events = 50_000 if args.quick else args.events
    path = build_store(events, args.seed)
    print(f"store: {path} ({events:,} events)")
    failures: list[str] = []

    # The ab-test path cold, before anything is cached in this process's pandas.
    ab, ab_seconds = timed(lambda: run_ab_test(path, "math_reasoning", "code_generation"))
    frame, load_seconds = timed(lambda: load_executions(path, columns=STATISTICS_COLUMNS))
    naive, naive_seconds = timed(lambda: naive_load(path))
    assert len(naive) == len(frame) == events
    del naive
    report, analysis_seconds = timed(lambda: run_analysis(frame))
    total = load_seconds + analysis_seconds

    print(f"load (analytics.load)       {load_seconds:7.2f} s   "
          f"baseline read_sql(*) {naive_seconds:.2f} s  ({naive_seconds / load_seconds:.1f}x)")
    print(f"analyze: all sections       {analysis_seconds:7.2f} s")
    for name, seconds in report.timings.items():
        print(f"    {name:<22}  {seconds:7.2f} s")
    print(f"analyze: load + sections    {total:7.2f} s   (target < 15 s)")
    print(f"ab-test (load 2 templates + test) {ab_seconds:6.3f} s   (target < 1 s); "
          f"n = {ab.a.n:,} + {ab.b.n:,}")
    if total >= 15.0:
        failures.append(f"analyze took {total:.1f} s")
    if ab_seconds >= 1.0:
        failures.append(f"ab-test took {ab_seconds:.2f} s")

    # The design document's own floor, on its own sizes.
    rng = np.random.default_rng(args.seed)
    small = frame[frame["template_id"].isin(["math_reasoning", "code_generation"])]
    small = small.iloc[rng.choice(len(small), size=min(1000, len(small)), replace=False)]
    _, small_ab = timed(lambda: ab_test(small, "math_reasoning", "code_generation"))
    thirty_days = frame[frame["timestamp"] >= frame["timestamp"].max() - pd.Timedelta(days=30)]
    _, corr_seconds = timed(lambda: correlations(thirty_days))
    sample = frame.iloc[rng.choice(len(frame), size=min(10_000, len(frame)), replace=False)]
    _, forest_seconds = timed(lambda: predict_success(sample, max_rows=10_000))
    print(f"design floor: A/B on 1000 samples {small_ab * 1000:.1f} ms (< 100 ms); "
          f"correlations on 30 days ({len(thirty_days):,} rows) {corr_seconds * 1000:.0f} ms "
          f"(< 200 ms); success prediction on 10k ({len(sample):,} rows, LR + RF, 5-fold CV, "
          f"permutation importances) {forest_seconds:.2f} s")
    if small_ab >= 0.1:
        failures.append(f"A/B on 1000 samples took {small_ab * 1000:.0f} ms")
    if corr_seconds >= 0.2:
        failures.append(f"correlations took {corr_seconds * 1000:.0f} ms")
    rss = peak_rss_mb()
    print(f"peak RSS                    {rss:7.0f} MB  (target < 1536 MB)")
    if rss >= 1536:
        failures.append(f"peak RSS {rss:.0f} MB")
    for failure in failures:
        print(f"MISSED: {failure}")
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
