"""Generate deploy/grafana/dashboards/rev-analytics.json (the REV dashboard).

The dashboard is code so its PromQL lives in one readable list and every
panel has the same datasource, variables and layout rules. Plain dicts, no
SDK: the JSON model used here (schemaVersion 39) is what Grafana 10/11
provisions. Regenerate after editing and commit both files:

    python deploy/grafana/build_dashboard.py           # write the JSON
    python deploy/grafana/build_dashboard.py --check   # exit 1 if it is stale

Ratios are computed from the counters (sum the numerator and the
denominator, then divide), so they stay exact with several consumers.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

OUTPUT = Path(__file__).resolve().parent / "dashboards" / "rev-analytics.json"
DATASOURCE = {"type": "prometheus", "uid": "rev-prometheus"}
SELECT = 'template_id=~"$template", model_id=~"$model"'
RATE = "$__rate_interval"

Panel = dict[str, Any]


def target(expr: str, legend: str = "", ref: str = "A", *, instant: bool = False) -> dict:
    out: dict[str, Any] = {"datasource": DATASOURCE, "expr": expr, "refId": ref,
                           "legendFormat": legend or "__auto"}
    if instant:
        out.update(instant=True, range=False, format="table")
    return out


def success_ratio(by: str, window: str = RATE) -> str:
    return (
        f'sum by ({by}) (rate(rev_prompt_executions_total{{{SELECT}, outcome="success"}}'
        f"[{window}]))\n/\nsum by ({by}) (rate(rev_prompt_executions_total{{{SELECT}}}"
        f"[{window}]))"
    )


def timeseries(title: str, targets: list[dict], unit: str, description: str,
               **defaults: Any) -> Panel:
    return {
        "type": "timeseries", "title": title, "description": description,
        "datasource": DATASOURCE, "targets": targets,
        "fieldConfig": {"defaults": {"unit": unit, **defaults}, "overrides": []},
        "options": {"legend": {"displayMode": "table", "placement": "right",
                               "calcs": ["lastNotNull", "mean"]},
                    "tooltip": {"mode": "multi", "sort": "desc"}},
    }


def stat(title: str, expr: str, description: str, mappings: list[dict] | None = None) -> Panel:
    return {
        "type": "stat", "title": title, "description": description, "datasource": DATASOURCE,
        "targets": [target(expr, "{{instance}}")],
        "fieldConfig": {"defaults": {"mappings": mappings or [], "thresholds": {
            "mode": "absolute",
            "steps": [{"color": "red", "value": None}, {"color": "green", "value": 1}]}},
            "overrides": []},
        "options": {"colorMode": "background", "reduceOptions": {"calcs": ["lastNotNull"]}},
    }


UP_DOWN = [{"type": "value", "options": {"0": {"text": "DOWN"}, "1": {"text": "UP"}}}]
RATIO_THRESHOLDS = {"mode": "absolute", "steps": [
    {"color": "red", "value": None}, {"color": "orange", "value": 0.8},
    {"color": "green", "value": 0.9}]}


def panels() -> list[tuple[Panel, int, int]]:
    """Every panel with its width and height (grid units); laid out left to right."""
    return [
        (stat("Consumers up", 'up{job="rev-analytics"}',
              "Scrape health of each consumer (alert: RevConsumerDown).", UP_DOWN), 6, 4),
        (stat("Storage healthy", "rev_storage_healthy",
              "0 while window commits fail (alert: RevStorageUnhealthy).", UP_DOWN), 6, 4),
        (stat("Redis connected", "rev_redis_connected",
              "0 while Redis is unreachable (alert: RevRedisDisconnected).", UP_DOWN), 6, 4),
        (stat("Label values folded (1h)",
              "sum by (label) (increase(rev_metrics_label_folded_events_total[1h]))",
              "Events whose template/model id exceeded the cardinality cap and count as "
              "__other__."), 6, 4),
        (timeseries("Success ratio by template", [target(success_ratio("template_id"),
                                                          "{{template_id}}")],
                    "percentunit", "Successes / executions, summed over consumers and the "
                    "selected models. Alert threshold: 80 %.", min=0, max=1,
                    thresholds=RATIO_THRESHOLDS), 12, 9),
        (timeseries("Success ratio by model", [target(success_ratio("model_id"),
                                                       "{{model_id}}")],
                    "percentunit", "Successes / executions, summed over consumers and the "
                    "selected templates.", min=0, max=1, thresholds=RATIO_THRESHOLDS), 12, 9),
        (heatmap_table(), 24, 10),
        (timeseries("Execution latency quantiles", [
            target("histogram_quantile(%s, sum by (le) (rate("
                   'rev_prompt_execution_duration_seconds_bucket{template_id=~"$template"}'
                   f"[{RATE}])))" % q, f"p{int(float(q) * 100)}", ref)
            for q, ref in (("0.5", "A"), ("0.9", "B"), ("0.99", "C"))
        ], "s", "Prompt execution time reported by REV workers, selected templates."), 12, 8),
        (timeseries("Cost rate by template", [target(
            'sum by (template_id) (rate(rev_prompt_cost_dollars_sum{template_id=~"$template"}'
            f"[{RATE}])) * 3600", "{{template_id}}")],
            "currencyUSD", "US dollars per hour of prompt executions."), 12, 8),
        (timeseries("Events per second", [
            target(f"sum(rate(rev_events_persisted_total[{RATE}]))", "persisted (new rows)"),
            target(f"sum by (template_id) (rate(rev_prompt_executions_total{{{SELECT}}}"
                   f"[{RATE}]))", "{{template_id}}", "B"),
        ], "ops", "Rows written to SQLite, and executions by template."), 12, 8),
        (timeseries("Lag and pending entries", [
            target("sum by (instance) (rev_consumer_lag_events)", "lag {{instance}}"),
            target("sum by (instance) (rev_consumer_pending_entries)", "pending {{instance}}",
                   "B"),
        ], "short", "Lag: entries not yet delivered to the group (alert: "
           "RevConsumerLagGrowing). Pending: delivered, not yet acknowledged."), 12, 8),
        (timeseries("Dead letters by reason", [target(
            f"sum by (reason) (rate(rev_events_dead_lettered_total[{RATE}])) * 60",
            "{{reason}}")], "short", "Entries per minute moved to <stream>:dead "
            "(alert: RevDeadLettersRising)."), 12, 8),
        (timeseries("Window commit duration and size", [
            target("histogram_quantile(0.99, sum by (le) (rate("
                   f"rev_batch_commit_duration_seconds_bucket[{RATE}])))", "p99 commit"),
            target("histogram_quantile(0.5, sum by (le) (rate("
                   f"rev_batch_commit_duration_seconds_bucket[{RATE}])))", "p50 commit", "B"),
        ], "s", "Time to write and commit one window to SQLite."), 12, 8),
        (timeseries("Mean scores (1h, per consumer)", [target(
            'rev_prompt_score_mean{template_id=~"$template", window="1h"}',
            "{{template_id}} {{score}}")], "percentunit",
            "Rolling 1h means of discrimination, behavioural and quality scores over event "
            "time, as each consumer sees them.", min=0, max=1), 24, 8),
    ]


def heatmap_table() -> Panel:
    """Template x model success ratio over the dashboard's range, as a colored matrix."""
    expr = success_ratio("template_id, model_id", "$__range")
    expr = expr.replace("rate(", "increase(")
    return {
        "type": "table", "title": "Success ratio: template × model (heatmap)",
        "description": "Successes / executions over the selected time range; empty cells "
                       "had no executions (never shown as 0 %).",
        "datasource": DATASOURCE, "targets": [target(expr, instant=True)],
        "transformations": [{"id": "groupingToMatrix", "options": {
            "columnField": "model_id", "rowField": "template_id", "valueField": "Value",
            "emptyValue": "null"}}],
        "fieldConfig": {"defaults": {
            "unit": "percentunit", "min": 0, "max": 1, "decimals": 1,
            "color": {"mode": "continuous-RdYlGr"},
            "custom": {"cellOptions": {"type": "color-background"}, "align": "center"}},
            "overrides": []},
        "options": {"showHeader": True, "cellHeight": "sm"},
    }


