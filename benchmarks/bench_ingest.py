"""Ingestion benchmark: ``rev-analytics consume`` against the loop a user would write, one run.

Workloads, each published once to its own stream on a private redis-server:

* ``out-of-order`` (REV traffic after a backlog, or from many workers): the
  simulator's events (17 fields, JSON metadata) with event times spread over
  three days and published in random order, event ids chosen by the
  Producer at publish time (UUIDv7) and RFC 3339 timestamps, as
  :class:`streams.producer.Producer` writes them;
* ``in-order``: the same events published in event-time order.

Contenders, each reading the same stream through its own consumer group into
its own new SQLite file, in interleaved rounds (a shared machine's load drifts;
each contender's best round is compared):

* ``baseline``: the plain loop a user would write themselves: redis-py
  (hiredis) ``XREADGROUP COUNT 1000`` -> ``executemany`` into their own minimal
  table of the event's fields keyed by ``event_id`` -> ``XACK``; no Faust, no
  validation, no dead letters, no metrics;
* ``consume``: one ``rev-analytics consume`` process (defaults, metrics on);
* ``--workers 2``: ``rev-analytics consume --workers 2``.

Each contender runs as its own process; its rate is measured from the first
committed row to the last (``MAX(rowid)`` polled), so interpreter start-up
is left out of every contender alike. Then: latency XADD -> commit at a
moderate steady rate, and the peak RSS (VmHWM) of ``consume`` draining a
backlog of a million events.

    python benchmarks/bench_ingest.py            # full: 200k events, 3 rounds, 1M for RSS
    python benchmarks/bench_ingest.py --quick    # the short version CI runs

Exit code 0 unless ``--strict`` is given and a target is missed (timing on a
shared machine is judged on full runs, see README "Performance").
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import re
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import psutil  # noqa: E402
import redis  # noqa: E402

from rev_analytics.core.encode import encode_event  # noqa: E402
from streams.producer import Producer  # noqa: E402
from streams.simulate.workload import Workload  # noqa: E402
from tests.redis_server import RedisServer  # noqa: E402

SPAN = 3 * 86400.0
BASELINE_COLUMNS = (
    "event_id", "prompt_id", "template_id", "model_id", "timestamp", "success",
    "response_length", "execution_time", "discrimination_score", "behavioral_score",
    "quality_score", "difficulty_level", "domain", "cost", "error_type", "response_hash",
    "metadata", "schema_version",
)
TARGET_ONE = 0.8
TARGET_TWO = 1.5


def workload(count: int, *, ordered: bool, seed: int = 11) -> Iterator[dict[str, Any]]:
    """REV-shaped wire events over three days, without event ids (the Producer picks them)."""
    now = time.time()
    events = list(Workload(seed, start=now - SPAN, span_seconds=SPAN).prompt_events(count))
    order = range(count) if ordered else np.random.default_rng(seed).permutation(count)
    for index in order:
        fields: dict[str, Any] = encode_event(events[int(index)])
        del fields["event_id"]
        yield fields


def publish(url: str, stream: str, count: int, *, ordered: bool) -> float:
    client = redis.Redis.from_url(url)
    producer = Producer(client, stream, chunk_size=2000, validate=False)
    started = time.perf_counter()
    producer.publish_many(workload(count, ordered=ordered))
    elapsed = time.perf_counter() - started
    client.close()
    return count / elapsed


def baseline_loop(url: str, stream: str, group: str, db: str, count: int) -> None:
    """What a user writes: read, insert into their own table, ack. No validation."""
    client = redis.Redis.from_url(url, decode_responses=True)
    client.xgroup_create(stream, group, id="0")
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA journal_mode=WAL")
    columns = ", ".join(f"{c} TEXT PRIMARY KEY" if c == "event_id" else c
                        for c in BASELINE_COLUMNS)
    conn.execute(f"CREATE TABLE executions ({columns})")
    insert = (f"INSERT OR IGNORE INTO executions VALUES "
              f"({', '.join('?' for _ in BASELINE_COLUMNS)})")
    done = 0
    while done < count:
        reply = client.xreadgroup(group, "baseline", {stream: ">"}, count=1000, block=1000)
        if not reply:
            continue
        entries = reply[0][1]
        rows = [tuple(fields.get(c) for c in BASELINE_COLUMNS) for _, fields in entries]
        with conn:
            conn.executemany(insert, rows)
        client.xack(stream, group, *[entry_id for entry_id, _ in entries])
        done += len(entries)
    conn.close()
    client.close()


def committed_rows(db: str, table: str = "prompt_metrics") -> int:
    """Rows committed to the SQLite file ``db`` so far (``MAX(rowid)``; 0 before it exists)."""
    try:
        conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
        try:
            return int(conn.execute(f"SELECT MAX(rowid) FROM {table}").fetchone()[0] or 0)
        finally:
            conn.close()
    except sqlite3.Error:  # not created yet
        return 0


@dataclass(frozen=True, slots=True)
class Drain:
    """One contender's run: events/s, and CPU microseconds per event (its own
    processes, and the Redis server), both over the same stretch."""

    rate: float
    cpu_us: float
    redis_cpu_us: float


def cpu_seconds(processes: list[psutil.Process]) -> float:
    """CPU seconds (user + system) of ``processes``; one that has exited counts nothing."""
    total = 0.0
    for process in processes:
        try:
            times = process.cpu_times()
        except psutil.Error:
            continue
        total += times.user + times.system
    return total


def tree_cpu(pid: int) -> Callable[[], float]:
    """CPU seconds of process ``pid`` and its live descendants."""
    root = psutil.Process(pid)
    return lambda: cpu_seconds([root, *root.children(recursive=True)])


def no_cpu() -> float:
    return 0.0


def timed_drain(committed: Callable[[], int], count: int, alive: Callable[[], bool],
                cpu: Callable[[], float] = no_cpu, redis_cpu: Callable[[], float] = no_cpu,
                *, poll: float = 0.02, timeout: float = 900.0) -> Drain:
    """From the first committed row to the last (``committed()`` polled): the rate,
    and the CPU the contender and Redis used meanwhile. CPU per event hardly moves
    with a shared machine's load, where wall-clock rates do."""
    first: tuple[float, int, float, float] | None = None
    stored = 0
    deadline = time.monotonic() + timeout
    while stored < count:
        if time.monotonic() > deadline or not alive():
            raise RuntimeError(f"drain stopped at {stored} of {count} rows")
        time.sleep(poll)
        stored = committed()
        if first is None and stored:
            first = (time.perf_counter(), stored, cpu(), redis_cpu())
    assert first is not None
    events = max(stored - first[1], 1)
    return Drain(rate=events / max(time.perf_counter() - first[0], 1e-9),
                 cpu_us=(cpu() - first[2]) / events * 1e6,
                 redis_cpu_us=(redis_cpu() - first[3]) / events * 1e6)


