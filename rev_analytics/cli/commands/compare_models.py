"""``rev-analytics compare-models``: do two models differ? Paired on the prompts both ran.

The same JSON keys as ``ab-test`` (CONTRACT.md section 3), with models as the
arms: each arm has ``model_id``; ``pairs`` counts the prompts both models ran,
``correlation`` how alike the models find those prompts and ``gain`` how much
data an unpaired test would need for the same precision.
"""

from __future__ import annotations

import argparse
import json
from typing import TYPE_CHECKING

from rev_analytics.cli.commands._comparison import checked_levels, render
from rev_analytics.cli.options import add_option
from rev_analytics.cli.selection import add_selection_options, selection_from_args
from rev_analytics.core.errors import ConfigError

if TYPE_CHECKING:  # the statistics stack loads in run(): every CLI start-up would pay for it
    from analytics.load import Selection

NAME = "compare-models"
HELP = ("two-model comparison on success rate, paired on shared prompts (McNemar for single "
        "runs, paired per-prompt differences for repeated runs), same JSON keys as ab-test")
ORDER = 36


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_option(parser, "--db", required=True, metavar="PATH", help="the SQLite store to read")
    add_option(parser, "--a", required=True, metavar="MODEL", help="the reference model")
    add_option(parser, "--b", required=True, metavar="MODEL", help="the model compared with it")
    add_option(parser, "--template", metavar="TEMPLATE",
               help="compare on this template only (default: all templates, plus a test "
                    "stratified by template)")
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
    if selection.models:
        raise ConfigError("compare-models compares --a and --b; --models does not apply")
    return selection


def run(args: argparse.Namespace) -> int:
    alpha, min_effect = checked_levels(args)
    from rich.console import Console

    from analytics.abtest import run_compare_models

    result = run_compare_models(
        args.db, args.a, args.b, selection=selection_for(args), template=args.template,
        alpha=alpha, min_effect=min_effect, sequential=bool(args.sequential),
    )
    if args.json:
        print(json.dumps(result.to_dict(), allow_nan=False))
    else:
        scope = f" on template {result.template}" if result.template else ""
        render(result, Console(),
               title=f"Model comparison{scope}: {result.b.arm_id} vs {result.a.arm_id}")
    return 0
