"""Valid throughput with poison in the stream, against the same events without it.

Issue 6, item 5: with every malformed kind of the contract, binary garbage,
10 MB values, 10 000-field entries, deeply nested metadata and hostile
timestamps spread through the stream (the catalogue of
``tests/reliability/poison.py``), the consumer's throughput for the valid
events around them stays within 20 % of normal.

On a private redis-server, the same N valid events are published twice: once
alone (the baseline) and once with the poison interleaved. Each round drains
both streams with a fresh in-process consumer (own group, fresh SQLite file);
the rounds alternate, and the best of each is compared, so the machine's load
drifting during the run does not decide the verdict.

    python benchmarks/bench_poison.py            # 100k valid events, 5 rounds
    python benchmarks/bench_poison.py --quick    # 100k, 2 rounds (CI)

The catalogue is a fixed ~30 MB of poison, so the ratio depends on how many
valid events share the stream with it: --quick keeps the full 100k (with 50k
the same poison weighs twice as much and the ratio read 0.68).

Target: ratio >= 0.8. Exit code 0 unless --strict is given and it is missed
(timing on a shared 2-core machine is noisy).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.redis_server import RedisServer  # noqa: E402
from tests.reliability.poison import clean_stream, drain_seconds, poisoned_stream  # noqa: E402
from tests.reliability.support import assert_stored_exactly_once, publish_workload  # noqa: E402

TARGET = 0.8


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=100_000, help="valid events per stream")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="2 rounds (for CI)")
    parser.add_argument("--strict", action="store_true", help="exit 1 when the target is missed")
    args = parser.parse_args(argv)
    if args.quick:
        args.rounds = 2

    with tempfile.TemporaryDirectory(prefix="bench-poison-") as tmp, RedisServer() as server:
        client = server.client()
        streams = {
            "clean": publish_workload(client, "clean", clean_stream(args.events)),
            "poisoned": publish_workload(client, "poisoned", poisoned_stream(args.events),
                                         chunk=500),
        }
        poison = len(streams["poisoned"].malformed)
        print(f"{args.events:,} valid events per stream; the poisoned one also carries "
              f"{poison} malformed entries (up to 10 MB each)")
        best = {"clean": float("inf"), "poisoned": float("inf")}
        for round_ in range(args.rounds):
            for name, workload in streams.items():
                db = Path(tmp) / f"{name}-{round_}.db"
                seconds = drain_seconds(server.url, name, db, f"g{round_}", workload.total)
                best[name] = min(best[name], seconds)
                if round_ == 0:  # a fast wrong answer is no answer
                    assert_stored_exactly_once(db, workload)
                db.unlink()

    rate = {name: args.events / seconds for name, seconds in best.items()}
    ratio = rate["poisoned"] / rate["clean"]
    print(f"valid events/s, best of {args.rounds} interleaved rounds:")
    print(f"  baseline, no poison   {rate['clean']:9,.0f}")
    print(f"  with the poison       {rate['poisoned']:9,.0f}   ratio {ratio:.2f} "
          f"(target >= {TARGET})")
    met = ratio >= TARGET
    print("OK: target met" if met else "target missed")
    return 1 if args.strict and not met else 0


if __name__ == "__main__":
    raise SystemExit(main())
