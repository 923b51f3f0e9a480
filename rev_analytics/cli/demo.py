"""``rev-analytics demo``: the whole system on embedded defaults.

A private Redis (unix socket, nothing on disk), the real consumer with its
/metrics endpoint, a simulated REV workload published at a steady rate, a
live progress display, then a summary table and the full report.

What the person at the terminal sees: one live table, redrawn in place, with
any warning printed above it (log lines go through the live display's
console, never straight to the terminal underneath it); the consumer's
routine INFO lines (one per dead-lettered window) are left out, the table
counts them. Ctrl-C stops at once: the publisher, the consumer (which
commits and acknowledges what it read) and the embedded Redis; no summary,
no report, one message saying where the partial data is, exit 130. A second
Ctrl-C while stopping exits immediately. The Redis server also dies with
this process if it is killed outright (see :mod:`rev_analytics.cli.embedded_redis`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shlex
import signal
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import islice
from pathlib import Path

from rich.console import Console
from rich.live import Live
from rich.markup import escape
from rich.table import Table

from rev_analytics.cli.console import make_console
from rev_analytics.cli.embedded_redis import EmbeddedRedis
from rev_analytics.core.errors import ConfigError, NothingToReportError
from streams.connection import connect
from streams.consumer.runner import Consumer, ConsumerStats
from streams.consumer.settings import ConsumerSettings
from streams.metrics.exporter import ConsumerMetrics, MetricsServer
from streams.producer import Producer
from streams.simulate.rate_limit import TokenBucket
from streams.simulate.workload import Workload

log = logging.getLogger(__name__)

PUBLISH_BATCH = 250
EXIT_INTERRUPTED = 130
QUIET_LOGGERS = ("streams", "storage", "rev_analytics")
"""Their INFO lines narrate what the demo's own lines and live table already say."""


@dataclass(frozen=True, slots=True)
class DemoOptions:
    """What ``rev-analytics demo`` was asked for; the defaults live in its flags."""

    out: Path
    events: int
    rate: float
    seed: int
    backfill_days: float
    invalid_fraction: float
    metrics_port: int
    report: bool
    repetitions: int = 5
    """Runs of each prompt on each model."""
    independent: bool = False
    """A fresh prompt per execution instead of the templates' fixed prompt sets."""
    experiments: bool = True
    late_fraction: float = 0.02
    """Share of executions whose event time lies hours or days before their neighbours'."""


@dataclass(slots=True)
class _Progress:
    published: int = 0
    publish_done: bool = False
    publish_error: BaseException | None = None


class _Publisher(threading.Thread):
    """Publishes the simulated workload at ``rate`` events/s (its own thread)."""

    def __init__(self, url: str, stream: str, options: DemoOptions, progress: _Progress) -> None:
        super().__init__(name="demo-publisher", daemon=True)
        self.url = url
        self.stream = stream
        self.options = options
        self.progress = progress
        self.stop_requested = threading.Event()

    def _pause(self, seconds: float) -> None:
        self.stop_requested.wait(seconds)

    def run(self) -> None:
        options = self.options
        span = options.backfill_days * 86400.0
        workload = Workload(
            options.seed, start=time.time() - span, span_seconds=span,
            repetitions=options.repetitions, independent=options.independent,
            experiments=options.experiments, late_fraction=options.late_fraction,
        )
        events = workload.labelled_wire_events(
            options.events, invalid_fraction=options.invalid_fraction
        )
        # The bucket sleeps on the stop event, so a stop never waits out a pause.
        bucket = TokenBucket(options.rate, burst=PUBLISH_BATCH, sleep=self._pause)
        client = connect(self.url)
        producer = Producer(client, self.stream, chunk_size=PUBLISH_BATCH, validate=False)
        try:
            while not self.stop_requested.is_set():
                bucket.acquire(PUBLISH_BATCH)
                batch = list(islice(events, PUBLISH_BATCH))
                if not batch:
                    break
                producer.publish_many(fields for fields, _ in batch)
                self.progress.published += len(batch)
        except BaseException as exc:  # reported by the main thread
            self.progress.publish_error = exc
        finally:
            self.progress.publish_done = True
            client.close()


def _status(
    options: DemoOptions, progress: _Progress, consumer: Consumer, started: float,
    metrics_url: str,
) -> Table:
    elapsed = max(time.monotonic() - started, 1e-9)
    done = consumer.processor.events_committed + consumer.processor.dead_lettered
    table = Table(title="rev-analytics demo (Ctrl-C stops)", show_header=False)
    table.add_column(justify="right", style="bold")
    table.add_column()
    table.add_row("published", f"{progress.published:,} / {options.events:,}")
    table.add_row("committed to SQLite", f"{consumer.processor.events_committed:,}")
    table.add_row("dead-lettered", f"{consumer.processor.dead_lettered:,} (malformed on purpose)")
    table.add_row("throughput", f"{done / elapsed:,.0f} events/s over {elapsed:.1f} s")
    table.add_row("metrics", metrics_url)
    return table


