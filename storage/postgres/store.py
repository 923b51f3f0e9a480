"""The PostgreSQL store's write path: COPY into a staging table, then one INSERT.

COPY is PostgreSQL's fast bulk path but has no ``ON CONFLICT``, so a window
is copied into a session-private temporary table and moved into
``prompt_metrics`` by ``INSERT ... SELECT ... ON CONFLICT (event_id) DO
NOTHING``, both in one transaction: the window commits whole or not at all,
and a redelivered entry or a repeated ``event_id`` adds no row. The staging
table keeps event time as the event's integer microseconds (converted
exactly in SQL), so no Python datetime is built per row.

Connection loss is a transient error (:attr:`PostgresStore.transient_errors`):
the connection is dropped, the consumer retries the same window with backoff
(acknowledging nothing), and the next attempt reconnects. A commit whose
reply was lost is harmless too: its retry inserts nothing new. TCP
keepalives and a user timeout make a cut link fail within seconds instead of
hanging on the kernel's defaults (minutes).
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Iterable
from typing import Any

import psycopg
from psycopg import conninfo

from rev_analytics.core.errors import StorageError
from rev_analytics.core.event import FIELDS, PromptEvent
from rev_analytics.core.fields import Kind
from rev_analytics.core.timefmt import datetime_from_micros, micros_from_seconds
from rev_analytics.core.urls import redact_url
from storage.base import Closing
from storage.columns import EVENT_COLUMNS, POSTGRES_TYPES, TABLE
from storage.postgres.schema import LATEST_VERSION, current_version, migrate

log = logging.getLogger(__name__)

STAGING = "rev_staging"
CONNECTION_DEFAULTS = {
    "connect_timeout": "10",
    "keepalives": "1",
    "keepalives_idle": "5",
    "keepalives_interval": "2",
    "keepalives_count": "3",
    "tcp_user_timeout": "10000",  # ms unacknowledged before the kernel gives up
    "application_name": "rev-analytics",
}
"""libpq settings a URL may override: how soon a dead server or a cut link is noticed."""

SESSION_SETTINGS = {
    "tcp_keepalives_idle": "5",
    "tcp_keepalives_interval": "2",
    "tcp_keepalives_count": "3",
    "idle_in_transaction_session_timeout": "30000",
}
"""The server's side of the same: a consumer cut off in the middle of a window holds
row locks (its outcome upserts, its event ids) that every other consumer's next
commit waits for. With the server's defaults (keepalive after 2 h) a partition
stalled the whole group for as long as it lasted; with these the server drops
the dead session, and its locks, within about 11 s."""
SESSION_SETTINGS_12 = {"tcp_user_timeout": "10000"}
"""PostgreSQL 12 and newer: also when the server has data in flight to the lost client."""

# Staged as the event holds them: event time as integer microseconds, success as boolean.
_STAGING_TYPES = {**POSTGRES_TYPES, Kind.TIME: "bigint", Kind.BOOL: "boolean"}


def _stored(name: str, kind: Kind) -> str:
    """The staging column ``name`` converted to its stored type, exactly."""
    if kind is Kind.TIME:
        # Whole seconds and the microseconds apart: every factor stays an exact float.
        return (f"timestamptz 'epoch' + ({name} / 1000000) * interval '1 second'"
                f" + mod({name}, 1000000) * interval '1 microsecond'")
    if kind is Kind.BOOL:
        return f"{name}::integer"
    return name


@functools.cache
def staging_ddl() -> str:
    columns = ", ".join(f"{f.name} {_STAGING_TYPES[f.kind]}" for f in FIELDS)
    return f"CREATE TEMPORARY TABLE {STAGING} ({columns}) ON COMMIT DELETE ROWS"


@functools.cache
def copy_sql() -> str:
    return f"COPY {STAGING} ({', '.join(EVENT_COLUMNS)}) FROM STDIN"


@functools.cache
def move_sql(stamped: bool) -> str:
    """Staged rows into the table, in arrival order (the heap order of the fresh staging table).

    Not sorted by ``event_id``: rows keep the order SQLite gives them. Two
    consumers inserting the same ids at the same moment (an entry reclaimed
    from a slow, not dead, consumer) may then deadlock; PostgreSQL aborts one
    of them with an OperationalError, which is transient: that window is
    retried and its duplicates skipped.
    """
    columns = [*EVENT_COLUMNS, "ingested_at"] if stamped else list(EVENT_COLUMNS)
    values = [_stored(f.name, f.kind) for f in FIELDS] + (["%s"] if stamped else [])
    return (f"INSERT INTO {TABLE} ({', '.join(columns)}) "
            f"SELECT {', '.join(values)} FROM {STAGING} "
            f"ON CONFLICT (event_id) DO NOTHING")


def connect(url: str, **overrides: Any) -> psycopg.Connection[Any]:
    """A psycopg connection to ``url`` with :data:`CONNECTION_DEFAULTS` filled in."""
    params = {**CONNECTION_DEFAULTS, **conninfo.conninfo_to_dict(url), **overrides}
    return psycopg.connect(conninfo.make_conninfo(**params), autocommit=True)


def configure_session(conn: psycopg.Connection[Any]) -> None:
    """Apply :data:`SESSION_SETTINGS` to a writer's session."""
    settings = dict(SESSION_SETTINGS)
    if conn.info.server_version >= 120000:
        settings.update(SESSION_SETTINGS_12)
    for name, value in settings.items():
        conn.execute("SELECT set_config(%s, %s, false)", (name, value))


