"""A private PostgreSQL server for tests (and benchmarks), on a free port in a temp dir.

Never the machine's own server on 5432: that one is shared. ``initdb`` and
``pg_ctl`` refuse to run as root, so when the tests run as root they run as
the ``postgres`` user (``runuser``), with the data directory and a private
Unix-socket directory owned by it. Trust authentication on loopback only.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

MISSING_POSTGRES = ("PostgreSQL server binaries not found: install them (Debian: "
                    "apt-get install postgresql; .ci/run does)")
"""Why a PostgreSQL test fails (not skips) on a machine without the server."""


def postgres_bin_dir() -> Path | None:
    """Where ``initdb`` lives: Debian's versioned directory, else ``PATH``."""
    for candidate in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True):
        if Path(candidate, "initdb").exists():
            return Path(candidate)
    found = shutil.which("initdb")
    return Path(found).parent if found else None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _as_postgres() -> list[str]:
    return ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []


class PostgresServer:
    """A ``postgres`` child cluster: ``start()``/``stop()``; ``url(db)`` for clients.

    ``listen`` is the address to listen on (a network namespace's address in
    the multi-host test); ``prefix`` runs the server inside such a namespace
    (``["ip", "netns", "exec", NAME]``).
    """

    def __init__(self, *, port: int | None = None, listen: str = "127.0.0.1",
                 prefix: list[str] | None = None, fsync: bool = True,
                 trust_network: str | None = None) -> None:
        bin_dir = postgres_bin_dir()
        if bin_dir is None:
            raise RuntimeError("PostgreSQL is not installed (initdb not found)")
        self.bin = bin_dir
        self.port = port or free_port()
        self.listen = listen
        self.prefix = list(prefix or [])
        self.fsync = fsync
        self.trust_network = trust_network
        """A CIDR whose clients are trusted too (a private test network; initdb trusts
        loopback only)."""
        self._tmp = tempfile.TemporaryDirectory(prefix="rev-pg-")
        self.directory = Path(self._tmp.name)
        self.data = self.directory / "data"
        self.sockets = self.directory / "sockets"
        self.started = False

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@{self.listen}:{self.port}/{database}"

    def _run(self, *args: str) -> None:
        subprocess.run([*self.prefix, *_as_postgres(), *args], check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    def start(self, timeout: float = 30.0) -> PostgresServer:
        self.sockets.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            shutil.chown(self.directory, "postgres", "postgres")
            shutil.chown(self.sockets, "postgres", "postgres")
        if not self.data.exists():
            self._run(str(self.bin / "initdb"), "-D", str(self.data), "-U", "postgres",
                      "--auth=trust", "-E", "UTF8", "--no-instructions")
            if self.trust_network:
                with (self.data / "pg_hba.conf").open("a") as hba:
                    hba.write(f"host all all {self.trust_network} trust\n")
        options = (f"-p {self.port} -k {self.sockets} -c listen_addresses={self.listen} "
                   f"-c max_connections=200 -c fsync={'on' if self.fsync else 'off'}")
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-l",
                  str(self.directory / "server.log"), "-o", options, "-w",
                  "-t", str(int(timeout)), "start")
        self.started = True
        return self

    def create_database(self, name: str) -> str:
        """Create database ``name`` (fresh per test) and return its URL."""
        import psycopg

        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def stop(self) -> None:
        if self.started:
            self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "immediate",
                      "-w", "stop")
            self.started = False

    def cleanup(self) -> None:
        self.stop()
        self._tmp.cleanup()

    def __enter__(self) -> PostgresServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.cleanup()


_counter = iter(range(1, 1_000_000))


def fresh_database(server: PostgresServer, stem: str = "rev") -> str:
    """A new, empty database on ``server`` and its URL."""
    return server.create_database(f"{stem}_{os.getpid()}_{next(_counter)}_{int(time.time())}")
