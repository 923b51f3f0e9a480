"""Defaults shared by the batch modules and the command line.

A light module on purpose: the CLI reads these while building its parser,
before (and without) importing pandas, Arrow or matplotlib.
"""

from __future__ import annotations

EXPORT_FORMATS: tuple[str, ...] = ("csv", "json", "jsonl", "parquet")
DEFAULT_EXPORT_CHUNK_ROWS = 50_000
DEFAULT_SUCCESS_TARGET = 0.80
"""Success ratio below which a template is flagged (the alert rules' default too)."""
DEFAULT_MIN_EFFECT = 0.05
"""Smallest difference in success rate that matters (5 points): A/B tests, rankings, alarms."""
MIN_RANKED_EXECUTIONS = 30
"""A template with fewer executions is never ranked first, flagged or recommended."""
MIN_COST_SUCCESSES = 20
"""A cost per success needs at least this many successes before it drives an action."""
