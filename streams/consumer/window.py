"""One window of stream entries, from raw fields to committed rows and acks.

The order is the whole point: decode, commit the valid events in one
transaction, and only then, in one Redis transaction, write the dead letters
and acknowledge every entry of the window. If anything fails before the
acknowledgement, the entries stay pending in Redis and come back (to this
consumer or, after ``claim_idle``, to a sibling); storage is idempotent on
``event_id``, so a second delivery never makes a second row.

Windows overlap by one: window N is decoded on the event loop (the compiled
decoder, :func:`rev_analytics.core.decode.decode_fields`) while window N-1
commits on the writer thread, whose SQLite or PostgreSQL work runs without
the GIL. At most one window is committing at a time, and each window is
acknowledged only after its own commit, so the overlap changes nothing of
the delivery rules above: it uses the machine's second core.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass

from rev_analytics.core.decode import decode_fields
from rev_analytics.core.errors import InvalidEventError
from rev_analytics.core.event import PromptEvent
from streams.consumer.observer import ConsumerObserver
from streams.consumer.sink import SinkStopped, StoreSink
from streams.consumer.source import Chunk, DeadLetter, RedisSource, SourceStopped

log = logging.getLogger(__name__)


def decode_window(
    entries: Sequence[tuple[str, dict[str, str]]], now: float
) -> tuple[list[PromptEvent], list[DeadLetter]]:
    """Split a window's entries into valid events and dead letters (first error wins)."""
    events: list[PromptEvent] = []
    dead: list[DeadLetter] = []
    append = events.append
    for entry_id, fields in entries:
        try:
            append(decode_fields(entry_id, fields, now))
        except InvalidEventError as exc:
            dead.append(DeadLetter(entry_id, fields, str(exc), exc.reason))
    return events, dead


@dataclass(slots=True)
class _Window:
    """A decoded window: what to commit, what to dead-letter, which ids to acknowledge."""

    ids: list[str]
    events: list[PromptEvent]
    dead: list[DeadLetter]
    chunks: int


class WindowProcessor:
    """Turns windows of chunks into committed rows, dead letters and acks."""

    def __init__(self, source: RedisSource, sink: StoreSink, observer: ConsumerObserver) -> None:
        self.source = source
        self.sink = sink
        self.observer = observer
        self.chunks_done = 0
        self.events_committed = 0
        self.rows_inserted = 0
        self.dead_lettered = 0
        self._committing: asyncio.Task[None] | None = None

    async def process(self, chunks: Sequence[Chunk]) -> None:
        """Decode ``chunks`` now; commit, dead-letter and acknowledge them next.

        Returns once the window is handed to the writer (after the previous
        window has settled), so the agent collects the next window while this
        one commits. Never raises: a window that cannot be settled is released
        (left pending in Redis) and logged, so the agent keeps running and the
        entries are retried through the reclaim path.
        """
        window = self._decode(chunks)
        await self.flush()
        if window is not None:
            self._committing = asyncio.ensure_future(self._settle(window))

    async def flush(self) -> None:
        """Wait until the window being committed (if any) has settled."""
        committing, self._committing = self._committing, None
        if committing is not None:
            await committing

    def _decode(self, chunks: Sequence[Chunk]) -> _Window | None:
        entries: dict[str, dict[str, str]] = {}
        deleted: set[str] = set()
        for chunk in chunks:
            entries.update(chunk.entries)  # the same ID twice in a window is one entry
            deleted.update(chunk.deleted)
        # Empty chunks are padding sent to flush a window at shutdown.
        done = sum(1 for chunk in chunks if len(chunk))
        ids = [*entries, *(i for i in deleted if i not in entries)]
        if not ids:
            self.chunks_done += done
            return None
        events, dead = decode_window(list(entries.items()), time.time())
        return _Window(ids, events, dead, done)

    async def _settle(self, window: _Window) -> None:
        ids, events, dead = window.ids, window.events, window.dead
        try:
            inserted = await self.sink.write(events) if events else 0
            trimmed = await self.source.settle(ids, dead)
        except (SinkStopped, SourceStopped) as exc:
            self.source.release(ids)
            log.warning("stopping with %d entries unacknowledged (still pending): %s",
                        len(ids), exc)
        except Exception:
            self.source.release(ids)
            log.exception("window of %d entries failed; left pending for redelivery", len(ids))
        else:
            self.events_committed += len(events)
            self.rows_inserted += inserted
            self.dead_lettered += len(dead)
            for letter in dead:
                self.observer.record_dead_letter(letter.reason)
            if trimmed:
                self.observer.record_dead_letters_trimmed(trimmed)
            if dead:
                log.info("dead-lettered %d entries (first: %s: %s)", len(dead),
                         dead[0].source_id, dead[0].error)
        finally:
            self.chunks_done += window.chunks
