"""The consumer's Prometheus metrics and its ``/metrics`` endpoint.

:class:`ConsumerMetrics` implements :class:`streams.consumer.observer.ConsumerObserver`:
the consumer stages call it, Prometheus scrapes it. The metric names and
labels of CONTRACT.md section 4 are a promise to dashboards and alert rules;
``docs/operations.md`` lists every metric.

Why alerts use counters, not the ratio gauges
    ``rev_prompt_success_ratio`` is a rolling gauge for people looking at one
    consumer. Two consumers in one group each see a part of the traffic, and
    averaging their ratios weights a consumer that saw 3 events like one
    that saw 30 000. The alert and recording rules in ``deploy/prometheus``
    therefore sum the *counters* ``rev_prompt_executions_total`` across
    instances first and divide afterwards (a ratio of summed rates), which is
    exact for any number of consumers and survives restarts (``rate()``
    handles counter resets).

Created series
    prometheus_client adds a ``*_created`` series to every counter and
    histogram in the text format; they double the series count and nothing
    here uses them. Constructing :class:`ConsumerMetrics` switches them off
    for the process (``prometheus_client.disable_created_metrics()``, the
    same as ``PROMETHEUS_DISABLE_CREATED_SERIES=True``).

Execution counts and redelivery
    ``rev_events_persisted_total`` counts rows really inserted, so an entry
    redelivered after a crash is never counted twice there. The per-template
    counters count every event of a committed window: a redelivered entry
    (rare: only after a crash between commit and acknowledgement) counts
    again there, which moves a ratio by a negligible amount.
"""

from __future__ import annotations

import gzip
import logging
import platform
import socket
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import prometheus_client
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Info
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import generate_latest

from rev_analytics.core.decode import DEAD_LETTER_REASONS
from rev_analytics.core.errors import ConfigError
from rev_analytics.core.event import SCHEMA_VERSION, PromptEvent
from rev_analytics.core.version import __version__
from streams.metrics.cardinality import LabelGuard
from streams.metrics.prompt_series import PromptSeries

log = logging.getLogger(__name__)

OTHER_REASON = "other"
"""Dead-letter reason label for a reason outside DEAD_LETTER_REASONS (a bug upstream)."""
DEFAULT_FORGET_AFTER = 6 * 3600.0
"""Seconds after which per-template/model series of an unseen label value are dropped."""
MAX_ERROR_LABELS = 20
BATCH_SIZE_BUCKETS = (1, 10, 50, 100, 250, 500, 1000, 2500, 5000, 10000)
COMMIT_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class _OptionalGauge:
    """A label-less gauge that has no sample at all while its value is unknown.

    ``rev_consumer_lag_events`` is unknown before the first measurement and
    when Redis cannot tell (an old server): exporting 0 would be a lie and
    NaN breaks arithmetic in rules, so the series is simply absent.
    """

    def __init__(self, name: str, documentation: str) -> None:
        self.name = name
        self.documentation = documentation
        self.value: float | None = None

    def describe(self) -> list[Metric]:
        return [GaugeMetricFamily(self.name, self.documentation)]

    def collect(self) -> Iterator[Metric]:
        family = GaugeMetricFamily(self.name, self.documentation)
        value = self.value
        if value is not None:
            family.add_metric((), value)
        yield family


