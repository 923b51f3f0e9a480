"""The design document's Python API, for REV code migrating from ``prompt_analytics``.

A thin facade, documented as such: every call delegates to the real modules
(the producer or the SQLite store for writes, :mod:`analytics.load` for
reads, the statistics modules, :mod:`analytics.figures`,
:mod:`analytics.report`, :mod:`analytics.export`). It holds no statistics and
no storage logic of its own. Replace ``from src.dashboard.prompt_analytics
import ...`` with ``from rev_analytics.prompt_analytics import ...`` (or
``rev_analytics.prompt_analytics``).

Differences from the original, each fixing one of its faults:

* ``create_analytics_system(db_path, redis_url=None)``: with a Redis URL,
  ``record_prompt_execution`` publishes to the stream (the consumer stores
  it, exactly once); without one it validates with the wire contract's rules
  and writes the store directly. Reads always come from ``db_path``.
* one SQLite connection per system, so ``":memory:"`` works;
* optional measurements you do not pass stay *absent* (not 0.0); event time
  is the call time unless ``timestamp`` is given, never the arrival time;
* "no data" is never "0 %": heatmaps show it as missing, reports refuse an
  empty range (``NothingToReportError``), real-time metrics give
  ``success_rate = nan`` with ``status = "no_data"``;
* A/B tests stratify by model and correct for many comparisons in reports;
  prediction excludes outcome-derived features such as ``quality_score``;
* ``integrate_with_rev_pipeline`` keeps the original mapping but a missing id
  is an error, not ``"unknown"``;
* file names carry a random suffix, so two outputs in one second never clash.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd

from analytics import figures
from analytics.abtest import ABTestResult, ab_test
from analytics.correlation import correlations
from analytics.export import export_history
from analytics.identification import identify_models
from analytics.load import Selection, load_executions
from analytics.prediction import predict_success
from analytics.rates import success_rates
from analytics.report import Report, build_report
from analytics.report.render import render_summary_markdown
from analytics.trends import trends_by_template
from rev_analytics.core.decode import decode_fields
from rev_analytics.core.errors import ConfigError, NothingToReportError
from rev_analytics.core.wire import DEFAULT_STREAM
from storage.columns import TABLE
from storage.sqlite.store import SqliteStore
from streams.producer import Producer, event_from_rev_result, prepare

log = logging.getLogger(__name__)

DEFAULT_DB_PATH = "prompt_analytics.db"
DEFAULT_OUTPUT_DIR = "analytics_outputs"
UpdateCallback = Callable[[dict[str, Any]], None]


def _stamp() -> str:
    return f"{datetime.now(UTC):%Y%m%dT%H%M%S}_{uuid.uuid4().hex[:8]}"


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
             models: Sequence[str] | None = None) -> pd.DataFrame:
        """Executions of the last ``days`` (all when ``None``) as a typed DataFrame."""
        since = datetime.now(UTC) - timedelta(days=days) if days is not None else None
        selection = Selection(since=since, templates=templates or None, models=models or None)
        with self.lock:
            return load_executions(self.store.conn, selection)

    def output_path(self, name: str | None, default: str) -> Path:
        """Where an output goes: ``name`` under :attr:`output_dir` (absolute names as given)."""
        path = Path(name) if name else Path(default)
        path = (path if path.is_absolute() else self.output_dir / path).resolve()
        path.parent.mkdir(parents=True, exist_ok=True)
        return path

    # -- exports and dashboards ----------------------------------------------------------
    def export_historical_data(self, days: float = 30, format: str = "csv",
                               filepath: str | None = None) -> str:
        """Export the last ``days`` of raw history (csv, json/jsonl or parquet); return the path."""
        fmt = format.lower()
        path = self.output_path(filepath, f"prompt_analytics_export_{_stamp()}.{fmt}")
        since = datetime.now(UTC) - timedelta(days=days)
        with self.lock:
            export_history(self.store.conn, path, fmt, Selection(since=since))
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
            path = self.output_path(None, f"{figures.safe_name(figure.name)}_{_stamp()}.png")
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
            raise ConfigError(f"update_interval must be positive, got {update_interval}")
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


class MetricsCollector:
    """Records executions: to the stream (with a Redis URL) or straight into the store."""

    def __init__(self, system: PromptAnalyticsSystem) -> None:
        self.system = system

    def record_prompt_execution(self, prompt_id: str, template_id: str, model_id: str,
                                success: bool, **fields: Any) -> str:
        """Record one execution; return its ``event_id``.

        ``fields`` are the wire contract's optional fields (``response_length``,
        ``execution_time``, ``discrimination_score``, ``behavioral_score``,
        ``quality_score``, ``difficulty_level``, ``domain``, ``cost``,
        ``error_type``, ``response_hash``, ``metadata`` (a dict), ``timestamp``,
        ``event_id``). Invalid values raise ``InvalidEventError`` naming the
        field, before anything is written.
        """
        event = {"prompt_id": prompt_id, "template_id": template_id, "model_id": model_id,
                 "success": success, **{k: v for k, v in fields.items() if v is not None}}
        if self.system.producer is not None:
            return self.system.producer.publish(event)
        now = time.time()
        event_id, wire = prepare(event, validate=False, now=now)
        # The consumer's own decoder: the same rules as events arriving through Redis.
        decoded = decode_fields(f"{int(now * 1000)}-0", wire, now=now)
        with self.system.lock:
            # Written directly: no stream entry, so no stream id.
            self.system.store.insert_events([decoded._replace(stream_id=None)])
        return event_id


@dataclass(frozen=True, slots=True)
class ABTestView:
    """The original ``ABTestResult`` attribute names over the real :class:`ABTestResult`."""

    result: ABTestResult

    @property
    def variant_a_id(self) -> str:
        return self.result.a.template_id

    @property
    def variant_b_id(self) -> str:
        return self.result.b.template_id

    @property
    def sample_size_a(self) -> int:
        return self.result.a.n

    @property
    def sample_size_b(self) -> int:
        return self.result.b.n

    @property
    def success_rate_a(self) -> float:
        return self.result.a.rate

    @property
    def success_rate_b(self) -> float:
        return self.result.b.rate

    @property
    def p_value(self) -> float:
        return self.result.p_value

    @property
    def effect_size(self) -> float:
        return self.result.cohens_h

    @property
    def confidence_interval(self) -> tuple[float, float]:
        return (self.result.ci_low, self.result.ci_high)

    @property
    def statistical_significance(self) -> bool:
        return self.result.significant

    @property
    def practical_significance(self) -> bool:
        return self.result.practically_significant

    @property
    def recommendation(self) -> str:
        return self.result.recommendation

    def to_dict(self) -> dict[str, Any]:
        return self.result.to_dict()


class StatisticalAnalysis:
    """A/B tests, correlations and success prediction over the last ``days``."""

    def __init__(self, system: PromptAnalyticsSystem) -> None:
        self.system = system

    def _frame(self, days: float, **filters: Any) -> pd.DataFrame:
        frame = self.system.load(days, **filters)
        if frame.empty:
            raise NothingToReportError(f"no executions in the last {days:g} day(s)")
        return frame

    def run_ab_test(self, variant_a_id: str, variant_b_id: str,
                    significance_level: float = 0.05,
                    practical_significance_threshold: float = 0.05, *, days: float = 7,
                    model: str | None = None) -> ABTestView:
        """Compare two templates (``b`` against ``a``); see :func:`analytics.abtest.ab_test`."""
        frame = self.system.load(days, templates=[variant_a_id, variant_b_id])
        return ABTestView(ab_test(frame, variant_a_id, variant_b_id, model=model,
                                  alpha=significance_level,
                                  min_effect=practical_significance_threshold))

    def correlation_analysis(self, days: float = 30) -> dict[str, Any]:
        """Correlation of each numeric field with success (JSON-safe dict)."""
        return correlations(self._frame(days)).to_dict()

    def build_success_prediction_model(self, days: float = 30) -> dict[str, Any]:
        """Cross-validated success prediction without leaking features (JSON-safe dict)."""
        return predict_success(self._frame(days)).to_dict()


class VisualizationEngine:
    """Draws the report's figures for a time range and saves them under ``output_dir``.

    Each method returns the PNG's path, or ``None`` when the range has no
    executions to draw (logged).
    """

    def __init__(self, system: PromptAnalyticsSystem) -> None:
        self.system = system

    @property
    def output_dir(self) -> Path:
        return self.system.output_dir

    @output_dir.setter
    def output_dir(self, value: str | Path) -> None:
        self.system.output_dir = Path(value)

    def _save(self, figure: figures.Figure, save_path: str | None, kind: str) -> str:
        path = self.system.output_path(save_path, f"{kind}_{_stamp()}.png")
        path.write_bytes(figure.png)
        return str(path)

    def _frame(self, days: float, **filters: Any) -> pd.DataFrame | None:
        frame = self.system.load(days, **filters)
        if frame.empty:
            log.warning("no executions in the last %g day(s): nothing to draw", days)
            return None
        return frame

    def create_heatmap(self, models: Sequence[str] | None = None,
                       templates: Sequence[str] | None = None, days: float = 7,
                       save_path: str | None = None) -> str | None:
        """Template x model success heatmap; requested ids without data show as missing."""
        frame = self._frame(days, templates=templates, models=models)
        if frame is None:
            return None
        rates = success_rates(frame, ("template_id", "model_id"))
        figure = figures.success_heatmap(rates, templates=templates, models=models,
                                         title=f"Success rate, last {days:g} day(s)")
        return self._save(figure, save_path, "heatmap")

    def create_time_series(self, template_ids: Sequence[str] | None = None, days: float = 30,
                           save_path: str | None = None) -> str | None:
        """Success over time with intervals, one line per template."""
        frame = self._frame(days, templates=template_ids)
        if frame is None:
            return None
        trends = trends_by_template(frame)
        series = pd.concat([t.buckets.assign(template_id=t.key) for t in trends[1:]],
                           ignore_index=True)
        bucket = {"h": "hour", "D": "day", "W": "week"}.get(trends[0].freq, "bucket")
        return self._save(figures.success_time_series(series, bucket=bucket), save_path,
                          "timeseries")

    def create_network_graph(self, days: float = 7, save_path: str | None = None) -> str | None:
        """Template-model graph: edge width = executions, colour = success rate."""
        frame = self._frame(days)
        if frame is None:
            return None
        rates = success_rates(frame, ("template_id", "model_id"))
        return self._save(figures.network_graph(rates), save_path, "network")

    def create_confusion_matrix(self, days: float = 7,
                                save_path: str | None = None) -> str | None:
        """Out-of-fold model-identification confusion matrix."""
        frame = self._frame(days)
        if frame is None:
            return None
        result = identify_models(frame)
        return self._save(figures.confusion_matrix(result.labels, result.matrix), save_path,
                          "confusion_matrix")


@dataclass(frozen=True, slots=True)
class ComprehensiveReport:
    """The original report's attributes over the real :class:`Report`."""

    report: Report
    days: float

    @property
    def report_id(self) -> str:
        return self.report.report_id

    @property
    def generation_time(self) -> datetime:
        return self.report.generated_at

    @property
    def time_period(self) -> tuple[datetime, datetime]:
        return (self.report.generated_at - timedelta(days=self.days), self.report.generated_at)

    @property
    def total_prompts(self) -> int:
        return self.report.headline.executions

    @property
    def unique_templates(self) -> int:
        return self.report.headline.templates

    @property
    def models_tested(self) -> list[str]:
        rows = self.report.section("models").data["rows"]
        return [str(row["model_id"]) for row in rows]

    @property
    def overall_success_rate(self) -> float:
        return self.report.headline.success_rate

    @property
    def top_performers(self) -> list[dict[str, Any]]:
        """Templates by the lower end of their interval, with ``success_rate`` and ``count``."""
        return [{**row, "success_rate": row["rate"], "count": row["n"]}
                for row in self.report.section("templates").data["top"]]

    @property
    def underperformers(self) -> list[dict[str, Any]]:
        return [{**row, "success_rate": row["rate"], "count": row["n"]}
                for row in self.report.section("templates").data["underperforming"]]

    @property
    def trends(self) -> dict[str, Any]:
        data = self.report.section("trends").data or {}
        return {t["key"]: t for t in data.get("trends", [])}

    @property
    def recommendations(self) -> list[str]:
        return [f"{r.action} ({r.evidence})" for r in self.report.recommendations]

    def to_dict(self) -> dict[str, Any]:
        return self.report.to_dict()


