"""Fixtures of the fault-injection suite: child processes that are always reaped."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.consumer_support import ConsumerProcess


@pytest.fixture
def processes() -> Iterator[list[ConsumerProcess]]:
    """Consumer processes a test started; any still running at the end are killed."""
    started: list[ConsumerProcess] = []
    yield started
    for process in started:
        process.ensure_stopped()
