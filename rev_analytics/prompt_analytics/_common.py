"""Small helpers shared by the facade's modules (no statistics, no storage)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

DEFAULT_DB_PATH = "prompt_analytics.db"
DEFAULT_OUTPUT_DIR = "analytics_outputs"


def stamp() -> str:
    """A file-name stamp: the UTC second plus a random suffix, so two never clash."""
    return f"{datetime.now(UTC):%Y%m%dT%H%M%S}_{uuid.uuid4().hex[:8]}"


def aware(moment: datetime) -> datetime:
    """``moment`` with a time zone: a naive datetime is local time, as the original's
    ``datetime.now()`` was."""
    return moment.astimezone() if moment.tzinfo is None else moment
