"""``rev-analytics ab-test``: compare two templates' success rates (CONTRACT.md section 3)."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from rev_analytics.cli.commands._comparison import add_comparison_options, checked_levels, show
from rev_analytics.cli.options import add_option
from rev_analytics.cli.selection import add_selection_options, selection_from_args
from rev_analytics.core.errors import ConfigError

if TYPE_CHECKING:  # the statistics stack loads in run(): every CLI start-up would pay for it
    from analytics.load import Selection

NAME = "ab-test"
HELP = ("two-template A/B test on success rate: the test follows the data's design "
        "(independent executions, prompts repeated, or shared prompts), interval, effect "
        "size, strata")
ORDER = 35
EXTRA = "analytics"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_option(parser, "--db", required=True, metavar="PATH|URL",
               help="the store to read: a SQLite file or a postgresql:// URL")
    add_option(parser, "--a", required=True, metavar="TEMPLATE", help="the control template")
    add_option(parser, "--b", required=True, metavar="TEMPLATE", help="the variant template")
    add_option(parser, "--model", metavar="MODEL",
               help="compare on this model only (default: all models, plus a test "
                    "stratified by model)")
    add_comparison_options(parser)
    add_selection_options(parser)


def selection_for(args: argparse.Namespace) -> Selection:
    selection = selection_from_args(args)
    if selection.templates:
        raise ConfigError("ab-test compares --a and --b; --templates does not apply")
    return selection


def run(args: argparse.Namespace) -> int:
    alpha, min_effect = checked_levels(args)
    from analytics.abtest import run_ab_test

    result = run_ab_test(
        args.db, args.a, args.b, selection=selection_for(args), model=args.model,
        alpha=alpha, min_effect=min_effect, sequential=bool(args.sequential),
    )
    scope = f" on model {result.model}" if result.model else ""
    show(result, args, title=f"A/B test{scope}: {result.b.arm_id} vs {result.a.arm_id}")
    return 0
