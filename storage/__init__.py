"""Durable storage of prompt executions (SQLite by default)."""

from storage.sqlite_store import COLUMNS, SqliteStore, format_timestamp, open_store

__all__ = ["COLUMNS", "SqliteStore", "format_timestamp", "open_store"]
