"""Shared fixtures: a real Redis server per test worker, real SQLite files.

Each pytest-xdist worker starts its own redis-server on a free port (no
shared state between workers or with the machine's Redis); every test gets a
flushed database and its own stream key, and flushes again afterwards.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
import redis

from tests.postgres_server import (
    MISSING_POSTGRES,
    PostgresServer,
    fresh_database,
    postgres_bin_dir,
)
from tests.redis_server import RedisServer

if TYPE_CHECKING:
    from tests.consumer_support import ConsumerProcess


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    with RedisServer() as server:
        yield server


@pytest.fixture
def redis_url(redis_server: RedisServer) -> Iterator[str]:
    client = redis_server.client()
    client.flushdb()
    yield redis_server.url
    client.flushdb()
    client.close()


@pytest.fixture
def redis_client(redis_url: str) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_url, protocol=2)
    yield client
    client.close()


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """A private PostgreSQL server per test worker (never the machine's on 5432)."""
    if postgres_bin_dir() is None:
        pytest.fail(MISSING_POSTGRES)
    with PostgresServer() as server:
        yield server


@pytest.fixture
def pg_url(postgres_server: PostgresServer) -> str:
    """The URL of a new, empty database on the private server."""
    return fresh_database(postgres_server)


@pytest.fixture
def stream_key() -> str:
    return f"test:{uuid.uuid4().hex[:12]}:prompt_executions"


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "analytics.db"


@pytest.fixture
def processes() -> Iterator[list[ConsumerProcess]]:
    """Consumer processes a test started; any still running at the end are killed."""
    started: list[ConsumerProcess] = []
    yield started
    for process in started:
        process.ensure_stopped()
