"""The producer clients for REV workers: publish prompt executions to the stream.

Use :class:`Producer` (redis-py) or :class:`AsyncProducer` (redis.asyncio)::

    producer = Producer("redis://localhost:6379/0")
    event_id = producer.publish(prompt_id="p1", template_id="math", model_id="gpt-4o",
                                success=True, execution_time=2.3)

Both share everything but the I/O (:class:`_Publishing`): events are prepared
(:mod:`streams.producer.prepare`) in chunks of ``chunk_size`` and each chunk
goes out as one non-transactional pipeline. On a network error (redis
``ConnectionError``/``TimeoutError``) the chunk is re-sent with exponential
backoff (tenacity), with the *same* fields: if the first attempt did reach
Redis and only the reply was lost, the stream holds the event twice, and the
consumer stores it once because the ``event_id`` repeats.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any, ClassVar, Generic, TypeVar

import redis
import redis.asyncio as aioredis
from tenacity import (
    AsyncRetrying,
    Retrying,
    retry_if_exception_type,
    stop_after_attempt,
    wait_exponential,
)

from rev_analytics.core.errors import ConfigError, InvalidEventError
from rev_analytics.core.wire import DEFAULT_STREAM
from streams.connection import connect, connect_async
from streams.producer.prepare import EventLike, prepare

DEFAULT_RETRIES = 5
DEFAULT_BACKOFF = 0.1
DEFAULT_MAX_BACKOFF = 5.0
DEFAULT_CHUNK_SIZE = 500

RETRYABLE_ERRORS: tuple[type[Exception], ...] = (redis.ConnectionError, redis.TimeoutError)
"""Errors after which re-sending is safe and may succeed (the same ``event_id`` is re-sent)."""

Prepared = list[tuple[str, dict[str, str]]]


ClientT = TypeVar("ClientT", redis.Redis, aioredis.Redis)


class _Publishing(Generic[ClientT]):
    """What both producers share: the client, stream, trimming, retry policy, chunking,
    preparation. Subclasses only say how to connect and how to send."""

    _connect: ClassVar[Callable[..., Any]]

    def __init__(
        self,
        client_or_url: ClientT | str,
        stream: str = DEFAULT_STREAM,
        *,
        maxlen: int | None = None,
        retries: int = DEFAULT_RETRIES,
        backoff: float = DEFAULT_BACKOFF,
        max_backoff: float = DEFAULT_MAX_BACKOFF,
        chunk_size: int = DEFAULT_CHUNK_SIZE,
        validate: bool = True,
    ) -> None:
        if not stream:
            raise ConfigError("stream must not be empty")
        if retries < 0:
            raise ConfigError(f"retries must be >= 0, got {retries}")
        if backoff < 0:
            raise ConfigError(f"backoff must be >= 0, got {backoff}")
        if chunk_size < 1:
            raise ConfigError(f"chunk size must be >= 1, got {chunk_size}")
        if maxlen is not None and maxlen < 1:
            raise ConfigError(f"maxlen must be >= 1, got {maxlen}")
        self.stream = stream
        self.maxlen = maxlen
        self.retries = retries
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.chunk_size = chunk_size
        self.validate = validate
        self._owns_client = isinstance(client_or_url, str)
        self.client: ClientT = (
            type(self)._connect(client_or_url, socket_connect_timeout=5.0, socket_timeout=10.0)
            if isinstance(client_or_url, str)
            else client_or_url
        )

    def _retry_policy(self) -> dict[str, Any]:
        """tenacity's arguments: ``backoff * 2**attempt`` s up to ``max_backoff``, then re-raise."""
        return {
            "retry": retry_if_exception_type(RETRYABLE_ERRORS),
            "stop": stop_after_attempt(self.retries + 1),
            "wait": wait_exponential(multiplier=self.backoff, max=self.max_backoff),
            "reraise": True,
        }

    def _xadd_options(self) -> dict[str, Any]:
        # Approximate trimming (MAXLEN ~) lets Redis trim whole nodes: far cheaper.
        return {"maxlen": self.maxlen, "approximate": True} if self.maxlen else {}

    def _queue(self, pipe: Any, prepared: Prepared) -> None:
        options = self._xadd_options()
        for _, wire in prepared:
            pipe.xadd(self.stream, wire, **options)

    def _one(self, event: EventLike | None, fields: dict[str, Any]) -> Prepared:
        return [prepare(event, validate=self.validate, **fields)]

    def _chunks(self, events: Iterable[EventLike]) -> Iterator[Prepared]:
        """Prepared chunks of ``chunk_size``; an invalid event names its position."""
        chunk: Prepared = []
        for position, event in enumerate(events):
            try:
                chunk.append(prepare(event, validate=self.validate))
            except InvalidEventError as exc:
                raise InvalidEventError(
                    exc.field, f"{exc} (event #{position} of the batch)", exc.reason
                ) from exc
            if len(chunk) >= self.chunk_size:
                yield chunk
                chunk = []
        if chunk:
            yield chunk


class Producer(_Publishing[redis.Redis]):
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

    _connect = staticmethod(connect)

    def publish(self, event: EventLike | None = None, /, **fields: Any) -> str:
        """Publish one event (a mapping, a :class:`PromptEvent` and/or keyword
        fields, keywords winning); return its ``event_id``.

        Raises :class:`InvalidEventError` before anything is written if the
        event breaks the contract; re-raises the network error once the
        retries are used up.
        """
        prepared = self._one(event, fields)
        self._send(prepared)
        return prepared[0][0]

    def publish_many(self, events: Iterable[EventLike]) -> list[str]:
        """Publish ``events`` in pipelines of ``chunk_size``; return their ids.

        Each chunk is prepared (and validated) before it is sent, so an
        invalid event raises :class:`InvalidEventError` with its position,
        after the chunks before it were published and before its own chunk
        is. A chunk that meets a network error is re-sent whole, with the
        same event ids.
        """
        published: list[str] = []
        for chunk in self._chunks(events):
            self._send(chunk)
            published.extend(event_id for event_id, _ in chunk)
        return published

    def _send(self, prepared: Prepared) -> None:
        for attempt in Retrying(**self._retry_policy()):
            with attempt:
                pipe = self.client.pipeline(transaction=False)
                self._queue(pipe, prepared)
                pipe.execute()

    def close(self) -> None:
        """Close the client if this producer created it."""
        if self._owns_client:
            self.client.close()

    def __enter__(self) -> Producer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class AsyncProducer(_Publishing[aioredis.Redis]):
    """:class:`Producer` for asyncio (``redis.asyncio``); the same arguments and rules."""

    _connect = staticmethod(connect_async)

    async def publish(self, event: EventLike | None = None, /, **fields: Any) -> str:
        """See :meth:`Producer.publish`."""
        prepared = self._one(event, fields)
        await self._send(prepared)
        return prepared[0][0]

    async def publish_many(self, events: Iterable[EventLike]) -> list[str]:
        """See :meth:`Producer.publish_many`."""
        published: list[str] = []
        for chunk in self._chunks(events):
            await self._send(chunk)
            published.extend(event_id for event_id, _ in chunk)
        return published

    async def _send(self, prepared: Prepared) -> None:
        async for attempt in AsyncRetrying(**self._retry_policy()):
            with attempt:
                pipe = self.client.pipeline(transaction=False)
                self._queue(pipe, prepared)
                await pipe.execute()

    async def close(self) -> None:
        """Close the client if this producer created it."""
        if self._owns_client:
            await self.client.aclose()

    async def __aenter__(self) -> AsyncProducer:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()
