"""What is true behind a simulated run: success probabilities, the change, the experiments."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
import numpy.typing as npt

from streams.simulate.catalogue import INTERACTION_SD, ModelSpec, TemplateSpec
from streams.simulate.prompts import PromptSet
from streams.simulate.schedule import Experiment

_NODES, _WEIGHTS = np.polynomial.hermite_e.hermegauss(64)
_WEIGHTS = _WEIGHTS / _WEIGHTS.sum()


def sigmoid(x: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    return 1.0 / (1.0 + np.exp(-x))


@dataclass(frozen=True, slots=True)
class GroundTruth:
    """The true parameters behind a simulated run.

    ``success[(template, model)]`` is the true success probability before the
    change point: the mean over the template's prompt set (each prompt runs
    equally often), or over the whole prompt population when prompts are fresh
    per execution or no run size was given; ``success_after_change`` is the
    same after it (different only for ``degrading_template``).
    """

    success: dict[tuple[str, str], float]
    success_after_change: dict[tuple[str, str], float]
    degrading_template: str
    change_time: datetime
    start: datetime
    end: datetime
    template_weights: dict[str, float]
    model_weights: dict[str, float]
    prompts_per_template: dict[str, int] | None = None
    """Prompt set sizes of the run (``None``: the population, no run size given)."""
    repetitions: int | None = None
    """Planned runs of each prompt on each model (``None``: independent executions)."""
    experiments: tuple[Experiment, ...] = field(default_factory=tuple)
    changed_experiment: str | None = None
    """The experiment that shipped the degraded template revision."""

    def template_rate(self, template_id: str, *, after_change: bool = False) -> float:
        """True success rate of a template over the simulated model mix."""
        table = self.success_after_change if after_change else self.success
        return sum(
            weight * table[(template_id, model_id)]
            for model_id, weight in self.model_weights.items()
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form: rates nested as ``{template: {model: rate}}``."""

        def nest(table: dict[tuple[str, str], float]) -> dict[str, dict[str, float]]:
            out: dict[str, dict[str, float]] = {}
            for (template_id, model_id), rate in table.items():
                out.setdefault(template_id, {})[model_id] = rate
            return out

        return {
            "success": nest(self.success),
            "success_after_change": nest(self.success_after_change),
            "degrading_template": self.degrading_template,
            "change_time": self.change_time.isoformat(),
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "template_weights": dict(self.template_weights),
            "model_weights": dict(self.model_weights),
            "prompts_per_template": self.prompts_per_template,
            "repetitions": self.repetitions,
            "experiments": [
                {"experiment_id": e.experiment_id, "start": e.start.isoformat(),
                 "end": e.end.isoformat()} for e in self.experiments
            ],
            "changed_experiment": self.changed_experiment,
        }


def success_tables(
    templates: tuple[TemplateSpec, ...],
    models: tuple[ModelSpec, ...],
    prompt_sets: list[PromptSet] | None,
    shift: npt.NDArray[np.float64],
) -> dict[tuple[str, str], float]:
    """Mean success per (template, model) with ``shift[t]`` added to template t's logit.

    Over each prompt set when given; otherwise over the population (latent
    difficulty and interaction normal), by Gauss-Hermite quadrature.
    """
    out: dict[tuple[str, str], float] = {}
    for t, template in enumerate(templates):
        for m, model in enumerate(models):
            mean = template.base_logit + template.discrimination * model.skill + shift[t]
            if prompt_sets is None:
                sd = float(np.hypot(template.prompt_sd, INTERACTION_SD))
                rate = float(_WEIGHTS @ sigmoid(mean + sd * _NODES))
            else:
                prompts = prompt_sets[t]
                rate = float(sigmoid(mean - prompts.latent + prompts.interaction[:, m]).mean())
            out[(template.template_id, model.model_id)] = rate
    return out
