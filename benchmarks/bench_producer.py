"""Producer and simulator benchmark, each figure next to a baseline from the same run.

On a private redis-server:

1. publishing N pre-built events
   - baseline: raw redis-py pipelines of XADD (chunks of 500), nothing else;
   - ``Producer.publish_many`` with local validation (the default);
   - ``Producer.publish_many(validate=False)`` (what ``simulate`` uses);
   - ``AsyncProducer.publish_many`` against raw redis.asyncio pipelines;
   target: validated publishing >= 0.5 of the raw baseline.
2. one event at a time: ``Producer.publish`` latency (UUIDv7, validation,
   XADD round trip) against a raw ``XADD`` round trip; p50/p99 in ms;
   target: p99 < 10 ms (the design document's "<10 ms per record").
3. the simulator's fast path: ``synthetic_prompt_events`` for M records
   against writing those same records into a SQLite store (the reason the
   fast path exists); target: generating costs less than storing.
4. ``rev-analytics simulate`` end to end (generation + pipelines), events/s.

    python benchmarks/bench_producer.py            # full: 100k publish, 1M records
    python benchmarks/bench_producer.py --quick    # the short version CI runs

Exit code 0 unless --strict is given and a target is missed (timing on a
shared 2-core machine is noisy).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import redis  # noqa: E402

from rev_analytics.cli.main import build_parser  # noqa: E402
from rev_analytics.cli.main import main as cli_main  # noqa: E402
from storage import open_store  # noqa: E402
from streams.connection import connect_async  # noqa: E402
from streams.producer import AsyncProducer, Producer  # noqa: E402
from streams.simulate.workload import synthetic_events, synthetic_prompt_events  # noqa: E402
from tests.redis_server import RedisServer  # noqa: E402

CHUNK = 500


def _rate(count: int, seconds: float) -> float:
    return count / max(seconds, 1e-9)


def raw_pipeline(client: redis.Redis, stream: str, events: list[dict[str, str]]) -> float:
    started = time.perf_counter()
    for first in range(0, len(events), CHUNK):
        pipe = client.pipeline(transaction=False)
        for fields in events[first:first + CHUNK]:
            pipe.xadd(stream, fields)  # type: ignore[arg-type]
        pipe.execute()
    return _rate(len(events), time.perf_counter() - started)


def producer_many(url: str, stream: str, events: list[dict[str, str]], validate: bool) -> float:
    with Producer(url, stream, chunk_size=CHUNK, validate=validate) as producer:
        started = time.perf_counter()
        producer.publish_many(events)
        return _rate(len(events), time.perf_counter() - started)


def raw_async_pipeline(url: str, stream: str, events: list[dict[str, str]]) -> float:
    async def run() -> float:
        client = connect_async(url)
        started = time.perf_counter()
        for first in range(0, len(events), CHUNK):
            pipe = client.pipeline(transaction=False)
            for fields in events[first:first + CHUNK]:
                pipe.xadd(stream, fields)  # type: ignore[arg-type]
            await pipe.execute()
        rate = _rate(len(events), time.perf_counter() - started)
        await client.aclose()
        return rate

    return asyncio.run(run())


def async_many(url: str, stream: str, events: list[dict[str, str]]) -> float:
    async def run() -> float:
        async with AsyncProducer(url, stream, chunk_size=CHUNK) as producer:
            started = time.perf_counter()
            await producer.publish_many(events)
            return _rate(len(events), time.perf_counter() - started)

    return asyncio.run(run())


def _percentiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return (statistics.median(ordered) * 1000, ordered[int(0.99 * (len(ordered) - 1))] * 1000)


def single_latency(
    url: str, client: redis.Redis, events: list[dict[str, str]]
) -> tuple[tuple[float, float], tuple[float, float]]:
    raw: list[float] = []
    for fields in events:
        started = time.perf_counter()
        client.xadd("bench:single:raw", fields)  # type: ignore[arg-type]
        raw.append(time.perf_counter() - started)
    published: list[float] = []
    with Producer(url, "bench:single:producer") as producer:
        for fields in events:
            started = time.perf_counter()
            producer.publish({k: v for k, v in fields.items() if k != "event_id"})
            published.append(time.perf_counter() - started)
    return _percentiles(raw), _percentiles(published)


def generation_vs_store(count: int, directory: Path) -> tuple[float, float]:
    started = time.perf_counter()
    records = list(synthetic_prompt_events(count, seed=1, span_seconds=30 * 86400))
    generated = time.perf_counter() - started
    with open_store(directory / "bench.db") as store:
        started = time.perf_counter()
        for first in range(0, count, 5000):
            store.insert_events(records[first:first + 5000])
        stored = time.perf_counter() - started
    return _rate(count, generated), _rate(count, stored)


def simulate_cli(url: str, count: int) -> float:
    build_parser()  # import every command module first: start-up is not throughput
    started = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()):
        code = cli_main(["simulate", "--redis-url", url, "--events", str(count),
                         "--stream", "bench:cli", "--backfill-days", "7"])
    if code != 0:
        raise SystemExit(f"simulate failed with exit code {code}")
    return _rate(count, time.perf_counter() - started)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, for CI")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target is missed")
    args = parser.parse_args(argv)
    publish_n = 20_000 if args.quick else 100_000
    single_n = 500 if args.quick else 3000
    records_n = 100_000 if args.quick else 1_000_000
    missed: list[str] = []

    events = list(synthetic_events(publish_n, seed=3, span_seconds=86400))
    with RedisServer() as server, tempfile.TemporaryDirectory() as tmp:
        client = server.client()
        url = server.url
        print(f"publishing {publish_n} events, pipelines of {CHUNK}")
        baseline = raw_pipeline(client, "bench:raw", events)
        validated = producer_many(url, "bench:validated", events, validate=True)
        trusted = producer_many(url, "bench:trusted", events, validate=False)
        for name, value in (("raw redis-py pipeline (baseline)", baseline),
                            ("Producer.publish_many", validated),
                            ("Producer.publish_many(validate=False)", trusted)):
            print(f"  {name:<40} {value:>10,.0f} events/s  {value / baseline:5.2f}x baseline")
        async_baseline = raw_async_pipeline(url, "bench:raw-async", events)
        asynchronous = async_many(url, "bench:async", events)
        for name, value in (("raw redis.asyncio pipeline (baseline)", async_baseline),
                            ("AsyncProducer.publish_many", asynchronous)):
            print(f"  {name:<40} {value:>10,.0f} events/s  "
                  f"{value / async_baseline:5.2f}x baseline")
        if validated < 0.5 * baseline:
            missed.append("validated publish_many below 0.5x the raw pipeline")

        (raw_p50, raw_p99), (pub_p50, pub_p99) = single_latency(url, client, events[:single_n])
        print(f"one event at a time ({single_n} events)")
        for name, p50, p99 in (("raw XADD round trip (baseline)", raw_p50, raw_p99),
                               ("Producer.publish", pub_p50, pub_p99)):
            print(f"  {name:<40} p50 {p50:6.3f} ms  p99 {p99:6.3f} ms")
        if pub_p99 >= 10.0:
            missed.append("publish p99 >= 10 ms")

        generated, stored = generation_vs_store(records_n, Path(tmp))
        print(f"simulator fast path ({records_n} records)")
        print(f"  SqliteStore.insert_events (baseline)     {stored:>10,.0f} rows/s")
        print(f"  synthetic_prompt_events                  {generated:>10,.0f} records/s  "
              f"{generated / stored:5.2f}x baseline")
        if generated < stored:
            missed.append("generating records is slower than storing them")

        cli = simulate_cli(url, publish_n)
        print(f"rev-analytics simulate ({publish_n} events, backfill)")
        print(f"  end to end                               {cli:>10,.0f} events/s  "
              f"{cli / baseline:5.2f}x baseline")
        client.close()

    print("targets: " + ("all met" if not missed else "MISSED: " + "; ".join(missed)))
    return 1 if (missed and args.strict) else 0


if __name__ == "__main__":
    raise SystemExit(main())
