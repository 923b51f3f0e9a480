"""Issue 6, item 5: hostile input is dead-lettered with a reason and stalls nothing.

The catalogue lives in ``tests/reliability/poison.py``. Whether valid
throughput stays within 20 % of normal alongside the poison is a timing
target, so it is measured by ``benchmarks/bench_poison.py`` (best of
interleaved rounds; CI runs its short version), not asserted here: on a shared
2-core machine a timed unit test fails on the machine's load, not on the code.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import redis

from tests.consumer_support import stored_rows
from tests.reliability.poison import VALID, VALID_UNICODE, drain_seconds, poisoned_stream
from tests.reliability.support import (
    assert_dead_lettered,
    assert_stored_exactly_once,
    publish_workload,
)


@pytest.mark.slow
def test_poison_is_dead_lettered_with_reasons_and_every_valid_event_stored_once(
    redis_url: str, redis_client: redis.Redis, stream_key: str, tmp_path: Path,
) -> None:
    workload = publish_workload(redis_client, stream_key, poisoned_stream(VALID), chunk=500)
    assert len(workload.malformed) >= 50

    db = tmp_path / "poisoned.db"
    drain_seconds(redis_url, stream_key, db, "g", workload.total)  # fails if it stalls
    assert_stored_exactly_once(db, workload)
    # Each malformed entry once, with an error naming its field.
    for letter in assert_dead_lettered(redis_client, stream_key, workload):
        if len(letter) > 10_000:  # the 10 000-field entry keeps every field
            assert letter[b"extra_9999"] == b"9999"
        assert len(letter[b"error"]) < 500  # a reason, never an echo of the poison

    # Odd but valid unicode went in verbatim.
    rows = dict(stored_rows(db, "event_id, prompt_id"))
    stored = sorted(v for k, v in rows.items() if k.startswith("unicode-"))
    assert stored == sorted(odd["prompt_id"] for odd in VALID_UNICODE)
