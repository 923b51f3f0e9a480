"""Soak: simulator and consumer in separate processes, at a steady rate near the maximum.

What it does, all on loopback with a private redis-server and a fresh SQLite file:

1. measures the consumer's maximum drain rate (unless ``--rate`` is given):
   ``rev-analytics simulate --rate 0`` fills a stream, ``rev-analytics
   consume`` drains it, and the rate is taken between the first and the
   last row's ``ingested_at``;
2. runs ``rev-analytics simulate --rate R`` (R = ``--load`` x the maximum,
   75 % by default) and ``rev-analytics consume`` (with /metrics on) side by
   side for ``--seconds``;
3. every 10 s prints committed events/s, the p99 of XADD -> commit latency
   over that interval (a row's ``ingested_at`` minus its entry ID's time, on
   a 1-in-10 sample of rows), the consumer's RSS and how far the consumer is
   behind the newest entry; a retention step trims acknowledged entries
   (XTRIM MINID below everything pending), as a deployment would, so Redis
   memory stays bounded for a ten-minute run;
4. at the end checks exactly-once (rows = valid events published, one row
   per event id, dead letters = invalid entries published, nothing pending)
   and that RSS stayed flat (mean of the last third within 10 % of the first
   third, the first 10 % of the run being warm-up).

    python benchmarks/soak.py                  # 10 minutes
    python benchmarks/soak.py --quick          # 60 s: the CI version

Exit code 1 when the exactly-once check fails; timing and RSS verdicts only
fail the run with ``--strict`` (a shared machine makes them noisy).
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import psutil  # noqa: E402
import redis  # noqa: E402

from tests.redis_server import RedisServer  # noqa: E402

INTERVAL = 10.0
GROUP = "rev-analytics"
SAMPLE_EVERY = 10  # rows: latency is computed on every 10th row id


def cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "rev_analytics", *args]


def child_env() -> dict[str, str]:
    return dict(os.environ, PYTHONPATH=str(ROOT))


def parse_time(stored: int) -> float:
    """A stored time (integer microseconds since the epoch, the v2 layout) in Unix seconds."""
    return int(stored) / 1_000_000


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def max_row_id(conn: sqlite3.Connection) -> int:
    try:
        return int(conn.execute("SELECT COALESCE(MAX(id), 0) FROM prompt_metrics").fetchone()[0])
    except sqlite3.OperationalError:  # the consumer has not created the table yet
        return 0


class Simulator:
    """``rev-analytics simulate`` as a child process; reads its closing line."""

    def __init__(self, url: str, stream: str, events: int, rate: float, out: Path) -> None:
        self.out = out
        with out.open("wb") as handle:
            self.process = subprocess.Popen(
                cli("simulate", "--redis-url", url, "--stream", stream, "--events", str(events),
                    "--rate", str(rate), "--seed", "6", "--invalid-fraction", "0.005"),
                stdout=handle, stderr=subprocess.STDOUT, env=child_env(), cwd=ROOT,
            )

    def result(self, timeout: float) -> tuple[int, int, float]:
        """(published, invalid, achieved events/s) once the simulator finished."""
        code = self.process.wait(timeout)
        text = self.out.read_text(errors="replace")
        match = re.search(r"published (\d+) events \((\d+) deliberately invalid\).*"
                          r"\(([\d,]+) events/s\)", text)
        if code != 0 or not match:
            raise RuntimeError(f"simulate failed (exit {code}): {text[-1000:]}")
        return int(match.group(1)), int(match.group(2)), float(match.group(3).replace(",", ""))


class Consumer:
    """``rev-analytics consume`` as a child process."""

    def __init__(self, url: str, stream: str, db: Path, log: Path, metrics: bool) -> None:
        extra = (["--metrics-addr", "127.0.0.1", "--metrics-port", "0"] if metrics
                 else ["--no-metrics"])
        with log.open("ab") as handle:
            self.process = subprocess.Popen(
                cli("consume", "--redis-url", url, "--db", str(db), "--stream", stream,
                    "--consumer", "soak", "--dead-letter-maxlen", "10000000", *extra),
                stdout=handle, stderr=subprocess.STDOUT, env=child_env(), cwd=ROOT,
            )
        self.log = log
        self.ps = psutil.Process(self.process.pid)

    def rss(self) -> int:
        return int(self.ps.memory_info().rss)

    def stop(self) -> int:
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(120)


def wait_rows(db: Path, rows: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if db.exists():
            with sqlite3.connect(db, timeout=30) as conn:
                try:
                    if conn.execute("SELECT COUNT(*) FROM prompt_metrics").fetchone()[0] >= rows:
                        return
                except sqlite3.OperationalError:
                    pass
        time.sleep(0.2)
    raise RuntimeError(f"timed out waiting for {rows} rows in {db}")


def measure_max_rate(url: str, work: Path, events: int) -> float:
    """Events/s the consumer drains a full stream at (first to last row's ingested_at)."""
    stream = "soak:max"
    sim = Simulator(url, stream, events, 0, work / "max-simulate.log")
    published, invalid, _ = sim.result(600)
    db = work / "max.db"
    consumer = Consumer(url, stream, db, work / "max-consume.log", metrics=False)
    wait_rows(db, published - invalid, 600)
    consumer.stop()
    with sqlite3.connect(db) as conn:
        first, last, rows = conn.execute(
            "SELECT MIN(ingested_at), MAX(ingested_at), COUNT(*) FROM prompt_metrics"
        ).fetchone()
    seconds = max(parse_time(last) - parse_time(first), 1e-3)
    return float(rows / seconds)


@dataclass
class Sample:
    at: float
    rate: float
    p99: float
    rss: int
    behind: float


def trim_acknowledged(client: redis.Redis, stream: str) -> None:
    """XTRIM MINID below every pending entry and the group's last delivered ID."""
    try:
        groups: Any = client.xinfo_groups(stream)
        summary: Any = client.xpending(stream, GROUP)
    except redis.ResponseError:
        return
    group = next((g for g in groups if g["name"] in (GROUP, GROUP.encode())), None)
    if group is None:
        return
    floor = group["last-delivered-id"]
    floor = floor.decode() if isinstance(floor, bytes) else floor
    if summary["pending"]:
        oldest = summary["min"]
        floor = min(floor, oldest.decode() if isinstance(oldest, bytes) else oldest,
                    key=lambda i: tuple(int(p) for p in i.split("-")))
    client.xtrim(stream, minid=floor, approximate=True)


def newest_entry_time(client: redis.Redis, stream: str) -> float | None:
    newest: Any = client.xrevrange(stream, count=1)
    if not newest:
        return None
    entry_id = newest[0][0]
    entry_id = entry_id.decode() if isinstance(entry_id, bytes) else entry_id
    return int(entry_id.split("-")[0]) / 1000


def interval_sample(
    conn: sqlite3.Connection, last_id: int, started: float, elapsed: float, rss: int,
    newest: float | None,
) -> tuple[Sample, int]:
    rows = conn.execute(
        "SELECT id, stream_id, ingested_at FROM prompt_metrics WHERE id > ? AND id % ? = 0",
        (last_id, SAMPLE_EVERY),
    ).fetchall()
    top = max_row_id(conn)
    latencies = [parse_time(ingested) - int(sid.split("-")[0]) / 1000 for _, sid, ingested in rows]
    committed_time = conn.execute(
        "SELECT stream_id FROM prompt_metrics WHERE id = ?", (top,)).fetchone()
    behind = 0.0
    if newest is not None and committed_time is not None:
        behind = max(0.0, newest - int(committed_time[0].split("-")[0]) / 1000)
    sample = Sample(time.monotonic() - started, (top - last_id) / elapsed,
                    percentile(latencies, 0.99), rss, behind)
    return sample, top


def flat(samples: list[Sample], warmup: float) -> tuple[bool, float, float]:
    steady = [s for s in samples if s.at > warmup] or samples
    third = max(1, len(steady) // 3)
    first = sum(s.rss for s in steady[:third]) / third
    last = sum(s.rss for s in steady[-third:]) / third
    return last <= first * 1.10, first, last


def soak(url: str, work: Path, rate: float, seconds: float) -> int:
    stream = "soak:prompt_executions"
    db = work / "soak.db"
    client = redis.Redis.from_url(url, protocol=2)
    consumer = Consumer(url, stream, db, work / "consume.log", metrics=True)
    time.sleep(1.0)  # let the consumer import and create its group before the load starts
    events = int(rate * seconds)
    sim = Simulator(url, stream, events, rate, work / "simulate.log")
    started = time.monotonic()
    samples: list[Sample] = []
    last_id, last_at = 0, started
    print(f"{'t (s)':>6} {'events/s':>10} {'p99 XADD->commit':>17} {'RSS MiB':>8} "
          f"{'behind (s)':>10}", flush=True)
    conn: sqlite3.Connection | None = None
    while True:
        time.sleep(max(0.0, last_at + INTERVAL - time.monotonic()))
        if conn is None and db.exists():
            conn = sqlite3.connect(db, timeout=30)
        now = time.monotonic()
        if conn is not None:
            sample, last_id = interval_sample(conn, last_id, started, now - last_at,
                                              consumer.rss(), newest_entry_time(client, stream))
            samples.append(sample)
            print(f"{sample.at:6.0f} {sample.rate:10,.0f} {sample.p99 * 1000:14,.0f} ms "
                  f"{sample.rss / 2**20:8.0f} {sample.behind:10.1f}", flush=True)
        last_at = now
        trim_acknowledged(client, stream)
        if sim.process.poll() is not None:
            break
    published, invalid, achieved = sim.result(120)
    valid = published - invalid
    wait_rows(db, valid, 300)
    deadline = time.monotonic() + 60
    while int(client.xpending(stream, GROUP)["pending"]) and time.monotonic() < deadline:
        time.sleep(0.2)
    pending = int(client.xpending(stream, GROUP)["pending"])
    code = consumer.stop()
    if conn is None:
        conn = sqlite3.connect(db, timeout=30)
    rows, distinct = conn.execute(
        "SELECT COUNT(*), COUNT(DISTINCT event_id) FROM prompt_metrics").fetchone()
    conn.close()
    dead = int(client.xlen(f"{stream}:dead"))

    steady = [s for s in samples if s.at > seconds * 0.1] or samples
    mean_rate = sum(s.rate for s in steady) / len(steady)
    worst_p99 = max(s.p99 for s in steady)
    ok_flat, first, last = flat(samples, seconds * 0.1)
    exactly_once = rows == distinct == valid and dead == invalid and pending == 0
    print()
    print(f"published {published:,} events ({invalid:,} invalid): target {rate:,.0f}/s for "
          f"{seconds:.0f} s, the simulator achieved {achieved:,.0f}/s; consumer exit code {code}")
    print(f"steady state: {mean_rate:,.0f} committed events/s, worst interval p99 "
          f"{worst_p99 * 1000:,.0f} ms")
    print(f"exactly-once: rows {rows:,}, distinct event ids {distinct:,}, valid published "
          f"{valid:,}; dead letters {dead:,} of {invalid:,} invalid; pending {pending} -> "
          f"{'OK' if exactly_once else 'FAILED'}")
    print(f"RSS: first third {first / 2**20:.0f} MiB, last third {last / 2**20:.0f} MiB "
          f"({(last / first - 1) * 100:+.1f} %) -> {'flat' if ok_flat else 'GROWING'}")
    if not exactly_once or code != 0:
        return 1
    return 0 if ok_flat else 2


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=600.0, help="soak duration")
    parser.add_argument("--quick", action="store_true", help="60 s soak (the CI version)")
    parser.add_argument("--rate", type=float, default=0.0,
                        help="events/s to publish (default: --load x the measured maximum)")
    parser.add_argument("--load", type=float, default=0.75,
                        help="fraction of the measured maximum to run at")
    parser.add_argument("--strict", action="store_true",
                        help="exit non-zero when RSS is not flat (exactly-once always counts)")
    args = parser.parse_args(argv)
    seconds = 60.0 if args.quick else args.seconds
    with tempfile.TemporaryDirectory(prefix="rev-soak-") as tmp, RedisServer() as server:
        work = Path(tmp)
        rate = args.rate
        if not rate:
            maximum = measure_max_rate(server.url, work, 60_000 if args.quick else 200_000)
            rate = round(maximum * args.load, -2)
            print(f"measured maximum: {maximum:,.0f} events/s drained by one consumer; "
                  f"soaking at {args.load:.0%} of it: {rate:,.0f} events/s", flush=True)
        code = soak(server.url, work, rate, seconds)
        if code == 1:
            log = (work / "consume.log").read_text(errors="replace")
            print("--- consumer log (tail) ---\n" + log[-3000:])
    if code == 2 and not args.strict:
        return 0
    return code


if __name__ == "__main__":
    raise SystemExit(main())
