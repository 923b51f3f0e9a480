"""What a ``--db`` value names: a SQLite file, or a PostgreSQL server by URL.

A value with a ``scheme://`` prefix is a URL and must be ``postgresql://``
(or ``postgres://``); anything else with a scheme is bad input, never a
relative file name (``postgresql:/host/db`` silently becoming a file was a
bug users hit). A value without a scheme is a SQLite file path (or
``:memory:``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from rev_analytics.core.errors import ConfigError
from rev_analytics.core.urls import redact_url

_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*):/")
POSTGRES_SCHEMES = ("postgresql", "postgres")


@dataclass(frozen=True, slots=True)
class StoreLocation:
    """A parsed ``--db`` value: ``backend`` and its ``target`` (a path or a URL)."""

    backend: Literal["sqlite", "postgresql"]
    target: str

    @property
    def is_sqlite(self) -> bool:
        return self.backend == "sqlite"

    def __str__(self) -> str:
        """For messages and logs: a URL's password is never shown."""
        return redact_url(self.target) if self.backend == "postgresql" else self.target


def parse_location(value: str | Path) -> StoreLocation:
    """Parse a ``--db`` value; raise :class:`ConfigError` for an unsupported scheme."""
    text = str(value)
    if not text.strip():
        raise ConfigError("--db must not be empty")
    match = _SCHEME.match(text)
    if match is None:
        return StoreLocation("sqlite", text)
    scheme = match.group(1).lower()
    if scheme in POSTGRES_SCHEMES:
        if not text[match.end():].startswith("/"):
            raise ConfigError(
                f"--db {redact_url(text)!r}: a PostgreSQL URL looks like "
                "postgresql://user@host:5432/database")
        return StoreLocation("postgresql", text)
    if scheme == "sqlite":
        raise ConfigError(f"--db {text!r}: give a SQLite store as a plain file path")
    raise ConfigError(
        f"--db {redact_url(text)!r}: unsupported scheme {scheme}://; give a SQLite file "
        "path or a postgresql:// URL")
