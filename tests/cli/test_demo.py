"""``rev-analytics demo`` as a user runs it: a child process with no services given."""

from __future__ import annotations

import re
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import psutil

from tests.consumer_support import ROOT, wait_for


def demo(out: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "rev_analytics", "--log-level", "WARNING", "demo",
         "--out", str(out), "--metrics-port", "0", *args],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )


def embedded_servers(socket_dir: str) -> list[psutil.Process]:
    found = []
    for process in psutil.process_iter(["cmdline"]):
        if any(socket_dir in part for part in process.info["cmdline"] or ()):
            found.append(process)
    return found


def test_demo_runs_everything_and_leaves_nothing_running(tmp_path: Path) -> None:
    process = demo(tmp_path, "--events", "3000", "--rate", "20000")
    output, _ = process.communicate(timeout=240)

    assert process.returncode == 0, output
    with sqlite3.connect(tmp_path / "analytics.db") as conn:
        rows, distinct = conn.execute(
            "SELECT COUNT(*), COUNT(DISTINCT event_id) FROM prompt_metrics"
        ).fetchone()
    match = re.search(r"3,000 published, ([\d,]+) committed.*?([\d,]+) dead-lettered",
                      output, re.S)
    assert match, output
    committed, dead = (int(g.replace(",", "")) for g in match.groups())
    assert rows == distinct == committed
    assert committed + dead == 3000
    assert 0 < dead < 100  # the demo's deliberate 0.5 % of malformed events
    assert (tmp_path / "report" / "report.html").is_file()
    assert "success by template" in output
    # The simulator repeats each template's prompts: the intervals say they account for it.
    assert "95 % prompt-clustered intervals" in output
    # Piped output is not wrapped at 80 columns: each next step is one whole command line.
    lines = output.splitlines()
    db, report = tmp_path / "analytics.db", tmp_path / "report"
    assert f"  rev-analytics analyze --db {db}" in lines
    assert f"  rev-analytics report --db {db} --out {report}" in lines
    (ab_test,) = [line for line in lines if line.startswith("  rev-analytics ab-test ")]
    assert ab_test.endswith(" --json") and f"--db {db} --a " in ab_test
    (compare,) = [line for line in lines if line.startswith("  rev-analytics compare-models ")]
    assert compare.endswith(" --json") and f"--db {db} --a " in compare
    assert any(re.fullmatch(rf"  rev-analytics analyze --db {re.escape(str(db))} "
                            r"--experiment exp-\d{4}-\d\d-\d\d-d", line) for line in lines)
    assert "\x1b[" not in output
    socket_dir = re.search(r"unix://(/\S+)/redis\.sock", output)
    assert socket_dir, output
    assert not Path(socket_dir.group(1)).exists()
    assert embedded_servers(socket_dir.group(1)) == []


def test_embedded_redis_dies_with_a_killed_demo(tmp_path: Path) -> None:
    process = demo(tmp_path, "--events", "1000000", "--rate", "2000", "--no-report")
    assert process.stdout is not None
    line = ""
    deadline = time.monotonic() + 60
    while "redis.sock" not in line and time.monotonic() < deadline:
        line += process.stdout.readline()
    socket_dir = re.search(r"unix://(/\S+)/redis\.sock", line)
    assert socket_dir, line
    assert embedded_servers(socket_dir.group(1)), "embedded Redis not running"

    process.send_signal(signal.SIGKILL)
    process.wait(30)

    wait_for(lambda: not embedded_servers(socket_dir.group(1)), 10,
             "the orphaned redis-server to exit")


def test_demo_ctrl_c_stops_at_once_and_says_where_the_partial_data_is(tmp_path: Path) -> None:
    process = demo(tmp_path, "--events", "1000000", "--rate", "2000")
    wait_for(lambda: (tmp_path / "analytics.db").exists(), 60, "the store")
    time.sleep(3)
    process.send_signal(signal.SIGINT)
    stopped = time.monotonic()
    output, _ = process.communicate(timeout=60)

    assert time.monotonic() - stopped < 15, output
    assert process.returncode == 130, output  # interrupted: no summary, no report
    match = re.search(r"interrupted: ([\d,]+) of 1,000,000 events published, ([\d,]+) committed "
                      r"and acknowledged, ([\d,]+) dead-lettered, ([\d,]+) not yet read", output)
    assert match, output
    published, committed, dead, unread = (int(g.replace(",", "")) for g in match.groups())
    assert f"partial data: {tmp_path / 'analytics.db'}" in output.splitlines()
    assert "success by template" not in output and not (tmp_path / "report").exists()
    with sqlite3.connect(tmp_path / "analytics.db") as conn:
        (rows,) = conn.execute("SELECT COUNT(*) FROM prompt_metrics").fetchone()
    assert rows == committed > 0 and committed + dead + unread == published
