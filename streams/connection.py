"""Redis connections: one place that builds clients from URLs and hides secrets.

Passwords must never reach logs, errors, metrics or reports, so everything
that prints a Redis URL prints :func:`~rev_analytics.core.urls.redact_url` of it.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import redis
import redis.asyncio as aioredis

from rev_analytics.core.errors import ConfigError
from rev_analytics.core.urls import redact_url

_SCHEMES = ("redis", "rediss", "unix")


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