class ConsumerMetrics:
    """Everything the consumer exports (a :class:`ConsumerObserver`).

    ``registry`` is a fresh ``CollectorRegistry`` per instance unless one is
    given (tests create many). ``clock`` is the wall clock that ends the
    rolling windows (tests pass a fake one). All methods are cheap and
    thread-safe; :meth:`record_committed` costs about a microsecond or two
    per event because it groups the window before updating any series.
    """

    def __init__(
        self,
        registry: CollectorRegistry | None = None,
        *,
        max_template_labels: int = 500,
        max_model_labels: int = 100,
        clock: Callable[[], float] = time.time,
        forget_after: float = DEFAULT_FORGET_AFTER,
    ) -> None:
        if max_template_labels < 1 or max_model_labels < 1:
            raise ConfigError(
                "label caps must be positive, got "
                f"templates={max_template_labels}, models={max_model_labels}"
            )
        prometheus_client.disable_created_metrics()
        self.registry = CollectorRegistry() if registry is None else registry
        r = self.registry
        self.clock = clock
        self.prompts = PromptSeries(
            max_template_labels=max_template_labels,
            max_model_labels=max_model_labels,
            forget_after=forget_after,
            clock=clock,
        )
        r.register(self.prompts)

        self._persisted = Counter(
            "rev_events_persisted", "Events written to storage as new rows "
            "(duplicates and redeliveries are not counted twice).", registry=r)
        self._dead_lettered = Counter(
            "rev_events_dead_lettered", "Entries moved to the dead-letter stream, by reason.",
            ["reason"], registry=r)
        for reason in (*DEAD_LETTER_REASONS, OTHER_REASON):
            self._dead_lettered.labels(reason)  # zero series exist, so rate() works at once
        self._dead_trimmed = Counter(
            "rev_dead_letter_entries_trimmed", "Old dead-letter entries removed by the "
            "stream's MAXLEN cap.", registry=r)
        self._write_failures = Counter(
            "rev_storage_write_failures", "Window commits that failed (the window is retried; "
            "nothing was acknowledged), by error type.", ["error"], registry=r)
        self._error_labels = LabelGuard(MAX_ERROR_LABELS)
        self._storage_healthy = Gauge(
            "rev_storage_healthy", "1 while commits succeed, 0 while they fail.", registry=r)
        self._storage_healthy.set(1)
        self._lag = _OptionalGauge(
            "rev_consumer_lag_events", "Entries in the stream not yet delivered to the group "
            "(absent while unknown).")
        r.register(self._lag)
        self._pending = Gauge(
            "rev_consumer_pending_entries", "Entries delivered to the group but not yet "
            "acknowledged.", registry=r)
        self._reclaimed = Counter(
            "rev_consumer_reclaimed_entries", "Pending entries taken over from a consumer "
            "that stopped handling them.", registry=r)
        self._reconnects = Counter(
            "rev_redis_reconnects", "Times the connection to Redis came back after a failure.",
            registry=r)
        self._redis_connected = Gauge(
            "rev_redis_connected", "1 while the last Redis command succeeded.", registry=r)
        self._batch_size = Histogram(
            "rev_batch_size_events", "Events per committed window.",
            buckets=BATCH_SIZE_BUCKETS, registry=r)
        self._commit_seconds = Histogram(
            "rev_batch_commit_duration_seconds", "Time to write and commit one window.",
            buckets=COMMIT_BUCKETS, registry=r)
        self._last_commit = Gauge(
            "rev_last_commit_timestamp_seconds", "Unix time of the last committed window.",
            registry=r)
        self._folded = Counter(
            "rev_metrics_label_folded_events", "Events whose label value was folded into "
            "__other__ by the cardinality cap.", ["label"], registry=r)
        labels = Gauge(
            "rev_metrics_label_values", "Distinct label values holding a slot under the cap.",
            ["label"], registry=r)
        limits = Gauge(
            "rev_metrics_label_limit", "The cardinality cap of each label.", ["label"],
            registry=r)
        for name, guard in (("template_id", self.prompts.templates),
                            ("model_id", self.prompts.models)):
            labels.labels(name).set_function(guard.__len__)
            limits.labels(name).set(guard.limit)
            self._folded.labels(name)
        build = Info("rev_analytics_build", "Version of the running consumer.", registry=r)
        build.info({
            "version": __version__,
            "python_version": platform.python_version(),
            "schema_version": str(SCHEMA_VERSION),
        })

    # -- ConsumerObserver --------------------------------------------------

    def record_committed(
        self, events: Sequence[PromptEvent], inserted: int, commit_seconds: float
    ) -> None:
        """A window committed: count its events, rows, size and commit time."""
        templates, models = self.prompts.templates, self.prompts.models
        folded_before = templates.folded_events, models.folded_events
        self.prompts.record(events)
        if templates.folded_events != folded_before[0]:
            self._folded.labels("template_id").inc(templates.folded_events - folded_before[0])
        if models.folded_events != folded_before[1]:
            self._folded.labels("model_id").inc(models.folded_events - folded_before[1])
        if inserted > 0:
            self._persisted.inc(inserted)
        self._batch_size.observe(len(events))
        self._commit_seconds.observe(max(0.0, commit_seconds))
        self._last_commit.set(self.clock())

    def record_dead_letter(self, reason: str) -> None:
        label = reason if reason in DEAD_LETTER_REASONS else OTHER_REASON
        self._dead_lettered.labels(label).inc()

    def record_dead_letters_trimmed(self, count: int) -> None:
        if count > 0:
            self._dead_trimmed.inc(count)

    def record_write_failure(self, error: str) -> None:
        """``error`` should be a kind (an exception class name), not a message."""
        label = self._error_labels.resolve(error or "unknown", self.clock())
        self._write_failures.labels(label).inc()

    def set_storage_healthy(self, healthy: bool) -> None:
        self._storage_healthy.set(1 if healthy else 0)

    def set_lag(self, lag: int | None) -> None:
        self._lag.value = None if lag is None else float(lag)

    def set_pending(self, pending: int) -> None:
        self._pending.set(pending)

    def record_reclaimed(self, count: int) -> None:
        if count > 0:
            self._reclaimed.inc(count)

    def record_redis_reconnect(self) -> None:
        self._reconnects.inc()

    def set_redis_connected(self, connected: bool) -> None:
        self._redis_connected.set(1 if connected else 0)

    # -- exposition --------------------------------------------------------

    def exposition(self) -> bytes:
        """The whole registry as text format 0.0.4, using the fast path for big families."""
        with self.prompts.silenced():
            rest = generate_latest(self.registry)
        return self.prompts.render().encode() + rest


