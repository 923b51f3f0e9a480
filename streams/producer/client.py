"""The producer API for REV workers: publish prompt executions to the stream.

Use :class:`Producer` (redis-py) or :class:`AsyncProducer` (redis.asyncio)::

    producer = Producer("redis://localhost:6379/0")
    event_id = producer.publish(prompt_id="p1", template_id="math", model_id="gpt-4o",
                                success=True, execution_time=2.3)

Each event is validated locally with the consumer's own decoder first, so a
producer bug raises :class:`InvalidEventError` at its source instead of
becoming a dead letter later. Every event gets a time-ordered UUIDv7
``event_id`` when it has none (time-ordered ids keep the store's unique index
fast, see FINDINGS), and an event time (``timestamp``) of the call when it has
none, so both are fixed before the first attempt.

On a network error (redis ``ConnectionError``/``TimeoutError``) the producer
retries with exponential backoff, re-sending the *same* fields: if the first
attempt did reach Redis and only the reply was lost, the stream holds the
event twice, and the consumer stores it once because the ``event_id`` repeats.

:func:`event_from_rev_result` maps a REV execution result plus its Merkle
verification and behavioural analysis to event fields, as the design
document's integration does.
"""

from __future__ import annotations

import asyncio
import json
import numbers
import time
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping
from datetime import UTC, datetime
from typing import Any, TypeVar

import redis
import redis.asyncio as aioredis
import uuid6

from rev_analytics.core.errors import ConfigError, InvalidEventError
from rev_analytics.core.event import (
    REASON_MISSING,
    SCHEMA_VERSION,
    PromptEvent,
    decode_entry,
    encode_event,
)
from rev_analytics.core.wire import DEFAULT_STREAM
from streams.connection import connect, connect_async
from streams.producer.quality import composite_quality

DEFAULT_RETRIES = 5
DEFAULT_BACKOFF = 0.1
DEFAULT_MAX_BACKOFF = 5.0
DEFAULT_CHUNK_SIZE = 500

RETRYABLE_ERRORS: tuple[type[Exception], ...] = (redis.ConnectionError, redis.TimeoutError)
"""Errors after which re-sending is safe and may succeed (the same ``event_id`` is re-sent)."""

_T = TypeVar("_T")
_VERSION_TEXT = str(SCHEMA_VERSION)
EventLike = Mapping[str, Any] | PromptEvent


def new_event_id() -> str:
    """A new time-ordered UUIDv7, as text."""
    return str(uuid6.uuid7())


def _merge(event: EventLike | None, fields: Mapping[str, Any]) -> dict[str, Any]:
    if event is None:
        merged: dict[str, Any] = {}
    elif isinstance(event, PromptEvent):
        merged = event._asdict()
        merged.pop("stream_id")
    elif isinstance(event, Mapping):
        merged = dict(event)
    else:
        raise TypeError(f"an event is a mapping or a PromptEvent, not {type(event).__name__}")
    merged.update(fields)
    return merged


def prepare(
    event: EventLike | None = None,
    *,
    validate: bool = True,
    now: float | None = None,
    **fields: Any,
) -> tuple[str, dict[str, str]]:
    """The ``event_id`` and the wire fields of one event, ready for ``XADD``.

    Fills in ``event_id`` (UUIDv7), ``timestamp`` (``now``, default the wall
    clock) and ``schema_version`` when absent; accepts ``timestamp`` as a
    tz-aware datetime or Unix seconds and ``metadata`` as a mapping. With
    ``validate`` (the default) the result is checked with the consumer's
    decoder; any broken rule raises :class:`InvalidEventError` naming the field.
    """
    merged = _merge(event, fields)
    clock = time.time() if now is None else now
    if merged.get("event_id") in (None, ""):
        merged["event_id"] = new_event_id()
    merged["timestamp"] = _timestamp_text(merged.get("timestamp"), clock)
    if merged.get("schema_version") is None:
        merged["schema_version"] = _VERSION_TEXT
    metadata = merged.get("metadata")
    if metadata is not None and not isinstance(metadata, str):
        try:
            merged["metadata"] = json.dumps(
                metadata, separators=(",", ":"), ensure_ascii=False, allow_nan=False
            )
        except (TypeError, ValueError, RecursionError) as exc:
            raise InvalidEventError("metadata", f"is not JSON-serialisable: {exc}") from None
    # Fields that are already wire text (e.g. from the simulator) need no encoding.
    wire = merged if all(type(v) is str for v in merged.values()) else encode_event(merged)
    if validate:
        decode_entry(f"{int(clock * 1000)}-0", wire, now=clock)
    return wire["event_id"], wire


