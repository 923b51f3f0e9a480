"""The unit of analysis follows the data: design detection, null simulations per design
(false-positive rate within alpha +/- 1.5 points), power against the naive test, and
the ab-test/compare-models JSON for each design.

Prompts are drawn as in FINDINGS.md: per-prompt success ~ Beta(mean 0.7, sd 0.2).
The simulations run the production functions vectorised over replicates
(``clustered_difference`` takes a batch axis) and check ``ab_test`` itself
against the vectorised statistic on one replicate.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from analytics import clustered as cl
from analytics.abtest import ab_test, compare_models, outcome_counts
from analytics.design import PAIRED_SHARE, PromptArms, design_test, detect_design
from analytics.multiple import pooled_z_many
from analytics.plan import power_of

ALPHA = 0.05
REPLICATES = 2000
BETA_SCALE = 0.7 * 0.3 / 0.2**2 - 1.0  # Beta(a, b) with a + b = 4.25: sd 0.2 at mean 0.7
DESIGN_KEYS = {"design", "method", "clusters", "design_effect", "pairs", "pooled"}


def difficulties(rng: np.random.Generator, shape: tuple[int, ...], mean: float = 0.7
                 ) -> np.ndarray:
    return rng.beta(mean * BETA_SCALE, (1 - mean) * BETA_SCALE, shape)


def naive_p(s_a: np.ndarray, n_a: np.ndarray, s_b: np.ndarray, n_b: np.ndarray) -> np.ndarray:
    """The pooled z-test over whole arms (what ab-test did for every design)."""
    return pooled_z_many(s_a.sum(-1), n_a.sum(-1), s_b.sum(-1), n_b.sum(-1))[1]


def clustered_p(n_a: np.ndarray, s_a: np.ndarray, n_b: np.ndarray, s_b: np.ndarray
                ) -> np.ndarray:
    moments = cl.clustered_difference(n_a, s_a, n_b, s_b)
    return cl.t_test(moments.difference, moments.variance, moments.df)[1]


def disjoint(n_a: np.ndarray, s_a: np.ndarray, n_b: np.ndarray, s_b: np.ndarray
             ) -> tuple[np.ndarray, ...]:
    """Per-prompt arrays over the union of two arms that share no prompt."""
    zeros_a, zeros_b = np.zeros_like(n_b), np.zeros_like(n_a)
    return (np.concatenate([n_a, zeros_a], -1), np.concatenate([s_a, zeros_a], -1),
            np.concatenate([zeros_b, n_b], -1), np.concatenate([zeros_b, s_b], -1))


def frame_from(arms: list[tuple[str, str, np.ndarray, np.ndarray]]) -> pd.DataFrame:
    """Execution rows from (template, prompt prefix, n per prompt, s per prompt)."""
    rows = []
    for template, prefix, n, s in arms:
        for index, (runs, wins) in enumerate(zip(n.astype(int), s.astype(int), strict=True)):
            for k in range(runs):
                rows.append((template, "m", f"{prefix}{index}", k < wins))
    return pd.DataFrame(rows, columns=["template_id", "model_id", "prompt_id", "success"])


# -- detection ---------------------------------------------------------------------------------

def arms_of(n_a: list[float], n_b: list[float]) -> PromptArms:
    a, b = np.array(n_a, dtype=float), np.array(n_b, dtype=float)
    return PromptArms(a, np.floor(a / 2), b, np.floor(b / 2), has_prompts=True)


def test_design_detection_rules() -> None:
    assert detect_design(arms_of([1, 1, 0, 0], [0, 0, 1, 1])).kind == "independent"
    assert detect_design(arms_of([3, 1, 0, 0], [0, 0, 1, 1])).kind == "clustered"
    paired = detect_design(arms_of([1, 1, 1, 0], [1, 1, 1, 1]))
    assert paired.kind == "paired" and paired.pairs == 3 and not paired.complete_pairs
    assert detect_design(arms_of([1, 1, 1], [1, 1, 1])).complete_pairs
    # Shared prompts below PAIRED_SHARE of an arm's executions: clustered, not paired.
    few = detect_design(arms_of([1, 1, 1, 1, 0, 0], [0, 0, 1, 1, 1, 1] + [0] * 0))
    assert few.shared_share_a == 0.5 and few.kind == "paired"
    below = detect_design(arms_of([1, 1, 1, 1, 1, 0, 0], [0, 0, 0, 1, 1, 1, 1]))
    assert below.shared_share_a < PAIRED_SHARE and below.kind == "clustered"
    # One shared prompt is not enough to pair.
    assert detect_design(arms_of([1, 0], [1, 0])).kind == "clustered"
    # Counts without prompt_id: every execution is its own prompt.
    legacy = pd.DataFrame({"template_id": ["A", "B"], "n": [40, 40], "successes": [20, 30]})
    design = detect_design(PromptArms.from_counts(legacy, "template_id", "A", "B"))
    assert design.kind == "independent" and (design.clusters_a, design.clusters_b) == (40, 40)


# -- null simulations: false positives within alpha +/- 1.5 points -----------------------------

@pytest.mark.parametrize(("count", "runs", "naive_at_least"), [
    (50, 20, 0.25),   # FINDINGS.md: pooled z 36 %
    (200, 5, 0.09),   # 14 %
])
def test_clustered_design_holds_alpha_where_the_pooled_z_test_does_not(
    count: int, runs: int, naive_at_least: float,
) -> None:
    rng = np.random.default_rng(count)
    n = np.full((REPLICATES, count), float(runs))
    s_a = rng.binomial(runs, difficulties(rng, n.shape)).astype(float)
    s_b = rng.binomial(runs, difficulties(rng, n.shape)).astype(float)
    p = clustered_p(*disjoint(n, s_a, n, s_b))
    naive = naive_p(s_a, n, s_b, n)
    print(f"\nclustered {count}x{runs}: false positives {np.mean(p < ALPHA):.1%} "
          f"(pooled z {np.mean(naive < ALPHA):.1%})")
    assert abs(np.mean(p < ALPHA) - ALPHA) <= 0.015
    assert np.mean(naive < ALPHA) >= naive_at_least
    # ab_test on one replicate is this statistic, and detects the design.
    one = ab_test(frame_from([("A", "a", n[0], s_a[0]), ("B", "b", n[0], s_b[0])]), "A", "B")
    assert one.design is not None and one.design.design.kind == "clustered"
    assert one.p_value == pytest.approx(p[0], abs=1e-12)
    assert one.to_dict()["pooled"]["p_value"] == pytest.approx(naive[0], abs=1e-12)


def test_clustered_power_on_a_known_effect_is_what_the_planner_predicts() -> None:
    # 50 prompts x 20 runs per arm, B's prompts 10 points easier on average.
    rng = np.random.default_rng(17)
    count, runs = 50, 20
    n = np.full((REPLICATES, count), float(runs))
    s_a = rng.binomial(runs, difficulties(rng, n.shape)).astype(float)
    s_b = rng.binomial(runs, difficulties(rng, n.shape, mean=0.8)).astype(float)
    power = np.mean(clustered_p(*disjoint(n, s_a, n, s_b)) < ALPHA)
    naive = np.mean(naive_p(s_a, n, s_b, n) < ALPHA)
    icc = 0.2**2 / 0.75 / 0.25  # sd 0.2 around the arms' mean rate
    planned = power_of(0.1, rate=0.7, icc=icc, runs=runs, prompts=count)
    print(f"\nclustered {count}x{runs}, +10 points: power {power:.1%} (planner {planned:.1%}); "
          f"pooled z rejects {naive:.1%}, but at 35 % false positives")
    assert abs(power - planned) <= 0.06
    assert naive > power  # the naive test's "power" is bought with false positives


def test_independent_design_is_the_pooled_z_test_and_holds_alpha() -> None:
    # 1000 prompts x 1 run per arm: executions are independent, pooled z is right.
    rng = np.random.default_rng(1000)
    n = np.ones((REPLICATES, 1000))
    s_a = (rng.random(n.shape) < difficulties(rng, n.shape)).astype(float)
    s_b = (rng.random(n.shape) < difficulties(rng, n.shape)).astype(float)
    naive = naive_p(s_a, n, s_b, n)
    print(f"\nindependent 1000x1: false positives {np.mean(naive < ALPHA):.1%}")
    assert abs(np.mean(naive < ALPHA) - ALPHA) <= 0.015
    one = ab_test(frame_from([("A", "a", n[0], s_a[0]), ("B", "b", n[0], s_b[0])]), "A", "B")
    assert one.design is not None and one.design.design.kind == "independent"
    assert one.p_value == pytest.approx(naive[0], abs=1e-9)
    assert one.to_dict()["pooled"]["z"] == one.z


def test_paired_repeated_design_holds_alpha_and_gains_power_over_unpaired() -> None:
    # Two models on the same 50 prompts x 10 runs; under the null they share
    # each prompt's success probability. The effect: B gains 0.4 on the logit.
    rng = np.random.default_rng(11)
    count, runs = 50, 10
    n = np.full((REPLICATES, count), float(runs))
    q = difficulties(rng, n.shape)
    s_a = rng.binomial(runs, q).astype(float)
    s_b = rng.binomial(runs, q).astype(float)
    p = clustered_p(n, s_a, n, s_b)
    naive = naive_p(s_a, n, s_b, n)
    better = 1.0 / (1.0 + np.exp(-(np.log(q / (1 - q)) + 0.4)))
    s_b1 = rng.binomial(runs, better).astype(float)
    moments = cl.clustered_difference(n, s_a, n, s_b1)
    paired_power = np.mean(cl.t_test(moments.difference, moments.variance, moments.df)[1]
                           < ALPHA)
    unpaired_power = np.mean(cl.t_test(moments.difference, moments.unpaired_variance,
                                       2 * count - 1)[1] < ALPHA)
    naive_power = np.mean(naive_p(s_a, n, s_b1, n) < ALPHA)
    print(f"\npaired {count}x{runs}: false positives {np.mean(p < ALPHA):.1%} "
          f"(pooled z {np.mean(naive < ALPHA):.1%}); power at +0.4 logit: paired "
          f"{paired_power:.1%}, unpaired cluster-robust {unpaired_power:.1%}, pooled z "
          f"{naive_power:.1%}")
    assert abs(np.mean(p < ALPHA) - ALPHA) <= 0.015
    assert np.mean(naive < ALPHA) < ALPHA  # ignoring the pairing is conservative here
    assert paired_power > unpaired_power + 0.2 and paired_power > naive_power
    frame = frame_from([("A", "p", n[0], s_a[0]), ("B", "p", n[0], s_b1[0])])
    one = ab_test(frame, "A", "B")  # two templates over the same prompt ids: paired
    assert one.design is not None and one.design.design.kind == "paired"
    assert one.p_value == pytest.approx(
        float(cl.t_test(moments.difference[0], moments.variance[0], moments.df[0])[1]),
        abs=1e-12)
    data = one.to_dict()
    assert data["pairs"] == count and data["gain"] == pytest.approx(
        float(moments.unpaired_variance[0] / moments.variance[0]))


def discordant(s_a: np.ndarray, s_b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(prompts only A got right, prompts only B got right) per replicate."""
    return (np.sum((s_a > 0) & (s_b == 0), -1), np.sum((s_b > 0) & (s_a == 0), -1))