class MetricsServer:
    """A running ``/metrics`` endpoint (a daemon thread); :meth:`stop` ends it."""

    def __init__(self, metrics: ConsumerMetrics, addr: str, port: int) -> None:
        handler = _handler_for(metrics)
        server_class = _IPv6Server if ":" in addr else _Server
        try:
            self._server = server_class((addr, port), handler)
        except OSError as exc:
            raise ConfigError(f"cannot serve metrics on {addr}:{port}: {exc.strerror}") from exc
        self.addr = addr
        self.port = int(self._server.server_address[1])
        self._thread = threading.Thread(
            # A short poll interval makes stop() quick (shutdown waits for a poll).
            target=self._server.serve_forever, args=(0.05,), name="metrics-http", daemon=True
        )
        self._thread.start()

    @property
    def url(self) -> str:
        host = "127.0.0.1" if self.addr in ("0.0.0.0", "") else self.addr
        if ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{self.port}/metrics"

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)


def serve_metrics(metrics: ConsumerMetrics, addr: str, port: int) -> Callable[[], None]:
    """Serve ``metrics`` on ``http://addr:port/metrics``; returns ``stop()``.

    Raises :class:`ConfigError` when the address cannot be bound (in use, bad
    address). Use :class:`MetricsServer` directly to learn a port chosen by
    the system (``port=0``).
    """
    return MetricsServer(metrics, addr, port).stop


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True


class _IPv6Server(_Server):
    address_family = socket.AF_INET6


def _handler_for(metrics: ConsumerMetrics) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
            if path not in ("/metrics", "/"):
                self.send_error(404, "only /metrics is served here")
                return
            if path == "/":
                self._reply(b'rev-analytics consumer: see <a href="/metrics">/metrics</a>\n',
                            "text/html; charset=utf-8")
                return
            body = metrics.exposition()
            encoding = None
            if "gzip" in self.headers.get("Accept-Encoding", ""):
                # Level 1: the text is very repetitive, so it still shrinks
                # about 30x, at a fraction of the default level's CPU time.
                body = gzip.compress(body, compresslevel=1)
                encoding = "gzip"
            self._reply(body, CONTENT_TYPE, encoding)

        def _reply(self, body: bytes, content_type: str, encoding: str | None = None) -> None:
            self.send_response(200)
            self.send_header("Content-Type", content_type)
            if encoding:
                self.send_header("Content-Encoding", encoding)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            log.debug("metrics request: " + format, *args)

    return Handler
