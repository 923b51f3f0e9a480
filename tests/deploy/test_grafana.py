"""deploy/grafana: provisioning, and a dashboard whose queries are valid PromQL over real names."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.deploy.promql import (
    DEPLOY,
    check_expressions,
    exported_names,
    metric_names,
    recorded_names,
)

GRAFANA = DEPLOY / "grafana"
DASHBOARD = GRAFANA / "dashboards" / "rev-analytics.json"
# Grafana's own variables, replaced by what they expand to at query time.
GRAFANA_VARIABLES = {
    "$__rate_interval": "1m", "$__interval": "15s", "$__range": "6h",
    "$template": ".*", "$model": ".*",
}


def dashboard() -> dict:
    return json.loads(DASHBOARD.read_text())


def expand(expr: str) -> str:
    for name, value in GRAFANA_VARIABLES.items():
        expr = expr.replace(name, value)
    assert "$" not in expr, f"unknown Grafana variable in {expr!r}"
    return expr


def expressions() -> dict[str, str]:
    found = {}
    board = dashboard()
    for panel in board["panels"]:
        for target in panel["targets"]:
            found[f"{panel['title']} / {target['refId']}"] = expand(target["expr"])
    for annotation in board["annotations"]["list"]:
        found[f"annotation {annotation['name']}"] = expand(annotation["expr"])
    return found


def test_the_committed_json_is_what_the_generator_writes() -> None:
    result = subprocess.run([sys.executable, str(GRAFANA / "build_dashboard.py"), "--check"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr


def test_every_panel_query_parses(tmp_path: Path) -> None:
    exprs = expressions()
    assert len(exprs) >= 15
    result = check_expressions(exprs, tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_broken_query_would_be_caught(tmp_path: Path) -> None:
    result = check_expressions({"broken": "sum by (template_id (rate(x[5m]))"}, tmp_path)
    assert result.returncode != 0


def test_queries_use_only_metric_names_the_exporter_emits() -> None:
    known = exported_names() | recorded_names() | {"up", "ALERTS"}
    for where, expr in expressions().items():
        names = metric_names(expr)
        assert names, f"{where}: selects no metric"
        assert names <= known, (where, names - known)


def test_dashboard_has_the_panels_operators_need() -> None:
    titles = " | ".join(panel["title"].lower() for panel in dashboard()["panels"])
    for needed in ("success ratio by template", "success ratio by model", "template × model",
                   "latency", "cost", "events per second", "lag", "pending", "dead letters"):
        assert needed in titles, needed


def test_template_and_model_variables_filter_the_queries() -> None:
    board = dashboard()
    variables = {v["name"]: v for v in board["templating"]["list"]}
    assert set(variables) >= {"template", "model"}
    for name, label in (("template", "template_id"), ("model", "model_id")):
        assert variables[name]["multi"] and variables[name]["includeAll"]
        assert label in variables[name]["definition"]
    ratio_panels = [p for p in board["panels"] if p["title"].startswith("Success ratio")]
    for panel in ratio_panels:
        for target in panel["targets"]:
            assert '=~"$template"' in target["expr"] and '=~"$model"' in target["expr"]


def test_panels_use_the_provisioned_datasource_and_a_valid_layout() -> None:
    provisioned = yaml.safe_load(
        (GRAFANA / "provisioning" / "datasources" / "prometheus.yml").read_text())
    uid = provisioned["datasources"][0]["uid"]
    board = dashboard()
    ids = [panel["id"] for panel in board["panels"]]
    assert len(ids) == len(set(ids))
    cells: set[tuple[int, int]] = set()
    for panel in board["panels"]:
        assert panel["datasource"]["uid"] == uid
        assert all(t["datasource"]["uid"] == uid for t in panel["targets"])
        pos = panel["gridPos"]
        assert pos["x"] >= 0 and pos["x"] + pos["w"] <= 24
        covered = {(x, y) for x in range(pos["x"], pos["x"] + pos["w"])
                   for y in range(pos["y"], pos["y"] + pos["h"])}
        assert not covered & cells, f"{panel['title']} overlaps another panel"
        cells |= covered


@pytest.mark.parametrize("path", sorted((GRAFANA / "provisioning").rglob("*.yml")),
                         ids=lambda p: p.name)
def test_provisioning_files_are_grafana_v1(path: Path) -> None:
    document = yaml.safe_load(path.read_text())
    assert document["apiVersion"] == 1
    assert document.get("datasources") or document.get("providers")


def test_ratio_queries_divide_summed_counters() -> None:
    """Never average per-instance ratio gauges (see streams/metrics.py)."""
    for where, expr in expressions().items():
        if "success ratio" in where.lower():
            assert "rev_prompt_success_ratio" not in expr
            assert re.search(r"sum by \([^)]*\) \((rate|increase)\(rev_prompt_executions_total",
                             expr), where
