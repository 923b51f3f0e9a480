"""Retrying through outages: the consumer's Redis calls and its commits, one policy.

Both stages retry the same way (tenacity, as the producer does): exponential
backoff up to a cap, waits cut short when the consumer is stopping, and a
``give_up`` test the stage supplies (reads give up as soon as a stop is
requested; acknowledgements and commits keep trying until the drain
deadline). What a stage does on each failure (log once per outage, update a
metric) is its own ``on_failure``.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

from tenacity import AsyncRetrying, RetryCallState, retry_if_exception_type, wait_exponential
from tenacity.stop import stop_base


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


class _GiveUp(stop_base):
    def __init__(self, give_up: Callable[[], bool]) -> None:
        self.give_up = give_up

    def __call__(self, retry_state: RetryCallState) -> bool:
        return self.give_up()


def retrying(
    errors: tuple[type[BaseException], ...],
    *,
    stopping: asyncio.Event,
    give_up: Callable[[], bool],
    on_failure: Callable[[BaseException], None],
    initial: float,
    maximum: float,
) -> AsyncRetrying:
    """An ``async for attempt in retrying(...)`` loop over transient ``errors``.

    When ``give_up()`` says so, the last error is re-raised for the caller to
    turn into its own "stopped" exception; any other error propagates at once.
    """
    def failed(state: RetryCallState) -> None:
        assert state.outcome is not None
        error = state.outcome.exception()
        assert error is not None
        on_failure(error)

    return AsyncRetrying(
        retry=retry_if_exception_type(errors),
        wait=wait_exponential(multiplier=initial, max=maximum),
        stop=_GiveUp(give_up),
        sleep=lambda delay: backoff_wait(delay, stopping),
        after=failed,
        reraise=True,
    )
