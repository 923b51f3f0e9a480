"""What every store offers the consumer and the direct writers (the facade, tests)."""

from __future__ import annotations

from collections.abc import Iterable
from types import TracebackType
from typing import Protocol, Self

from rev_analytics.core.event import PromptEvent


class Closing:
    """``with`` support for the stores and readers: the block ends in ``close()``."""

    def close(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


class Store(Protocol):
    """A writable store of prompt executions, idempotent on ``event_id``."""

    transient_errors: tuple[type[BaseException], ...]
    """Errors after which the same commit may succeed later (locked, unreachable, disk full):
    the consumer retries them with backoff and acknowledges nothing meanwhile."""

    def insert_events(self, events: Iterable[PromptEvent]) -> int:
        """Insert ``events`` in one transaction; return how many rows were new."""

    def count(self) -> int:
        """Number of stored executions."""

    def close(self) -> None: ...