def _timestamp_text(value: Any, clock: float) -> Any:
    """RFC 3339 text for a datetime or epoch seconds; anything else is left to the decoder."""
    if value is None:
        value = clock
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise InvalidEventError(
                "timestamp", "a datetime needs a timezone (use datetime.now(UTC))"
            )
        return value.isoformat()
    if isinstance(value, int | float) and not isinstance(value, bool):
        try:
            return datetime.fromtimestamp(value, UTC).isoformat()
        except (OverflowError, OSError, ValueError) as exc:
            raise InvalidEventError("timestamp", f"{value!r} is not a usable time: {exc}") from None
    return value


def _delays(retries: int, backoff: float, max_backoff: float) -> Iterator[float]:
    for attempt in range(retries):
        yield min(max_backoff, backoff * (2**attempt))


def _check_settings(retries: int, backoff: float, chunk_size: int, maxlen: int | None) -> None:
    if retries < 0:
        raise ConfigError(f"retries must be >= 0, got {retries}")
    if backoff < 0:
        raise ConfigError(f"backoff must be >= 0, got {backoff}")
    if chunk_size < 1:
        raise ConfigError(f"chunk size must be >= 1, got {chunk_size}")
    if maxlen is not None and maxlen < 1:
        raise ConfigError(f"maxlen must be >= 1, got {maxlen}")


def _chunks(events: Iterable[EventLike], size: int) -> Iterator[list[EventLike]]:
    chunk: list[EventLike] = []
    for event in events:
        chunk.append(event)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _prepare_chunk(
    chunk: list[EventLike], offset: int, validate: bool
) -> list[tuple[str, dict[str, str]]]:
    prepared = []
    for position, event in enumerate(chunk):
        try:
            prepared.append(prepare(event, validate=validate))
        except InvalidEventError as exc:
            raise InvalidEventError(
                exc.field, f"{exc} (event #{offset + position} of the batch)", exc.reason
            ) from exc
    return prepared


class _Settings:
    """What both producers share: stream, trimming, retry policy, chunking."""

    def __init__(
        self,
        stream: str,
        maxlen: int | None,
        retries: int,
        backoff: float,
        max_backoff: float,
        chunk_size: int,
        validate: bool,
    ) -> None:
        if not stream:
            raise ConfigError("stream must not be empty")
        _check_settings(retries, backoff, chunk_size, maxlen)
        self.stream = stream
        self.maxlen = maxlen
        self.retries = retries
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.chunk_size = chunk_size
        self.validate = validate

    def xadd_options(self) -> dict[str, Any]:
        # Approximate trimming (MAXLEN ~) lets Redis trim whole nodes: far cheaper.
        return {"maxlen": self.maxlen, "approximate": True} if self.maxlen else {}


