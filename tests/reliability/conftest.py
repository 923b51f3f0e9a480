"""Fixtures of the fault-injection suite.

Each test here gets its **own** redis-server on a free port (issue 6: a
fault test must not share a server with anything else), overriding the
per-worker server of tests/conftest.py, and every child process it started
is killed at the end whatever happened.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import redis

from tests.redis_server import RedisServer


@pytest.fixture
def own_redis() -> Iterator[RedisServer]:
    """A fresh redis-server for this test alone."""
    with RedisServer() as server:
        yield server


@pytest.fixture
def redis_url(own_redis: RedisServer) -> str:
    return own_redis.url


@pytest.fixture
def redis_client(redis_url: str) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_url, protocol=2)
    yield client
    client.close()