def test_mcnemar_design_holds_alpha_and_beats_the_pooled_test() -> None:
    # 400 shared prompts, one run each per model: McNemar (what design_test picks).
    rng = np.random.default_rng(12)
    count, reps = 400, 4000
    q = difficulties(rng, (reps, count))
    s_a = (rng.random(q.shape) < q).astype(float)
    s_b = (rng.random(q.shape) < q).astype(float)
    s_b1 = (rng.random(q.shape) < np.minimum(q + 0.06, 1.0)).astype(float)
    p_null = cl.mcnemar_many(*discordant(s_a, s_b))[1]
    p_effect = cl.mcnemar_many(*discordant(s_a, s_b1))[1]
    ones = np.ones(count)
    for rep in range(3):
        tested = design_test(PromptArms(ones, s_a[rep], ones, s_b1[rep], True))
        assert tested.test == "McNemar's test" and tested.design.kind == "paired"
        assert tested.p_value == pytest.approx(p_effect[rep], abs=1e-12)
    n = np.ones_like(q)
    naive_null = naive_p(s_a, n, s_b, n)
    power, naive_power = np.mean(p_effect < ALPHA), np.mean(naive_p(s_a, n, s_b1, n) < ALPHA)
    print(f"\nMcNemar {count}x1: false positives {np.mean(p_null < ALPHA):.1%} "
          f"(pooled z {np.mean(naive_null < ALPHA):.1%}); power at +6 points: "
          f"McNemar {power:.1%}, pooled z {naive_power:.1%}")
    assert abs(np.mean(p_null < ALPHA) - ALPHA) <= 0.015
    assert power > naive_power + 0.05


