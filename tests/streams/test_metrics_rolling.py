"""Rolling sums over event time: windows slide with the clock and expire."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streams.metrics.rolling import RollingSums

T0 = 1_800_000_000.0  # a minute boundary (divisible by 60)
WINDOWS = {"5m": 5, "1h": 60}


def rolling() -> RollingSums[str]:
    sums: RollingSums[str] = RollingSums(WINDOWS, 2)
    sums.advance(T0)
    return sums


def test_an_event_counts_in_both_windows_then_expires_from_each_in_turn() -> None:
    sums = rolling()
    assert sums.add("a", T0 + 10, (1, 1))
    assert dict(sums.totals("5m")) == {"a": [1, 1]}
    assert dict(sums.totals("1h")) == {"a": [1, 1]}

    sums.advance(T0 + 4 * 60 + 59)  # still inside the 5-minute window
    assert "a" in sums.totals("5m")
    sums.advance(T0 + 5 * 60)
    assert "a" not in sums.totals("5m"), "the 5m window must forget a silent key"
    assert dict(sums.totals("1h")) == {"a": [1, 1]}

    sums.advance(T0 + 60 * 60)
    assert not sums.totals("1h"), "the 1h window must forget a silent key"


def test_events_are_placed_by_event_time_not_arrival() -> None:
    sums = rolling()
    sums.advance(T0 + 30 * 60)
    assert sums.add("late", T0 + 10, (1, 0))  # happened 30 minutes ago
    assert "late" not in sums.totals("5m")
    assert dict(sums.totals("1h")) == {"late": [1, 0]}


def test_events_older_than_the_widest_window_are_not_counted() -> None:
    sums = rolling()
    assert not sums.add("ancient", T0 - 2 * 3600, (1, 1))
    assert not sums.totals("1h")


def test_future_events_count_in_the_current_minute() -> None:
    sums = rolling()
    assert sums.add("skewed", T0 + 6 * 3600, (1, 1))
    sums.advance(T0 + 5 * 60)
    assert "skewed" not in sums.totals("5m"), "a future stamp must not pin the window open"


def test_a_clock_that_goes_backwards_does_not_resurrect_anything() -> None:
    sums = rolling()
    sums.add("a", T0, (1, 1))
    sums.advance(T0 + 10 * 60)
    sums.advance(T0)
    assert "a" not in sums.totals("5m")


def test_a_long_silence_clears_every_window() -> None:
    sums = rolling()
    sums.add("a", T0, (3, 2))
    sums.add("b", T0 + 59 * 60, (1, 1))
    sums.advance(T0 + 10 * 3600)
    assert not sums.totals("5m") and not sums.totals("1h")


def test_forget_drops_keys_everywhere() -> None:
    sums = rolling()
    sums.add("a", T0, (1, 1))
    sums.add("b", T0, (1, 0))
    sums.forget(lambda key: key == "a")
    assert set(sums.totals("1h")) == {"b"}
    sums.advance(T0 + 2 * 3600)  # expiring buckets must not trip over the forgotten key
    assert not sums.totals("1h")


def test_add_requires_a_current_time() -> None:
    sums: RollingSums[str] = RollingSums(WINDOWS, 1)
    with pytest.raises(RuntimeError):
        sums.add("a", T0, (1,))


@pytest.mark.parametrize(
    ("windows", "width"), [({}, 1), ({"0m": 0}, 1), ({"5m": 5}, 0)]
)
def test_bad_construction_fails_fast(windows: dict[str, int], width: int) -> None:
    with pytest.raises(ValueError):
        RollingSums(windows, width)


# Operations: ("add", key, offset seconds relative to now, count) or ("tick", seconds).
_operations = st.lists(
    st.one_of(
        st.tuples(st.just("add"), st.sampled_from("abc"), st.floats(-4000, 100),
                  st.integers(1, 5)),
        st.tuples(st.just("tick"), st.floats(0, 900)),
    ),
    max_size=60,
)


@settings(max_examples=200, deadline=None)
@given(_operations)
def test_running_totals_equal_a_brute_force_sum(operations: list[tuple]) -> None:
    sums = rolling()
    now = T0
    log: list[tuple[str, int, int]] = []  # (key, minute, count)
    for op in operations:
        if op[0] == "tick":
            now += op[1]
            sums.advance(now)
            continue
        _, key, offset, count = op
        stamp = now + offset
        minute = min(int(stamp // 60), int(now // 60))
        if sums.add(key, stamp, (count, count)):
            log.append((key, minute, count))
    current = int(now // 60)
    for name, length in WINDOWS.items():
        expected: dict[str, int] = {}
        for key, minute, count in log:
            if current - length < minute <= current:
                expected[key] = expected.get(key, 0) + count
        got = {key: int(vector[0]) for key, vector in sums.totals(name).items()}
        assert got == expected, name
