"""Issue 6, items 6 and 7 end to end: a flood of distinct ids, and a dead-letter flood.

The unit tests of the cap live in tests/streams/test_metrics_cardinality.py
and the in-process dead-letter cap in tests/streams/test_consumer.py; these
run the real ``rev-analytics consume`` process and look at what an operator
sees: the /metrics scrape, the process's memory, the dead-letter stream's
length and the trimmed counter.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import psutil
import pytest
import redis

from tests.consumer_support import ConsumerProcess, row_count, valid_fields, wait_for
from tests.reliability.support import (
    MetricsConsumer,
    Workload,
    assert_stored_exactly_once,
    consume_args,
    metric,
    pending,
    publish_workload,
)

CAP = 50
WAVE = 30_000


def _flood(wave: int) -> list[tuple[dict[str, str], str, None]]:
    """``WAVE`` events, every one with a template and model id never seen before."""
    out = []
    for n in range(wave * WAVE, (wave + 1) * WAVE):
        fields = valid_fields(n, template_id=f"tmpl-{n}-{'x' * 40}", model_id=f"model-{n}")
        out.append((fields, fields["event_id"], None))
    return out


def _template_labels(scrape: str) -> set[str]:
    return set(re.findall(r'template_id="([^"]*)"', scrape))


@pytest.mark.slow
def test_a_flood_of_distinct_template_ids_keeps_scrape_and_memory_bounded(
    redis_url: str, redis_client: redis.Redis, stream_key: str, db_path: Path,
    tmp_path: Path, processes: list[ConsumerProcess],
) -> None:
    proc = MetricsConsumer(tmp_path / "c1.log", *consume_args(
        redis_url, db_path, stream_key, "c1", "--max-template-labels", str(CAP),
        "--max-model-labels", "10"))
    processes.append(proc.start())
    assert proc.process is not None
    memory = psutil.Process(proc.process.pid)

    workload = Workload()
    sizes, rss = [], []
    for wave in range(3):
        publish_workload(redis_client, stream_key, _flood(wave), workload)
        wait_for(lambda: row_count(db_path) >= len(workload.valid_ids), 60, f"wave {wave}")
        # The metrics are updated just after the commit that row_count sees.
        wait_for(lambda: metric(proc.try_scrape(), "rev_events_persisted_total")
                 == len(workload.valid_ids), 10, "the wave's metrics")
        scrape = proc.scrape()
        sizes.append(len(scrape.encode()))
        rss.append(memory.memory_info().rss)
        labels = _template_labels(scrape)
        assert len(labels) <= CAP + 1 and "__other__" in labels
        assert len(set(re.findall(r'model_id="([^"]*)"', scrape))) <= 10 + 1

    folded = metric(scrape, "rev_metrics_label_folded_events_total", label="template_id")
    assert folded == 3 * WAVE - CAP
    assert metric(scrape, "rev_events_persisted_total") == 3 * WAVE
    # Waves two and three add 60 000 new ids each way; neither the scrape nor
    # the process may grow with them (uncapped, that is ~300k series).
    assert max(sizes) < 256 * 1024, sizes
    assert sizes[2] <= sizes[0] * 1.1, sizes
    assert rss[2] - rss[0] < 20 * 1024 * 1024, [r // 2**20 for r in rss]
    assert proc.stop() == 0
    assert_stored_exactly_once(db_path, workload)
    print(f"scrape bytes per wave {sizes}; RSS MiB per wave {[r // 2**20 for r in rss]}")


def test_dead_letter_flood_is_capped_and_what_was_trimmed_is_counted(
    redis_url: str, redis_client: redis.Redis, stream_key: str, db_path: Path,
    tmp_path: Path, processes: list[ConsumerProcess],
) -> None:
    cap, bad = 300, 5_000
    proc = MetricsConsumer(tmp_path / "c1.log", *consume_args(
        redis_url, db_path, stream_key, "c1", "--dead-letter-maxlen", str(cap)))
    processes.append(proc.start())
    entries = [(valid_fields(n, success="perhaps"), None, "success") for n in range(bad)]
    publish_workload(redis_client, stream_key, entries)
    wait_for(lambda: pending(redis_client, stream_key) == 0
             and redis_client.xlen(stream_key) == bad
             and metric(proc.try_scrape(), "rev_events_dead_lettered_total",
                        reason="invalid_value") == bad, 60, "every entry dead-lettered")

    length = redis_client.xlen(f"{stream_key}:dead")
    scrape = proc.scrape()
    assert proc.stop() == 0
    # MAXLEN ~ trims whole radix-tree nodes (100 entries each by default).
    assert cap <= length < cap + 200, length
    assert metric(scrape, "rev_dead_letter_entries_trimmed_total") == bad - length
    # The newest letters are the ones kept: the last one is the stream's last entry.
    newest_letter: Any = redis_client.xrevrange(f"{stream_key}:dead", count=1)
    newest_entry: Any = redis_client.xrevrange(stream_key, count=1)
    assert newest_letter[0][1][b"source_id"] == newest_entry[0][0]
