"""``rev-analytics simulate``: publish a realistic synthetic REV workload (CONTRACT.md section 3).

Events come from :class:`streams.simulate.workload.Workload` (seeded), go out in
pipelines through :class:`streams.producer.client.Producer` and, with ``--rate``,
through a token bucket. By default event times are "now" as each event is
published; ``--backfill-days D`` spreads them over the past D days instead,
so reports have trends to show (and ``--late-fraction`` of them arrive late,
event times out of order across days). ``--invalid-fraction`` mixes in malformed
entries to exercise the dead-letter path.

The workload is what REV produces: each template's fixed prompt set run
``--repetitions`` times on every model (clustered and paired data), tagged with
the experiment running at each event time; ``--independent`` gives a fresh
prompt per execution instead, ``--no-experiments`` leaves ``experiment_id`` out.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Iterator
from itertools import islice

import redis

from rev_analytics.cli.argtypes import (
    fraction,
    non_negative_float,
    non_negative_int,
    positive_float,
    positive_int,
)
from rev_analytics.cli.options import EXIT_FAILURE, EXIT_OK, PROG, add_option
from rev_analytics.cli.progress import progress_bar
from rev_analytics.core.errors import ConfigError
from rev_analytics.core.wire import DEFAULT_STREAM
from streams.connection import connect, redact_url
from streams.producer import Producer
from streams.simulate.rate_limit import TokenBucket

NAME = "simulate"
HELP = "publish a realistic synthetic REV workload to the stream"
ORDER = 30
EXTRA = "consumer"

DEFAULT_BATCH = 500
DEFAULT_REPETITIONS = 5
"""Same as streams.simulate.workload.DEFAULT_REPETITIONS (not imported: numpy)."""
DEFAULT_LATE_FRACTION = 0.02


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_option(parser, "--redis-url", required=True, help="Redis URL (redis://, rediss://, unix://)")
    add_option(parser, "--events", type=positive_int, required=True,
               help="number of events to publish")
    add_option(parser, "--rate", type=non_negative_float, default=0.0,
               help="events per second (0 = as fast as possible)")
    add_option(parser, "--seed", type=non_negative_int, default=0,
               help="random seed: the same seed gives the same workload")
    add_option(parser, "--stream", default=DEFAULT_STREAM, help="stream key")
    add_option(parser, "--backfill-days", type=positive_float, default=None,
               help="spread event times over the past D days (default: event time = now)")
    add_option(parser, "--invalid-fraction", type=fraction, default=0.0,
               help="share of deliberately malformed entries (dead-letter demo)")
    add_option(parser, "--batch-size", type=positive_int, default=DEFAULT_BATCH,
               help="entries per pipeline round trip")
    add_simulation_options(parser)


def add_simulation_options(parser: argparse.ArgumentParser) -> None:
    """What the workload looks like (shared with ``rev-analytics demo``)."""
    add_option(parser, "--repetitions", type=positive_int, default=DEFAULT_REPETITIONS,
               help="runs of each prompt on each model (the prompt sets are sized to fit "
                    "--events)")
    add_option(parser, "--independent", action="store_true",
               help="a fresh prompt per execution (no repeated or shared prompts) instead of "
                    "REV's fixed prompt sets")
    add_option(parser, "--no-experiments", action="store_true",
               help="publish no experiment_id (by default the span is split into four "
                    "experiments exp-<date>-<letter>)")
    add_option(parser, "--late-fraction", type=fraction, default=DEFAULT_LATE_FRACTION,
               help="share of executions that arrive late, event time hours or days before "
                    "their neighbours' (with --backfill-days)")


def _batches(
    events: Iterator[tuple[dict[str, str], str | None]], size: int, bucket: TokenBucket | None
) -> Iterator[list[tuple[dict[str, str], str | None]]]:
    while True:
        if bucket is not None:
            # Pay for the next batch before generating it, so live event times
            # are the moments the events actually go out.
            bucket.acquire(size)
        batch = list(islice(events, size))
        if not batch:
            return
        yield batch


def run(args: argparse.Namespace) -> int:
    from streams.simulate.workload import Workload  # numpy: the consumer extra

    url: str = args.redis_url
    if not args.stream:
        raise ConfigError("--stream must not be empty")
    now = time.time()
    if args.backfill_days:
        span = args.backfill_days * 86400.0
        start, late = now - span, args.late_fraction
    else:
        # Live: times are stamped at publication; the span only places the change point
        # and the experiments.
        start, span, late = now, 3600.0, 0.0
    workload = Workload(args.seed, start=start, span_seconds=span, late_fraction=late,
                        repetitions=args.repetitions, independent=args.independent,
                        experiments=not args.no_experiments)
    events = workload.labelled_wire_events(
        args.events, invalid_fraction=args.invalid_fraction, live=not args.backfill_days
    )
    batch_size = args.batch_size
    bucket = None
    if args.rate:
        # Small batches at low rates keep the stream smooth instead of bursty.
        batch_size = max(1, min(batch_size, int(args.rate // 10) or 1))
        bucket = TokenBucket(args.rate, burst=batch_size)

    client = connect(url, socket_connect_timeout=5.0, socket_timeout=10.0)
    published = invalid = 0
    began = time.monotonic()
    try:
        try:
            client.ping()
        except redis.RedisError as exc:
            print(f"{PROG} {NAME}: error: cannot reach Redis at {redact_url(url)}: {exc}",
                  file=sys.stderr)
            return EXIT_FAILURE
        producer = Producer(client, args.stream, chunk_size=batch_size, validate=False)
        with progress_bar() as progress:
            task = progress.add_task(f"publishing to {args.stream}", total=args.events)
            for batch in _batches(events, batch_size, bucket):
                producer.publish_many(fields for fields, _ in batch)
                published += len(batch)
                invalid += sum(1 for _, kind in batch if kind is not None)
                progress.update(task, completed=published)
    except redis.RedisError as exc:
        print(f"{PROG} {NAME}: error: lost Redis at {redact_url(url)} after {published} "
              f"events: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    except KeyboardInterrupt:
        # Say how far it got; the CLI frame turns the interrupt into exit 130.
        print(f"{PROG} {NAME}: published {published} of {args.events} events before the "
              "interrupt", file=sys.stderr)
        raise
    finally:
        client.close()
    elapsed = max(time.monotonic() - began, 1e-9)
    times = (f"event times over the past {args.backfill_days:g} days" if args.backfill_days
             else "event times = now")
    data = ("independent executions" if args.independent
             else f"fixed prompt sets x {args.repetitions} runs on every model")
    print(
        f"published {published} events ({invalid} deliberately invalid) to {args.stream} "
        f"on {redact_url(url)} in {elapsed:.2f} s ({published / elapsed:,.0f} events/s), "
        f"seed {args.seed}, {times}, {data}"
    )
    return EXIT_OK
