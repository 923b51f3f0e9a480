"""``consume --workers N``: N consumer processes in one group, from one command.

One consumer process is bound by one Python thread; the consumer group
already shares the stream's entries between processes with no coordination,
so N processes on N cores is how one host goes faster. The supervisor here
starts ``rev-analytics consume`` N times with the same options and:

* names the workers ``<consumer>-1`` ... ``<consumer>-N`` (stable: a restarted
  worker resumes its own pending entries at once);
* gives each its own ``/metrics`` endpoint on consecutive ports from
  ``--metrics-port`` (Prometheus scrapes them as separate targets; the alert
  and recording rules already sum across instances);
* restarts a worker that dies (a crash, SIGKILL, the OOM killer) after a short
  backoff, so its share of the stream keeps moving; a worker that exits 2
  (bad configuration) stops the others and the command exits 2;
* forwards SIGTERM/SIGINT to every worker, waits for each to flush and
  acknowledge its open window, and exits 0 when all stopped cleanly.
"""

from __future__ import annotations

import logging
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from types import FrameType

log = logging.getLogger(__name__)

RESTART_DELAYS = (0.5, 1.0, 2.0, 5.0, 10.0)
"""Seconds before restarting a worker that died, growing while it keeps dying."""
HEALTHY_AFTER = 30.0
"""A worker that ran this long before dying starts over at the shortest delay."""
STOP_GRACE = 60.0
"""Seconds a worker gets to flush and exit after SIGTERM before it is killed."""


@dataclass(slots=True)
class Worker:
    """One supervised ``consume`` process."""

    index: int
    argv: list[str]
    process: subprocess.Popen[bytes] | None = None
    started_at: float = 0.0
    failures: int = 0
    restart_at: float | None = None
    exit_codes: list[int] = field(default_factory=list)

    def start(self) -> None:
        self.process = subprocess.Popen(self.argv)
        self.started_at = time.monotonic()
        self.restart_at = None
        log.info("worker %d started (pid %d)", self.index, self.process.pid)


class Supervisor:
    """Runs and restarts the workers; ``run()`` returns the command's exit code."""

    def __init__(self, argvs: Sequence[list[str]], *, clock: Callable[[], float] = time.monotonic
                 ) -> None:
        self.workers = [Worker(i + 1, list(argv)) for i, argv in enumerate(argvs)]
        self.clock = clock
        self.stopping = False
        self.exit_code = 0

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        if not self.stopping:
            log.info("stopping %d workers (signal %d)", len(self.workers), signum)
        self.stopping = True

    def run(self) -> int:
        previous = {sig: signal.signal(sig, self._on_signal)
                    for sig in (signal.SIGTERM, signal.SIGINT)}
        try:
            for worker in self.workers:
                worker.start()
            while not self.stopping:
                self._watch()
                time.sleep(0.2)
            self._stop_all()
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        return self.exit_code

    def _watch(self) -> None:
        now = self.clock()
        for worker in self.workers:
            process = worker.process
            if worker.restart_at is not None:
                if now >= worker.restart_at:
                    worker.start()
                continue
            if process is None or process.poll() is None:
                continue
            code = process.returncode
            worker.exit_codes.append(code)
            if code == 2:
                log.error("worker %d exited 2 (bad configuration); stopping all", worker.index)
                self.exit_code = 2
                self.stopping = True
                return
            if now - worker.started_at >= HEALTHY_AFTER:
                worker.failures = 0
            delay = RESTART_DELAYS[min(worker.failures, len(RESTART_DELAYS) - 1)]
            worker.failures += 1
            worker.restart_at = now + delay
            log.warning("worker %d (pid %d) exited with %s; restarting it in %.1f s "
                        "(its pending entries wait for it)", worker.index, process.pid,
                        _describe(code), delay)

    def _stop_all(self) -> None:
        running = [w for w in self.workers if w.process is not None and w.process.poll() is None]
        for worker in running:
            assert worker.process is not None
            worker.process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + STOP_GRACE
        for worker in running:
            assert worker.process is not None
            try:
                code = worker.process.wait(max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                log.error("worker %d did not stop in %.0f s; killing it (its open window "
                          "stays pending for redelivery)", worker.index, STOP_GRACE)
                worker.process.kill()
                code = worker.process.wait()
            if code != 0 and self.exit_code == 0:
                self.exit_code = 1
        log.info("all workers stopped")


def _describe(code: int) -> str:
    if code < 0:
        try:
            return f"signal {signal.Signals(-code).name}"
        except ValueError:
            return f"signal {-code}"
    return f"exit code {code}"


def worker_argv(argv: Sequence[str], index: int, consumer: str, metrics_port: int | None
                ) -> list[str]:
    """The command line of worker ``index``: the given one, run as a single named worker."""
    out = [sys.executable, "-m", "rev_analytics", *argv, "--workers", "1",
           "--consumer", f"{consumer}-{index}"]
    if metrics_port is not None:
        out += ["--metrics-port", str(metrics_port + index - 1 if metrics_port else 0)]
    return out