@dataclass(slots=True)
class _Run:
    stats: ConsumerStats
    progress: _Progress
    interrupted: bool


@contextlib.contextmanager
def _logging_through(console: Console, level: int) -> Iterator[None]:
    """Send log records through ``console`` (so above a live display on it).

    The CLI's handler writes to the terminal behind rich's back, which tore
    the live table; a RichHandler on the live console prints each record
    above it instead. The stages' INFO chatter is quieted to warnings unless
    the person asked for DEBUG.
    """
    from rich.logging import RichHandler

    root = logging.getLogger()
    saved_handlers, saved_levels = root.handlers[:], {}
    handler = RichHandler(console=console, show_path=False, markup=False,
                          rich_tracebacks=False, log_time_format="%H:%M:%S")
    root.handlers = [handler]
    if level > logging.DEBUG:
        for name in QUIET_LOGGERS:
            logger = logging.getLogger(name)
            saved_levels[name] = logger.level
            logger.setLevel(max(level, logging.WARNING))
    try:
        yield
    finally:
        root.handlers = saved_handlers
        for name, previous in saved_levels.items():
            logging.getLogger(name).setLevel(previous)


async def _run_pipeline(
    settings: ConsumerSettings, metrics: ConsumerMetrics, options: DemoOptions,
    console: Console, metrics_url: str,
) -> _Run:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()

    def on_signal() -> None:
        if stop.is_set():  # the second Ctrl-C: out now (Redis dies with us)
            console.print("forced exit")
            os._exit(EXIT_INTERRUPTED)
        stop.set()

    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, on_signal)
    consumer = Consumer(settings, metrics)
    progress = _Progress()
    publisher = _Publisher(settings.redis_url, settings.stream, options, progress)
    started = time.monotonic()
    try:
        await consumer.start()
        publisher.start()
        with Live(console=console, refresh_per_second=4, transient=False) as live:
            while not stop.is_set():
                live.update(_status(options, progress, consumer, started, metrics_url))
                done = consumer.processor.events_committed + consumer.processor.dead_lettered
                if progress.publish_done and done >= progress.published:
                    break
                if consumer.failed:
                    break
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), 0.25)
            if stop.is_set():
                live.console.print("stopping: committing what was read ...")
            publisher.stop_requested.set()
            await loop.run_in_executor(None, publisher.join, 5)
            stats = await consumer.stop()
            live.update(_status(options, progress, consumer, started, metrics_url))
    finally:
        publisher.stop_requested.set()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
    if progress.publish_error is not None and not stop.is_set():
        raise RuntimeError(f"the simulator failed: {progress.publish_error}")
    return _Run(stats, progress, stop.is_set())


def verbatim(console: Console, text: str) -> None:
    """A line with a path or a command: no markup, no highlighting, never broken by rich
    (a soft wrap: the terminal folds a long line, and a copy of it is whole)."""
    console.print(text, markup=False, highlight=False, soft_wrap=True)


@dataclass(frozen=True, slots=True)
class _Seen:
    """What the store holds, for the next-step commands: ids ordered best rate first."""

    templates: list[str]
    models: list[str]
    experiments: list[str]


def _summary_table(db_path: Path) -> tuple[Table, _Seen]:
    from analytics.load import load_executions
    from analytics.rates import success_rates

    # prompt_id makes the intervals prompt-clustered where prompts repeat (the
    # simulator runs each template's fixed prompts many times, as REV does):
    # Wilson on executions would be several times too narrow.
    frame = load_executions(db_path, columns=("template_id", "model_id", "prompt_id", "success",
                                              "experiment_id", "timestamp"))
    rates = success_rates(frame, ("template_id",))
    models = [str(row.keys["model_id"]) for row in success_rates(frame, ("model_id",)).rows]
    tagged = frame.dropna(subset=["experiment_id"])
    experiments = [str(e) for e in tagged.groupby("experiment_id")["timestamp"].min()
                   .sort_values().index]
    clustered = any(row.prompts is not None and row.prompts < row.n for row in rates.rows)
    kind = "prompt-clustered" if clustered else "Wilson"
    table = Table(title=f"success by template ({len(frame):,} executions, 95 % {kind} intervals)")
    for name, justify in (("template", "left"), ("executions", "right"), ("prompts", "right"),
                          ("success", "right"), ("95 % interval", "right")):
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    for row in rates.rows:
        table.add_row(
            escape(str(row.keys["template_id"])), f"{row.n:,}",
            "" if row.prompts is None else f"{row.prompts:,}", f"{row.rate:.1%}",
            f"{row.ci_low:.1%} - {row.ci_high:.1%}",
        )
    return table, _Seen([str(row.keys["template_id"]) for row in rates.rows], models,
                        experiments)


