"""Helpers for checking PromQL written in deploy/ against the exporter and promtool."""

from __future__ import annotations

import re
import shutil
import subprocess
import time
from pathlib import Path

import yaml

from rev_analytics.core.decode import DEAD_LETTER_REASONS
from rev_analytics.core.event import PromptEvent
from streams.metrics.exporter import ConsumerMetrics

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
RULES_DIR = DEPLOY / "prometheus" / "rules"

_KEYWORDS = frozenset({
    "and", "or", "unless", "by", "without", "on", "ignoring", "group_left", "group_right",
    "offset", "bool", "inf", "nan", "atan2",
})
_STRINGS = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')
_MATCHERS = re.compile(r"\{[^}]*\}")
_RANGES = re.compile(r"\[[^\]]*\]")
_GROUPING = re.compile(
    r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", re.IGNORECASE
)
_IDENTIFIER = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")


def promtool() -> str:
    found = shutil.which("promtool")
    assert found, "promtool is needed (Debian package 'prometheus'; .ci/run installs it)"
    return found


def metric_names(expr: str) -> set[str]:
    """The metric (or recorded series) names a PromQL expression selects."""
    text = _STRINGS.sub('""', expr)
    text = _MATCHERS.sub("", text)
    text = _RANGES.sub("", text)
    text = _GROUPING.sub("", text)
    names = set()
    for match in _IDENTIFIER.finditer(text):
        token = match.group()
        before = text[match.start() - 1] if match.start() else " "
        after = text[match.end():].lstrip()[:1]
        if before.isdigit() or before == ".":  # a number's exponent or a duration unit
            continue
        if after == "(" or token.lower() in _KEYWORDS:
            continue
        names.add(token)
    return names


def exported_names() -> set[str]:
    """Every sample name a consumer exports once each hook has been called."""
    metrics = ConsumerMetrics()
    metrics.record_committed(
        [PromptEvent("e", "1-0", "p", "t", "m", round(time.time() * 1e6), True, 10, 1.0, 0.5,
                     0.5, 0.5, 3,
                     "d", 0.01)],
        inserted=1, commit_seconds=0.01,
    )
    metrics.record_dead_letter(DEAD_LETTER_REASONS[0])
    metrics.record_write_failure("OperationalError")
    metrics.set_lag(1)
    names = set()
    for line in metrics.exposition().decode().splitlines():
        if line and not line.startswith("#"):
            names.add(_IDENTIFIER.match(line).group())  # type: ignore[union-attr]
    return names


def recorded_names() -> set[str]:
    names: set[str] = set()
    for path in RULES_DIR.glob("*.yml"):
        for group in yaml.safe_load(path.read_text())["groups"]:
            names.update(rule["record"] for rule in group["rules"] if "record" in rule)
    return names


def check_expressions(expressions: dict[str, str], tmp_path: Path) -> subprocess.CompletedProcess:
    """Run ``promtool check rules`` on ``expressions`` wrapped as recording rules."""
    rules = [
        {"record": f"check:expr_{i}", "expr": expr} for i, expr in enumerate(expressions.values())
    ]
    path = tmp_path / "expressions.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "check", "rules": rules}]}))
    return subprocess.run([promtool(), "check", "rules", str(path)], capture_output=True,
                          text=True, timeout=60)