class Producer(_Settings):
    """Publishes events to a Redis stream with redis-py (thread-safe like its client).

    ``client_or_url`` is a ``redis.Redis`` (left open on :meth:`close`) or a
    URL (the producer owns that client). ``maxlen`` caps the stream
    approximately (``XADD MAXLEN ~``); leave it ``None`` unless the consumer
    is sure to keep up, since trimming drops entries nobody has read yet.
    ``retries``/``backoff`` set the retry policy for network errors: delays
    ``backoff * 2**attempt`` seconds, capped at ``max_backoff``.
    ``validate=False`` skips the local check (for pre-validated or
    deliberately malformed input such as the simulator's dead-letter demo).
    """

    def __init__(
        self,
        client_or_url: redis.Redis | str,
        stream: str = DEFAULT_STREAM,
        *,
        maxlen: int | None = None,
        retries: int = DEFAULT_RETRIES,
        backoff: float = DEFAULT_BACKOFF,
        max_backoff: float = DEFAULT_MAX_BACKOFF,
        chunk_size: int = DEFAULT_CHUNK_SIZE,
        validate: bool = True,
    ) -> None:
        super().__init__(stream, maxlen, retries, backoff, max_backoff, chunk_size, validate)
        self._owns_client = isinstance(client_or_url, str)
        self.client = (
            connect(client_or_url, socket_connect_timeout=5.0, socket_timeout=10.0)
            if isinstance(client_or_url, str)
            else client_or_url
        )

    def publish(self, event: EventLike | None = None, /, **fields: Any) -> str:
        """Publish one event (a mapping, a :class:`PromptEvent` and/or keyword
        fields, keywords winning); return its ``event_id``.

        Raises :class:`InvalidEventError` before anything is written if the
        event breaks the contract; re-raises the network error once the
        retries are used up.
        """
        event_id, wire = prepare(event, validate=self.validate, **fields)
        options = self.xadd_options()
        self._with_retries(lambda: self.client.xadd(self.stream, wire, **options))  # type: ignore[arg-type]
        return event_id

    def publish_many(self, events: Iterable[EventLike]) -> list[str]:
        """Publish ``events`` with non-transactional pipelines of ``chunk_size``; return their ids.

        Each chunk is prepared (and validated) before it is sent, so an
        invalid event raises :class:`InvalidEventError` with its position,
        after the chunks before it were published and before its own chunk
        is. A chunk that meets a network error is re-sent whole, with the
        same event ids.
        """
        published: list[str] = []
        options = self.xadd_options()
        for chunk in _chunks(events, self.chunk_size):
            prepared = _prepare_chunk(chunk, len(published), self.validate)

            def send(prepared: list[tuple[str, dict[str, str]]] = prepared) -> None:
                pipe = self.client.pipeline(transaction=False)
                for _, wire in prepared:
                    pipe.xadd(self.stream, wire, **options)  # type: ignore[arg-type]
                pipe.execute()

            self._with_retries(send)
            published.extend(event_id for event_id, _ in prepared)
        return published

    def _with_retries(self, call: Callable[[], _T]) -> _T:
        for delay in _delays(self.retries, self.backoff, self.max_backoff):
            try:
                return call()
            except RETRYABLE_ERRORS:
                time.sleep(delay)
        return call()

    def close(self) -> None:
        """Close the client if this producer created it."""
        if self._owns_client:
            self.client.close()

    def __enter__(self) -> Producer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class AsyncProducer(_Settings):
    """:class:`Producer` for asyncio (``redis.asyncio``); the same arguments and rules."""

    def __init__(
        self,
        client_or_url: aioredis.Redis | str,
        stream: str = DEFAULT_STREAM,
        *,
        maxlen: int | None = None,
        retries: int = DEFAULT_RETRIES,
        backoff: float = DEFAULT_BACKOFF,
        max_backoff: float = DEFAULT_MAX_BACKOFF,
        chunk_size: int = DEFAULT_CHUNK_SIZE,
        validate: bool = True,
    ) -> None:
        super().__init__(stream, maxlen, retries, backoff, max_backoff, chunk_size, validate)
        self._owns_client = isinstance(client_or_url, str)
        self.client = (
            connect_async(client_or_url, socket_connect_timeout=5.0, socket_timeout=10.0)
            if isinstance(client_or_url, str)
            else client_or_url
        )

    async def publish(self, event: EventLike | None = None, /, **fields: Any) -> str:
        """See :meth:`Producer.publish`."""
        event_id, wire = prepare(event, validate=self.validate, **fields)
        options = self.xadd_options()
        await self._with_retries(lambda: self.client.xadd(self.stream, wire, **options))  # type: ignore[arg-type]
        return event_id

    async def publish_many(self, events: Iterable[EventLike]) -> list[str]:
        """See :meth:`Producer.publish_many`."""
        published: list[str] = []
        options = self.xadd_options()
        for chunk in _chunks(events, self.chunk_size):
            prepared = _prepare_chunk(chunk, len(published), self.validate)

            async def send(prepared: list[tuple[str, dict[str, str]]] = prepared) -> None:
                pipe = self.client.pipeline(transaction=False)
                for _, wire in prepared:
                    pipe.xadd(self.stream, wire, **options)  # type: ignore[arg-type]
                await pipe.execute()

            await self._with_retries(send)
            published.extend(event_id for event_id, _ in prepared)
        return published

    async def _with_retries(self, call: Callable[[], Awaitable[_T]]) -> _T:
        for delay in _delays(self.retries, self.backoff, self.max_backoff):
            try:
                return await call()
            except RETRYABLE_ERRORS:
                await asyncio.sleep(delay)
        return await call()

    async def close(self) -> None:
        """Close the client if this producer created it."""
        if self._owns_client:
            await self.client.aclose()

    async def __aenter__(self) -> AsyncProducer:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


