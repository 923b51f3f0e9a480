"""Waiting between retries, for the source's Redis calls and the sink's commits."""

from __future__ import annotations

import asyncio
import contextlib


async def backoff_wait(delay: float, stopping: asyncio.Event) -> None:
    """Sleep ``delay`` seconds, cut short when ``stopping`` is set.

    Once stopping, retries (of acks or commits, until their deadline) still
    pause up to 0.2 s each, so they never spin.
    """
    if stopping.is_set():
        await asyncio.sleep(min(delay, 0.2))
        return
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stopping.wait(), timeout=delay)