def run_baseline(url: str, stream: str, group: str, db: str, count: int,
                 redis_cpu: Callable[[], float]) -> Drain:
    child = multiprocessing.get_context("spawn").Process(
        target=baseline_loop, args=(url, stream, group, db, count))
    child.start()
    assert child.pid is not None
    try:
        return timed_drain(lambda: committed_rows(db, "executions"), count, child.is_alive,
                           tree_cpu(child.pid), redis_cpu)
    finally:
        child.join(60)


def consume_command(url: str, stream: str, group: str, db: str, *extra: str) -> list[str]:
    return [sys.executable, "-m", "rev_analytics", "--log-level", "WARNING", "consume",
            "--redis-url", url, "--db", db, "--stream", stream, "--group", group,
            "--consumer", group, "--metrics-addr", "127.0.0.1", "--metrics-port", "0", *extra]


def run_consume(url: str, stream: str, group: str, db: str, count: int,
                redis_cpu: Callable[[], float], *extra: str) -> Drain:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    child = subprocess.Popen(consume_command(url, stream, group, db, *extra), env=env)
    try:
        return timed_drain(lambda: committed_rows(db), count, lambda: child.poll() is None,
                           tree_cpu(child.pid), redis_cpu)
    finally:
        child.send_signal(signal.SIGTERM)
        code = child.wait(120)
        if code != 0:
            raise RuntimeError(f"consume exited {code}")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _steady_publisher(url: str, stream: str, rate: float, seconds: float) -> None:
    client = redis.Redis.from_url(url)
    producer = Producer(client, stream, chunk_size=100, validate=False)
    events = workload(int(rate * seconds) + 1, ordered=False, seed=5)
    tick = 0.01
    owed = 0.0
    next_tick = time.monotonic()
    deadline = next_tick + seconds
    while time.monotonic() < deadline:
        owed += rate * tick
        batch = [next(events) for _ in range(int(owed))]
        owed -= len(batch)
        if batch:
            producer.publish_many(batch)
        next_tick += tick
        time.sleep(max(0.0, next_tick - time.monotonic()))
    client.close()


