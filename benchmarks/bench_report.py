"""Benchmark of the report and the export on a large store.

Uses the cached store of simulated REV executions that ``bench_analytics``
builds (30 days of events), then measures in this run:

* ``rev-analytics report`` end to end (load, statistics, figures, HTML/JSON/MD
  written), against the baseline of the statistics alone (load +
  ``run_analysis``) measured in the same run, so the report's own cost shows;
* the design document's floor: a report on the last 7 days (< 5 s) and a
  10 x 10 template x model heatmap (< 3 s);
* ``rev-analytics export --format parquet`` of every row, in a child process
  so its peak RSS is its own, against the baseline of ``pandas.read_sql`` of
  the whole table + ``DataFrame.to_parquet`` (the non-streaming way).

Targets (issue 5): report on 1M events < 30 s; Parquet export of 1M rows
< 10 s with peak RSS < 500 MB; 7-day report < 5 s; heatmap < 3 s.
``--quick`` runs 50k events for CI (same targets); exit code 1 if one is missed.

    python benchmarks/bench_report.py            # 1M events
    python benchmarks/bench_report.py --quick    # 50k events
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from analytics.analyze import run_analysis  # noqa: E402
from analytics.figures import success_heatmap  # noqa: E402
from analytics.load import load_executions  # noqa: E402
from analytics.rates import success_rates  # noqa: E402
from analytics.report import build_report, write_report  # noqa: E402
from benchmarks.bench_analytics import build_store  # noqa: E402

# Each export runs in a fresh interpreter; it prints its own wall time and peak RSS.
_CHILD = """
import json, sys, time
from benchmarks.measure import peak_rss_mb
started = time.perf_counter()
if sys.argv[1] == "stream":
    from analytics.export import export_history
    rows = export_history(sys.argv[2], sys.argv[3], "parquet").rows
else:
    import sqlite3, pandas as pd
    with sqlite3.connect(sys.argv[2]) as conn:
        frame = pd.read_sql("SELECT * FROM prompt_metrics ORDER BY timestamp", conn)
    frame.to_parquet(sys.argv[3])
    rows = len(frame)
print(json.dumps({"seconds": time.perf_counter() - started, "rows": rows,
                  "rss_mb": peak_rss_mb()}))
"""


def child_export(mode: str, db: Path, out: Path) -> dict[str, float]:
    done = subprocess.run([sys.executable, "-c", _CHILD, mode, str(db), str(out)],
                          capture_output=True, text=True, check=True, cwd=ROOT)
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--quick", action="store_true", help="50k events (for CI)")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target is missed")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    events = 50_000 if args.quick else args.events
    db = build_store(events, args.seed)
    print(f"store: {db} ({events:,} events)")
    failures: list[str] = []
    work = Path(tempfile.mkdtemp(prefix="rev-bench-report-"))

    load_executions(db)  # warm the page cache so neither measurement pays the first read

    # The report command's path, end to end (its own load included).
    started = time.perf_counter()
    full = load_executions(db)
    report = build_report(full)
    written = write_report(report, work / "report")
    report_seconds = time.perf_counter() - started
    html_kib = written.html.stat().st_size / 1024
    del full

    # Baseline in the same run: the statistics alone (what `analyze` does).
    started = time.perf_counter()
    frame = load_executions(db)
    load_seconds = time.perf_counter() - started
    analysis = run_analysis(frame)
    baseline = time.perf_counter() - started
    print(f"load                          {load_seconds:7.2f} s")
    print(f"baseline: load + statistics   {baseline:7.2f} s   "
          f"(run_analysis: {', '.join(f'{k} {v:.2f}' for k, v in analysis.timings.items())})")
    print(f"report end to end             {report_seconds:7.2f} s   (target < 30 s); "
          f"{report_seconds - baseline:+.2f} s over the baseline (figures, writing; noisy); "
          f"report.html {html_kib:.0f} KiB, {len(written.figures)} figures")
    print("    steps: " + ", ".join(f"{k} {v:.2f}" for k, v in report.timings.items()))
    if report_seconds >= 30.0:
        failures.append(f"report took {report_seconds:.1f} s")

    # The design document's floor: a 7-day report, a 10 x 10 heatmap.
    end = pd.Timestamp(frame["timestamp"].max())
    week = frame[frame["timestamp"] >= end - pd.Timedelta(days=7)]
    started = time.perf_counter()
    week_report = build_report(week)
    write_report(week_report, work / "week")
    week_seconds = time.perf_counter() - started
    top_templates = frame["template_id"].value_counts().index[:10]
    top_models = frame["model_id"].value_counts().index[:10]
    started = time.perf_counter()
    cells = frame[frame["template_id"].isin(top_templates) & frame["model_id"].isin(top_models)]
    heatmap = success_heatmap(success_rates(cells, ("template_id", "model_id")))
    heatmap_seconds = time.perf_counter() - started
    print(f"design floor: 7-day report ({len(week):,} rows) {week_seconds:.2f} s (< 5 s); "
          f"heatmap {heatmap.data.shape[0]}x{heatmap.data.shape[1]} {heatmap_seconds:.2f} s "
          f"(< 3 s)")
    print("    7-day steps: " + ", ".join(f"{k} {v:.2f}" for k, v in week_report.timings.items()))
    if week_seconds >= 5.0:
        failures.append(f"7-day report took {week_seconds:.1f} s (design document: < 5 s)")
    if heatmap_seconds >= 3.0:
        failures.append(f"heatmap took {heatmap_seconds:.1f} s")
    del frame, week, cells

    # Export: streamed, in its own process, against the read-everything baseline.
    naive = child_export("naive", db, work / "naive.parquet")
    stream = child_export("stream", db, work / "stream.parquet")
    assert stream["rows"] == naive["rows"] == events
    print(f"export parquet (streamed)     {stream['seconds']:7.2f} s, peak RSS "
          f"{stream['rss_mb']:5.0f} MB   (targets < 10 s, < 500 MB)")
    print(f"baseline read_sql+to_parquet  {naive['seconds']:7.2f} s, peak RSS "
          f"{naive['rss_mb']:5.0f} MB   (streamed uses {stream['rss_mb'] / naive['rss_mb']:.0%}"
          f" of its memory, {stream['seconds'] / naive['seconds']:.1f}x its time)")
    if stream["seconds"] >= 10.0:
        failures.append(f"parquet export took {stream['seconds']:.1f} s")
    if stream["rss_mb"] >= 500.0:
        failures.append(f"parquet export peaked at {stream['rss_mb']:.0f} MB")

    for failure in failures:
        print(f"FAILED: {failure}")
    print("OK: every target met" if not failures else f"{len(failures)} target(s) missed")
    return 1 if failures and args.strict else 0


if __name__ == "__main__":
    raise SystemExit(main())
