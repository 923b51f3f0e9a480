"""Benchmark of the batch analytics on a large store: load, ``analyze``, ``ab-test``.

Builds (once, cached under /tmp) a SQLite store of simulated REV executions,
then measures in this run:

* loading the range into pandas with :func:`analytics.load.load_executions`
  against a naive baseline (``pandas.read_sql`` of every column, then typing);
* :func:`analytics.analyze.run_analysis` (every section), per section;
* the ``ab-test`` path (load two templates + test), cold, as the CLI runs it;
* the design document's floor on its own sizes: A/B on 1000 samples, the
  correlations, a random forest on 10k samples;
* peak RSS of each command, in its own process.

Targets (issue 4): analyze (load + all sections) < 15 s, ab-test < 1 s, peak
RSS < 1.5 GB at 1M events; a full run exits 1 if one is missed. ``--quick``
runs 50k events for CI and exits 0 whenever it completes (timings on shared
CI cores are figures, not verdicts).

    python benchmarks/bench_analytics.py            # 1M events
    python benchmarks/bench_analytics.py --quick    # 50k events
"""

from __future__ import annotations

import argparse
import sqlite3
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from analytics.abtest import ab_test, run_ab_test  # noqa: E402
from analytics.analyze import run_analysis  # noqa: E402
from analytics.correlation import correlations  # noqa: E402
from analytics.load import STATISTICS_COLUMNS, load_executions  # noqa: E402
from analytics.prediction import predict_success  # noqa: E402
from benchmarks.measure import peak_rss_mb  # noqa: E402
from storage import open_store  # noqa: E402
from storage.columns import TABLE  # noqa: E402
from storage.sqlite.schema import LATEST_VERSION  # noqa: E402
from streams.simulate.workload import synthetic_prompt_events  # noqa: E402

CACHE = Path("/tmp/rev_analytics_bench")
START = 1_700_000_000.0
SPAN = 30 * 86400.0
T = TypeVar("T")


def build_store(events: int, seed: int, *, shuffled: bool = False) -> Path:
    """The cached store for (events, seed), created on first use.

    ``shuffled`` writes each 50k-event batch in random order: the same events
    stored out of event-time order, as late and retried deliveries leave them.
    """
    CACHE.mkdir(parents=True, exist_ok=True)
    path = CACHE / (f"analytics_{events}_seed{seed}{'_shuffled' if shuffled else ''}"
                    f"_schema{LATEST_VERSION}.db")
    if path.exists():
        return path
    partial = path.with_suffix(".partial")
    for leftover in CACHE.glob(partial.name + "*"):
        leftover.unlink()
    started = time.perf_counter()
    rng = np.random.default_rng(seed)

    def written(batch: list[Any]) -> list[Any]:
        return [batch[i] for i in rng.permutation(len(batch))] if shuffled else batch

    with open_store(partial) as store:
        batch = []
        for event in synthetic_prompt_events(events, seed=seed, start=START, span_seconds=SPAN):
            batch.append(event)
            if len(batch) == 50_000:
                store.insert_events(written(batch))
                batch.clear()
        if batch:
            store.insert_events(written(batch))
        store.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    partial.rename(path)
    order = ", out of event-time order" if shuffled else ""
    print(f"built {path} ({events:,} events{order}) in {time.perf_counter() - started:.1f} s")
    return path


def timed(work: Callable[[], T]) -> tuple[T, float]:
    started = time.perf_counter()
    result = work()
    return result, time.perf_counter() - started


def naive_load(path: Path) -> pd.DataFrame:
    """The baseline: every column through pandas.read_sql, then the same typing."""
    with sqlite3.connect(path) as conn:
        frame = pd.read_sql(f"SELECT * FROM {TABLE} ORDER BY timestamp", conn)
    # What a user would do next: event time (integer microseconds) as UTC
    # datetimes and success as bool, the typing our loader delivers.
    frame["timestamp"] = pd.to_datetime(frame["timestamp"], unit="us", utc=True)
    frame["success"] = frame["success"].astype(bool)
    return frame


def one_forest_fit(sample: pd.DataFrame) -> None:
    """The design document's measurement: one random forest trained on 10k executions."""
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.pipeline import Pipeline

    from analytics.features import as_model_input, preprocessor
    from analytics.prediction import CANDIDATE_CATEGORICAL, CANDIDATE_NUMERIC, screen_features

    y = sample["success"].to_numpy(dtype=int)
    num, cat, _ = screen_features(sample, CANDIDATE_NUMERIC, CANDIDATE_CATEGORICAL, y)
    model = Pipeline([("prep", preprocessor(num, cat)), ("model", RandomForestClassifier(
        n_estimators=100, n_jobs=2, random_state=0))])
    model.fit(as_model_input(sample[[*num, *cat]], cat), y)


def child(kind: str, path: Path) -> None:
    """One measured job in a fresh process: prints its seconds and peak RSS as JSON."""
    import contextlib
    import io
    import json

    from rev_analytics.cli.main import build_parser
    from rev_analytics.cli.main import main as cli

    # Start-up (interpreter + every command module's imports) is counted in the
    # parent's process time; "seconds" is the command itself.
    build_parser()
    started = time.perf_counter()
    if kind == "naive":
        naive_load(path)
    else:
        argv = {
            "analyze": ["analyze", "--db", str(path), "--json"],
            "ab-test": ["ab-test", "--db", str(path), "--a", "math_reasoning",
                        "--b", "code_generation", "--json"],
        }[kind]
        with contextlib.redirect_stdout(io.StringIO()):
            code = cli(argv)
        if code != 0:
            raise SystemExit(f"{kind} exited {code}")
    print(json.dumps({"seconds": time.perf_counter() - started, "rss_mb": peak_rss_mb()}))