class ReportingSystem:
    """Comprehensive reports, executive summaries and report exports."""

    def __init__(self, system: PromptAnalyticsSystem) -> None:
        self.system = system

    def generate_comprehensive_report(self, days: float = 7,
                                      models: Sequence[str] | None = None,
                                      templates: Sequence[str] | None = None
                                      ) -> ComprehensiveReport:
        """The full report for the last ``days``; raises ``NothingToReportError`` when empty."""
        frame = self.system.load(days, templates=templates, models=models)
        since = datetime.now(UTC) - timedelta(days=days)
        report = build_report(frame, selection=Selection(since=since, templates=templates,
                                                         models=models))
        return ComprehensiveReport(report, days)

    def generate_executive_summary(self, report: ComprehensiveReport | Report) -> str:
        """The executive summary as Markdown (what ``summary.md`` holds)."""
        real = report.report if isinstance(report, ComprehensiveReport) else report
        return render_summary_markdown(real)

    def export_report(self, report: ComprehensiveReport | Report,
                      format: str = "json",
                      filepath: str | None = None) -> str:
        """Write the report: ``json`` (report.json's content), or the template table as
        ``csv``/``parquet``. Returns the path."""
        real = report.report if isinstance(report, ComprehensiveReport) else report
        fmt = format.lower()
        if fmt not in ("json", "csv", "parquet"):
            raise ConfigError(f"unsupported report format {format!r}; use json, csv or parquet")
        path = self.system.output_path(filepath,
                                       f"prompt_analysis_{real.report_id}.{fmt}")
        if fmt == "json":
            path.write_text(json.dumps(real.to_dict(), indent=2, ensure_ascii=False,
                                       allow_nan=False), encoding="utf-8")
            return str(path)
        table = pd.DataFrame(real.section("templates").data["all"]["rows"])
        cost = pd.DataFrame(real.section("cost").data or [])
        if not cost.empty:
            table = table.merge(cost[["template_id", "total_cost", "cost_per_success"]],
                                on="template_id", how="left")
        if fmt == "csv":
            table.to_csv(path, index=False)
        else:
            table.to_parquet(path, index=False)
        return str(path)


