"""The original ``MetricsDatabase`` and ``PromptMetrics`` over the real store.

``analytics.database`` is what the original's users query directly
(``query_metrics``) and seed (``insert_metrics``). Here it writes through the
collector (the wire contract's validation, then the store) and reads through
:func:`analytics.load.load_executions` (the store's reader). Differences:

* ``query_metrics`` returns the store's columns (``event_id``, ``experiment_id``
  ... besides the original ones; no ``id``), timestamps in UTC, measurements
  not given as NaN (not 0.0), rows in event-time order; ``end_time`` is
  exclusive; naive datetimes are local time, as the original's were;
* ``PromptMetrics``' optional measurements default to ``None`` (absent), not 0.0.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

import pandas as pd

from analytics.load import Selection, load_executions
from rev_analytics.prompt_analytics._common import aware
from rev_analytics.prompt_analytics.errors import compatible
from storage.columns import COLUMNS

if TYPE_CHECKING:
    from rev_analytics.prompt_analytics.system import PromptAnalyticsSystem

QUERY_COLUMNS: tuple[str, ...] = tuple(c for c in COLUMNS if c != "ingested_at")


@dataclass
class PromptMetrics:
    """One prompt execution, with the original's field names and order."""

    prompt_id: str
    template_id: str
    model_id: str
    timestamp: datetime
    success: bool
    response_length: int | None = None
    execution_time: float | None = None
    discrimination_score: float | None = None
    behavioral_score: float | None = None
    quality_score: float | None = None
    difficulty_level: int | None = None
    domain: str | None = None
    cost: float | None = None
    error_type: str | None = None
    response_hash: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)


def _metadata(text: Any) -> Any:
    return json.loads(text) if isinstance(text, str) and text else {}


class MetricsDatabase:
    """Writes and reads of the system's one store (``db_path``)."""

    def __init__(self, system: PromptAnalyticsSystem) -> None:
        self.system = system

    @property
    def db_path(self) -> str:
        return self.system.db_path

    @compatible
    def insert_metrics(self, metrics: PromptMetrics) -> str:
        """Store one execution at its own ``timestamp``; return its ``event_id``."""
        values = {name: getattr(metrics, name) for name in metrics.__dataclass_fields__}
        values["metadata"] = metrics.metadata or None
        return self.system.metrics_collector.record_prompt_execution(**values)

    @compatible
    def query_metrics(self, start_time: datetime | None = None,
                      end_time: datetime | None = None,
                      model_ids: Sequence[str] | None = None,
                      template_ids: Sequence[str] | None = None) -> pd.DataFrame:
        """Executions in ``[start_time, end_time)`` of those models and templates."""
        selection = Selection(
            since=aware(start_time) if start_time is not None else None,
            until=aware(end_time) if end_time is not None else None,
            models=list(model_ids) if model_ids else None,
            templates=list(template_ids) if template_ids else None)
        with self.system.lock:
            frame = load_executions(self.system.store.conn, selection, QUERY_COLUMNS)
        frame["metadata"] = frame["metadata"].map(_metadata)
        return frame


__all__ = ["MetricsDatabase", "PromptMetrics"]
