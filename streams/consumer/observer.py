"""What the consumer reports while it runs, as a protocol.

The consumer stages call these hooks; :class:`streams.metrics.exporter.ConsumerMetrics`
implements them as Prometheus metrics. :class:`NullObserver` is used when
metrics are switched off (``--no-metrics``) and by benchmarks that measure the
pipeline without them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from rev_analytics.core.event import PromptEvent


class ConsumerObserver(Protocol):
    def record_committed(
        self, events: Sequence[PromptEvent], inserted: int, commit_seconds: float
    ) -> None:
        """A window's transaction committed (before its entries are acknowledged)."""

    def record_dead_letter(self, reason: str) -> None:
        """One entry was written to the dead-letter stream."""

    def record_dead_letters_trimmed(self, count: int) -> None:
        """The dead-letter stream's MAXLEN cap removed ``count`` old entries."""

    def record_write_failure(self, error: str) -> None:
        """A window's commit failed; nothing was acknowledged and it will be retried."""

    def set_storage_healthy(self, healthy: bool) -> None:
        """False while commits are failing, True once one succeeds again."""

    def set_lag(self, lag: int | None) -> None:
        """Entries in the stream not yet delivered to the group (None: unknown)."""

    def set_pending(self, pending: int) -> None:
        """Entries delivered to the group but not yet acknowledged."""

    def record_reclaimed(self, count: int) -> None:
        """Entries taken over (XAUTOCLAIM) from a consumer that stopped handling them."""

    def record_redis_reconnect(self) -> None:
        """The connection to Redis came back after a failure."""

    def set_redis_connected(self, connected: bool) -> None:
        """Whether the last Redis command succeeded."""


class NullObserver:
    """Observes nothing: for runs without a metrics endpoint."""

    def record_committed(
        self, events: Sequence[PromptEvent], inserted: int, commit_seconds: float
    ) -> None:
        pass

    def record_dead_letter(self, reason: str) -> None:
        pass

    def record_dead_letters_trimmed(self, count: int) -> None:
        pass

    def record_write_failure(self, error: str) -> None:
        pass

    def set_storage_healthy(self, healthy: bool) -> None:
        pass

    def set_lag(self, lag: int | None) -> None:
        pass

    def set_pending(self, pending: int) -> None:
        pass

    def record_reclaimed(self, count: int) -> None:
        pass

    def record_redis_reconnect(self) -> None:
        pass

    def set_redis_connected(self, connected: bool) -> None:
        pass