def run_child(kind: str, path: Path) -> dict[str, float]:
    """Run :func:`child` in a new interpreter; add its wall time including start-up."""
    import json
    import subprocess

    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, __file__, "--child", kind, "--store", str(path)],
        check=True, capture_output=True, text=True,
    )
    result: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    result["process_seconds"] = time.perf_counter() - started
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--quick", action="store_true", help="50k events (for CI)")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target is missed")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--child", choices=["analyze", "ab-test", "naive"], help=argparse.SUPPRESS)
    parser.add_argument("--store", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child(args.child, args.store)
        return 0
    events = 50_000 if args.quick else args.events
    path = build_store(events, args.seed)
    print(f"store: {path} ({events:,} events)")
    failures: list[str] = []

    # The commands as users run them, each in a fresh process (own peak RSS).
    analyze_run = run_child("analyze", path)
    ab_run = run_child("ab-test", path)
    naive_run = run_child("naive", path)
    print(f"analyze --json (CLI, load + all sections)  {analyze_run['seconds']:6.2f} s "
          f"(process incl. start-up {analyze_run['process_seconds']:.2f} s), "
          f"peak RSS {analyze_run['rss_mb']:.0f} MB   targets < 15 s, < 1536 MB")
    print(f"ab-test --json (CLI)                       {ab_run['seconds']:6.3f} s "
          f"(process incl. start-up {ab_run['process_seconds']:.2f} s), "
          f"peak RSS {ab_run['rss_mb']:.0f} MB   target < 1 s")
    if analyze_run["seconds"] >= 15.0:
        failures.append(f"analyze took {analyze_run['seconds']:.1f} s")
    if analyze_run["rss_mb"] >= 1536:
        failures.append(f"analyze peak RSS {analyze_run['rss_mb']:.0f} MB")
    if ab_run["seconds"] >= 1.0:
        failures.append(f"ab-test took {ab_run['seconds']:.2f} s")

    # In this process: where the time goes, against the naive baseline.
    frame, load_seconds = timed(lambda: load_executions(path, columns=STATISTICS_COLUMNS))
    assert len(frame) == events
    report, analysis_seconds = timed(lambda: run_analysis(frame))
    ab, ab_seconds = timed(lambda: run_ab_test(path, "math_reasoning", "code_generation"))
    print(f"load (ADBC -> Arrow -> pandas)   {load_seconds:7.2f} s   baseline pandas.read_sql "
          f"of all columns {naive_run['seconds']:.2f} s ({naive_run['seconds'] / load_seconds:.1f}x"
          f" slower, peak RSS {naive_run['rss_mb']:.0f} MB)")
    print(f"all sections                     {analysis_seconds:7.2f} s")
    for name, seconds in report.timings.items():
        print(f"    {name:<22}  {seconds:7.2f} s")
    print(f"ab-test in process               {ab_seconds:7.3f} s   n = {ab.a.n:,} + {ab.b.n:,}")

    # The design document's own floor, on its own sizes.
    rng = np.random.default_rng(args.seed)
    small = frame[frame["template_id"].isin(["math_reasoning", "code_generation"])]
    small = small.iloc[rng.choice(len(small), size=min(1000, len(small)), replace=False)]
    _, small_ab = timed(lambda: ab_test(small, "math_reasoning", "code_generation"))
    thirty_days = frame[frame["timestamp"] >= frame["timestamp"].max() - pd.Timedelta(days=30)]
    _, corr_seconds = timed(lambda: correlations(thirty_days))
    sample = frame.iloc[rng.choice(len(frame), size=min(10_000, len(frame)), replace=False)]
    _, forest_seconds = timed(lambda: predict_success(sample, max_rows=10_000))
    _, one_forest = timed(lambda: one_forest_fit(sample))
    print(f"design floor: A/B on 1000 samples {small_ab * 1000:.1f} ms (< 100 ms); "
          f"correlations on 30 days ({len(thirty_days):,} rows) {corr_seconds * 1000:.0f} ms "
          f"(< 200 ms); success prediction on 10k rows (LR + RF, 5-fold CV, permutation "
          f"importances) {forest_seconds:.2f} s; one random-forest fit on 10k rows "
          f"{one_forest:.2f} s (< 2 s)")
    if small_ab >= 0.1:
        failures.append(f"A/B on 1000 samples took {small_ab * 1000:.0f} ms")
    if one_forest >= 2.0:
        failures.append(f"one random-forest fit took {one_forest:.2f} s")
    if corr_seconds >= 0.2:
        failures.append(f"correlations took {corr_seconds * 1000:.0f} ms")
    for failure in failures:
        print(f"MISSED: {failure}")
    # --quick is CI's smoke run on shared cores: it must run end to end and print
    # the figures; only a full-size run turns a missed target into exit code 1.
    return 1 if failures and args.strict else 0


if __name__ == "__main__":
    raise SystemExit(main())