def measure_latency(url: str, rate: float, seconds: float, db: str, within: float
                    ) -> dict[str, float]:
    """XADD -> commit per event: the row's ingested_at (the store's clock) minus its entry time."""
    stream, group = "bench:latency", "latency"
    redis.Redis.from_url(url).xgroup_create(stream, group, id="$", mkstream=True)
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    child = subprocess.Popen(consume_command(url, stream, group, db, "--batch-within",
                                             str(within)), env=env)
    time.sleep(3.0)  # start-up, before traffic begins
    publisher = multiprocessing.get_context("spawn").Process(
        target=_steady_publisher, args=(url, stream, rate, seconds))
    publisher.start()
    publisher.join()
    time.sleep(within + 1.0)
    child.send_signal(signal.SIGTERM)
    child.wait(60)
    conn = sqlite3.connect(db)
    rows = conn.execute("SELECT stream_id, ingested_at FROM prompt_metrics").fetchall()
    conn.close()
    latencies = [(ingested / 1000 - int(entry.split("-")[0])) for entry, ingested in rows]
    return {"events": len(latencies), "p50_ms": percentile(latencies, 0.5),
            "p99_ms": percentile(latencies, 0.99), "max_ms": max(latencies)}


def _peak_rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as status:
        match = re.search(r"VmHWM:\s+(\d+) kB", status.read())
    return int(match.group(1)) / 1024.0 if match else float("nan")


def measure_rss(url: str, count: int, db: str) -> dict[str, Any]:
    stream = "bench:rss"
    publish(url, stream, count, ordered=False)
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    child = subprocess.Popen(consume_command(url, stream, "rss", db), env=env)
    started = time.perf_counter()
    peak = 0.0
    while committed_rows(db) < count and child.poll() is None:
        peak = max(peak, _peak_rss_mb(child.pid))
        time.sleep(0.2)
        if time.perf_counter() - started > 1200:
            break
    peak = max(peak, _peak_rss_mb(child.pid))
    elapsed = time.perf_counter() - started
    child.send_signal(signal.SIGTERM)
    code = child.wait(120)
    return {"events": count, "stored": committed_rows(db), "peak_rss_mb": peak,
            "seconds": elapsed, "exit_code": code}


