"""The SQLite store: one table of prompt executions, idempotent on ``event_id``.

One :class:`SqliteStore` owns one connection. That keeps ``:memory:``
databases working (every new connection to ``:memory:`` would be a new, empty
database) and lets the consumer hand the store to a single writer thread.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType

from rev_analytics.core.errors import StorageError
from rev_analytics.core.event import PromptEvent
from storage.migrations import LATEST_VERSION, current_version, migrate

TABLE = "prompt_metrics"

# The columns written for each event, in the order of PromptEvent plus ingested_at.
COLUMNS: tuple[str, ...] = (*PromptEvent._fields, "ingested_at")

_INSERT = (
    f"INSERT OR IGNORE INTO {TABLE} ({', '.join(COLUMNS)}) "
    f"VALUES ({', '.join('?' for _ in COLUMNS)})"
)
_TIMESTAMP_INDEX = PromptEvent._fields.index("timestamp")
_SUCCESS_INDEX = PromptEvent._fields.index("success")


_SECOND_PREFIXES: dict[int, str] = {}


def format_timestamp(seconds: float) -> str:
    """Unix seconds as SQLite's own UTC text format with microseconds.

    ``YYYY-MM-DD HH:MM:SS.ffffff`` sorts like time and compares correctly with
    SQLite's ``datetime('now', '-7 days')``, so plain SQL over the table works.
    The date part is cached per second: the consumer formats tens of
    thousands of timestamps a second and strftime dominated its write path.
    """
    whole, micros = divmod(round(seconds * 1_000_000), 1_000_000)
    prefix = _SECOND_PREFIXES.get(whole)
    if prefix is None:
        if len(_SECOND_PREFIXES) >= 65536:
            _SECOND_PREFIXES.clear()
        prefix = datetime.fromtimestamp(whole, UTC).strftime("%Y-%m-%d %H:%M:%S")
        _SECOND_PREFIXES[whole] = prefix
    return f"{prefix}.{micros:06d}"


def _row(event: PromptEvent, ingested_at: str) -> tuple[object, ...]:
    values: list[object] = list(event)
    values[_TIMESTAMP_INDEX] = format_timestamp(event.timestamp)
    values[_SUCCESS_INDEX] = 1 if event.success else 0
    values.append(ingested_at)
    return tuple(values)


def _enable_wal(conn: sqlite3.Connection, timeout: float) -> None:
    """``PRAGMA journal_mode=WAL``, retried for up to ``timeout`` seconds.

    While another connection is switching the same new file to WAL, SQLite
    answers "database is locked" at once, without waiting in its busy
    handler: consumers started together on a new database failed on it.
    """
    deadline = time.monotonic() + timeout
    while True:
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.01)


class SqliteStore:
    """A SQLite database holding the ``prompt_metrics`` table.

    ``path`` is a file path or ``":memory:"``. Opening creates or migrates
    the schema. ``synchronous`` is FULL by default: a commit is on disk
    before the consumer acknowledges the entries it holds.
    """

    def __init__(
        self,
        path: str | Path,
        *,
        busy_timeout: float = 5.0,
        synchronous: str = "FULL",
        read_only: bool = False,
    ) -> None:
        self.path = str(path)
        try:
            if read_only:
                if self.path == ":memory:" or not Path(self.path).exists():
                    raise StorageError(f"no database at {self.path}")
                uri = Path(self.path).resolve().as_uri() + "?mode=ro"
                self.conn = sqlite3.connect(
                    uri, uri=True, timeout=busy_timeout, check_same_thread=False
                )
            else:
                if self.path != ":memory:":
                    Path(self.path).parent.mkdir(parents=True, exist_ok=True)
                self.conn = sqlite3.connect(
                    self.path, timeout=busy_timeout, check_same_thread=False
                )
                _enable_wal(self.conn, busy_timeout)
                self.conn.execute(f"PRAGMA synchronous={synchronous}")
            version = current_version(self.conn)
            if version > LATEST_VERSION:
                raise StorageError(
                    f"{self.path} has schema version {version}, newer than this "
                    f"rev-analytics understands ({LATEST_VERSION}); upgrade rev-analytics"
                )
            if not read_only:
                migrate(self.conn)
            elif version == 0:
                raise StorageError(f"{self.path} is not a rev-analytics database")
        except sqlite3.OperationalError as exc:
            if "locked" in str(exc) or "busy" in str(exc):
                # Another process holds the database: a runtime condition
                # (exit 1), not bad input (StorageError, exit 2).
                raise
            raise StorageError(f"cannot open database {self.path}: {exc}") from exc
        except sqlite3.DatabaseError as exc:
            raise StorageError(f"cannot open database {self.path}: {exc}") from exc

    def insert_events(self, events: Iterable[PromptEvent], ingested_at: float | None = None) -> int:
        """Insert ``events`` in one transaction; return how many rows were new.

        Events whose ``event_id`` is already stored are skipped, which makes a
        redelivered entry or a producer's retry harmless. On any error the
        transaction is rolled back and the error propagates: the caller must
        not acknowledge anything from this batch.
        """
        stamp = format_timestamp(time.time() if ingested_at is None else ingested_at)
        rows = [_row(event, stamp) for event in events]
        before = self.conn.total_changes
        with self.conn:
            self.conn.executemany(_INSERT, rows)
        return self.conn.total_changes - before

    def count(self) -> int:
        """Number of stored executions."""
        return int(self.conn.execute(f"SELECT COUNT(*) FROM {TABLE}").fetchone()[0])

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> SqliteStore:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def open_store(
    path: str | Path, *, busy_timeout: float = 5.0, read_only: bool = False
) -> SqliteStore:
    """Open (creating or migrating if needed) the store at ``path``."""
    return SqliteStore(path, busy_timeout=busy_timeout, read_only=read_only)
