"""Each template's fixed prompt set: stable prompt ids with a latent difficulty each.

REV runs a template's own prompts, again and again and on every model, so its
executions are clustered by prompt. Prompt ``k`` of a template is always the
same prompt (``<template_id>:<k:04d>``, the same difficulty, the same
interaction with each model) whatever the run's seed or size: its numbers come
from the catalogue seed and the template's id alone, and a larger prompt set
only adds prompts after the ones a smaller one has.

The latent difficulty is normal on the logit scale (so per-prompt success
rates are logit-normal); with the catalogue's spreads the intra-prompt
correlation of success is about 0.1 to 0.25, what real evaluation sets show.
``difficulty_level`` (1..5) is the latent difficulty cut at fixed quantiles
(:data:`~streams.simulate.catalogue.DIFFICULTY_PROBABILITIES`).
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from streams.simulate.catalogue import (
    CATALOGUE_SEED,
    DIFFICULTY_PROBABILITIES,
    INTERACTION_SD,
    TemplateSpec,
)

MIN_PROMPTS = 2
"""The smallest prompt set: one prompt cannot show how prompts differ."""
_LEVEL_CUTS = np.array([-1.0364334, -0.2533471, 0.5244005, 1.2815516])
"""Standard normal quantiles of the cumulative DIFFICULTY_PROBABILITIES (0.15, 0.40, 0.70, 0.90)."""
assert np.allclose(np.cumsum(DIFFICULTY_PROBABILITIES)[:-1], (0.15, 0.40, 0.70, 0.90))


def _stream(catalogue_seed: int, template_id: str, part: int) -> np.random.Generator:
    return np.random.default_rng([catalogue_seed, zlib.crc32(template_id.encode()), part])


def difficulty_levels(standardized: npt.NDArray[np.float64]) -> npt.NDArray[np.int64]:
    """``difficulty_level`` 1..5 of latent difficulties in units of their spread."""
    return (1 + np.searchsorted(_LEVEL_CUTS, standardized)).astype(np.int64)


@dataclass(frozen=True, slots=True)
class PromptSet:
    """One template's prompts: ``latent[k]`` (logit), ``level[k]``, ``interaction[k, model]``."""

    template_id: str
    latent: npt.NDArray[np.float64]
    level: npt.NDArray[np.int64]
    interaction: npt.NDArray[np.float64]

    @property
    def size(self) -> int:
        return int(self.latent.size)

    def prompt_id(self, k: int) -> str:
        return prompt_id(self.template_id, k)


def prompt_id(template_id: str, k: int) -> str:
    """The stable id of prompt ``k`` of a template."""
    return f"{template_id}:{k:04d}"


def prompt_set(
    template: TemplateSpec, size: int, models: int, *, catalogue_seed: int = CATALOGUE_SEED
) -> PromptSet:
    """The first ``size`` prompts of ``template``'s fixed set, for ``models`` models."""
    standardized = _stream(catalogue_seed, template.template_id, 0).standard_normal(size)
    # Row k is prompt k: drawn row by row, so a prefix of a larger set is the smaller set.
    interaction = INTERACTION_SD * _stream(
        catalogue_seed, template.template_id, 1).standard_normal((size, models))
    return PromptSet(template.template_id, template.prompt_sd * standardized,
                     difficulty_levels(standardized), interaction)


def prompt_set_sizes(
    count: int, weights: npt.NDArray[np.float64], models: int, repetitions: int
) -> npt.NDArray[np.int64]:
    """Prompts per template so that ``count`` executions run each prompt ``repetitions``
    times on each of ``models`` models, templates sharing the traffic by ``weights``."""
    sizes = np.rint(count * weights / (repetitions * models)).astype(np.int64)
    return np.maximum(sizes, MIN_PROMPTS)
