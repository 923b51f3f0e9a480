"""The shared store: PostgreSQL, for consumers on several hosts (``--db postgresql://...``).

psycopg 3 writes (COPY into a staging table, then one ``INSERT ... ON
CONFLICT DO NOTHING``); ADBC's PostgreSQL driver reads into Arrow. Both come
with the ``postgresql`` extra; :func:`require` turns a missing one into a
one-line "pip install" answer (exit 2), as the CLI does for its extras.
"""

from __future__ import annotations

import importlib.util

from rev_analytics.core.errors import ConfigError

EXTRA = "postgresql"


def require(*modules: str) -> None:
    """Raise :class:`ConfigError` naming the pip install when a driver is missing."""
    missing = [name for name in modules if importlib.util.find_spec(name) is None]
    if missing:
        raise ConfigError(
            f"a postgresql:// --db needs the {EXTRA} extra ({', '.join(missing)} not "
            f"installed): pip install 'rev-analytics[{EXTRA}]'")
