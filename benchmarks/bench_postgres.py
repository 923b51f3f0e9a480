"""PostgreSQL benchmark: consumers sharing one PostgreSQL store, and ab-test on it, one run.

Ingest: one workload (the simulator's events, published out of event-time
order, as ``bench_ingest.py`` publishes them) on a private redis-server,
drained in interleaved rounds by

* ``sqlite x1``: one ``rev-analytics consume`` into a new SQLite file (the
  single-machine reference);
* ``postgres xN`` for N = 1, 2, 3: N ``consume`` processes, each with its own
  ``--consumer`` name in one group (as N hosts would run), into one new
  database on a private PostgreSQL server (fsync on, as in production).

All consumers of a contender start draining at the same moment (the group
starts at the stream's end; once every process has joined it, its position
moves to the start). Each rate is measured from the first committed row to the last (the
``prompt_outcomes`` total is polled: exact, and cheap to read), so start-up
is left out alike; the best round of each contender is compared. Target: 2
consumers into PostgreSQL >= 1.6x one.

CPU per event (robust where wall-clock rates are not: a shared machine's
load changes the rates, hardly the CPU each event costs): the consumer
process, the PostgreSQL server (all its processes) and Redis, measured from
the first commit to the last of one more single-consumer run per backend.
Their sum bounds what this machine can ingest whatever the number of
consumers (cores / CPU per event), which is how far N consumers can go when
they share the machine with the server (docs/scaling.md).

Batch: ``ab-test --json`` through the CLI, in a fresh process, on a
PostgreSQL store of 1M rows (target < 1.5 s for the command; start-up shown
apart), beside the same command on the same rows in SQLite.

    python benchmarks/bench_postgres.py            # 200k events, 3 rounds, 1M rows for ab-test
    python benchmarks/bench_postgres.py --quick    # the short version CI runs

Exit code 0 unless ``--strict`` is given and a target is missed (timing on a
shared machine is judged on full runs, see README "Performance").
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import psutil  # noqa: E402
import psycopg  # noqa: E402
import redis  # noqa: E402

from benchmarks.bench_ingest import (  # noqa: E402
    committed_rows,
    consume_command,
    cpu_seconds,
    publish,
    timed_drain,
)
from storage import open_store  # noqa: E402
from streams.simulate.workload import synthetic_prompt_events  # noqa: E402
from tests.postgres_server import PostgresServer, fresh_database  # noqa: E402
from tests.redis_server import RedisServer  # noqa: E402

TARGET_TWO = 1.6
TARGET_AB_SECONDS = 1.5
START = 1_700_000_000.0


def committed_postgres(url: str) -> int:
    try:
        with psycopg.connect(url) as conn:
            row = conn.execute("SELECT coalesce(SUM(executions), 0) FROM prompt_outcomes"
                               ).fetchone()
            return int(row[0]) if row else 0
    except psycopg.errors.UndefinedTable:  # not created yet
        return 0


def start_together(redis_url: str, stream: str, group: str, commands: list[list[str]]
                   ) -> list[subprocess.Popen[bytes]]:
    """Start ``commands`` (consumers of ``group``) so that they all begin draining at once.

    The group is created at the end of the stream, so nothing is delivered
    while the processes start (a second process's start-up takes longer than
    a whole short drain by the first); once every consumer has registered in
    the group, ``XGROUP SETID 0`` hands them the backlog together.
    """
    client = redis.Redis.from_url(redis_url)
    client.xgroup_create(stream, group, id="$")
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    children = [subprocess.Popen(command, env=env) for command in commands]
    deadline = time.monotonic() + 120
    while len(client.xinfo_consumers(stream, group)) < len(commands):
        if time.monotonic() > deadline or any(c.poll() is not None for c in children):
            raise RuntimeError("the consumers did not all start")
        time.sleep(0.05)
    client.xgroup_setid(stream, group, "0")
    client.close()
    return children


def run_consumers(redis_url: str, stream: str, group: str, db: str, count: int,
                  processes: int, committed: Callable[[], int]) -> float:
    if processes > 1:  # the schema first: not part of any drain
        open_store(db).close()
    commands = []
    for number in range(processes):
        command = consume_command(redis_url, stream, group, db)
        command[command.index("--consumer") + 1] = f"{group}-{number}"
        commands.append(command)
    children = start_together(redis_url, stream, group, commands)
    try:
        return timed_drain(committed, count,
                           lambda: all(child.poll() is None for child in children), poll=0.05).rate
    finally:
        for child in children:
            child.send_signal(signal.SIGTERM)
        codes = [child.wait(120) for child in children]
        if any(codes):
            raise RuntimeError(f"consume exited {codes}")


def cpu_per_event(redis_server: RedisServer, pg: PostgresServer, stream: str, group: str,
                  db: str, count: int, committed: Callable[[], int]) -> dict[str, float]:
    """Microseconds of CPU per committed event: consumer, PostgreSQL server, Redis."""
    child, = start_together(redis_server.url, stream, group,
                            [consume_command(redis_server.url, stream, group, db)])
    consumer = psutil.Process(child.pid)
    assert redis_server.process is not None
    redis_process = psutil.Process(redis_server.process.pid)
    postmaster = psutil.Process(int((pg.data / "postmaster.pid").read_text().split()[0]))

    def server() -> list[psutil.Process]:
        return [postmaster, *postmaster.children()]  # backends come and go: sample often

    try:
        while not committed():
            if child.poll() is not None:
                raise RuntimeError("consume exited")
            time.sleep(0.01)
        start_rows = committed()
        start = {"consumer": cpu_seconds([consumer]), "redis": cpu_seconds([redis_process])}
        backends = {p.pid: cpu_seconds([p]) for p in server()}
        while (rows := committed()) < count:
            for process in server():
                backends.setdefault(process.pid, 0.0)
            time.sleep(0.05)
        used = {"consumer": cpu_seconds([consumer]) - start["consumer"],
                "redis": cpu_seconds([redis_process]) - start["redis"],
                "server": sum(cpu_seconds([p]) - backends.get(p.pid, 0.0) for p in server())}
    finally:
        child.send_signal(signal.SIGTERM)
        child.wait(120)
    events = max(rows - start_rows, 1)
    return {name: seconds * 1e6 / events for name, seconds in used.items()}


def fill(db: str, rows: int) -> float:
    """``rows`` simulated executions into ``db`` (50k per transaction); seconds taken."""
    started = time.perf_counter()
    with open_store(db) as store:
        batch = []
        for event in synthetic_prompt_events(rows, seed=0, start=START,
                                             span_seconds=30 * 86400.0):
            batch.append(event)
            if len(batch) == 50_000:
                store.insert_events(batch)
                batch.clear()
        if batch:
            store.insert_events(batch)
    return time.perf_counter() - started


AB_ARGS = ["--a", "math_reasoning", "--b", "code_generation", "--json"]


def child(db: str) -> None:
    """``ab-test --json`` in this fresh process: prints its seconds (start-up apart) as JSON."""
    from rev_analytics.cli.main import build_parser
    from rev_analytics.cli.main import main as cli

    build_parser()
    started = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()):
        code = cli(["ab-test", "--db", db, *AB_ARGS])
    if code != 0:
        raise SystemExit(f"ab-test exited {code}")
    print(json.dumps({"seconds": time.perf_counter() - started}))


def run_ab_test(db: str) -> dict[str, float]:
    started = time.perf_counter()
    done = subprocess.run([sys.executable, __file__, "--child", db], check=True,
                          capture_output=True, text=True)
    result: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    result["process_seconds"] = time.perf_counter() - started
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--ab-rows", type=int, default=1_000_000)
    parser.add_argument("--quick", action="store_true",
                        help="the short version for CI: 30k events, 1 round, 100k rows")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target is missed")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child(args.child)
        return 0
    if args.quick:
        args.events, args.rounds, args.ab_rows = 30_000, 1, 100_000

    failures: list[str] = []
    with tempfile.TemporaryDirectory(prefix="bench-postgres-") as tmp, \
            RedisServer() as redis_server, PostgresServer() as pg:
        directory = Path(tmp)
        stream = "bench:shuffled"
        rate = publish(redis_server.url, stream, args.events, ordered=False)
        print(f"published {args.events:,} out-of-order events ({rate:,.0f} events/s)", flush=True)
        contenders = [("sqlite", 1), ("postgres", 1), ("postgres", 2), ("postgres", 3)]
        results: dict[str, list[float]] = {}
        for round_ in range(args.rounds):
            for backend, processes in contenders:
                name = f"{backend} x{processes}"
                group = f"{backend}{processes}-{round_}"
                if backend == "sqlite":
                    db = str(directory / f"{group}.db")
                    committed: Callable[[], int] = lambda db=db: committed_rows(db)  # noqa: E731
                else:
                    db = fresh_database(pg, f"bench{processes}")
                    committed = lambda db=db: committed_postgres(db)  # noqa: E731
                rate = run_consumers(redis_server.url, stream, group, db, args.events,
                                     processes, committed)
                results.setdefault(name, []).append(rate)
                print(f"  round {round_ + 1} {name:12} {rate:>9,.0f} events/s", flush=True)

        lite = max(results["sqlite x1"])
        one = max(results["postgres x1"])
        print(f"\nthroughput, {args.events:,} events, best of {args.rounds} interleaved rounds "
              "(median in brackets)")
        for name, rates in results.items():
            best = max(rates)
            print(f"  {name:12} {best:>9,.0f} events/s ({statistics.median(rates):,.0f})"
                  f"   {best / lite:.2f}x one SQLite consumer   {best / one:.2f}x one into "
                  "PostgreSQL")
        two = max(results["postgres x2"]) / one
        print(f"  target: 2 consumers into PostgreSQL >= {TARGET_TWO}x one (measured {two:.2f}x)")
        if two < TARGET_TWO:
            failures.append(f"2 consumers {two:.2f}x one < {TARGET_TWO}x")

        print("\nCPU per committed event, one consumer (us): consumer + server + Redis = total;"
              " the machine's ceiling for any number of consumers")
        cores = os.cpu_count() or 1
        for backend in ("sqlite", "postgres"):
            if backend == "sqlite":
                db = str(directory / "cpu.db")
                committed = lambda db=db: committed_rows(db)  # noqa: E731
            else:
                db = fresh_database(pg, "bench_cpu")
                committed = lambda db=db: committed_postgres(db)  # noqa: E731
            cpu = cpu_per_event(redis_server, pg, stream, f"cpu-{backend}", db, args.events,
                                committed)
            total = sum(cpu.values())
            print(f"  {backend:9} {cpu['consumer']:5.1f} + {cpu['server']:5.1f} + "
                  f"{cpu['redis']:4.1f} = {total:5.1f} us/event   ceiling on {cores} cores: "
                  f"{cores * 1e6 / total:,.0f} events/s = {cores * 1e6 / total / one:.2f}x one "
                  "consumer into PostgreSQL")

        pg_db = fresh_database(pg, "bench_ab")
        lite_db = str(directory / "ab.db")
        pg_fill, lite_fill = fill(pg_db, args.ab_rows), fill(lite_db, args.ab_rows)
        print(f"\nab-test on {args.ab_rows:,} rows (loaded in {pg_fill:.1f} s into PostgreSQL, "
              f"{lite_fill:.1f} s into SQLite, 50k rows per transaction)")
        for name, db in (("postgres", pg_db), ("sqlite", lite_db)):
            ab = min((run_ab_test(db) for _ in range(3)), key=lambda r: r["seconds"])
            print(f"  {name:9} ab-test --json (CLI) {ab['seconds']:6.3f} s "
                  f"(process incl. start-up {ab['process_seconds']:.2f} s), best of 3")
            if name == "postgres" and ab["seconds"] >= TARGET_AB_SECONDS:
                failures.append(f"ab-test on PostgreSQL took {ab['seconds']:.2f} s")
        print(f"  target: < {TARGET_AB_SECONDS} s on PostgreSQL")

    print("\nresult:", "all targets met" if not failures else "MISSED: " + "; ".join(failures))
    return 1 if failures and args.strict else 0


if __name__ == "__main__":
    raise SystemExit(main())
