"""``rev-analytics demo``: the whole system on embedded defaults (CONTRACT.md section 3)."""

from __future__ import annotations

import argparse
from pathlib import Path

from rev_analytics.cli.argtypes import fraction, positive_float, positive_int
from rev_analytics.cli.commands.simulate import add_simulation_options
from rev_analytics.cli.options import add_option
from streams.consumer.settings import DEFAULT_METRICS_PORT

NAME = "demo"
HELP = ("run everything on embedded defaults: own Redis, simulated REV workload, consumer, "
        "live metrics, then a report")
ORDER = 10
EXTRA = "all"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_option(parser, "--out", default="rev-analytics-demo",
               help="directory for the database and the report")
    add_option(parser, "--events", type=positive_int, default=20_000,
               help="simulated executions to publish")
    add_option(parser, "--rate", type=positive_float, default=5_000.0,
               help="publishing rate, events/s")
    add_option(parser, "--seed", type=int, default=0, help="simulation seed")
    add_option(parser, "--backfill-days", type=positive_float, default=7.0,
               help="spread event times over the past D days so the report shows trends")
    add_option(parser, "--invalid-fraction", type=fraction, default=0.005,
               help="share of deliberately malformed events (shows the dead-letter path)")
    add_option(parser, "--metrics-port", type=int, default=DEFAULT_METRICS_PORT,
               help="port for /metrics on 127.0.0.1 (a free one is used if taken)")
    add_option(parser, "--no-report", action="store_true", help="skip the report at the end")
    add_simulation_options(parser)


def run(args: argparse.Namespace) -> int:
    from rev_analytics.cli.commands.consume import quiet_faust_logs
    from rev_analytics.cli.demo import DemoOptions, run_demo

    quiet_faust_logs(args.log_level)
    options = DemoOptions(
        out=Path(args.out), events=args.events, rate=args.rate, seed=args.seed,
        backfill_days=args.backfill_days, invalid_fraction=args.invalid_fraction,
        metrics_port=args.metrics_port, report=not args.no_report,
        repetitions=args.repetitions, independent=args.independent,
        experiments=not args.no_experiments, late_fraction=args.late_fraction,
    )
    return run_demo(options)
