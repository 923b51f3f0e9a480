"""End to end: simulator -> Redis -> consumer /metrics -> a real Prometheus with our rules.

Everything runs as it would in production, on loopback ports chosen here:
``rev-analytics consume`` and ``rev-analytics simulate`` as subprocesses,
Debian's ``prometheus`` server loading the shipped rule files (scraping and
evaluating every second instead of every 15 s). The test reads Prometheus's
HTTP API and checks

* the exported counters against ground truth: the entries actually in the
  stream, decoded with the consumer's own decoder;
* the recorded success ratio per template against the same truth;
* that the low-success alert becomes pending (``for: 10m`` keeps it from
  firing within a test) for a template made to fail, and for no healthy one;
* that every Grafana panel's query returns data from the live stack.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
import redis
import yaml

from rev_analytics.core.decode import decode_entry
from rev_analytics.core.encode import encode_event
from streams.simulate.workload import TEMPLATES
from tests.deploy.promql import RULES_DIR
from tests.deploy.test_grafana import expressions as panel_expressions
from tests.redis_server import free_port

pytestmark = pytest.mark.slow

FAILING = "e2e-failing-template"
FAILING_EVENTS = 150
FAILING_SUCCESS_EVERY = 10  # one success in ten: a 10 % success ratio
SIMULATED_EVENTS = 3000
RATE = 300.0  # events/s: the run lasts ~10 s, ~10 scrapes
T = TypeVar("T")


def wait_for(what: str, probe: Callable[[], T | None], timeout: float = 60.0,
             every: float = 0.5) -> T:
    deadline = time.monotonic() + timeout
    last_error: BaseException | None = None
    while time.monotonic() < deadline:
        try:
            result = probe()
        except Exception as exc:  # not up yet
            last_error = exc
            result = None
        if result is not None and result is not False:
            return result
        time.sleep(every)
    raise AssertionError(f"timed out waiting for {what} (last error: {last_error!r})")


def http_get(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=5) as response:
        return bytes(response.read())


class Prometheus:
    def __init__(self, base: str) -> None:
        self.base = base

    def query(self, expr: str) -> list[dict[str, Any]]:
        url = f"{self.base}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
        reply = json.loads(http_get(url))
        assert reply["status"] == "success", reply
        return list(reply["data"]["result"])

    def by_template(self, expr: str) -> dict[str, float]:
        return {r["metric"]["template_id"]: float(r["value"][1]) for r in self.query(expr)}


def stop(process: subprocess.Popen[bytes], timeout: float = 20.0) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "rev_analytics", *args]


@pytest.fixture
def consumer(redis_url: str, stream_key: str, tmp_path: Path) -> Iterator[int]:
    port = free_port()
    log = open(tmp_path / "consumer.log", "wb")  # noqa: SIM115 - closed below
    process = subprocess.Popen(
        cli("consume", "--redis-url", redis_url, "--db", str(tmp_path / "e2e.db"),
            "--stream", stream_key, "--consumer", "e2e", "--batch-within", "0.2",
            "--metrics-addr", "127.0.0.1", "--metrics-port", str(port)),
        stdout=log, stderr=subprocess.STDOUT,
    )
    try:
        wait_for("the consumer's /metrics",
                 lambda: process.poll() is None and http_get(f"http://127.0.0.1:{port}/metrics"),
                 timeout=30)
        yield port
    finally:
        stop(process)
        log.close()
        print((tmp_path / "consumer.log").read_text()[-3000:])


@pytest.fixture
def prometheus(consumer: int, tmp_path: Path) -> Iterator[Prometheus]:
    binary = shutil.which("prometheus")
    assert binary, "the Prometheus server is needed (Debian package 'prometheus')"
    config = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(path) for path in sorted(RULES_DIR.glob("*.yml"))],
        "scrape_configs": [{"job_name": "rev-analytics",
                            "static_configs": [{"targets": [f"127.0.0.1:{consumer}"]}]}],
    }
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(config))
    port = free_port()
    log = open(tmp_path / "prometheus.log", "wb")  # noqa: SIM115 - closed below
    process = subprocess.Popen(
        [binary, f"--config.file={tmp_path / 'prometheus.yml'}",
         f"--storage.tsdb.path={tmp_path / 'tsdb'}",
         f"--web.listen-address=127.0.0.1:{port}"],
        stdout=log, stderr=subprocess.STDOUT, cwd=tmp_path,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for("Prometheus to be ready",
                 lambda: process.poll() is None and http_get(f"{base}/-/ready"), timeout=60)
        server = Prometheus(base)
        wait_for("the consumer target to be up",
                 lambda: server.query('up{job="rev-analytics"} == 1'), timeout=30)
        yield server
    finally:
        stop(process)
        log.close()
        print((tmp_path / "prometheus.log").read_text()[-3000:])


def publish_failing_template(url: str, stream: str, seconds: float) -> None:
    """A template that fails 9 times in 10, spread over the simulator's run."""
    client = redis.Redis.from_url(url)
    try:
        for i in range(FAILING_EVENTS):
            fields = encode_event({
                "event_id": str(uuid.uuid4()), "prompt_id": f"p{i}", "template_id": FAILING,
                "model_id": "e2e-model", "success": i % FAILING_SUCCESS_EVERY == 0,
                "timestamp": time.time(), "execution_time": 0.5, "cost": 0.001,
            })
            client.xadd(stream, fields)  # type: ignore[arg-type]
            time.sleep(seconds / FAILING_EVENTS)
    finally:
        client.close()


