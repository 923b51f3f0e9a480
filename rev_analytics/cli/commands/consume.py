"""``rev-analytics consume``: the long-running consumer (CONTRACT.md section 3)."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import logging
import signal
from typing import TYPE_CHECKING, Any

from rev_analytics.cli.argtypes import positive_float, positive_int
from rev_analytics.cli.options import add_option
from streams.consumer.settings import ConsumerSettings, default_consumer_name

if TYPE_CHECKING:
    from streams.consumer.observer import ConsumerObserver

NAME = "consume"
HELP = "run the consumer: Redis stream -> windows -> SQLite, with /metrics"
ORDER = 20
EXTRA = "consumer"

# The flags' defaults are ConsumerSettings' own, so the two cannot drift apart.
_DEFAULTS = {field.name: field.default for field in dataclasses.fields(ConsumerSettings)}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_option(parser, "--redis-url", required=True, help="Redis URL (redis://, rediss://, unix://)")
    add_option(parser, "--db", required=True, metavar="PATH|URL",
               help="the store: a SQLite file (created if missing) or a postgresql:// URL "
                    "shared by consumers on several hosts")
    add_option(parser, "--stream", default=_DEFAULTS["stream"], help="stream key")
    add_option(parser, "--group", default=_DEFAULTS["group"], help="consumer group")
    add_option(parser, "--consumer", default=None,
               help="consumer name, stable across restarts (default: the host name; with "
                    "--workers N, workers are NAME-1 ... NAME-N)")
    add_option(parser, "--workers", type=positive_int, default=1,
               help="consumer processes to run in the group (one per core); each has its "
                    "own /metrics port, counting up from --metrics-port; a dead worker "
                    "is restarted")
    add_option(parser, "--claim-idle", type=positive_float, default=_DEFAULTS["claim_idle"],
               help="seconds before another consumer's pending entry is reclaimed")
    add_option(parser, "--batch-max", type=positive_int, default=_DEFAULTS["batch_max"],
               help="largest window, in events, committed in one transaction")
    add_option(parser, "--batch-within", type=positive_float,
               default=_DEFAULTS["batch_within"],
               help="longest time, in seconds, an event waits in an open window")
    add_option(parser, "--read-count", type=positive_int, default=_DEFAULTS["read_count"],
               help="entries per XREADGROUP")
    add_option(parser, "--dead-letter-maxlen", type=positive_int,
               default=_DEFAULTS["dead_letter_maxlen"],
               help="approximate cap of the dead-letter stream")
    add_option(parser, "--sqlite-busy-timeout", type=positive_float,
               default=_DEFAULTS["sqlite_busy_timeout"],
               help="seconds a commit waits for a lock held by another SQLite connection "
                    "before it fails and is retried with backoff")
    add_option(parser, "--metrics-addr", default=_DEFAULTS["metrics_addr"],
               help="address of the /metrics endpoint (expose it only to Prometheus)")
    add_option(parser, "--metrics-port", type=int, default=_DEFAULTS["metrics_port"],
               help="port of the /metrics endpoint")
    add_option(parser, "--no-metrics", action="store_true", help="serve no /metrics endpoint")
    add_option(parser, "--max-template-labels", type=positive_int,
               default=_DEFAULTS["max_template_labels"],
               help="distinct template_id label values before folding into __other__")
    add_option(parser, "--max-model-labels", type=positive_int,
               default=_DEFAULTS["max_model_labels"],
               help="distinct model_id label values before folding into __other__")


def settings_from_args(args: argparse.Namespace) -> ConsumerSettings:
    return ConsumerSettings(
        redis_url=args.redis_url,
        db=args.db,
        stream=args.stream,
        group=args.group,
        consumer=args.consumer or default_consumer_name(),
        claim_idle=args.claim_idle,
        batch_max=args.batch_max,
        batch_within=args.batch_within,
        read_count=args.read_count,
        dead_letter_maxlen=args.dead_letter_maxlen,
        sqlite_busy_timeout=args.sqlite_busy_timeout,
        metrics_enabled=not args.no_metrics,
        metrics_addr=args.metrics_addr,
        metrics_port=args.metrics_port,
        max_template_labels=args.max_template_labels,
        max_model_labels=args.max_model_labels,
    )


def quiet_faust_logs(level: str) -> None:
    """Faust and mode log every service start at INFO; keep them to warnings by default."""
    if level != "DEBUG":
        for name in ("faust", "mode", "aiokafka"):
            logging.getLogger(name).setLevel(logging.WARNING)


def _stop_on_signals(stop: asyncio.Event) -> dict[int, Any]:
    """Turn SIGTERM/SIGINT into ``stop`` from the very start of the command.

    The consumer's event loop installs its own handlers once it runs; until
    then (imports, the metrics server, Faust's start-up) these keep a signal
    from killing the process outright, so an early SIGTERM is a clean exit 0
    too. ``asyncio.Event`` binds to a loop only when first awaited, so it can
    be set here before any loop exists. Returns the previous handlers.
    """
    previous: dict[int, Any] = {}
    for sig in (signal.SIGTERM, signal.SIGINT):
        previous[sig] = signal.signal(sig, lambda *_: stop.set())
    return previous


def run(args: argparse.Namespace) -> int:
    if args.workers > 1:
        return _run_workers(args)
    stop = asyncio.Event()
    previous = _stop_on_signals(stop)
    # Imported here, not at module level: building the CLI parser must stay
    # cheap for every other command (Faust alone costs ~0.1 s and 20 MB).
    from streams.consumer.runner import run_consumer

    settings = settings_from_args(args)
    quiet_faust_logs(args.log_level)
    observer: ConsumerObserver | None = None
    server = None
    try:
        if settings.metrics_enabled:
            from streams.metrics.exporter import ConsumerMetrics, MetricsServer

            metrics = ConsumerMetrics(
                max_template_labels=settings.max_template_labels,
                max_model_labels=settings.max_model_labels,
            )
            server = MetricsServer(metrics, settings.metrics_addr, settings.metrics_port)
            logging.getLogger(__name__).info(
                "serving metrics on http://%s:%d/metrics", settings.metrics_addr, server.port
            )
            observer = metrics
        asyncio.run(run_consumer(settings, observer, stop=stop))
    finally:
        if server is not None:
            server.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 0


def _run_workers(args: argparse.Namespace) -> int:
    from rev_analytics.cli.workers import Supervisor, worker_argv

    settings = settings_from_args(args)  # bad options are exit 2 here, before any worker starts
    port = settings.metrics_port if settings.metrics_enabled else None
    argvs = [worker_argv(args.argv, index, settings.consumer, port)
             for index in range(1, args.workers + 1)]
    logging.getLogger(__name__).info(
        "running %d workers %s-1 ... %s-%d%s", args.workers, settings.consumer,
        settings.consumer, args.workers,
        f", /metrics on ports {port}-{port + args.workers - 1}" if port else "")
    return Supervisor(argvs).run()
