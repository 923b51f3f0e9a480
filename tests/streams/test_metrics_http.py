"""The /metrics endpoint: what Prometheus receives over HTTP."""

from __future__ import annotations

import gzip
import socket
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator

import pytest
from prometheus_client.parser import text_string_to_metric_families

from rev_analytics.core.errors import ConfigError
from rev_analytics.core.event import PromptEvent
from streams.metrics.exporter import ConsumerMetrics, MetricsServer, serve_metrics


@pytest.fixture
def metrics() -> ConsumerMetrics:
    return ConsumerMetrics()


@pytest.fixture
def server(metrics: ConsumerMetrics) -> Iterator[MetricsServer]:
    running = MetricsServer(metrics, "127.0.0.1", 0)
    yield running
    running.stop()


def window(n: int, template: str = "t") -> list[PromptEvent]:
    now = time.time()
    return [
        PromptEvent(f"{template}{i}", f"1-{i}", "p", template, "m", now, i % 4 != 0)
        for i in range(n)
    ]


def get(url: str, **headers: str) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(url, headers=headers)
    with urllib.request.urlopen(request, timeout=10) as response:
        return response.status, dict(response.headers), response.read()


def test_metrics_are_served_as_prometheus_text(
    metrics: ConsumerMetrics, server: MetricsServer
) -> None:
    metrics.record_committed(window(8), 8, 0.01)
    status, headers, body = get(server.url)
    assert status == 200
    assert headers["Content-Type"].startswith("text/plain; version=0.0.4")
    families = {f.name: f for f in text_string_to_metric_families(body.decode())}
    executions = {
        s.labels["outcome"]: s.value
        for s in families["rev_prompt_executions"].samples
        if s.labels.get("template_id") == "t"
    }
    assert executions == {"success": 6, "failure": 2}


def test_gzip_is_used_when_the_scraper_accepts_it(
    metrics: ConsumerMetrics, server: MetricsServer
) -> None:
    metrics.record_committed(window(8), 8, 0.01)
    _, headers, body = get(server.url, **{"Accept-Encoding": "gzip"})
    assert headers["Content-Encoding"] == "gzip"
    assert b"rev_prompt_executions_total" in gzip.decompress(body)


def test_other_paths_are_not_found(server: MetricsServer) -> None:
    with pytest.raises(urllib.error.HTTPError) as caught:
        get(server.url.replace("/metrics", "/secrets"))
    assert caught.value.code == 404


def test_stop_releases_the_port(metrics: ConsumerMetrics) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    stop = serve_metrics(metrics, "127.0.0.1", port)
    assert get(f"http://127.0.0.1:{port}/metrics")[0] == 200
    stop()
    with pytest.raises(urllib.error.URLError):
        get(f"http://127.0.0.1:{port}/metrics")
    serve_metrics(metrics, "127.0.0.1", port)()  # the port is free again


def test_a_port_in_use_is_a_one_line_config_error(
    metrics: ConsumerMetrics, server: MetricsServer
) -> None:
    with pytest.raises(ConfigError, match=f"127.0.0.1:{server.port}"):
        serve_metrics(metrics, "127.0.0.1", server.port)


def test_scrapes_during_recording_are_consistent(
    metrics: ConsumerMetrics, server: MetricsServer
) -> None:
    """Scrapes run on the server's threads while the consumer records."""
    failures: list[BaseException] = []
    done = threading.Event()

    def record() -> None:
        try:
            for i in range(200):
                metrics.record_committed(window(50, template=f"t{i % 40}"), 50, 0.0)
        except BaseException as exc:  # pragma: no cover - reported below
            failures.append(exc)
        finally:
            done.set()

    recorder = threading.Thread(target=record)
    recorder.start()
    scrapes = 0
    while not done.is_set() or scrapes < 3:
        _, _, body = get(server.url)
        # Parsing proves every scrape is a complete, well-formed exposition.
        families = {f.name for f in text_string_to_metric_families(body.decode())}
        assert "rev_events_persisted" in families
        scrapes += 1
    recorder.join()
    assert not failures
    total = sum(
        s.value
        for f in text_string_to_metric_families(get(server.url)[2].decode())
        if f.name == "rev_prompt_executions"
        for s in f.samples
    )
    assert total == 200 * 50
