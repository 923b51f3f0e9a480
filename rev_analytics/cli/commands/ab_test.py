"""``rev-analytics ab-test``: compare two templates' success rates (CONTRACT.md section 3)."""

from __future__ import annotations

import argparse
import json
import math
from typing import TYPE_CHECKING

from rev_analytics.cli.console import make_console
from rev_analytics.cli.options import add_option
from rev_analytics.cli.selection import add_selection_options, selection_from_args
from rev_analytics.core.errors import ConfigError

if TYPE_CHECKING:  # the statistics stack loads in run(): every CLI start-up would pay for it
    from rich.console import Console

    from analytics.abtest import ABTestResult
    from analytics.load import Selection

NAME = "ab-test"
HELP = "two-template A/B test on success rate (pooled z-test, interval, effect size, strata)"
ORDER = 35
EXTRA = "analytics"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_option(parser, "--db", required=True, metavar="PATH", help="the SQLite store to read")
    add_option(parser, "--a", required=True, metavar="TEMPLATE", help="the control template")
    add_option(parser, "--b", required=True, metavar="TEMPLATE", help="the variant template")
    add_option(parser, "--model", metavar="MODEL",
               help="compare on this model only (default: all models, plus a test "
                    "stratified by model)")
    add_option(parser, "--alpha", type=float, default=0.05,
               help="significance level (the interval is at 1 - alpha)")
    add_option(parser, "--min-effect", type=float, default=0.05,
               help="smallest difference in success rate that matters (0.05 = 5 points)")
    add_option(parser, "--sequential", action="store_true",
               help="also report an always-valid (mSPRT) p-value, safe when checking "
                    "results repeatedly while data arrives")
    add_option(parser, "--json", action="store_true", help="print one JSON object")
    add_selection_options(parser)


def selection_for(args: argparse.Namespace) -> Selection:
    selection = selection_from_args(args)
    if selection.templates:
        raise ConfigError("ab-test compares --a and --b; --templates does not apply")
    return selection


def render(result: ABTestResult, console: Console) -> None:
    """A readable summary: arms, the comparison and the recommendation."""
    from rich.markup import escape
    from rich.table import Table

    from analytics.formatting import p_text

    scope = f" on model {escape(result.model)}" if result.model else ""
    arms = Table(title=f"A/B test{scope}: {escape(result.b.template_id)} vs "
                       f"{escape(result.a.template_id)}")
    for column in ("arm", "template", "executions", "successes", "rate"):
        arms.add_column(column, justify="right" if column not in ("arm", "template") else "left")
    for label, arm in (("A", result.a), ("B", result.b)):
        arms.add_row(label, escape(arm.template_id), f"{arm.n:,}", f"{arm.successes:,}",
                     f"{arm.rate:.2%}")
    console.print(arms)
    level = f"{(1 - result.alpha) * 100:g} %"
    stats = Table(show_header=False, box=None)
    stats.add_column(style="bold")
    stats.add_column()
    stats.add_row("difference (B - A)", f"{result.difference * 100:+.2f} points, {level} CI "
                  f"[{result.ci_low * 100:+.2f}, {result.ci_high * 100:+.2f}] ({result.ci_method})")
    stats.add_row("test", f"{result.test}: {p_text(result.p_value)} (z = {result.z:.3f})")
    stats.add_row("Cohen's h", f"{result.cohens_h:+.3f}")
    if result.relative_lift is not None:
        stats.add_row("relative lift", f"{result.relative_lift:+.1%}")
    stats.add_row("significant", "yes" if result.significant else "no")
    stats.add_row("practically significant",
                  f"{'yes' if result.practically_significant else 'no'} "
                  f"(min effect {result.min_effect * 100:g} points)")
    if result.required_n_per_arm is not None:
        stats.add_row("n per arm for 80 % power", f"{result.required_n_per_arm:,}")
    if result.stratified is not None:
        s = result.stratified
        stats.add_row(
            "stratified by model",
            f"adjusted difference {s.adjusted_difference * 100:+.2f} points, "
            f"CMH {p_text(s.p_value)} over {len(s.strata)} models",
        )
    if result.sequential is not None:
        q = result.sequential
        stats.add_row("sequential (mSPRT)", f"always-valid {p_text(q.p_value)}"
                      + (f", decided at {q.decided_at.isoformat()}" if q.decided_at else ""))
    console.print(stats)
    for note in result.notes:
        console.print(f"note: {escape(note)}")
    console.print(f"[bold]recommendation:[/bold] {escape(result.recommendation)}")


def run(args: argparse.Namespace) -> int:
    alpha = float(args.alpha)
    if not math.isfinite(alpha) or not 0.0 < alpha < 1.0:
        raise ConfigError(f"--alpha must be between 0 and 1 (exclusive), got {args.alpha}")
    min_effect = float(args.min_effect)
    if not math.isfinite(min_effect) or not 0.0 <= min_effect < 1.0:
        raise ConfigError(f"--min-effect must be in [0, 1), got {args.min_effect}")
    from analytics.abtest import run_ab_test

    result = run_ab_test(
        args.db, args.a, args.b, selection=selection_for(args), model=args.model,
        alpha=alpha, min_effect=min_effect, sequential=bool(args.sequential),
    )
    if args.json:
        print(json.dumps(result.to_dict(), allow_nan=False))
    else:
        render(result, make_console())
    return 0