class PostgresStore(Closing):
    """A PostgreSQL database holding the ``prompt_metrics`` table.

    Opening connects and creates or migrates the schema (under an advisory
    lock, :func:`storage.postgres.schema.migrate`). One store owns one
    connection; the consumer uses it from its single writer thread.
    """

    transient_errors: tuple[type[BaseException], ...] = (psycopg.OperationalError,)
    """Server unreachable, connection lost, admin shutdown, deadlock, disk full: all
    subclasses of OperationalError; the same window may commit later."""

    def __init__(self, url: str, *, busy_timeout: float = 5.0, read_only: bool = False) -> None:
        self.url = url
        self.read_only = read_only
        self._conn: psycopg.Connection[Any] | None = None
        try:
            conn = self._connection()
            version = current_version(conn)
            if version > LATEST_VERSION:
                raise StorageError(
                    f"{redact_url(url)} has schema version {version}, newer than this "
                    f"rev-analytics understands ({LATEST_VERSION}); upgrade rev-analytics")
            if read_only and version == 0:
                raise StorageError(f"{redact_url(url)} is not a rev-analytics database")
            if not read_only:
                migrate(conn)
        except psycopg.OperationalError:
            self.close()
            raise
        except psycopg.Error as exc:
            self.close()
            raise StorageError(f"cannot open database {redact_url(url)}: {exc}") from exc

    def _connection(self) -> psycopg.Connection[Any]:
        """The open connection, reconnecting after a loss (with a new staging table)."""
        conn = self._conn
        if conn is None or conn.closed or conn.broken:
            if conn is not None:
                log.warning("reconnecting to %s", redact_url(self.url))
                conn.close()
            self._conn = None
            conn = connect(self.url)
            if not self.read_only:
                configure_session(conn)
                conn.execute(staging_ddl())
            self._conn = conn
        return conn

    def insert_events(
        self, events: Iterable[PromptEvent], ingested_at: float | None = None
    ) -> int:
        """Insert ``events`` in one transaction; return how many rows were new.

        On any error the transaction is rolled back and the error propagates
        (the caller acknowledges nothing); after a connection error the next
        call reconnects. ``ingested_at`` (Unix seconds) overrides the
        server's clock, for reproducible test data.
        """
        if not events:
            return 0
        try:
            conn = self._connection()
            with conn.transaction(), conn.cursor() as cursor:
                with cursor.copy(copy_sql()) as copy:
                    for event in events:
                        copy.write_row(event)
                if ingested_at is None:
                    cursor.execute(move_sql(False))
                else:
                    stamp = datetime_from_micros(micros_from_seconds(ingested_at))
                    cursor.execute(move_sql(True), (stamp,))
                return max(cursor.rowcount, 0)
        except psycopg.OperationalError:
            self._drop()
            raise

    def count(self) -> int:
        """Number of stored executions."""
        row = self._connection().execute(f"SELECT COUNT(*) FROM {TABLE}").fetchone()
        assert row is not None
        return int(row[0])

    def _drop(self) -> None:
        """Forget a connection that failed: the next call opens a new one."""
        if self._conn is not None and (self._conn.broken or self._conn.closed):
            self._conn.close()
            self._conn = None

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None
