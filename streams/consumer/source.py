"""The Redis side of the consumer: consumer group, reads, reclaims, acks, dead letters.

One :class:`RedisSource` per consumer process. Every command goes through
:meth:`RedisSource._call`, which rides out Redis outages with exponential
backoff and says so in the log once per outage (not once per retry).

Replies of XREADGROUP and XAUTOCLAIM are taken raw (flat field lists) and
turned into dicts here: redis-py's own parsing of stream replies costs more
than everything else the consumer does per event, and it chokes on entries
deleted while pending (their fields come back as nil). The client decodes
replies to text in C (hiredis) with ``errors="surrogateescape"``: bytes that
are not UTF-8 survive as surrogate escapes, so the decoder can dead-letter
exactly that entry (``bad_encoding``) and the dead letter carries the
original bytes back (the client encodes them with the same error handler).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

import redis
import redis.asyncio as aioredis
from tenacity import TryAgain

from rev_analytics.core.errors import ConfigError
from streams.connection import connect_async, redact_url
from streams.consumer.observer import ConsumerObserver
from streams.consumer.retry import retrying
from streams.consumer.settings import ConsumerSettings

log = logging.getLogger(__name__)

T = TypeVar("T")

# Errors after which the same command may succeed later: the server is away,
# restarting, or still loading its data set.
TRANSIENT_REDIS_ERRORS: tuple[type[Exception], ...] = (
    redis.ConnectionError,
    redis.TimeoutError,
    redis.BusyLoadingError,
    OSError,
)


OUTAGE_REMINDER_SECONDS = 30.0
"""While Redis stays unreachable, the outage is logged again this often."""


class SourceStopped(Exception):
    """Raised out of a retry loop when the consumer is shutting down."""


@dataclass(slots=True)
class Chunk:
    """One read's worth of entries: what travels through the Faust channel as one item.

    ``entries`` maps entry ID to its fields; ``deleted`` holds IDs that were
    pending but whose entry no longer exists in the stream (trimmed): they
    can only be acknowledged.
    """

    entries: list[tuple[str, dict[str, str]]] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.entries) + len(self.deleted)

    @property
    def ids(self) -> list[str]:
        return [entry_id for entry_id, _ in self.entries] + self.deleted


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """An entry that broke the contract: its original fields plus why."""

    source_id: str
    fields: Mapping[str, str]
    error: str
    reason: str

    def stream_fields(self) -> dict[str, str]:
        return {**self.fields, "error": self.error, "source_id": self.source_id}


def _entry_id_key(entry_id: str) -> tuple[int, int]:
    millis, _, sequence = entry_id.partition("-")
    return int(millis), int(sequence or 0)


def _raw(response: Any, **options: Any) -> Any:
    return response


def parse_entries(raw: Iterable[Any] | None) -> Chunk:
    """Raw ``[[id, [f1, v1, ...]], ...]`` into a :class:`Chunk` (nil fields = deleted)."""
    chunk = Chunk()
    append = chunk.entries.append
    for item in raw or ():
        if item is None:
            continue
        entry_id, flat = item[0], item[1]
        if flat is None:
            chunk.deleted.append(entry_id)
            continue
        pairs = iter(flat)
        append((entry_id, dict(zip(pairs, pairs, strict=False))))
    return chunk


class RedisSource:
    """Reads a stream through a consumer group and settles what was read.

    ``stopping`` is consulted by the retry loop: once set, reads give up with
    :class:`SourceStopped` instead of waiting for Redis forever, while acks
    keep trying until ``ack_deadline`` (so a graceful stop still settles
    what was committed when Redis is merely slow).
    """

    def __init__(
        self,
        settings: ConsumerSettings,
        observer: ConsumerObserver,
        *,
        client: aioredis.Redis | None = None,
        max_backoff: float = 5.0,
    ) -> None:
        self.settings = settings
        self.observer = observer
        self.client = client or connect_async(
            settings.redis_url, socket_timeout=max(5.0, settings.read_block_ms / 1000 + 5),
            socket_connect_timeout=5.0, health_check_interval=30,
            decode_responses=True, encoding_errors="surrogateescape",
        )
        self.client.set_response_callback("XREADGROUP", _raw)
        self.client.set_response_callback("XAUTOCLAIM", _raw)
        self.stream = settings.stream
        self.group = settings.group
        self.consumer = settings.consumer
        self.max_backoff = max_backoff
        self.stopping = asyncio.Event()
        self.ack_deadline: float | None = None
        self.in_flight: set[str] = set()
        self._outage_started: float | None = None
        self._outage_reported = 0.0
        self._connected_reported = False
        self._own_pending_done = False
        self._pending_cursor = "0-0"
        self._claim_cursor = "0-0"

    # -- resilience -------------------------------------------------------

    async def _call(self, what: str, op: Callable[[], Awaitable[T]], *, settle: bool = False) -> T:
        """Run ``op`` until it succeeds, backing off while Redis is unreachable.

        ``settle`` marks acknowledgements: they are retried through shutdown
        until ``ack_deadline``; reads give up as soon as ``stopping`` is set.
        """
        try:
            async for attempt in retrying(
                TRANSIENT_REDIS_ERRORS, stopping=self.stopping,
                give_up=lambda: self._should_give_up(settle),
                on_failure=lambda error: self._note_outage(what, error),
                initial=0.05, maximum=self.max_backoff,
            ):
                with attempt:
                    try:
                        result = await op()
                    except redis.ResponseError as exc:
                        if "NOGROUP" not in str(exc):
                            raise
                        # Redis lost the group (restarted without persistence, or
                        # someone deleted it): recreate it and read from the start.
                        log.warning("consumer group %r is gone; recreating it", self.group)
                        await self.ensure_group()
                        raise TryAgain from exc
        except TRANSIENT_REDIS_ERRORS as exc:
            raise SourceStopped(f"gave up {what}: Redis unreachable") from exc
        self._note_recovery()
        return result

    def _should_give_up(self, settle: bool) -> bool:
        if not self.stopping.is_set():
            return False
        if not settle:
            return True
        return self.ack_deadline is not None and time.monotonic() > self.ack_deadline

    def _note_outage(self, what: str, exc: BaseException) -> None:
        now = time.monotonic()
        if self._outage_started is None:
            self._outage_started = self._outage_reported = now
            self.observer.set_redis_connected(False)
            log.warning(
                "Redis at %s unreachable during %s (%s: %s); retrying with backoff up to %.0f s",
                redact_url(self.settings.redis_url), what, type(exc).__name__,
                redact_url(str(exc)), self.max_backoff,
            )
        elif now - self._outage_reported >= OUTAGE_REMINDER_SECONDS:
            # One line per outage is easy to miss in a long-running service's log.
            self._outage_reported = now
            log.warning("Redis at %s still unreachable after %.0f s (%s); nothing is read or "
                        "acknowledged meanwhile, still retrying",
                        redact_url(self.settings.redis_url), now - self._outage_started,
                        type(exc).__name__)

    @property
    def ever_connected(self) -> bool:
        """Whether any Redis command has succeeded since start."""
        return self._connected_reported

    @property
    def outage_seconds(self) -> float | None:
        """How long Redis has been unreachable now (``None``: it is reachable)."""
        started = self._outage_started
        return None if started is None else time.monotonic() - started

    def _note_recovery(self) -> None:
        if not self._connected_reported:
            # The gauge starts at 0; the first success must raise it, not only a recovery.
            self._connected_reported = True
            self.observer.set_redis_connected(True)
        if self._outage_started is not None:
            lasted = time.monotonic() - self._outage_started
            self._outage_started = None
            self.observer.set_redis_connected(True)
            self.observer.record_redis_reconnect()
            log.warning("Redis reachable again after %.1f s; resuming", lasted)

    async def check_credentials(self) -> None:
        """Fail fast when Redis refuses our credentials at start-up.

        A wrong password or ACL user is bad configuration (ConfigError, exit
        2), not an outage to wait out. An unreachable server is fine here:
        the read loop retries it with backoff. Once running, a refused login
        (say, during a password rotation) is treated as an outage instead.
        """
        try:
            await self.client.ping()
        except redis.AuthenticationError as exc:
            raise ConfigError(
                f"Redis at {redact_url(self.settings.redis_url)} refused the credentials: "
                f"{redact_url(str(exc))}"
            ) from None
        except TRANSIENT_REDIS_ERRORS:
            pass

    # -- group and reads --------------------------------------------------

    async def ensure_group(self) -> None:
        """Create the consumer group from the start of the stream if it is missing.

        Starting at ``0`` means events published before any consumer ever ran
        are processed too (CONTRACT.md section 1).
        """
        async def create() -> None:
            try:
                await self.client.xgroup_create(self.stream, self.group, id="0", mkstream=True)
                log.info("created consumer group %r on %r", self.group, self.stream)
            except redis.ResponseError as exc:
                if "BUSYGROUP" not in str(exc):
                    raise

        await self._call("creating the consumer group", create)

    async def next_chunk(self) -> Chunk:
        """The next entries to process: own pending first, then new ones.

        On start-up a consumer first re-reads the entries still pending under
        its own name (it crashed or was stopped before acknowledging them);
        only when those are exhausted does it read new entries (``>``).
        """
        if not self._own_pending_done:
            # History reads return the same entries until they are acked, so
            # walk them with a cursor instead of re-reading from 0.
            chunk = await self._read(self._pending_cursor)
            if len(chunk):
                self._pending_cursor = max(chunk.ids, key=_entry_id_key)
                return chunk
            self._own_pending_done = True
            log.info("no more pending entries of %r to resume", self.consumer)
        return await self._read(">")

    async def _read(self, start: str) -> Chunk:
        block = self.settings.read_block_ms if start == ">" else None

        async def read() -> Any:
            args: list[Any] = ["XREADGROUP", "GROUP", self.group, self.consumer,
                               "COUNT", self.settings.read_count]
            if block is not None:
                args += ["BLOCK", block]
            args += ["STREAMS", self.stream, start]
            return await self.client.execute_command(*args)

        reply = await self._call("reading the stream", read)
        if not reply:
            return Chunk()
        chunk = parse_entries(reply[0][1])
        self.in_flight.update(chunk.ids)
        return chunk

    async def claim_stale(self) -> Chunk:
        """Take over entries idle longer than ``claim_idle`` on any consumer (XAUTOCLAIM).

        A crashed or stuck sibling's pending entries are picked up this way.
        Entries this process already holds in memory are left out, so a slow
        commit never makes the same entry travel twice through the pipeline.
        """
        idle_ms = int(self.settings.claim_idle * 1000)
        result = Chunk()
        cursor = self._claim_cursor
        # Page on while replies hold only entries already in flight here; the
        # bound keeps one sweep from walking a huge pending list in one go.
        for _ in range(100):
            async def claim(cursor: str = cursor) -> Any:
                return await self.client.execute_command(
                    "XAUTOCLAIM", self.stream, self.group, self.consumer, idle_ms, cursor,
                    "COUNT", self.settings.read_count,
                )

            reply = await self._call("reclaiming idle entries", claim)
            cursor = reply[0]
            got = parse_entries(reply[1])
            if len(reply) > 2 and reply[2]:
                got.deleted.extend(reply[2])
            result.entries.extend(e for e in got.entries if e[0] not in self.in_flight)
            result.deleted.extend(i for i in got.deleted if i not in self.in_flight)
            if cursor == "0-0" or len(result) >= self.settings.read_count:
                break
        self._claim_cursor = cursor
        if len(result):
            self.in_flight.update(result.ids)
            self.observer.record_reclaimed(len(result.entries))
            log.info("reclaimed %d idle entries (%d already deleted from the stream)",
                     len(result.entries), len(result.deleted))
        return result

    # -- settling ---------------------------------------------------------

    async def settle(self, ids: list[str], dead_letters: list[DeadLetter]) -> int:
        """Write ``dead_letters`` and acknowledge ``ids`` in one MULTI/EXEC.

        Called only after the window holding ``ids`` has committed. Doing both
        in one transaction means a consumer crash either leaves the entry
        pending with no dead letter written (it is dead-lettered on
        redelivery) or did both. Only if Redis itself dies between executing
        the transaction and replying can a retry write a dead letter twice
        (same ``source_id``; see docs/guarantees.md). Returns how many
        dead-letter entries the MAXLEN cap trimmed.
        """
        if not ids:
            return 0
        dead_stream = self.settings.dead_letter_stream

        async def run() -> list[Any]:
            pipe = self.client.pipeline(transaction=True)
            if dead_letters:
                pipe.xlen(dead_stream)
                for letter in dead_letters:
                    pipe.xadd(
                        dead_stream, letter.stream_fields(),  # type: ignore[arg-type]
                        maxlen=self.settings.dead_letter_maxlen, approximate=True,
                    )
                pipe.xlen(dead_stream)
            pipe.xack(self.stream, self.group, *ids)
            return list(await pipe.execute())

        replies = await self._call("acknowledging a committed window", run, settle=True)
        self.in_flight.difference_update(ids)
        if not dead_letters:
            return 0
        before, after = int(replies[0]), int(replies[-2])
        return max(0, before + len(dead_letters) - after)

    def release(self, ids: Iterable[str]) -> None:
        """Forget ``ids`` without acking: they stay pending and will be reclaimed."""
        self.in_flight.difference_update(ids)

    async def group_state(self) -> tuple[int | None, int]:
        """(lag, pending) of the group: entries not yet delivered, and delivered but unacked.

        ``lag`` is ``None`` on servers older than Redis 7, which don't report it.
        """
        async def info() -> Any:
            return await self.client.xinfo_groups(self.stream)

        for group in await self._call("reading group state", info):
            name = group.get("name")
            if name == self.group:
                lag = group.get("lag")
                return (None if lag is None else int(lag)), int(group.get("pending", 0))
        return None, 0

    async def close(self) -> None:
        await self.client.aclose()