class REVPipelineIntegration:
    """Maps REV execution results to events (:func:`streams.producer.event_from_rev_result`)."""

    def __init__(self, system: PromptAnalyticsSystem) -> None:
        self.system = system

    def on_prompt_execution(self, rev_execution_result: dict[str, Any],
                            merkle_verification: dict[str, Any] | None = None,
                            behavioral_analysis: dict[str, Any] | None = None) -> str:
        fields = event_from_rev_result(rev_execution_result, merkle_verification,
                                       behavioral_analysis)
        return self.system.metrics_collector.record_prompt_execution(**fields)

    def get_real_time_metrics(self) -> dict[str, Any]:
        return self.system.get_real_time_metrics()

    def sync_with_experiment_tracking(self, experiment_id: str) -> dict[str, Any]:
        """What the store holds for ``experiment_id`` (events carrying it in ``metadata``)."""
        with self.system.lock:
            row = self.system.store.conn.execute(
                f"SELECT COUNT(*), SUM(success), MIN(timestamp), MAX(timestamp) FROM {TABLE} "
                "WHERE experiment_id = ?", (experiment_id,)).fetchone()
        return {"experiment_id": experiment_id, "sync_status": "completed",
                "executions": int(row[0]), "successes": int(row[1] or 0),
                "first_event": row[2], "last_event": row[3], "timestamp": datetime.now(UTC)}


