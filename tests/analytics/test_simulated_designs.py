"""The simulator's default data takes the analytics down the clustered and paired paths,
and equal arms stay "not significant" at about alpha on it."""

from __future__ import annotations

from datetime import UTC, datetime

import pandas as pd
import pytest

from analytics.abtest import (
    ab_test_counts,
    compare_models,
    outcome_counts,
    run_ab_test,
    run_compare_models,
)
from analytics.load import load_outcome_counts
from storage import open_store
from streams.simulate.catalogue import ModelSpec, TemplateSpec
from streams.simulate.workload import MODELS, Workload, synthetic_prompt_events

START = datetime(2026, 3, 1, tzinfo=UTC)
ALPHA = 0.05


def _counts(workload: Workload, count: int) -> pd.DataFrame:
    frame = pd.DataFrame(
        [(e.template_id, e.model_id, e.prompt_id, e.success)
         for e in workload.prompt_events(count)],
        columns=["template_id", "model_id", "prompt_id", "success"],
    )
    return outcome_counts(frame)


def test_default_simulated_store_is_clustered_for_templates_and_paired_for_models(
    tmp_path: object,
) -> None:
    path = f"{tmp_path}/sim.db"
    with open_store(path) as db:
        db.insert_events(list(synthetic_prompt_events(8000, seed=3, start=START)))
    templates = run_ab_test(path, "math_reasoning", "code_generation")
    assert templates.design is not None and templates.design.design.kind == "clustered"
    models = run_compare_models(path, "llama-3-8b", "gpt-4o")
    assert models.design is not None and models.design.design.kind == "paired"
    assert models.significant  # 2 logit-points of skill apart
    one_template = run_compare_models(path, "llama-3-8b", "gpt-4o", template="math_reasoning")
    assert one_template.design is not None and one_template.design.design.kind == "paired"
    assert load_outcome_counts(path, by=("prompt_id",))["prompt_id"].nunique() < 8000 / 5


def test_independent_flag_gives_independent_data() -> None:
    counts = _counts(Workload(3, start=START, independent=True), 6000)
    result = ab_test_counts(counts, "math_reasoning", "code_generation")
    assert result.design is not None and result.design.design.kind == "independent"


TWINS = (
    TemplateSpec("twin_a", "twins", 1.0, 0.6, 200, 100, 1.0, 1.0),
    TemplateSpec("twin_b", "twins", 1.0, 0.6, 200, 100, 1.0, 1.0),
)
TWIN_MODELS = (MODELS[0], ModelSpec("gpt-4o-twin", *[getattr(MODELS[0], f) for f in (
    "skill", "median_latency", "latency_sigma", "price_per_1k_tokens", "verbosity", "weight")]))


@pytest.mark.slow
def test_null_pairs_are_significant_at_about_alpha() -> None:
    """Two templates with the same difficulty distribution (a new draw of both prompt sets
    per replicate: the prompts are the sampled unit), 40 prompts x 5 models x 4 runs per
    arm; and two equally skilled models on the same prompts."""
    replicates = 300
    design_hits = pooled_hits = paired_hits = 0
    for rep in range(replicates):
        workload = Workload(rep, start=START, templates=TWINS, catalogue_seed=1000 + rep,
                            repetitions=4, experiments=False)
        counts = _counts(workload, 2 * 40 * 5 * 4)
        result = ab_test_counts(counts, "twin_a", "twin_b", alpha=ALPHA)
        assert result.design is not None and result.design.design.kind == "clustered"
        design_hits += result.p_value < ALPHA
        pooled_hits += result.design.pooled_p_value < ALPHA
        models = Workload(rep, start=START, templates=TWINS[:1], models=TWIN_MODELS,
                          catalogue_seed=5000 + rep, repetitions=4, experiments=False)
        paired = compare_models(_counts(models, 60 * 2 * 4), "gpt-4o", "gpt-4o-twin",
                                alpha=ALPHA)
        assert paired.design is not None and paired.design.design.kind == "paired"
        paired_hits += paired.p_value < ALPHA
    design_fpr, pooled_fpr = design_hits / replicates, pooled_hits / replicates
    paired_fpr = paired_hits / replicates
    print(f"null FPR: clustered {design_fpr:.3f}, pooled z {pooled_fpr:.3f}, "
          f"paired {paired_fpr:.3f}")
    # 300 replicates: the binomial SE at 5 % is 1.3 points.
    assert design_fpr <= 0.085 and paired_fpr <= 0.085
    assert pooled_fpr > 2 * design_fpr  # the clustering is real: counting runs misleads
