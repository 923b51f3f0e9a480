"""Redis connections: one place that builds clients from URLs and hides secrets.

Passwords must never reach logs, errors, metrics or reports, so everything
that prints a Redis URL prints :func:`redact_url` of it.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit, urlunsplit

import redis
import redis.asyncio as aioredis

from rev_analytics.core.errors import ConfigError

_SCHEMES = ("redis", "rediss", "unix")


def redact_url(url: str) -> str:
    """``url`` with any password replaced by ``***`` (user names are kept)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparseable redis url>"
    if parts.password is None:
        return url
    user = parts.username or ""
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    netloc = f"{user}:***@{host}"
    query = parts.query
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def _check(url: str) -> None:
    scheme = urlsplit(url).scheme
    if scheme not in _SCHEMES:
        raise ConfigError(
            f"redis url {redact_url(url)!r} must start with redis://, rediss:// or unix://"
        )


def connect(url: str, **options: Any) -> redis.Redis:
    """A synchronous client for ``url`` (bytes replies, RESP2 for stable reply shapes)."""
    _check(url)
    options.setdefault("protocol", 2)
    return redis.Redis.from_url(url, **options)


def connect_async(url: str, **options: Any) -> aioredis.Redis:
    """An asyncio client for ``url`` (bytes replies, RESP2 for stable reply shapes)."""
    _check(url)
    options.setdefault("protocol", 2)
    return aioredis.Redis.from_url(url, **options)