def _serve_metrics(metrics: ConsumerMetrics, preferred: int) -> MetricsServer:
    """/metrics on 127.0.0.1:``preferred``, or on a free port if that one is taken."""
    try:
        return MetricsServer(metrics, "127.0.0.1", preferred)
    except ConfigError:
        return MetricsServer(metrics, "127.0.0.1", 0)


def run_demo(options: DemoOptions, console: Console | None = None) -> int:
    """Run the demo; return the exit code."""
    console = console or make_console()
    if options.events <= 0:
        raise ConfigError("--events must be positive")
    out = options.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    db_path = out / "analytics.db"
    for suffix in ("", "-wal", "-shm"):  # a fresh store each run: only our own files
        Path(f"{db_path}{suffix}").unlink(missing_ok=True)

    # Started from the main thread on purpose: the server's parent-death
    # signal fires when the thread that spawned it ends.
    with _logging_through(console, logging.getLogger().getEffectiveLevel()), \
            EmbeddedRedis() as redis_server:
        metrics = ConsumerMetrics()
        # Loopback only: the demo is for the person at this machine.
        server = _serve_metrics(metrics, options.metrics_port)
        try:
            settings = ConsumerSettings(
                redis_url=redis_server.url, db=str(db_path), consumer="demo",
                batch_within=0.25, claim_idle=10.0, metrics_addr="127.0.0.1",
                metrics_port=server.port,
            )
            verbatim(console, f"embedded Redis at {redis_server.url}; store {db_path}")
            run = asyncio.run(
                _run_pipeline(settings, metrics, options, console, server.url)
            )
        finally:
            server.stop()
    stats, progress = run.stats, run.progress

    if run.interrupted:
        unread = progress.published - stats.events_committed - stats.dead_lettered
        console.print(
            f"\n[yellow]interrupted[/]: {progress.published:,} of {options.events:,} events "
            f"published, {stats.events_committed:,} committed and acknowledged, "
            f"{stats.dead_lettered:,} dead-lettered, {unread:,} not yet read (they go with "
            "the demo's Redis); the summary and the report were skipped.")
        verbatim(console, f"partial data: {db_path}")
        verbatim(console, "  " + shlex.join(["rev-analytics", "report", "--db", str(db_path),
                                             "--out", str(out / "report")]))
        return EXIT_INTERRUPTED
    console.print(
        f"\n[bold]done[/]: {progress.published:,} published, {stats.events_committed:,} "
        f"committed ({stats.rows_inserted:,} rows), {stats.dead_lettered:,} dead-lettered, "
        f"in {stats.seconds:.1f} s"
    )
    verbatim(console, f"database: {db_path}")
    seen = _Seen([], [], [])
    if stats.rows_inserted:
        table, seen = _summary_table(db_path)
        console.print(table)
    if options.report:
        from analytics.report import generate_report

        with console.status("building the report ...") as status:
            def step(name: str, done: int, total: int) -> None:
                status.update(f"building the report: {name} ({done}/{total})")

            try:
                _, written = generate_report(db_path, out / "report", progress=step)
            except NothingToReportError as exc:
                written = None
                message = str(exc)
        verbatim(console, f"report: {written.html}" if written else message)
    console.print("next steps:")
    steps = [["analyze", "--db", str(db_path)],
             ["report", "--db", str(db_path), "--out", str(out / "report")]]
    if len(seen.templates) >= 2:
        steps.append(["ab-test", "--db", str(db_path), "--a", seen.templates[-1], "--b",
                      seen.templates[0], "--json"])
    if len(seen.models) >= 2:  # paired: every model ran the same prompts
        steps.append(["compare-models", "--db", str(db_path), "--a", seen.models[-1], "--b",
                      seen.models[0], "--json"])
    if seen.experiments:
        steps.append(["analyze", "--db", str(db_path), "--experiment", seen.experiments[-1]])
    for step_ in steps:
        verbatim(console, "  " + shlex.join(["rev-analytics", *step_]))
    return 0 if stats.clean_stop else 1