def variable(name: str, label: str) -> dict:
    return {
        "name": name, "label": label, "type": "query", "datasource": DATASOURCE,
        "query": {"query": f"label_values(rev_prompt_executions_total, {label})",
                  "refId": f"{name}-values"},
        "definition": f"label_values(rev_prompt_executions_total, {label})",
        "refresh": 2, "multi": True, "includeAll": True, "allValue": ".*",
        "current": {"selected": True, "text": ["All"], "value": ["$__all"]},
        "sort": 1,
    }


def dashboard() -> dict:
    laid_out = []
    x = y = row_height = 0
    for panel_id, (panel, width, height) in enumerate(panels(), start=1):
        if x + width > 24:
            x, y, row_height = 0, y + row_height, 0
        laid_out.append({"id": panel_id, "gridPos": {"x": x, "y": y, "w": width, "h": height},
                         **panel})
        x += width
        row_height = max(row_height, height)
    return {
        "uid": "rev-analytics", "title": "REV prompt analytics",
        "description": "Live view of the rev-analytics consumer: success ratios, latency, "
                       "cost, throughput, lag and dead letters.",
        "tags": ["rev", "rev-analytics"], "timezone": "utc", "editable": True,
        "schemaVersion": 39, "version": 1, "refresh": "30s",
        "time": {"from": "now-6h", "to": "now"},
        "templating": {"list": [variable("template", "template_id"),
                                variable("model", "model_id")]},
        "annotations": {"list": [{
            "name": "Alerts", "datasource": DATASOURCE, "enable": True,
            "expr": 'ALERTS{alertstate="firing", alertname=~"Rev.*"}',
            "iconColor": "red", "titleFormat": "{{alertname}}", "textFormat": "{{template_id}}",
        }]},
        "panels": laid_out,
    }


def render() -> str:
    return json.dumps(dashboard(), indent=2, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if the JSON is stale")
    args = parser.parse_args(argv)
    text = render()
    if args.check:
        current = OUTPUT.read_text() if OUTPUT.exists() else ""
        if current != text:
            print(f"{OUTPUT} is stale: run python {Path(__file__).name}", file=sys.stderr)
            return 1
        return 0
    OUTPUT.parent.mkdir(parents=True, exist_ok=True)
    OUTPUT.write_text(text)
    print(f"wrote {OUTPUT}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
