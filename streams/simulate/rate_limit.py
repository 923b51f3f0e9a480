"""A token bucket: keep a publisher at an average rate without bursts above ``burst``.

Used by ``rev-analytics simulate --rate``. A request for more tokens than the
bucket holds is allowed and paid for by waiting (the bucket goes into debt),
so sending in pipeline-sized chunks still averages out to ``rate``.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

from rev_analytics.core.errors import ConfigError


class TokenBucket:
    """``rate`` tokens per second, at most ``burst`` saved up (default: 0.1 s worth, >= 1).

    ``clock`` and ``sleep`` are injectable so tests can check the schedule
    without waiting.
    """

    def __init__(
        self,
        rate: float,
        burst: float | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if not (math.isfinite(rate) and rate > 0):
            raise ConfigError(f"rate must be a positive number, got {rate}")
        self.rate = float(rate)
        self.burst = float(burst) if burst is not None else max(1.0, self.rate / 10.0)
        if not self.burst > 0:
            raise ConfigError(f"burst must be positive, got {burst}")
        self._clock = clock
        self._sleep = sleep
        self._tokens = self.burst
        self._last = clock()

    def acquire(self, count: float = 1.0) -> float:
        """Take ``count`` tokens, sleeping until the bucket has paid for them; return the wait."""
        now = self._clock()
        self._tokens = min(self.burst, self._tokens + (now - self._last) * self.rate)
        self._last = now
        self._tokens -= count
        if self._tokens >= 0:
            return 0.0
        wait = -self._tokens / self.rate
        self._sleep(wait)
        return wait
