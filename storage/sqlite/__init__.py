"""The embedded store: one SQLite file (WAL), the default backend."""