def test_exact_mcnemar_on_few_discordant_prompts_is_never_liberal() -> None:
    rng = np.random.default_rng(13)
    count, reps = 30, 4000
    q = difficulties(rng, (reps, count))
    s_a = (rng.random(q.shape) < q).astype(float)
    s_b = (rng.random(q.shape) < q).astype(float)
    _, p, exact = cl.mcnemar_many(*discordant(s_a, s_b))
    assert exact[(discordant(s_a, s_b)[0] + discordant(s_a, s_b)[1]) > 0].all()
    assert np.mean(p < ALPHA) <= ALPHA + 0.015
    ones = np.ones(count)
    one = design_test(PromptArms(ones, s_a[0], ones, s_b[0], True))
    assert one.test == "exact McNemar test" and one.p_value == pytest.approx(p[0])
    assert any("exact McNemar" in note for note in one.notes)


# -- each design's JSON ------------------------------------------------------------------------

def test_every_design_reports_its_keys_and_the_interval_agrees_with_the_test() -> None:
    rng = np.random.default_rng(14)
    frames = {
        "independent": frame_from([("A", "a", np.ones(300), rng.random(300) < 0.6),
                                   ("B", "b", np.ones(300), rng.random(300) < 0.7)]),
        "clustered": frame_from([("A", "a", np.full(40, 8.0), rng.binomial(8, 0.6, 40)),
                                 ("B", "b", np.full(40, 8.0), rng.binomial(8, 0.7, 40))]),
        "paired": frame_from([("A", "p", np.full(40, 8.0), rng.binomial(8, 0.6, 40)),
                              ("B", "p", np.full(40, 8.0), rng.binomial(8, 0.7, 40))]),
    }
    for kind, frame in frames.items():
        result = ab_test(frame, "A", "B")
        data = json.loads(json.dumps(result.to_dict(), allow_nan=False))
        assert set(data) >= DESIGN_KEYS and data["design"] == kind, kind
        assert data["significant"] == (data["p_value"] < ALPHA)
        assert (data["ci_low"] > 0 or data["ci_high"] < 0) == data["significant"], kind
        assert data["pooled"]["p_value"] >= 0 and data["method"]
        if kind == "independent":
            assert data["clusters"] == {"a": 300, "b": 300} and data["design_effect"] == 1.0
        else:
            assert data["clusters"] == {"a": 40, "b": 40} and data["df"] > 0
        assert (data["pairs"] == 40) == (kind == "paired")


