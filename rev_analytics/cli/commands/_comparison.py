"""What the comparison commands share: the --alpha/--min-effect checks (analyze and report
use them too) and the readable summary of ``ab-test`` and ``compare-models``."""

from __future__ import annotations

import argparse
import json
import math
from typing import TYPE_CHECKING

from rev_analytics.cli.options import add_option
from rev_analytics.core.errors import ConfigError

if TYPE_CHECKING:
    from rich.console import Console

    from analytics.abtest import ABTestResult


def add_comparison_options(parser: argparse.ArgumentParser) -> None:
    """``--alpha``, ``--min-effect``, ``--sequential`` and ``--json`` of a two-arm comparison."""
    add_option(parser, "--alpha", type=float, default=0.05,
               help="significance level (the interval is at 1 - alpha)")
    add_option(parser, "--min-effect", type=float, default=0.05,
               help="smallest difference in success rate that matters (0.05 = 5 points)")
    add_option(parser, "--sequential", action="store_true",
               help="also report an always-valid (mSPRT) p-value, safe when checking "
                    "results repeatedly while data arrives")
    add_option(parser, "--json", action="store_true", help="print one JSON object")


def show(result: ABTestResult, args: argparse.Namespace, *, title: str) -> None:
    """The result as one JSON object (``--json``) or as the readable summary."""
    if args.json:
        print(json.dumps(result.to_dict(), allow_nan=False))
        return
    from rev_analytics.cli.console import make_console

    render(result, make_console(), title=title)


def checked_levels(args: argparse.Namespace) -> tuple[float, float]:
    """``--alpha`` and ``--min-effect`` as numbers, or a one-line :class:`ConfigError`."""
    alpha = float(args.alpha)
    if not math.isfinite(alpha) or not 0.0 < alpha < 1.0:
        raise ConfigError(f"--alpha must be between 0 and 1 (exclusive), got {args.alpha}")
    min_effect = float(args.min_effect)
    if not math.isfinite(min_effect) or not 0.0 <= min_effect < 1.0:
        raise ConfigError(f"--min-effect must be in [0, 1), got {args.min_effect}")
    return alpha, min_effect


def render(result: ABTestResult, console: Console, *, title: str) -> None:
    """A readable summary: arms, the design, the comparison and the recommendation.

    Ids are printed as they are (never read as rich markup); p-values too small
    to print read "< 0.0001", never 0.
    """
    from rich.markup import escape
    from rich.table import Table

    from analytics.formatting import p_text

    noun = result.a.column.removesuffix("_id")
    arms = Table(title=escape(title))
    for column in ("arm", noun, "executions", "prompts", "successes", "rate"):
        arms.add_column(column, justify="left" if column in ("arm", noun) else "right")
    design = result.design
    clusters = (design.design.clusters_a, design.design.clusters_b) if design else ("-", "-")
    for label, arm, prompts in (("A", result.a, clusters[0]), ("B", result.b, clusters[1])):
        arms.add_row(label, escape(arm.arm_id), f"{arm.n:,}", f"{prompts:,}" if isinstance(
            prompts, int) else prompts, f"{arm.successes:,}", f"{arm.rate:.2%}")
    console.print(arms)
    level = f"{(1 - result.alpha) * 100:g} %"
    stats = Table(show_header=False, box=None)
    stats.add_column(style="bold")
    stats.add_column()
    if design is not None:
        shape: str = design.design.kind
        if design.design.pairs:
            shape += f", {design.design.pairs:,} prompts in both arms"
        if design.design_effect is not None and shape != "independent":
            shape += f", design effect {design.design_effect:.2f}"
        stats.add_row("design", shape)
    stats.add_row("difference (B - A)", f"{result.difference * 100:+.2f} points, {level} CI "
                  f"[{result.ci_low * 100:+.2f}, {result.ci_high * 100:+.2f}] ({result.ci_method})")
    name = "t" if design is not None and design.df is not None else "z"
    stats.add_row("test", f"{result.test}: {p_text(result.p_value)} ({name} = {result.z:.3f}"
                  + (f", {design.df} df" if name == "t" and design is not None else "") + ")")
    if design is not None and design.design.kind != "independent":
        stats.add_row("pooled z-test (naive)",
                      f"{p_text(design.pooled_p_value)} (z = {design.pooled_z:.3f}), counting "
                      "executions as independent")
    if design is not None and design.gain is not None:
        correlation = ("" if design.correlation is None
                       else f"correlation between arms {design.correlation:.2f}, ")
        stats.add_row("pairing", f"{correlation}an unpaired test would need {design.gain:.2f}x "
                      "the data for the same precision")
    stats.add_row("Cohen's h", f"{result.cohens_h:+.3f}")
    if result.relative_lift is not None:
        stats.add_row("relative lift", f"{result.relative_lift:+.1%}")
    stats.add_row("significant", "yes" if result.significant else "no")
    stats.add_row("practically significant",
                  f"{'yes' if result.practically_significant else 'no'} "
                  f"(min effect {result.min_effect * 100:g} points)")
    if result.minimum_detectable_effect is not None:
        stats.add_row("minimum detectable effect",
                      f"{result.minimum_detectable_effect * 100:.1f} points at 80 % power")
    if result.required_prompts_per_arm is not None:
        stats.add_row("prompts per arm for 80 % power", f"{result.required_prompts_per_arm:,}")
    elif result.required_n_per_arm is not None:
        stats.add_row("n per arm for 80 % power", f"{result.required_n_per_arm:,}")
    if result.stratified is not None:
        s = result.stratified
        within = s.strata[0].column.removesuffix("_id")
        stats.add_row(
            f"stratified by {within}",
            f"adjusted difference {s.adjusted_difference * 100:+.2f} points, "
            f"{p_text(s.p_value)} over {len(s.strata)} {within}s",
        )
    if result.sequential is not None:
        q = result.sequential
        stats.add_row("sequential (mSPRT)", f"always-valid {p_text(q.p_value)}"
                      + (f", decided at {q.decided_at.isoformat()}" if q.decided_at else ""))
    console.print(stats)
    for note in result.notes:
        console.print(f"note: {escape(note)}")
    console.print(f"[bold]recommendation:[/bold] {escape(result.recommendation)}")
