"""docs/operations.md stays in step with the alerts and the exporter."""

from __future__ import annotations

import re

import yaml

from tests.deploy.promql import ROOT, RULES_DIR, exported_names

DOC = (ROOT / "docs" / "operations.md").read_text()


def alerts() -> list[dict]:
    groups = yaml.safe_load((RULES_DIR / "alerts.yml").read_text())["groups"]
    return [rule for group in groups for rule in group["rules"]]


def test_every_alert_has_a_runbook_section_its_annotation_points_to() -> None:
    headings = {h.strip().split()[0] for h in re.findall(r"^### (.+)$", DOC, re.MULTILINE)}
    for rule in alerts():
        assert rule["alert"] in headings, f"no runbook section for {rule['alert']}"
        assert rule["annotations"]["runbook"] == f"docs/operations.md#{rule['alert'].lower()}"


def test_every_exported_metric_is_documented() -> None:
    suffixes = ("_bucket", "_count", "_sum")
    for name in exported_names():
        base = next((name[: -len(s)] for s in suffixes if name.endswith(s)), name)
        assert base in DOC or name in DOC, f"{name} is not documented"