def test_degenerate_clustered_data_never_gives_nan() -> None:
    full = np.full(10, 5.0)
    same = ab_test(frame_from([("A", "a", full, full), ("B", "b", full, full)]), "A", "B")
    assert (same.z, same.p_value) == (0.0, 1.0) and same.design is not None
    assert same.design.design.kind == "clustered"
    assert any("both arms are at 100 %" in note for note in same.notes)
    apart = ab_test(frame_from([("A", "a", full, np.zeros(10)), ("B", "b", full, full)]),
                    "A", "B")
    assert apart.significant and apart.test == "pooled z-test"
    assert any("cluster-robust variance is 0" in note for note in apart.notes)
    single = ab_test(frame_from([("A", "a", np.array([30.0]), np.array([20.0])),
                                 ("B", "b", full, np.full(10, 2.0))]), "A", "B")
    assert any("single prompt" in note for note in single.notes)
    for result in (same, apart, single):
        assert json.dumps(result.to_dict(), allow_nan=False)


def test_compare_models_pairs_on_shared_prompts_and_stratifies_by_template() -> None:
    rng = np.random.default_rng(15)
    rows = []
    for template, shift in (("t1", 0.0), ("t2", 0.3)):
        for prompt in range(60):
            q = rng.beta(3, 1.3)
            for model, boost in (("m_a", 0.0), ("m_b", 0.08)):
                for _ in range(5):
                    rows.append((template, model, f"{template}:{prompt}",
                                 rng.random() < min(1.0, q * (1 - shift) + boost)))
    frame = pd.DataFrame(rows, columns=["template_id", "model_id", "prompt_id", "success"])
    result = compare_models(outcome_counts(frame), "m_a", "m_b")
    data = json.loads(json.dumps(result.to_dict(), allow_nan=False))
    assert data["a"]["model_id"] == "m_a" and "template_id" not in data["a"]
    assert data["design"] == "paired" and data["pairs"] == 120
    assert data["correlation"] > 0.3 and data["gain"] > 1.0
    assert data["unpaired"]["p_value"] > data["p_value"]
    assert data["stratified"]["strata"][0]["template_id"] == "t1"
    assert "cluster-robust" in data["stratified"]["method"]
    one = compare_models(outcome_counts(frame), "m_a", "m_b", template="t2")
    assert one.template == "t2" and one.stratified is None and one.to_dict()["pairs"] == 60


