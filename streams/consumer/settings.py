"""The consumer's settings: one explicit object, built once in ``main()``.

Nothing reads the environment at import time; the CLI maps flags and
``REV_ANALYTICS_*`` variables onto :class:`ConsumerSettings` and passes it down.
"""

from __future__ import annotations

import dataclasses
import socket
from dataclasses import dataclass

from rev_analytics.core.errors import ConfigError
from rev_analytics.core.wire import DEFAULT_GROUP, DEFAULT_STREAM, dead_letter_stream
from storage.location import StoreLocation, parse_location
from storage.postgres import require as require_postgres

DEFAULT_METRICS_PORT = 9464


def default_consumer_name() -> str:
    """A consumer name that is stable across restarts on the same host.

    Stability matters: a restarted consumer with the same name finds its own
    pending entries at once instead of waiting ``claim_idle`` for a sibling
    to reclaim them. Run several consumers on one host with ``--consumer``.
    """
    return f"{socket.gethostname()}"


@dataclass(frozen=True, slots=True)
class ConsumerSettings:
    """Everything the consumer needs to run; validated at construction."""

    redis_url: str
    db: str
    """The store: a SQLite file path or a postgresql:// URL (:mod:`storage.location`)."""
    stream: str = DEFAULT_STREAM
    group: str = DEFAULT_GROUP
    consumer: str = dataclasses.field(default_factory=default_consumer_name)
    claim_idle: float = 30.0
    """Seconds an entry may stay pending on another consumer before it is reclaimed."""
    batch_max: int = 5000
    """Largest window (events) written in one transaction."""
    batch_within: float = 0.5
    """Longest time (seconds) an event waits in an open window."""
    read_count: int = 1000
    """Entries asked for per XREADGROUP; one read travels through the channel as one item."""
    read_block_ms: int = 200
    channel_chunks: int = 8
    """Bound of the in-process channel, in XREADGROUP chunks (memory stays bounded)."""
    dead_letter_maxlen: int = 100_000
    """Approximate cap of the dead-letter stream (XADD MAXLEN ~)."""
    metrics_enabled: bool = True
    metrics_addr: str = "0.0.0.0"
    metrics_port: int = DEFAULT_METRICS_PORT
    max_template_labels: int = 500
    max_model_labels: int = 100
    sqlite_busy_timeout: float = 5.0

    def __post_init__(self) -> None:
        positive = {
            "claim_idle": self.claim_idle,
            "batch_max": self.batch_max,
            "batch_within": self.batch_within,
            "read_count": self.read_count,
            "read_block_ms": self.read_block_ms,
            "channel_chunks": self.channel_chunks,
            "dead_letter_maxlen": self.dead_letter_maxlen,
            "max_template_labels": self.max_template_labels,
            "max_model_labels": self.max_model_labels,
        }
        for name, value in positive.items():
            if not value > 0:
                raise ConfigError(f"{name.replace('_', '-')} must be positive, got {value}")
        if not 0 <= self.metrics_port <= 65535:
            raise ConfigError(f"metrics-port must be 0..65535, got {self.metrics_port}")
        for name in ("stream", "group", "consumer", "db", "redis_url"):
            if not getattr(self, name):
                raise ConfigError(f"{name.replace('_', '-')} must not be empty")

        # A bad --db, or one whose driver is not installed, is bad input at start-up.
        if not parse_location(self.db).is_sqlite:
            require_postgres("psycopg")

    @property
    def store_location(self) -> StoreLocation:
        return parse_location(self.db)

    @property
    def dead_letter_stream(self) -> str:
        return dead_letter_stream(self.stream)

    @property
    def batch_max_chunks(self) -> int:
        """``batch_max`` expressed in channel items (XREADGROUP chunks), at least 1."""
        return max(1, -(-self.batch_max // self.read_count))