# --- The REV integration -----------------------------------------------------------------

_REQUIRED_REV_KEYS = ("prompt_id", "template_id", "model_id", "success")
_PASSED_THROUGH = (
    "execution_time", "difficulty_level", "domain", "cost", "error_type", "response_hash",
    "timestamp", "event_id",
)


def _score(source: Mapping[str, Any] | None, key: str, part: str) -> float | None:
    if not source:
        return None
    value = source.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise InvalidEventError(part, f"{key} must be a number, got {value!r}")
    return float(value)


def event_from_rev_result(
    rev_result: Mapping[str, Any],
    merkle_verification: Mapping[str, Any] | None = None,
    behavioral_analysis: Mapping[str, Any] | None = None,
    **overrides: Any,
) -> dict[str, Any]:
    """Event fields for one REV prompt execution, the design document's way.

    ``rev_result`` (the REV execution result) must have ``prompt_id``,
    ``template_id``, ``model_id`` and ``success``; it may have
    ``execution_time`` (s), ``response_length`` or else ``response`` (its
    length is used), ``difficulty_level``, ``domain``, ``cost`` (USD),
    ``error_type``, ``response_hash``, ``timestamp`` (tz-aware datetime or
    Unix seconds; default: publish time), ``event_id``, and ``segment_count``
    / ``memory_usage`` (kept in metadata).

    ``merkle_verification`` may have ``verification_confidence`` (becomes
    ``discrimination_score``) and ``tree_depth`` (metadata);
    ``behavioral_analysis`` may have ``overall_score`` (becomes
    ``behavioral_score``) and ``features`` (metadata). ``quality_score`` is the
    composite of :mod:`streams.producer.quality` over the parts that are present.

    Unlike the original integration, a missing part stays *absent* instead of
    becoming 0.0 (no verification is not zero confidence) and a missing id is
    an error instead of ``'unknown'``: raises :class:`InvalidEventError`
    naming the missing key. ``overrides`` replace any resulting field.
    """
    for key in _REQUIRED_REV_KEYS:
        if rev_result.get(key) in (None, ""):
            raise InvalidEventError(
                key, f"rev_result has no {key!r} (needed for the event)", REASON_MISSING
            )
    success = rev_result["success"]
    if isinstance(success, str) or success not in (0, 1):  # bools, 0/1, numpy bools
        raise InvalidEventError("success", f"rev_result success must be a bool, got {success!r}")

    fields: dict[str, Any] = {key: rev_result[key] for key in _REQUIRED_REV_KEYS}
    fields["success"] = bool(success)
    for key in _PASSED_THROUGH:
        if rev_result.get(key) is not None:
            fields[key] = rev_result[key]
    if rev_result.get("response_length") is not None:
        fields["response_length"] = rev_result["response_length"]
    elif rev_result.get("response") is not None:
        fields["response_length"] = len(rev_result["response"])

    confidence = _score(merkle_verification, "verification_confidence", "discrimination_score")
    behavioral = _score(behavioral_analysis, "overall_score", "behavioral_score")
    if confidence is not None:
        fields["discrimination_score"] = confidence
    if behavioral is not None:
        fields["behavioral_score"] = behavioral
    execution_time = _score(rev_result, "execution_time", "execution_time")
    fields["quality_score"] = composite_quality(
        fields["success"], confidence, behavioral, execution_time
    )

    metadata: dict[str, Any] = {}
    for key in ("segment_count", "memory_usage"):
        if rev_result.get(key) is not None:
            metadata[key] = rev_result[key]
    if merkle_verification and merkle_verification.get("tree_depth") is not None:
        metadata["merkle_depth"] = merkle_verification["tree_depth"]
    if behavioral_analysis and behavioral_analysis.get("features"):
        metadata["behavioral_features"] = behavioral_analysis["features"]
    if isinstance(rev_result.get("metadata"), Mapping):
        metadata.update(rev_result["metadata"])
    if metadata:
        try:
            json.dumps(metadata)
        except (TypeError, ValueError) as exc:
            raise InvalidEventError("metadata", f"is not JSON-serialisable: {exc}") from exc
        fields["metadata"] = metadata
    fields.update(overrides)
    return fields