def create_analytics_system(db_path: str | Path = DEFAULT_DB_PATH,
                            redis_url: str | None = None, **options: Any
                            ) -> PromptAnalyticsSystem:
    """The analytics system over the store ``db_path``, publishing to ``redis_url`` if given."""
    return PromptAnalyticsSystem(db_path, redis_url, **options)


def integrate_with_rev_pipeline(
    analytics_system: PromptAnalyticsSystem,
    rev_execution_result: dict[str, Any] | None = None,
    merkle_verification: dict[str, Any] | None = None,
    behavioral_analysis: dict[str, Any] | None = None,
    *,
    rev_result: dict[str, Any] | None = None,
    merkle_data: dict[str, Any] | None = None,
    behavioral_data: dict[str, Any] | None = None,
) -> str:
    """Record one REV execution; return its ``event_id``.

    Accepts both spellings the design document uses (``rev_execution_result=``
    / ``merkle_verification=`` / ``behavioral_analysis=`` and ``rev_result=`` /
    ``merkle_data=`` / ``behavioral_data=``), or positional arguments.
    """
    result = rev_execution_result if rev_execution_result is not None else rev_result
    if result is None:
        raise ConfigError("integrate_with_rev_pipeline needs the REV execution result")
    return analytics_system.rev_integration.on_prompt_execution(
        result, merkle_verification if merkle_verification is not None else merkle_data,
        behavioral_analysis if behavioral_analysis is not None else behavioral_data)


__all__ = ["ABTestView", "ComprehensiveReport", "PromptAnalyticsSystem",
           "create_analytics_system", "integrate_with_rev_pipeline"]
