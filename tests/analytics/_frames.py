"""Small frames with known effects for the statistics tests (no database needed)."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd

START = pd.Timestamp("2026-01-01", tz="UTC")


def arms(spec: Iterable[tuple[str, str, int, int]], *, seed: int = 0) -> pd.DataFrame:
    """Rows from (template_id, model_id, n, successes), shuffled over one day of event time."""
    templates, models, outcomes = [], [], []
    for template, model, n, successes in spec:
        templates += [template] * n
        models += [model] * n
        outcomes += [True] * successes + [False] * (n - successes)
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(outcomes))
    frame = pd.DataFrame({
        "template_id": np.asarray(templates, dtype=object)[order],
        "model_id": np.asarray(models, dtype=object)[order],
        "success": np.asarray(outcomes, dtype=bool)[order],
    })
    seconds = np.sort(rng.uniform(0, 86400, len(frame)))
    frame["timestamp"] = START + pd.to_timedelta(seconds, unit="s")
    return frame


def bernoulli(
    rates: dict[tuple[str, str], float], n: int, *, seed: int = 0, days: float = 7.0
) -> pd.DataFrame:
    """``n`` executions per (template, model) drawn with the given success rates."""
    rng = np.random.default_rng(seed)
    parts = []
    for (template, model), rate in rates.items():
        parts.append(pd.DataFrame({
            "template_id": template, "model_id": model,
            "success": rng.random(n) < rate,
            "timestamp": START + pd.to_timedelta(rng.uniform(0, days * 86400, n), unit="s"),
        }))
    return pd.concat(parts, ignore_index=True).sort_values("timestamp", ignore_index=True)