def ground_truth(url: str, stream: str) -> dict[str, tuple[int, int]]:
    """(successes, executions) per template of every valid entry in the stream."""
    client = redis.Redis.from_url(url)
    truth: dict[str, tuple[int, int]] = {}
    try:
        entries: list[tuple[bytes, dict[bytes, bytes]]] = client.xrange(stream)  # type: ignore[assignment]
        for entry_id, fields in entries:
            event = decode_entry(entry_id, fields)
            ok, n = truth.get(event.template_id, (0, 0))
            truth[event.template_id] = (ok + event.success, n + 1)
    finally:
        client.close()
    return truth


def warm_up(url: str, stream: str, prometheus: Prometheus) -> None:
    """One event per template, scraped before the run starts.

    rate() cannot see what a counter had already counted at its series' first
    scrape. Under load the consumer may commit a large first window before
    that scrape, and the simulator's degrading template changes rate during
    the run, so the missing head biased the recorded ratio. With every series
    already known to Prometheus, rate() sees (almost) the whole run.
    """
    client = redis.Redis.from_url(url)
    try:
        for template in [*(t.template_id for t in TEMPLATES), FAILING]:
            client.xadd(stream, encode_event({  # type: ignore[arg-type]
                "event_id": str(uuid.uuid4()), "prompt_id": "warm-up", "template_id": template,
                "model_id": "e2e-model", "success": True, "timestamp": time.time(),
            }))
    finally:
        client.close()
    expected = str(len(TEMPLATES) + 1)
    wait_for(
        "Prometheus to scrape the warm-up events",
        lambda: (prometheus.query("sum(rev_prompt_executions_total)") or [{"value": [0, "0"]}])
        [0]["value"][1] == expected,
        timeout=60,
    )


def test_prometheus_records_true_ratios_and_alerts_on_a_failing_template(
    redis_url: str, stream_key: str, prometheus: Prometheus
) -> None:
    warm_up(redis_url, stream_key, prometheus)
    seconds = SIMULATED_EVENTS / RATE
    failing = threading.Thread(target=publish_failing_template,
                               args=(redis_url, stream_key, seconds))
    failing.start()
    simulate = subprocess.run(
        cli("simulate", "--redis-url", redis_url, "--stream", stream_key,
            "--events", str(SIMULATED_EVENTS), "--rate", str(RATE), "--seed", "11"),
        capture_output=True, text=True, timeout=120,
        env={**os.environ, "COLUMNS": "120"},
    )
    failing.join()
    assert simulate.returncode == 0, simulate.stderr

    truth = ground_truth(redis_url, stream_key)
    total = sum(n for _, n in truth.values())
    assert total == SIMULATED_EVENTS + FAILING_EVENTS + len(TEMPLATES) + 1
    wait_for(
        "Prometheus to see every event counted",
        lambda: (prometheus.query("sum(rev_prompt_executions_total)") or [{"value": [0, "0"]}])
        [0]["value"][1] == str(total),
        timeout=60,
    )

    # 1. The exported counters are exact.
    counted = prometheus.by_template(
        'sum by (template_id) (rev_prompt_executions_total{outcome="success"})'
        " / sum by (template_id) (rev_prompt_executions_total)"
    )
    assert set(counted) == set(truth)
    for template, (ok, n) in truth.items():
        assert counted[template] == pytest.approx(ok / n, abs=1e-9), template

    # 2. The recorded ratio (rate-based, over 5 minutes) agrees with the truth.
    # rate() cannot see the events already counted at a series' first scrape
    # (about the first second of ~10), so allow for that sampling error.
    def recorded_ratios() -> dict[str, float] | None:
        found = prometheus.by_template("template:rev_prompt_success:ratio_rate5m")
        return found if set(found) == set(truth) else None

    recorded = wait_for("the recording rule to cover every template", recorded_ratios,
                        timeout=30)
    for template, (ok, n) in truth.items():
        if n < 100:
            continue
        p = ok / n
        tolerance = 0.03 + 4 * (p * (1 - p) / n) ** 0.5
        assert recorded[template] == pytest.approx(p, abs=tolerance), (template, ok, n)

    # 3. The low-success alert (threshold 0.80) picks out the failing template
    # and the clearly weak simulated ones, and none of the clearly healthy ones;
    # templates within sampling noise of 0.80 may go either way.
    rate = {template: ok / n for template, (ok, n) in truth.items()}
    clearly_low = {t for t, p in rate.items() if p < 0.72}
    clearly_healthy = {t for t, p in rate.items() if p > 0.85}
    assert FAILING in clearly_low and clearly_healthy, rate

    def alerting() -> dict[str, str] | None:
        found = {
            r["metric"]["template_id"]: r["metric"]["alertstate"]
            for r in prometheus.query('ALERTS{alertname="RevPromptSuccessRateLow"}')
        }
        return found if clearly_low <= set(found) else None

    alerts = wait_for("RevPromptSuccessRateLow for every clearly weak template", alerting,
                      timeout=30)
    assert alerts[FAILING] in ("pending", "firing")
    assert not clearly_healthy & set(alerts), (alerts, rate)

    # 4. Every dashboard panel's query returns data from this live stack.
    # Redis < 7 cannot tell a group's lag (XINFO GROUPS has no 'lag'): then the
    # lag series is absent, by design, rather than a made-up 0.
    client = redis.Redis.from_url(redis_url)
    lag_known = int(client.info("server")["redis_version"].split(".")[0]) >= 7
    client.close()
    for where, expr in panel_expressions().items():
        if where.startswith("annotation"):
            continue  # firing alerts only: none fire within a test (for: 10m)
        if "rev_consumer_lag_events" in expr and not lag_known:
            assert not prometheus.query(expr), "lag exported although Redis cannot know it"
            continue
        assert prometheus.query(expr), f"dashboard panel {where!r} shows no data"
