"""Defaults shared by the batch modules and the command line.

A light module on purpose: the CLI reads these while building its parser,
before (and without) importing pandas, Arrow or matplotlib.
"""

from __future__ import annotations

EXPORT_FORMATS: tuple[str, ...] = ("csv", "json", "jsonl", "parquet")
DEFAULT_EXPORT_CHUNK_ROWS = 50_000
DEFAULT_SUCCESS_TARGET = 0.80
"""Success ratio below which a template is flagged (the alert rules' default too)."""
