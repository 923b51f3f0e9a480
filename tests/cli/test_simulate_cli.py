"""``rev-analytics simulate`` end to end against a real Redis."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time
from typing import cast

import pytest
import redis

from rev_analytics.cli.main import main
from rev_analytics.core.decode import decode_entry
from rev_analytics.core.event import PromptEvent
from tests.redis_server import free_port


def _decoded(client: redis.Redis, stream: str) -> tuple[list[PromptEvent], int]:
    events, invalid = [], 0
    entries = cast(list[tuple[bytes, dict[bytes, bytes]]], client.xrange(stream))
    for entry_id, fields in entries:
        try:
            events.append(decode_entry(entry_id, fields))
        except Exception:
            invalid += 1
    return events, invalid


def _simulate(url: str, stream: str, *args: str) -> int:
    return main(["simulate", "--redis-url", url, "--stream", stream, *args])


def test_publishes_n_valid_live_events(
    redis_url: str, redis_client: redis.Redis, stream_key: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    before = time.time()
    assert _simulate(redis_url, stream_key, "--events", "2500", "--batch-size", "300") == 0
    after = time.time()
    out, err = capsys.readouterr()
    assert out.startswith("published 2500 events (0 deliberately invalid)")
    assert out.count("\n") == 1 and err == ""  # stderr is no terminal: no progress bar
    events, invalid = _decoded(redis_client, stream_key)
    assert (len(events), invalid) == (2500, 0)
    assert all(before - 0.01 <= e.timestamp / 1e6 <= after for e in events)
    assert len({e.template_id for e in events}) == 8 and len({e.model_id for e in events}) == 5


def test_backfill_spreads_event_times_over_the_past_days(
    redis_url: str, redis_client: redis.Redis, stream_key: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    now = time.time()
    assert _simulate(redis_url, stream_key, "--events", "3000", "--backfill-days", "3") == 0
    assert "over the past 3 days" in capsys.readouterr().out
    events, _ = _decoded(redis_client, stream_key)
    times = [e.timestamp / 1e6 for e in events]
    assert now - 3 * 86400 - 5 <= min(times) < now - 2.9 * 86400
    assert now - 0.1 * 86400 < max(times) <= time.time()


def test_same_seed_same_workload(
    redis_url: str, redis_client: redis.Redis, capsys: pytest.CaptureFixture[str]
) -> None:
    def workload(stream: str, seed: str) -> list[tuple[object, ...]]:
        assert _simulate(redis_url, stream, "--events", "500", "--seed", seed) == 0
        events, _ = _decoded(redis_client, stream)
        return [(e.prompt_id, e.model_id, e.success, e.cost) for e in events]

    assert workload("a", "4") == workload("b", "4")
    assert workload("c", "4") != workload("d", "5")


def test_invalid_fraction_reaches_the_stream_and_the_summary(
    redis_url: str, redis_client: redis.Redis, stream_key: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert _simulate(redis_url, stream_key, "--events", "2000", "--invalid-fraction", "0.1",
                     "--seed", "2", "--backfill-days", "1") == 0
    out = capsys.readouterr().out
    events, invalid = _decoded(redis_client, stream_key)
    assert len(events) + invalid == 2000
    assert 140 < invalid < 260
    assert f"({invalid} deliberately invalid)" in out


def test_rate_limit_paces_publication(
    redis_url: str, redis_client: redis.Redis, stream_key: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    began = time.monotonic()
    assert _simulate(redis_url, stream_key, "--events", "120", "--rate", "300") == 0
    elapsed = time.monotonic() - began
    # A burst of one batch (30 events) is free; the other 90 take 0.3 s at 300/s.
    assert 0.25 <= elapsed < 5
    assert redis_client.xlen(stream_key) == 120
    events, _ = _decoded(redis_client, stream_key)
    # live times follow the pace
    assert events[-1].timestamp / 1e6 - events[0].timestamp / 1e6 >= 0.2


def test_options_come_from_the_environment(
    redis_url: str, redis_client: redis.Redis, stream_key: str,
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("REV_ANALYTICS_REDIS_URL", redis_url)
    monkeypatch.setenv("REV_ANALYTICS_EVENTS", "77")
    monkeypatch.setenv("REV_ANALYTICS_STREAM", stream_key)
    assert main(["simulate"]) == 0
    assert redis_client.xlen(stream_key) == 77


@pytest.mark.parametrize(
    "args",
    [
        ["--events", "0"],
        ["--events", "-5"],
        ["--events", "ten"],
        ["--rate", "-1"],
        ["--rate", "inf"],
        ["--seed", "-1"],
        ["--backfill-days", "0"],
        ["--backfill-days", "nan"],
        ["--invalid-fraction", "1.5"],
        ["--invalid-fraction", "-0.1"],
        ["--batch-size", "0"],
        ["--repetitions", "0"],
        ["--late-fraction", "1.5"],
        ["--stream", ""],
        ["--redis-url", "http://localhost:6379"],
        ["--no-such-flag"],
    ],
)
def test_bad_input_is_exit_2_with_one_line(
    args: list[str], redis_url: str, redis_client: redis.Redis, stream_key: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    base = {"--redis-url": redis_url, "--events": "10", "--stream": stream_key}
    for flag, value in zip(args[::2], args[1::2], strict=False):
        base[flag] = value
    argv = ["simulate", *(item for pair in base.items() for item in pair)]
    if args == ["--no-such-flag"]:
        argv.append("--no-such-flag")
    assert main(argv) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.count("\n") == 1 and err.startswith("rev-analytics")
    assert "Traceback" not in err
    assert redis_client.exists(stream_key) == 0


def test_missing_events_is_a_usage_error(
    redis_url: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("REV_ANALYTICS_EVENTS", raising=False)
    assert main(["simulate", "--redis-url", redis_url]) == 2
    assert "--events" in capsys.readouterr().err


def test_unreachable_redis_is_exit_1_with_the_password_redacted() -> None:
    url = f"redis://admin:hunter2@127.0.0.1:{free_port()}/0"
    result = subprocess.run(
        [sys.executable, "-m", "rev_analytics", "simulate", "--redis-url", url,
         "--events", "10"],
        capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1
    assert "cannot reach Redis" in result.stderr
    assert "hunter2" not in result.stderr and "admin:***@" in result.stderr
    assert "Traceback" not in result.stderr


def test_interrupt_reports_progress_and_exits_130(redis_url: str, stream_key: str) -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "rev_analytics", "simulate", "--redis-url", redis_url,
         "--stream", stream_key, "--events", "100000", "--rate", "200"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    client = redis.Redis.from_url(redis_url)
    deadline = time.monotonic() + 30
    while client.xlen(stream_key) < 20 and time.monotonic() < deadline:
        time.sleep(0.05)
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=30)
    published = client.xlen(stream_key)
    client.close()
    assert process.returncode == 130
    match = re.search(r"published (\d+) of 100000 events before the interrupt", err)
    assert match, err
    # At most one pipeline (20 events at this rate) can be in flight when the signal lands.
    assert published - 20 <= int(match.group(1)) <= published < 100000
    assert "Traceback" not in err


def test_fixed_prompt_sets_by_default_independent_and_no_experiments_on_request(
    redis_url: str, redis_client: redis.Redis, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _simulate(redis_url, "sim:rev", "--events", "2000", "--repetitions", "4",
                     "--backfill-days", "3") == 0
    assert "fixed prompt sets x 4 runs on every model" in capsys.readouterr().out
    events, _ = _decoded(redis_client, "sim:rev")
    runs: dict[str, set[str]] = {}
    for event in events:
        runs.setdefault(event.prompt_id, set()).add(event.model_id)
    assert len(runs) < 2000 / 4 and all(len(m) >= 4 for m in runs.values())
    assert len({e.experiment_id for e in events}) == 4
    assert all(re.fullmatch(r"exp-\d{4}-\d\d-\d\d-[a-d]", e.experiment_id or "") for e in events)

    assert _simulate(redis_url, "sim:iid", "--events", "1000", "--independent",
                     "--no-experiments") == 0
    assert "independent executions" in capsys.readouterr().out
    events, _ = _decoded(redis_client, "sim:iid")
    assert len({e.prompt_id for e in events}) == 1000
    assert {e.experiment_id for e in events} == {None}
