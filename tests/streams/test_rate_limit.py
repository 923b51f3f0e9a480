"""The token bucket behind ``simulate --rate``, on a fake clock."""

from __future__ import annotations

import pytest

from rev_analytics.core.errors import ConfigError
from streams.simulate.rate_limit import TokenBucket


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def test_the_burst_is_free_then_requests_wait_for_their_tokens() -> None:
    clock = FakeClock()
    bucket = TokenBucket(100.0, burst=10, clock=clock, sleep=clock.sleep)
    assert bucket.acquire(10) == 0.0
    assert bucket.acquire(10) == pytest.approx(0.1)
    assert bucket.acquire(5) == pytest.approx(0.05)


def test_average_rate_holds_for_chunks_larger_than_the_burst() -> None:
    clock = FakeClock()
    bucket = TokenBucket(250.0, burst=5, clock=clock, sleep=clock.sleep)
    start = clock.now
    for _ in range(40):
        bucket.acquire(50)  # ten times the burst each time
    # 2000 tokens at 250/s, minus the initial burst of 5.
    assert clock.now - start == pytest.approx((2000 - 5) / 250)


def test_idle_time_refills_only_up_to_the_burst() -> None:
    clock = FakeClock()
    bucket = TokenBucket(10.0, burst=3, clock=clock, sleep=clock.sleep)
    bucket.acquire(3)
    clock.now += 60  # a long pause must not bank 600 tokens
    assert bucket.acquire(3) == 0.0
    assert bucket.acquire(1) == pytest.approx(0.1)


def test_default_burst_is_a_tenth_of_a_second() -> None:
    assert TokenBucket(1000.0).burst == 100.0
    assert TokenBucket(2.0).burst == 1.0


@pytest.mark.parametrize("rate", [0.0, -1.0, float("inf"), float("nan")])
def test_rate_must_be_positive_and_finite(rate: float) -> None:
    with pytest.raises(ConfigError, match="rate"):
        TokenBucket(rate)
