"""REV-shaped stores: a fixed prompt set per template, each prompt run several times on
every model (so prompts repeat within an arm and are shared across models), prompts of
different difficulty, event times out of order.

``prompt_events`` returns real :class:`PromptEvent` records for
:func:`tests.analytics.report_data.write_store`; the truth is in the arguments:
a template's prompts have success logits ~ N(logit(rate), ``spread``), and a model
adds its ``models[model]`` to every prompt's logit.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import numpy as np

from rev_analytics.core.event import PromptEvent

END = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


def prompt_events(
    templates: dict[str, float], models: dict[str, float], *, prompts: int, runs: int,
    spread: float = 1.0, seed: int = 0, end: datetime = END,
    span: timedelta = timedelta(days=6), prefix: str = "ev",
) -> list[PromptEvent]:
    """``runs`` executions of every (template, prompt, model), at random event times."""
    rng = np.random.default_rng(seed)
    start = (end - span).timestamp()
    rows = []
    for template, rate in templates.items():
        logits = math.log(rate / (1 - rate)) + spread * rng.standard_normal(prompts)
        for index, logit in enumerate(logits):
            for model, boost in models.items():
                p = 1.0 / (1.0 + math.exp(-(logit + boost)))
                for _ in range(runs):
                    rows.append((template, f"{template}:{index:04d}", model, rng.random() < p))
    times = start + rng.uniform(0.0, span.total_seconds(), len(rows))
    order = rng.permutation(len(rows))  # stored out of event-time order
    return [
        PromptEvent(
            event_id=f"{prefix}-{i:08d}", stream_id=f"{int(times[i] * 1000)}-{i}",
            prompt_id=rows[i][1], template_id=rows[i][0], model_id=rows[i][2],
            timestamp=round(times[i] * 1_000_000), success=bool(rows[i][3]),
            cost=0.01, execution_time=1.0, domain="general", difficulty_level=3,
        )
        for i in (int(k) for k in order)
    ]


def counted_events(
    spec: list[tuple[str, str, int, int, float]], *, seed: int = 0, end: datetime = END,
    span: timedelta = timedelta(days=6),
) -> list[PromptEvent]:
    """Exactly ``successes`` of ``n`` executions per (template, model, n, successes, cost),
    each on its own prompt (independent executions), shuffled over ``span``."""
    rng = np.random.default_rng(seed)
    rows = [(template, model, k < wins, cost)
            for template, model, n, wins, cost in spec for k in range(n)]
    order = rng.permutation(len(rows))
    start = (end - span).timestamp()
    times = np.sort(start + rng.uniform(0.0, span.total_seconds(), len(rows)))
    return [
        PromptEvent(
            event_id=f"cnt-{i:08d}", stream_id=f"{int(times[i] * 1000)}-{i}",
            prompt_id=f"prompt-{i:08d}", template_id=rows[j][0], model_id=rows[j][1],
            timestamp=round(times[i] * 1_000_000), success=bool(rows[j][2]), cost=rows[j][3],
            execution_time=1.0 + (i % 7) / 10, response_length=100 + i % 50,
            domain="general", difficulty_level=1 + i % 5,
        )
        for i, j in enumerate(int(k) for k in order)
    ]
