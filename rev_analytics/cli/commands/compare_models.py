"""``rev-analytics compare-models``: do two models differ? Paired on the prompts both ran.

The same JSON keys as ``ab-test`` (CONTRACT.md section 3), with models as the
arms: each arm has ``model_id``; ``pairs`` counts the prompts both models ran,
``correlation`` how alike the models find those prompts and ``gain`` how much
data an unpaired test would need for the same precision.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from rev_analytics.cli.commands._comparison import add_comparison_options, checked_levels, show
from rev_analytics.cli.options import add_option
from rev_analytics.cli.selection import add_selection_options, selection_from_args
from rev_analytics.core.errors import ConfigError

if TYPE_CHECKING:  # the statistics stack loads in run(): every CLI start-up would pay for it
    from analytics.load import Selection

NAME = "compare-models"
HELP = ("two-model comparison on success rate, paired on shared prompts (McNemar for single "
        "runs, paired per-prompt differences for repeated runs), same JSON keys as ab-test")
ORDER = 36
EXTRA = "analytics"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_option(parser, "--db", required=True, metavar="PATH|URL",
               help="the store to read: a SQLite file or a postgresql:// URL")
    add_option(parser, "--a", required=True, metavar="MODEL", help="the reference model")
    add_option(parser, "--b", required=True, metavar="MODEL", help="the model compared with it")
    add_option(parser, "--template", metavar="TEMPLATE",
               help="compare on this template only (default: all templates, plus a test "
                    "stratified by template)")
    add_comparison_options(parser)
    add_selection_options(parser)


def selection_for(args: argparse.Namespace) -> Selection:
    selection = selection_from_args(args)
    if selection.models:
        raise ConfigError("compare-models compares --a and --b; --models does not apply")
    return selection


def run(args: argparse.Namespace) -> int:
    alpha, min_effect = checked_levels(args)
    from analytics.abtest import run_compare_models

    result = run_compare_models(
        args.db, args.a, args.b, selection=selection_for(args), template=args.template,
        alpha=alpha, min_effect=min_effect, sequential=bool(args.sequential),
    )
    scope = f" on template {result.template}" if result.template else ""
    show(result, args, title=f"Model comparison{scope}: {result.b.arm_id} vs {result.a.arm_id}")
    return 0
