"""Small, deterministic stores for the report, figure, export and facade tests.

Rows are built as real :class:`PromptEvent` records and written through the
real :class:`SqliteStore`, so the tests read exactly what the consumer writes.
The generator is deliberately plain (no randomness beyond a seeded RNG) so a
test can state what the data holds: which template is good, which is bad,
which template x model cell is missing.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd

from analytics.load import load_executions
from rev_analytics.core.event import PromptEvent
from rev_analytics.core.timefmt import micros_from_seconds
from storage.sqlite.store import SqliteStore

# Success probability per template; 'tpl_missing_cell' never runs on model 'm_gamma'.
TEMPLATE_RATES = {"tpl_good": 0.92, "tpl_mid": 0.7, "tpl_bad": 0.35, "tpl_missing_cell": 0.6}
MODELS = ("m_alpha", "m_beta", "m_gamma")
MISSING_CELL = ("tpl_missing_cell", "m_gamma")
END = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


def make_events(
    count: int, *, seed: int = 7, end: datetime = END, span: timedelta = timedelta(days=6),
    templates: dict[str, float] | None = None, models: Iterable[str] = MODELS,
    skip: tuple[str, str] | None = MISSING_CELL, prefix: str = "ev",
) -> list[PromptEvent]:
    """``count`` events spread evenly over ``span`` before ``end``, oldest first."""
    rng = random.Random(seed)
    rates = templates or TEMPLATE_RATES
    cells = [(t, m) for t in rates for m in models if (t, m) != skip]
    start = end - span
    step = span.total_seconds() / max(count, 1)
    events = []
    for i in range(count):
        template, model = cells[i % len(cells)]
        success = rng.random() < rates[template]
        events.append(PromptEvent(
            event_id=f"{prefix}-{i:08d}",
            stream_id=f"{int((start.timestamp() + i * step) * 1000)}-{i}",
            prompt_id=f"p-{i % 97}",
            template_id=template,
            model_id=model,
            timestamp=micros_from_seconds(start.timestamp() + i * step),
            success=success,
            response_length=rng.randint(20, 900),
            execution_time=round(rng.uniform(0.2, 4.0), 6),
            discrimination_score=rng.random(),
            behavioral_score=rng.random() if i % 5 else None,
            quality_score=rng.random(),
            difficulty_level=rng.randint(1, 5),
            domain=("math", "code", "reasoning")[i % 3],
            cost=rng.uniform(0.001, 0.2),
            error_type=None if success else "timeout",
            response_hash=f"h{i:x}",
            metadata=json.dumps({"run": i % 4, "note": "ok"}) if i % 2 else None,
        ))
    return events


def write_store(path: Path, events: Iterable[PromptEvent]) -> Path:
    """Write ``events`` to a new store at ``path`` and return the path."""
    with SqliteStore(path, synchronous="NORMAL") as store:
        store.insert_events(events, ingested_at=END.timestamp())
    return path


def events_frame(events: Iterable[PromptEvent]) -> pd.DataFrame:
    """``events`` as the statistics see them: written to an in-memory store, read back."""
    with SqliteStore(":memory:") as store:
        store.insert_events(list(events), ingested_at=END.timestamp())
        return load_executions(store.conn)