def fresh(directory: Path, name: str) -> str:
    path = directory / name
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    return str(path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--rss-events", type=int, default=1_000_000)
    parser.add_argument("--latency-rate", type=float, default=5_000.0)
    parser.add_argument("--latency-seconds", type=float, default=20.0)
    parser.add_argument("--within", type=float, default=0.5)
    parser.add_argument("--quick", action="store_true",
                        help="the short version for CI: 40k events, 1 round, 100k for RSS")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target is missed")
    args = parser.parse_args(argv)
    if args.quick:
        args.events, args.rounds, args.rss_events = 40_000, 1, 100_000
        args.latency_rate, args.latency_seconds = 2_000.0, 5.0

    failures: list[str] = []
    with tempfile.TemporaryDirectory(prefix="bench-ingest-") as tmp, RedisServer() as server:
        directory, url = Path(tmp), server.url
        streams = {"out-of-order": "bench:shuffled", "in-order": "bench:ordered"}
        for name, stream in streams.items():
            rate = publish(url, stream, args.events, ordered=name == "in-order")
            print(f"published {args.events:,} {name} events ({rate:,.0f} events/s)", flush=True)
        assert server.process is not None
        redis_cpu = tree_cpu(server.process.pid)
        results: dict[tuple[str, str], list[Drain]] = {}
        contenders = ("baseline", "consume", "--workers 2")
        for round_ in range(args.rounds):
            for name, stream in streams.items():
                for contender in contenders:
                    group = f"{contender.strip('-').replace(' ', '')}-{name}-{round_}"
                    db = fresh(directory, f"{group}.db")
                    if contender == "baseline":
                        drain = run_baseline(url, stream, group, db, args.events, redis_cpu)
                    elif contender == "consume":
                        drain = run_consume(url, stream, group, db, args.events, redis_cpu)
                    else:
                        drain = run_consume(url, stream, group, db, args.events, redis_cpu,
                                            "--workers", "2")
                    results.setdefault((name, contender), []).append(drain)
                    print(f"  round {round_ + 1} {name:12} {contender:12} {drain.rate:>9,.0f} "
                          f"events/s   CPU {drain.cpu_us:5.1f} us/event (+ Redis "
                          f"{drain.redis_cpu_us:4.1f})", flush=True)

        print(f"\nthroughput, {args.events:,} events, best of {args.rounds} interleaved rounds "
              "(median in brackets)")
        def best(name: str, contender: str) -> float:
            return max(drain.rate for drain in results[(name, contender)])

        for name in streams:
            base = best(name, "baseline")
            print(f"  {name}")
            for contender in contenders:
                drains = results[(name, contender)]
                rates = [drain.rate for drain in drains]
                cpu = statistics.median(drain.cpu_us for drain in drains)
                print(f"    {contender:12} {max(rates):>9,.0f} events/s "
                      f"({statistics.median(rates):,.0f})   {max(rates) / base:.2f} of the plain "
                      f"loop   CPU {cpu:5.1f} us/event (median)")
            one = best(name, "consume") / base
            two = best(name, "--workers 2") / base
            if name == "out-of-order" and one < TARGET_ONE:
                failures.append(f"one process {one:.2f} of the plain loop < {TARGET_ONE}")
            if name == "out-of-order" and two < TARGET_TWO:
                failures.append(f"two workers {two:.2f}x the plain loop < {TARGET_TWO}")
        print(f"  targets (out-of-order): one process >= {TARGET_ONE} of the plain loop, "
              f"--workers 2 >= {TARGET_TWO}x")

        lat = measure_latency(url, args.latency_rate, args.latency_seconds,
                              fresh(directory, "latency.db"), args.within)
        budget = args.within * 1000 + 100
        print(f"\nlatency XADD -> commit at {args.latency_rate:,.0f} events/s for "
              f"{args.latency_seconds:.0f} s (--batch-within {args.within})")
        print(f"  events {lat['events']:,}  p50 {lat['p50_ms']:.0f} ms  p99 {lat['p99_ms']:.0f} ms"
              f"  max {lat['max_ms']:.0f} ms   (target p99 <= {budget:.0f} ms)")
        if lat["p99_ms"] > budget:
            failures.append(f"p99 latency {lat['p99_ms']:.0f} ms > {budget:.0f} ms")

        rss = measure_rss(url, args.rss_events, fresh(directory, "rss.db"))
        print(f"\nmemory: consume draining a backlog of {rss['events']:,} out-of-order events")
        print(f"  stored {rss['stored']:,} in {rss['seconds']:.1f} s, peak RSS "
              f"{rss['peak_rss_mb']:.0f} MB (target < 250 MB), exit code {rss['exit_code']}")
        if rss["peak_rss_mb"] >= 250 or rss["stored"] != rss["events"] or rss["exit_code"] != 0:
            failures.append("memory run: " + repr(rss))

    print("\nresult:", "all targets met" if not failures else "MISSED: " + "; ".join(failures))
    return 1 if failures and args.strict else 0


if __name__ == "__main__":
    raise SystemExit(main())
