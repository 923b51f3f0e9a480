"""The simulated catalogue: REV's templates and models, and the effects planted in them.

Fixed on purpose: the seed of a run only drives the sampling, never what is
true. A template's success logit for a prompt on a model is ``base_logit +
discrimination * skill - difficulty(prompt) + interaction(prompt, model)``
(:mod:`streams.simulate.prompts` draws the prompt terms).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class TemplateSpec:
    """A prompt template of the simulated catalogue."""

    template_id: str
    domain: str
    base_logit: float
    """Success logit of an average model on a prompt of median difficulty."""
    discrimination: float
    """How strongly model skill moves the success logit (high = separates models)."""
    median_tokens: float
    prompt_tokens: int
    weight: float
    """Relative traffic share (the share of the prompt set it owns)."""
    prompt_sd: float = 1.0
    """Standard deviation of its prompts' latent difficulty on the logit scale."""


@dataclass(frozen=True, slots=True)
class ModelSpec:
    """A model of the simulated catalogue."""

    model_id: str
    skill: float
    median_latency: float
    """Seconds for a response of the template's median length."""
    latency_sigma: float
    price_per_1k_tokens: float
    verbosity: float
    weight: float
    """Relative traffic share when executions are independent (``independent=True``);
    REV itself runs every prompt on every model, so the models then share equally."""


TEMPLATES: tuple[TemplateSpec, ...] = (
    TemplateSpec("math_reasoning", "mathematical_reasoning", 0.3, 1.3, 320, 180, 1.4, 1.1),
    TemplateSpec("code_generation", "code", 0.1, 1.5, 520, 260, 1.2, 1.2),
    TemplateSpec("behavioral_probe", "behavioral", 0.9, 0.9, 240, 140, 1.6, 0.9),
    TemplateSpec("factual_recall", "factual", 2.2, 0.15, 90, 60, 1.0, 0.9),
    TemplateSpec("summarization", "summarization", 1.9, 0.25, 260, 900, 0.9, 0.8),
    TemplateSpec("adversarial_jailbreak", "safety", -0.6, 0.8, 150, 220, 0.7, 1.2),
    TemplateSpec("instruction_following", "instruction_following", 2.0, 0.35, 180, 120, 1.2,
                 0.9),
    TemplateSpec("translation", "multilingual", 1.4, 0.45, 200, 200, 0.8, 1.0),
)

MODELS: tuple[ModelSpec, ...] = (
    ModelSpec("gpt-4o", 1.1, 2.2, 0.35, 0.010, 1.1, 1.3),
    ModelSpec("claude-3-5-sonnet", 1.0, 1.9, 0.30, 0.009, 1.2, 1.2),
    ModelSpec("llama-3-70b", 0.3, 3.1, 0.45, 0.0009, 1.0, 1.0),
    ModelSpec("mistral-large", 0.0, 1.6, 0.40, 0.004, 0.9, 0.8),
    ModelSpec("llama-3-8b", -1.0, 0.7, 0.50, 0.0002, 0.8, 0.9),
)

DEGRADING_TEMPLATE = "instruction_following"
"""The template whose quality changes: a new revision of it ships with the experiment
that starts at :data:`CHANGE_FRACTION` of the span."""
DEGRADATION_LOGIT = -1.6
CHANGE_FRACTION = 0.6
INTERACTION_SD = 0.35
"""Prompt x model interaction on the logit scale: a prompt is not equally hard for every
model, so two models' per-prompt rates correlate strongly but not perfectly."""

DIURNAL_AMPLITUDE = 0.5
"""Traffic swings between 0.5x and 1.5x of its mean over a day."""
PEAK_HOUR_UTC = 15.0
DIFFICULTY_PROBABILITIES = (0.15, 0.25, 0.30, 0.20, 0.10)
"""Share of prompts at difficulty_level 1..5 (cut from the latent difficulty)."""
ERROR_TYPE_PROBABILITY = 0.35
"""Share of failures that carry an ``error_type``."""
ERROR_TYPES = ("timeout", "refusal", "format_error", "rate_limited", "context_overflow")
ERROR_TYPE_WEIGHTS = (0.35, 0.25, 0.2, 0.1, 0.1)
MISSING_BEHAVIORAL = 0.08
"""Share of executions without a behavioural analysis (field absent)."""
MISSING_VERIFICATION = 0.04
"""Share of executions without a Merkle verification (field absent)."""

CATALOGUE_SEED = 20240917
"""Seeds the prompt sets: the same prompts and difficulties for every run."""
