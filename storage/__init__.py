"""Durable storage of prompt executions: the stores and the one reader of them.

:func:`open_store` opens the store a ``--db`` value names for writing (a
SQLite file, or a PostgreSQL URL: :mod:`storage.location`);
:func:`storage.reader.open_reader` reads either for the batch jobs. This
package imports only ``rev_analytics.core``; the reader alone needs pyarrow
(the consumer's install has none).
"""

from __future__ import annotations

from pathlib import Path

from storage.base import Store
from storage.location import StoreLocation, parse_location


def open_store(
    db: str | Path | StoreLocation, *, busy_timeout: float = 5.0, read_only: bool = False
) -> Store:
    """Open (creating or migrating if needed) the store ``db`` names."""
    location = db if isinstance(db, StoreLocation) else parse_location(db)
    if location.is_sqlite:
        from storage.sqlite.store import SqliteStore

        return SqliteStore(location.target, busy_timeout=busy_timeout, read_only=read_only)
    from storage.postgres import require

    require("psycopg")
    from storage.postgres.store import PostgresStore

    return PostgresStore(location.target, busy_timeout=busy_timeout, read_only=read_only)


def transient_open_errors(db: str | Path | StoreLocation) -> tuple[type[BaseException], ...]:
    """Errors after which opening ``db`` may succeed later: a server not reachable yet.

    A PostgreSQL server may start after its consumers, or be failing over:
    the consumer keeps trying, as it does for Redis. A SQLite file that cannot
    be opened is a local problem to report at once (none).
    """
    location = db if isinstance(db, StoreLocation) else parse_location(db)
    if location.is_sqlite:
        return ()
    import psycopg

    return (psycopg.OperationalError,)
