"""The original ``VisualizationEngine``: the report's figures (:mod:`analytics.figures`).

Each method returns the PNG's path, or ``None`` when the range has no
executions to draw (logged). Requested ids without data show as missing
cells, never as 0 %. ``create_confusion_matrix`` takes the original's
``model_pairs`` and ``template_id`` to choose the models and template; the
matrix is an out-of-fold model identification over those models (the
original paired unrelated executions by truncation).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from analytics import figures
from analytics.identification import identify_models
from analytics.rates import success_rates
from analytics.trends import trends_by_template
from rev_analytics.prompt_analytics._common import stamp
from rev_analytics.prompt_analytics.errors import compatible

if TYPE_CHECKING:
    from rev_analytics.prompt_analytics.system import PromptAnalyticsSystem

log = logging.getLogger(__name__)


class VisualizationEngine:
    """Draws figures for a time range and saves them under ``output_dir``."""

    def __init__(self, system: PromptAnalyticsSystem) -> None:
        self.system = system

    @property
    def output_dir(self) -> Path:
        return self.system.output_dir

    @output_dir.setter
    def output_dir(self, value: str | Path) -> None:
        self.system.output_dir = Path(value)

    def _save(self, figure: figures.Figure, save_path: str | None, kind: str) -> str:
        path = self.system.output_path(save_path, f"{kind}_{stamp()}.png")
        path.write_bytes(figure.png)
        return str(path)

    def _frame(self, days: float, **filters: Any) -> pd.DataFrame | None:
        frame = self.system.load(days, **filters)
        if frame.empty:
            log.warning("no executions in the last %g day(s): nothing to draw", days)
            return None
        return frame

    @compatible
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

    @compatible
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

    @compatible
    def create_network_graph(self, days: float = 7, save_path: str | None = None) -> str | None:
        """Template-model graph: edge width = executions, colour = success rate."""
        frame = self._frame(days)
        if frame is None:
            return None
        rates = success_rates(frame, ("template_id", "model_id"))
        return self._save(figures.network_graph(rates), save_path, "network")

    @compatible
    def create_confusion_matrix(self, model_pairs: Sequence[tuple[str, str]] | None = None,
                                template_id: str | None = None, days: float = 7,
                                save_path: str | None = None) -> str | None:
        """Out-of-fold model-identification confusion matrix over the pairs' models
        (all models when ``None``), on ``template_id`` (all templates when ``None``)."""
        models = sorted({m for pair in model_pairs for m in pair}) if model_pairs else None
        frame = self._frame(days, templates=[template_id] if template_id else None,
                            models=models)
        if frame is None:
            return None
        result = identify_models(frame)
        return self._save(figures.confusion_matrix(result.labels, result.matrix), save_path,
                          "confusion_matrix")


__all__ = ["VisualizationEngine"]
