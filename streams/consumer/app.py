"""Faust wiring: a Redis reader service feeding a bounded channel, and the window agent.

Faust runs here without Kafka (FINDINGS.md): the boot strategy disables Kafka
and the web server, and flow control is resumed by hand because Kafka
recovery, which normally resumes it, never runs. The channel carries whole
XREADGROUP chunks, not single events: Faust's per-item cost is paid once per
read, and ``stream.take(max, within)`` therefore counts chunks.

This module composes stages; it holds no business logic.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any

import faust
from mode import Service

from streams.consumer.observer import ConsumerObserver
from streams.consumer.settings import ConsumerSettings
from streams.consumer.source import Chunk, RedisSource, SourceStopped
from streams.consumer.window import WindowProcessor

log = logging.getLogger(__name__)

GROUP_STATE_INTERVAL = 5.0


class RedisReader(Service):
    """Reads chunks from Redis into the channel; reclaims idle entries periodically.

    ``channel.send`` blocks while the channel is full, which is the
    backpressure that keeps memory bounded when SQLite is slower than Redis.
    """

    # mode logs every start/stop at INFO on the service's logger; file it
    # under "mode" so the CLI's log-level policy for Faust/mode applies.
    logger = logging.getLogger("mode.rev_analytics.redis_reader")

    def __init__(
        self,
        source: RedisSource,
        channel: Any,
        settings: ConsumerSettings,
        observer: ConsumerObserver,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.source = source
        self.channel = channel
        self.settings = settings
        self.observer = observer
        self.chunks_sent = 0
        self.finished = asyncio.Event()

    async def _send(self, chunk: Chunk) -> None:
        self.chunks_sent += 1
        await self.channel.send(value=chunk)

    @Service.task
    async def _read_loop(self) -> None:
        claim_every = max(self.settings.claim_idle / 2, 0.5)
        try:
            await self.source.ensure_group()
            next_claim = 0.0  # reclaim at start-up, then every claim_idle / 2
            while not self.source.stopping.is_set():
                if time.monotonic() >= next_claim:
                    claimed = await self.source.claim_stale()
                    # A full sweep means more idle entries wait (a dead sibling's
                    # whole window): sweep again after the next read, not in
                    # claim_idle / 2, or reclaiming 10k entries takes minutes.
                    full = len(claimed) >= self.settings.read_count
                    next_claim = time.monotonic() + (0.0 if full else claim_every)
                    if len(claimed):
                        await self._send(claimed)
                chunk = await self.source.next_chunk()
                if len(chunk):
                    await self._send(chunk)
        except SourceStopped:
            pass
        except Exception:
            log.exception("the Redis reader failed; stopping the consumer")
            raise
        finally:
            self.finished.set()

    @Service.task
    async def _watch_group(self) -> None:
        while not self.source.stopping.is_set():
            try:
                lag, pending = await asyncio.wait_for(self.source.group_state(), 10)
            except (SourceStopped, TimeoutError):
                pass
            except Exception as exc:  # e.g. the stream does not exist yet
                log.debug("group state unavailable: %s", exc)
            else:
                self.observer.set_lag(lag)
                self.observer.set_pending(pending)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.source.stopping.wait(), GROUP_STATE_INTERVAL)


def build_app(
    settings: ConsumerSettings,
    processor: WindowProcessor,
    datadir: str,
) -> tuple[faust.App, Any]:
    """A Kafka-less Faust app whose agent commits windows; returns (app, channel).

    ``datadir`` is where Faust keeps its table state: this app has no tables,
    but Faust creates the folder anyway, by default in the working directory.
    """
    app = faust.App(
        f"rev-analytics-{settings.group}",
        web_enabled=False,
        autodiscover=False,
        datadir=datadir,
    )
    app.boot_strategy = app.BootStrategy(app, enable_kafka=False, enable_web=False)
    channel = app.channel(maxsize=settings.channel_chunks)

    @app.agent(channel, name="commit-windows")
    async def commit_windows(stream: Any) -> None:
        async for chunks in stream.take(settings.batch_max_chunks, within=settings.batch_within):
            await processor.process(chunks)

    return app, channel
