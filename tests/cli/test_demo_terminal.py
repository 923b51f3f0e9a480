"""The demo in a real terminal (tmux), read back as the person at it sees the screen."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from tests.consumer_support import ROOT

ROWS, COLUMNS = 60, 140
TITLE = "rev-analytics demo (Ctrl-C stops)"


class Terminal:
    """A private tmux server running one command in a ROWS x COLUMNS window."""

    def __init__(self, command: list[str]) -> None:
        self.socket = f"rev-test-{uuid.uuid4().hex[:8]}"
        # The exit code is printed after the command, then the window stays for reading.
        script = f"cd {shlex.quote(str(ROOT))} && {shlex.join(command)}; echo EXIT=$?; sleep 600"
        self._tmux("new-session", "-d", "-x", str(COLUMNS), "-y", str(ROWS), script)

    def _tmux(self, *args: str) -> str:
        return subprocess.run(["tmux", "-L", self.socket, *args], check=True,
                              capture_output=True, text=True).stdout

    def screen(self) -> str:
        return self._tmux("capture-pane", "-p", "-J")

    def wait_for(self, pattern: str, timeout: float) -> re.Match[str]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            match = re.search(pattern, self.screen())
            if match:
                return match
            time.sleep(0.2)
        raise AssertionError(f"no {pattern!r} on the screen after {timeout} s:\n{self.screen()}")

    def press_ctrl_c(self) -> None:
        self._tmux("send-keys", "C-c")

    def close(self) -> None:
        subprocess.run(["tmux", "-L", self.socket, "kill-server"], capture_output=True)


@pytest.fixture
def terminals() -> Iterator[list[Terminal]]:
    opened: list[Terminal] = []
    yield opened
    for terminal in opened:
        terminal.close()


def demo_command(out: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "rev_analytics", "--log-level", "INFO", "demo",
            "--out", str(out), "--metrics-port", "0", *args]


def test_the_live_table_is_drawn_once_with_no_log_line_inside(
    tmp_path: Path, terminals: list[Terminal]
) -> None:
    # 5 % malformed: every window dead-letters some, which logged an INFO line per window
    # into the live table before.
    terminal = Terminal(demo_command(tmp_path, "--events", "6000", "--rate", "3000",
                                     "--invalid-fraction", "0.05", "--no-report"))
    terminals.append(terminal)
    code = terminal.wait_for(r"EXIT=(\d+)", 240)
    screen = terminal.screen()
    assert code.group(1) == "0", screen
    lines = screen.splitlines()
    assert sum(TITLE in line for line in lines) == 1, screen  # one table, redrawn in place
    start = next(i for i, line in enumerate(lines) if TITLE in line)
    table = lines[start + 1:start + 8]
    assert table[0].startswith("┌") and table[-1].startswith("└"), screen
    for row in table[1:-1]:  # every row a whole table row: no log text glued to a border
        assert row.startswith("│") and row.rstrip().endswith("│"), row
    assert re.search(r"published │ 6,000 / 6,000", screen), screen
    assert not re.search(r"\b(INFO|DEBUG)\b|dead-lettered \d+ entries", screen), screen
    assert re.search(r"done: 6,000 published, [\d,]+ committed", screen), screen
    assert "success by template" in screen and "next steps:" in screen


def test_ctrl_c_exits_promptly_leaving_nothing_running(
    tmp_path: Path, terminals: list[Terminal]
) -> None:
    terminal = Terminal(demo_command(tmp_path, "--events", "1000000", "--rate", "2000"))
    terminals.append(terminal)
    socket = terminal.wait_for(r"unix://(/\S+)/redis\.sock", 120).group(1)
    terminal.wait_for(r"committed to SQLite │ [1-9]", 120)
    terminal.press_ctrl_c()
    pressed = time.monotonic()
    code = terminal.wait_for(r"EXIT=(\d+)", 30)
    assert time.monotonic() - pressed < 15
    screen = terminal.screen()
    assert code.group(1) == "130", screen
    flat = " ".join(screen.split())
    assert "interrupted:" in flat and "the summary and the report were skipped" in flat, screen
    assert f"partial data: {tmp_path / 'analytics.db'}" in screen, screen
    assert "success by template" not in screen and not (tmp_path / "report").exists()
    assert not Path(socket).exists()
    leftovers = [p for p in psutil.process_iter(["name", "cmdline"])
                 if not (p.info["name"] or "").startswith("tmux")  # the terminal itself
                 and any(socket in part or str(tmp_path) in part
                         for part in p.info["cmdline"] or ())]
    assert leftovers == []
