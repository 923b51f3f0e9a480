"""The store sink: writes one window in one transaction, off the event loop.

All writes happen on one dedicated thread that owns the store (either
backend, :func:`storage.open_store`), so the event loop keeps reading Redis
while the store commits, and writes never interleave. A failed commit
(database locked by another process, disk full, file made read-only, server
unreachable) is retried with backoff until it succeeds or the consumer stops;
nothing of the window is acknowledged in the meantime.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from rev_analytics.core.event import PromptEvent
from storage import open_store, transient_open_errors
from storage.base import Store
from storage.location import StoreLocation
from streams.consumer.observer import ConsumerObserver
from streams.consumer.retry import retrying

log = logging.getLogger(__name__)

T = TypeVar("T")


class SinkStopped(Exception):
    """The consumer stopped while a window still could not be committed."""


class StoreSink:
    """Commits windows of events to a store from a single writer thread."""

    def __init__(
        self,
        location: StoreLocation,
        observer: ConsumerObserver,
        *,
        busy_timeout: float = 5.0,
        max_backoff: float = 5.0,
    ) -> None:
        self.observer = observer
        self.max_backoff = max_backoff
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="store-writer")
        self.location = location
        self._busy_timeout = busy_timeout
        self._store: Store | None = None
        self.stopping = asyncio.Event()
        self.give_up_at: float | None = None

    async def open(self) -> None:
        """Open (create or migrate) the store on the writer thread.

        A store server that cannot be reached yet (PostgreSQL starting after
        its consumers, or failing over) is retried with backoff until it
        answers or the consumer is stopped, logged once.
        """
        errors = transient_open_errors(self.location)
        failing: list[BaseException] = []

        def failed(error: BaseException) -> None:
            if not failing:
                log.error("cannot open the store %s yet (%s); retrying with backoff",
                          self.location, error)
            failing.append(error)

        async for attempt in retrying(
            errors, stopping=self.stopping, give_up=self.stopping.is_set, on_failure=failed,
            initial=0.2, maximum=self.max_backoff,
        ):
            with attempt:
                self._store = await self.run(
                    lambda: open_store(self.location, busy_timeout=self._busy_timeout))
        if failing:
            log.warning("opened the store %s after %d failed attempts", self.location,
                        len(failing))

    async def run(self, work: Callable[[], T]) -> T:
        """Run ``work`` on the writer thread."""
        return await asyncio.get_running_loop().run_in_executor(self._executor, work)

    async def write(self, events: Sequence[PromptEvent]) -> int:
        """Commit ``events`` in one transaction; return how many rows were new.

        Retries while the database refuses the write. Raises
        :class:`SinkStopped` if the consumer is stopping and ``give_up_at``
        has passed: the caller must then acknowledge nothing.
        """
        store = self._store
        if store is None:
            raise RuntimeError("StoreSink.open() was not awaited")
        failing_since: list[float] = []
        # The retry policy's callbacks end up in reference cycles (tenacity's
        # retrying object and its call state): they must not hold the window,
        # or every window would stay in memory until the cyclic collector runs.
        count = len(events)

        def failed(error: BaseException) -> None:
            self.observer.record_write_failure(type(error).__name__)
            if not failing_since:
                failing_since.append(time.monotonic())
                self.observer.set_storage_healthy(False)
                log.error("committing a window of %d events failed (%s); nothing acknowledged, "
                          "retrying with backoff", count, error)

        def give_up() -> bool:
            return self.stopping.is_set() and (
                self.give_up_at is None or time.monotonic() > self.give_up_at)

        try:
            async for attempt in retrying(
                store.transient_errors, stopping=self.stopping, give_up=give_up,
                on_failure=failed, initial=0.1, maximum=self.max_backoff,
            ):
                with attempt:
                    started = time.perf_counter()
                    inserted = await self.run(lambda: store.insert_events(events))
        except store.transient_errors as exc:
            raise SinkStopped(f"window of {count} events not committed: {exc}") from exc
        elapsed = time.perf_counter() - started
        if failing_since:
            self.observer.set_storage_healthy(True)
            log.warning("commit succeeded again after %.1f s of failures",
                        time.monotonic() - failing_since[0])
        self.observer.record_committed(events, inserted, elapsed)
        return inserted

    async def close(self) -> None:
        store = self._store
        if store is not None:
            await self.run(store.close)
        self._executor.shutdown(wait=True)
