"""Helpers for tests that run the real consumer, in-process or as a child process."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import redis

from streams.consumer.observer import ConsumerObserver
from streams.consumer.runner import Consumer, ConsumerStats
from streams.consumer.settings import ConsumerSettings

ROOT = Path(__file__).resolve().parents[1]


def valid_fields(index: int, **overrides: str) -> dict[str, str]:
    fields = {
        "event_id": f"evt-{index:08d}",
        "prompt_id": f"prompt-{index % 50}",
        "template_id": f"template-{index % 4}",
        "model_id": f"model-{index % 3}",
        "success": "1" if index % 3 else "0",
        "execution_time": "0.25",
        "cost": "0.002",
    }
    fields.update(overrides)
    return fields


def publish(client: redis.Redis, stream: str, events: Iterable[Mapping[str, str]]) -> list[str]:
    """XADD every event (pipelined); return the entry IDs."""
    pipe = client.pipeline(transaction=False)
    for fields in events:
        pipe.xadd(stream, dict(fields))  # type: ignore[arg-type]
    return [i.decode() if isinstance(i, bytes) else i for i in pipe.execute()]


def stored_rows(db: Path | str, columns: str = "event_id") -> list[tuple[Any, ...]]:
    with sqlite3.connect(db, timeout=30) as conn:
        return conn.execute(f"SELECT {columns} FROM prompt_metrics ORDER BY id").fetchall()


def row_count(db: Path | str) -> int:
    if not Path(db).exists():
        return 0
    try:
        with sqlite3.connect(db, timeout=30) as conn:
            return int(conn.execute("SELECT COUNT(*) FROM prompt_metrics").fetchone()[0])
    except sqlite3.OperationalError:  # table not created yet
        return 0


def wait_for(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def pending_count(client: redis.Redis, stream: str, group: str) -> int:
    return int(client.xpending(stream, group)["pending"])


def run_consumer_until(
    settings: ConsumerSettings,
    done: Callable[[Consumer], bool],
    *,
    timeout: float = 30.0,
    observer: ConsumerObserver | None = None,
) -> ConsumerStats:
    """Run an in-process consumer until ``done(consumer)``; then stop it cleanly."""

    async def main() -> ConsumerStats:
        consumer = Consumer(settings, observer)
        await consumer.start()
        deadline = time.monotonic() + timeout
        try:
            while not done(consumer):
                if time.monotonic() > deadline:
                    raise AssertionError("consumer did not finish in time")
                await asyncio.sleep(0.02)
        finally:
            stats = await consumer.stop()
        return stats

    return asyncio.run(main())


class ConsumerProcess:
    """``rev-analytics consume`` as a child process, logging to a file."""

    def __init__(self, log_path: Path, *args: str, env: Mapping[str, str] | None = None,
                 cwd: Path | None = None) -> None:
        self.log_path = log_path
        self.args = list(args)
        self.env = dict(os.environ, PYTHONPATH=str(ROOT), **(env or {}))
        self.cwd = cwd
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> ConsumerProcess:
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "rev_analytics", "consume", "--no-metrics", *self.args],
            stdout=log, stderr=subprocess.STDOUT, env=self.env, cwd=self.cwd,
        )
        log.close()
        return self

    def signal(self, sig: signal.Signals) -> None:
        assert self.process is not None
        self.process.send_signal(sig)

    def kill(self) -> None:
        assert self.process is not None
        self.process.kill()
        self.process.wait(30)

    def wait(self, timeout: float = 60) -> int:
        """Wait for the process to exit by itself; return the exit code."""
        assert self.process is not None
        return self.process.wait(timeout)

    def stop(self, timeout: float = 60) -> int:
        """SIGTERM and wait; return the exit code."""
        assert self.process is not None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout)

    @property
    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def ensure_stopped(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(30)