def test_prompt_clustered_strata_match_statsmodels_on_cell_dummies() -> None:
    # Stratified by model with repeated prompts: the MH difference's t-test and
    # the homogeneity F-test are contrasts of statsmodels' CR1 OLS on
    # (model, arm) cell dummies clustered by prompt.
    import statsmodels.api as sm

    rng = np.random.default_rng(16)
    rows = []
    for template, prefix, boost in (("A", "a", 0.0), ("B", "b", 0.1)):
        for prompt in range(30):
            q = rng.beta(3, 1.5)
            for k, model in enumerate(("m1", "m2", "m3")):
                for _ in range(int(rng.integers(1, 5))):
                    rows.append((template, model, f"{prefix}{prompt}",
                                 rng.random() < min(1.0, q + boost * (k - 1))))
    frame = pd.DataFrame(rows, columns=["template_id", "model_id", "prompt_id", "success"])
    strat = ab_test(frame, "A", "B").stratified
    assert strat is not None and "cluster-robust" in strat.method
    cells = frame["model_id"].map({"m1": 0, "m2": 1, "m3": 2}) * 2 + (
        frame["template_id"] == "B")
    x = (cells.to_numpy()[:, None] == np.arange(6)[None, :]).astype(float)
    ref = sm.OLS(frame["success"].to_numpy(float), x).fit(
        cov_type="cluster", cov_kwds={"groups": pd.factorize(frame["prompt_id"])[0]},
        use_t=True)
    sizes = np.bincount(cells, minlength=6)
    weights = np.array([sizes[2 * k] * sizes[2 * k + 1] / (sizes[2 * k] + sizes[2 * k + 1])
                        for k in range(3)])
    contrast = np.zeros(6)
    contrast[1::2], contrast[0::2] = weights / weights.sum(), -weights / weights.sum()
    t_ref = ref.t_test(contrast)
    assert strat.adjusted_difference == pytest.approx(float(contrast @ ref.params), abs=1e-12)
    assert strat.statistic == pytest.approx(float(np.squeeze(t_ref.tvalue)), rel=1e-9)
    assert strat.p_value == pytest.approx(float(np.squeeze(t_ref.pvalue)), abs=1e-9)
    d = np.zeros((3, 6))
    d[np.arange(3), 2 * np.arange(3) + 1], d[np.arange(3), 2 * np.arange(3)] = 1.0, -1.0
    f_ref = ref.f_test(d[:-1] - d[-1])
    assert strat.homogeneity_p_value == pytest.approx(float(f_ref.pvalue), abs=1e-9)
