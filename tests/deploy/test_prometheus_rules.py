"""deploy/prometheus: config and rules are valid, every alert is unit-tested with promtool."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import yaml

from tests.deploy.promql import (
    DEPLOY,
    RULES_DIR,
    exported_names,
    metric_names,
    promtool,
    recorded_names,
)

PROMETHEUS = DEPLOY / "prometheus"
RULE_TESTS = PROMETHEUS / "tests" / "alerts_test.yml"


def rules(kind: str) -> list[dict]:
    found: list[dict] = []
    for path in sorted(RULES_DIR.glob("*.yml")):
        for group in yaml.safe_load(path.read_text())["groups"]:
            found.extend(rule for rule in group["rules"] if kind in rule)
    return found


def run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([promtool(), *args], capture_output=True, text=True, timeout=120,
                          cwd=cwd)


def test_rule_files_and_config_are_valid() -> None:
    result = run("check", "rules", *map(str, sorted(RULES_DIR.glob("*.yml"))))
    assert result.returncode == 0, result.stdout + result.stderr
    result = run("check", "config", "--syntax-only", str(PROMETHEUS / "prometheus.yml"))
    assert result.returncode == 0, result.stdout + result.stderr


def test_alert_unit_tests_pass() -> None:
    result = run("test", "rules", str(RULE_TESTS))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_rule_tests_pin_the_group_order_recording_before_alerts() -> None:
    # promtool evaluates groups in random order unless told; an alert evaluated
    # before the recording rules of its tick reads stale ratios, and its
    # annotation's value then differs from run to run.
    order = yaml.safe_load(RULE_TESTS.read_text()).get("group_eval_order", [])
    groups = [group["name"] for path in sorted(RULES_DIR.glob("*.yml"))
              for group in yaml.safe_load(path.read_text())["groups"]]
    assert sorted(order) == sorted(groups), "every group, once"
    alerts = [name for name in order if name.endswith("alerts")]
    assert alerts and order.index(alerts[0]) == len(order) - 1, "alerts last"


def test_alert_unit_tests_give_the_same_answer_every_run() -> None:
    # The failure mode above showed in about one run in ten.
    for _ in range(20):
        result = run("test", "rules", str(RULE_TESTS))
        assert result.returncode == 0, result.stdout + result.stderr


def test_every_alert_has_a_firing_and_a_silent_case() -> None:
    cases = yaml.safe_load(RULE_TESTS.read_text())["tests"]
    firing: set[str] = set()
    silent: set[str] = set()
    for case in cases:
        for check in case.get("alert_rule_test", []):
            (firing if check["exp_alerts"] else silent).add(check["alertname"])
    alerts = {rule["alert"] for rule in rules("alert")}
    assert alerts - firing == set(), "alerts never shown firing"
    assert alerts - silent == set(), "alerts never shown staying silent"


def test_per_template_alerts_carry_template_id_and_the_contract_threshold() -> None:
    cases = yaml.safe_load(RULE_TESTS.read_text())["tests"]
    for case in cases:
        for check in case.get("alert_rule_test", []):
            if check["alertname"].startswith("RevPromptSuccess"):
                assert all("template_id" in a["exp_labels"] for a in check["exp_alerts"])
    thresholds = {rule["record"]: rule["expr"] for rule in rules("record")}
    assert thresholds["rev:alert_success_ratio:threshold"] == "vector(0.80)"
    low = next(rule for rule in rules("alert") if rule["alert"] == "RevPromptSuccessRateLow")
    assert "rev:alert_min_executions_5m:threshold" in low["expr"], "minimum-traffic guard"
    assert low["for"]


def test_rules_use_only_exported_or_recorded_names() -> None:
    known = exported_names() | recorded_names() | {"up"}
    for rule in rules("expr"):
        names = metric_names(rule["expr"])
        assert names <= known, (rule.get("alert") or rule.get("record"), names - known)


def test_the_unit_tests_notice_a_changed_threshold(tmp_path: Path) -> None:
    """Guard against vacuous tests: lowering the threshold must break them."""
    copy = tmp_path / "prometheus"
    shutil.copytree(PROMETHEUS, copy)
    thresholds = copy / "rules" / "thresholds.yml"
    thresholds.write_text(thresholds.read_text().replace("vector(0.80)", "vector(0.40)"))
    result = run("test", "rules", str(copy / "tests" / "alerts_test.yml"))
    assert result.returncode != 0
    assert "RevPromptSuccessRateLow" in result.stdout + result.stderr
