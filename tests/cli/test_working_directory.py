"""No command leaves anything in its working directory but what it was asked to write."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.consumer_support import ROOT, row_count, wait_for

SQLITE_COMPANIONS = ("-wal", "-shm")


def run(cwd: Path, *args: str, timeout: float = 240) -> subprocess.CompletedProcess[str]:
    result = subprocess.run([sys.executable, "-m", "rev_analytics", *args], cwd=cwd,
                            env=dict(os.environ, PYTHONPATH=str(ROOT)), capture_output=True,
                            text=True, timeout=timeout)
    assert result.returncode == 0, result.stderr[-3000:]
    return result


def listing(directory: Path) -> set[str]:
    """Top-level names, SQLite's own -wal/-shm companions of a store folded into it."""
    names = set()
    for path in directory.iterdir():
        name = path.name
        for suffix in SQLITE_COMPANIONS:
            name = name.removesuffix(suffix)
        names.add(name)
    return names


@pytest.mark.slow
def test_every_command_writes_only_what_it_was_asked_to(
    redis_url: str, stream_key: str, tmp_path: Path
) -> None:
    work = tmp_path / "work"
    work.mkdir()
    run(work, "simulate", "--redis-url", redis_url, "--stream", stream_key, "--events", "3000",
        "--backfill-days", "2")
    assert listing(work) == set()

    consumer = subprocess.Popen(
        [sys.executable, "-m", "rev_analytics", "consume", "--redis-url", redis_url,
         "--stream", stream_key, "--db", "store.db", "--no-metrics"],
        cwd=work, env=dict(os.environ, PYTHONPATH=str(ROOT)))
    try:
        wait_for(lambda: row_count(work / "store.db") >= 3000, 120, "the simulated events")
    finally:
        consumer.send_signal(signal.SIGTERM)
        assert consumer.wait(60) == 0
    assert listing(work) == {"store.db"}

    batch = [
        (["analyze", "--db", "store.db", "--json"], set()),
        (["ab-test", "--db", "store.db", "--a", "math_reasoning", "--b", "code_generation",
          "--json"], set()),
        (["compare-models", "--db", "store.db", "--a", "llama-3-8b", "--b", "gpt-4o",
          "--json"], set()),
        (["plan", "--db", "store.db", "--json"], set()),
        (["export", "--db", "store.db", "--format", "csv", "--out", "history.csv"],
         {"history.csv"}),
        (["report", "--db", "store.db", "--out", "weekly"], {"weekly"}),
        (["demo", "--events", "500", "--rate", "5000", "--metrics-port", "0", "--no-report",
          "--out", "demo"], {"demo"}),
    ]
    expected = {"store.db"}
    for args, writes in batch:
        started = time.monotonic()
        run(work, *args)
        expected |= writes
        assert listing(work) == expected, (args, sorted(listing(work)))
        assert time.monotonic() - started < 240
