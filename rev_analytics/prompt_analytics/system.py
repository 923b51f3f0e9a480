"""The original ``PromptAnalyticsSystem``: the entry object over one store.

It owns the store connection (one per system, so ``":memory:"`` works), the
optional producer (with a Redis URL, recording publishes to the stream and
the consumer stores it), the output directory, and the components, each in
its own module: ``database`` (:mod:`.database`), ``metrics_collector``
(:mod:`.collector`), ``statistical_analysis`` (:mod:`.statistics`),
``visualization_engine`` (:mod:`.visualization`), ``reporting_system``
(:mod:`.reporting`), ``rev_integration`` (:mod:`.integration`).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd

from analytics import figures
from analytics.export import export_history
from analytics.load import Selection, load_executions
from analytics.rates import success_rates
from rev_analytics.core.errors import NothingToReportError
from rev_analytics.core.wire import DEFAULT_STREAM
from rev_analytics.prompt_analytics._common import DEFAULT_DB_PATH, DEFAULT_OUTPUT_DIR, stamp
from rev_analytics.prompt_analytics.collector import MetricsCollector
from rev_analytics.prompt_analytics.database import MetricsDatabase
from rev_analytics.prompt_analytics.errors import ConfigValueError, NoDataError, compatible
from rev_analytics.prompt_analytics.integration import REVPipelineIntegration
from rev_analytics.prompt_analytics.reporting import ReportingSystem
from rev_analytics.prompt_analytics.statistics import StatisticalAnalysis
from rev_analytics.prompt_analytics.visualization import VisualizationEngine
from storage.reader import open_reader
from storage.sqlite.store import SqliteStore
from streams.producer import Producer

log = logging.getLogger(__name__)

UpdateCallback = Callable[[dict[str, Any]], None]


class PromptAnalyticsSystem:
    """The design document's entry object: collector, statistics, figures, reports.

    Thread-safe: one lock serialises use of the single store connection (the
    monitoring thread reads while REV code records).
    """

    def __init__(self, db_path: str | Path = DEFAULT_DB_PATH, redis_url: str | None = None,
                 *, stream: str = DEFAULT_STREAM,
                 output_dir: str | Path = DEFAULT_OUTPUT_DIR) -> None:
        self.db_path = str(db_path)
        self.store = SqliteStore(self.db_path)
        self.lock = threading.RLock()
        self.producer = Producer(redis_url, stream) if redis_url else None
        self.output_dir = Path(output_dir)
        self.database = MetricsDatabase(self)
        self.metrics_collector = MetricsCollector(self)
        self.statistical_analysis = StatisticalAnalysis(self)
        self.visualization_engine = VisualizationEngine(self)
        self.reporting_system = ReportingSystem(self)
        self.rev_integration = REVPipelineIntegration(self)
        self.update_callbacks: list[UpdateCallback] = []
        self._monitor_stop = threading.Event()
        self._monitor: threading.Thread | None = None

    # -- reading -----------------------------------------------------------------------
    def load(self, days: float | None = None, *, templates: Sequence[str] | None = None,
             models: Sequence[str] | None = None,
             experiments: Sequence[str] | None = None) -> pd.DataFrame:
        """Executions of the last ``days`` (all when ``None``) as a typed DataFrame."""
        since = datetime.now(UTC) - timedelta(days=days) if days is not None else None
        selection = Selection(since=since, templates=templates or None, models=models or None,
                              experiments=experiments or None)
        with self.lock:
            return load_executions(self.store.conn, selection)

    def output_path(self, name: str | None, default: str) -> Path:
        """Where an output goes: ``name`` under :attr:`output_dir` (absolute names as given)."""
        path = Path(name) if name else Path(default)
        path = (path if path.is_absolute() else self.output_dir / path).resolve()
        path.parent.mkdir(parents=True, exist_ok=True)
        return path

    # -- exports and dashboards ----------------------------------------------------------
    @compatible
    def export_historical_data(self, days: float = 30, format: str = "csv",
                               filepath: str | None = None) -> str:
        """Export the last ``days`` of raw history; return the path.

        ``json`` writes one JSON array of objects (the original's format),
        ``jsonl`` one object per line, ``csv`` and ``parquet`` a table. An
        empty range raises ``NoDataError`` and an unknown format
        ``ConfigValueError`` (both ``ValueError``, as in the original).
        """
        fmt = format.lower()
        if fmt not in ("csv", "json", "jsonl", "parquet"):
            raise ConfigValueError(f"Unsupported export format: {format!r}; "
                                   "use csv, json, jsonl or parquet")
        selection = Selection(since=datetime.now(UTC) - timedelta(days=days))
        with self.lock:
            with open_reader(self.store.conn) as reader:
                if reader.total(selection) == 0:
                    raise NoDataError(
                        f"No data available for export in the last {days:g} day(s)")
            path = self.output_path(filepath, f"prompt_analytics_export_{stamp()}.{fmt}")
            export_history(self.store.conn, path, fmt, selection)
        return str(path)

    def create_dashboard_data(self, days: float = 7) -> dict[str, Any]:
        """Report, executive summary, figures and live metrics in one dict.

        ``status`` is ``"success"``, ``"no_data"`` (empty range) or ``"error"``
        (with ``error``; the exception is logged, not swallowed silently).
        """
        generated = datetime.now(UTC)
        try:
            report = self.reporting_system.generate_comprehensive_report(days=days)
        except NothingToReportError as exc:
            return {"status": "no_data", "message": str(exc), "generated_at": generated}
        except Exception as exc:
            log.exception("dashboard data failed")
            return {"status": "error", "error": f"{type(exc).__name__}: {exc}",
                    "generated_at": generated}
        visualizations = {}
        for figure in report.report.figures:
            path = self.output_path(None, f"{figures.safe_name(figure.name)}_{stamp()}.png")
            path.write_bytes(figure.png)
            visualizations[figure.name] = str(path)
        return {
            "status": "success", "report": report.to_dict(),
            "executive_summary": self.reporting_system.generate_executive_summary(report),
            "visualizations": visualizations,
            "real_time_metrics": self.get_real_time_metrics(),
            "generated_at": generated,
        }

    # -- real-time monitoring ------------------------------------------------------------
    def get_real_time_metrics(self, window_minutes: float = 60) -> dict[str, Any]:
        """Success over the last ``window_minutes`` of event time, overall and per template."""
        frame = self.load(days=window_minutes / 1440)
        metrics: dict[str, Any] = {"timestamp": datetime.now(UTC),
                                   "window_minutes": window_minutes,
                                   "total_executions": len(frame)}
        if frame.empty:
            return {**metrics, "status": "no_data", "success_rate": float("nan"),
                    "template_success_rates": {}}
        overall = success_rates(frame.assign(scope="all"), ("scope",)).rows[0]
        templates = success_rates(frame, ("template_id",))
        return {**metrics, "status": "active", "success_rate": overall.rate,
                "success_rate_ci": (overall.ci_low, overall.ci_high),
                "template_success_rates": {row.keys["template_id"]: row.rate
                                           for row in templates.rows}}

    def add_update_callback(self, callback: UpdateCallback) -> None:
        """Call ``callback(metrics)`` on every monitoring update (see :meth:`publish_update`)."""
        self.update_callbacks.append(callback)

    def publish_update(self) -> dict[str, Any]:
        """Compute the real-time metrics now and hand them to every callback.

        A failing callback is logged with its traceback and does not stop the others.
        """
        metrics = self.get_real_time_metrics()
        for callback in list(self.update_callbacks):
            try:
                callback(metrics)
            except Exception:
                log.exception("update callback %r failed", callback)
        return metrics

    def start_real_time_monitoring(self, update_interval: float = 30) -> None:
        """Publish an update now and then every ``update_interval`` seconds, in a daemon thread."""
        if update_interval <= 0:
            raise ConfigValueError(f"update_interval must be positive, got {update_interval}")
        if self._monitor is not None and self._monitor.is_alive():
            return
        self._monitor_stop.clear()

        def loop() -> None:
            while not self._monitor_stop.is_set():
                try:
                    self.publish_update()
                except Exception:  # keep monitoring through a transient failure
                    log.exception("monitoring update failed")
                self._monitor_stop.wait(update_interval)

        self._monitor = threading.Thread(target=loop, name="rev-analytics-monitor", daemon=True)
        self._monitor.start()

    def stop_real_time_monitoring(self) -> None:
        self._monitor_stop.set()
        if self._monitor is not None:
            self._monitor.join(timeout=10)
            self._monitor = None

    @property
    def monitoring_active(self) -> bool:
        return self._monitor is not None and self._monitor.is_alive()

    def close(self) -> None:
        """Stop monitoring and release the producer and the store."""
        self.stop_real_time_monitoring()
        if self.producer is not None:
            self.producer.close()
        with self.lock:
            self.store.close()

    def __enter__(self) -> PromptAnalyticsSystem:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def create_analytics_system(db_path: str | Path = DEFAULT_DB_PATH,
                            redis_url: str | None = None, **options: Any
                            ) -> PromptAnalyticsSystem:
    """The analytics system over the store ``db_path``, publishing to ``redis_url`` if given."""
    return PromptAnalyticsSystem(db_path, redis_url, **options)


__all__ = ["PromptAnalyticsSystem", "create_analytics_system"]
