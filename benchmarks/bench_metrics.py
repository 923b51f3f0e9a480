"""Benchmark of the consumer's Prometheus metrics: scrape cost and per-event cost.

Measures in this run:

* a scrape of ``/metrics`` over HTTP with 500 templates x 20 models all
  active (every series present: counters, both rolling windows, scores,
  latency and cost histograms), as Prometheus does it (gzip) and without
  gzip, against the baseline of prometheus_client's generic exposition
  (``generate_latest``) of the very same registry;
* :meth:`ConsumerMetrics.record_committed` per event, on 1000-event windows of
  a realistic mix (20 templates x 5 models, all optional fields) and of bare
  events, against the baseline of decoding the same events from wire fields
  (:func:`rev_analytics.core.event.decode_entry`, work the consumer does per event anyway).

Targets (issue 3): a scrape under 100 ms and under 2 MB on the wire. The
throughput target (metrics cost the consumer < 10 %) is measured by the
ingestion benchmark with metrics on and off; the per-event figure here is
its microscopic view. ``--quick`` runs fewer repetitions for CI; ``--strict``
makes a missed target exit 1.

    python benchmarks/bench_metrics.py [--quick] [--strict]
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

from prometheus_client import generate_latest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from rev_analytics.core.decode import decode_entry  # noqa: E402
from rev_analytics.core.encode import encode_event  # noqa: E402
from rev_analytics.core.event import PromptEvent  # noqa: E402
from rev_analytics.core.timefmt import micros_from_seconds  # noqa: E402
from streams.metrics.exporter import ConsumerMetrics, MetricsServer  # noqa: E402

SCRAPE_BUDGET_MS = 100.0
SCRAPE_BUDGET_BYTES = 2 * 1024 * 1024
WINDOW = 1000


def populated(templates: int, models: int) -> ConsumerMetrics:
    """Metrics where every (template, model) pair has recent, fully featured events."""
    metrics = ConsumerMetrics(max_template_labels=templates, max_model_labels=models)
    rng = random.Random(7)
    now = time.time()
    events = [
        PromptEvent(
            event_id=f"e{t}-{m}-{k}", stream_id="1-0", prompt_id="p",
            template_id=f"template_{t:04d}", model_id=f"model-{m:02d}",
            timestamp=micros_from_seconds(now - rng.random() * 3000), success=rng.random() < 0.8,
            execution_time=rng.expovariate(1.0), cost=rng.expovariate(300.0),
            discrimination_score=rng.random(), behavioral_score=rng.random(),
            quality_score=rng.random(),
        )
        for t in range(templates) for m in range(models) for k in range(3)
    ]
    for start in range(0, len(events), WINDOW):
        metrics.record_committed(events[start:start + WINDOW], WINDOW, 0.01)
    return metrics


def timed(action: Callable[[], object], repeat: int) -> tuple[float, object]:
    """Median milliseconds of ``repeat`` runs, and the last result."""
    times = []
    result: object = None
    for _ in range(repeat):
        began = time.perf_counter()
        result = action()
        times.append((time.perf_counter() - began) * 1000)
    return statistics.median(times), result


def scrape(url: str, gzipped: bool) -> bytes:
    headers = {"Accept-Encoding": "gzip"} if gzipped else {}
    with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=30) as r:
        return bytes(r.read())


def bench_scrape(repeat: int) -> bool:
    metrics = populated(500, 20)
    server = MetricsServer(metrics, "127.0.0.1", 0)
    try:
        scrape(server.url, True)  # warm up
        wire_ms, wire = timed(lambda: scrape(server.url, True), repeat)
        plain_ms, plain = timed(lambda: scrape(server.url, False), repeat)
    finally:
        server.stop()
    generic_ms, generic = timed(lambda: generate_latest(metrics.registry), max(3, repeat // 3))
    assert isinstance(wire, bytes) and isinstance(plain, bytes) and isinstance(generic, bytes)
    series = sum(1 for line in plain.splitlines() if line and not line.startswith(b"#"))
    print(f"scrape, 500 templates x 20 models ({series} series), median of {repeat}:")
    print(f"  HTTP GET gzip (as Prometheus) : {wire_ms:7.1f} ms  {len(wire) / 1024:8.1f} KiB "
          "on the wire")
    print(f"  HTTP GET plain text           : {plain_ms:7.1f} ms  {len(plain) / 1024:8.1f} KiB")
    print(f"  baseline generate_latest      : {generic_ms:7.1f} ms  "
          f"{len(generic) / 1024:8.1f} KiB (prometheus_client's generic path, no HTTP)")
    print(f"  speed-up over the baseline    : {generic_ms / plain_ms:7.1f}x")
    ok = wire_ms < SCRAPE_BUDGET_MS and len(wire) < SCRAPE_BUDGET_BYTES
    print(f"  target < {SCRAPE_BUDGET_MS:.0f} ms and < 2 MB on the wire: "
          f"{'met' if ok else 'MISSED'}")
    return ok


def window_of(rng: random.Random, full: bool) -> list[PromptEvent]:
    now = time.time()
    events = []
    for i in range(WINDOW):
        extra = {}
        if full:
            extra = {"execution_time": rng.expovariate(1.0), "cost": rng.expovariate(300.0),
                     "discrimination_score": rng.random(), "behavioral_score": rng.random(),
                     "quality_score": rng.random(), "response_length": 500,
                     "difficulty_level": 3, "domain": "math"}
        events.append(PromptEvent(
            event_id=f"e{i}", stream_id=f"{int(now * 1000)}-{i}", prompt_id=f"p{i}",
            template_id=f"template_{rng.randrange(20)}", model_id=f"model-{rng.randrange(5)}",
            timestamp=micros_from_seconds(now - rng.random() * 0.5), success=rng.random() < 0.8,
            **extra,  # type: ignore[arg-type]
        ))
    return events


def bench_record(windows: int) -> None:
    rng = random.Random(3)
    print(f"record_committed, {windows} windows of {WINDOW} events (20 templates x 5 models):")
    for full in (True, False):
        batches = [window_of(rng, full) for _ in range(windows)]
        metrics = ConsumerMetrics()
        began = time.perf_counter()
        for events in batches:
            metrics.record_committed(events, len(events), 0.01)
        record_us = (time.perf_counter() - began) / (windows * WINDOW) * 1e6
        wire = [(e.stream_id, encode_event(e)) for e in batches[0]]
        began = time.perf_counter()
        for _ in range(windows):
            for stream_id, fields in wire:
                decode_entry(stream_id, fields)
        decode_us = (time.perf_counter() - began) / (windows * WINDOW) * 1e6
        kind = "all fields " if full else "bare events"
        print(f"  {kind}: {record_us:5.2f} us/event   baseline decode_entry "
              f"{decode_us:5.2f} us/event   ratio {record_us / decode_us:4.2f}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repetitions (CI)")
    parser.add_argument("--strict", action="store_true", help="exit 1 if a target is missed")
    args = parser.parse_args(argv)
    ok = bench_scrape(repeat=5 if args.quick else 15)
    bench_record(windows=20 if args.quick else 200)
    return 1 if args.strict and not ok else 0


if __name__ == "__main__":
    raise SystemExit(main())
