"""``rev-analytics plan``: prompts and runs per prompt needed to detect a difference.

Takes the baseline success rate, the intra-prompt correlation (ICC) and the
runs per prompt from the store (``--db``, with the usual range and filters) or
from flags (a flag wins over the measurement), and prints, for several runs per
prompt, the prompts per arm that give ``--power`` for ``--effect`` at
``--alpha``; also the effect the data at hand can detect.
"""

from __future__ import annotations

import argparse
import json
from typing import TYPE_CHECKING

from rev_analytics.cli.argtypes import fraction
from rev_analytics.cli.options import add_option
from rev_analytics.cli.selection import add_selection_options, describe, selection_from_args
from rev_analytics.core.errors import ConfigError
from storage.location import parse_location

if TYPE_CHECKING:
    from rich.console import Console

    from analytics.plan import Plan, PlanInputs

NAME = "plan"
HELP = ("prompts and runs per prompt needed to detect a difference at a given power, from "
        "the store's measured between-prompt variance (ICC) or from flags")
ORDER = 37
EXTRA = "analytics"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_option(parser, "--db", metavar="PATH|URL",
               help="measure the rate, ICC and runs per prompt from this store (optional)")
    add_selection_options(parser)
    add_option(parser, "--effect", type=fraction, default=0.05,
               help="difference in success rate to detect (0.05 = 5 points)")
    add_option(parser, "--alpha", type=fraction, default=0.05, help="significance level")
    add_option(parser, "--power", type=fraction, default=0.8, help="power to reach")
    add_option(parser, "--rate", type=fraction, metavar="P",
               help="baseline success rate (default: measured)")
    add_option(parser, "--icc", type=fraction, metavar="R",
               help="intra-prompt correlation of success (default: measured)")
    add_option(parser, "--runs-per-prompt", type=float, metavar="K",
               help="runs per prompt of the data at hand (default: measured)")
    add_option(parser, "--prompts", type=int, metavar="N",
               help="prompts per arm of the data at hand (default: measured median per "
                    "template)")
    add_option(parser, "--paired", action="store_true",
               help="both arms run the same prompts (e.g. two models); the prompt correlation "
                    "is measured between the two --models or given with --prompt-correlation")
    add_option(parser, "--prompt-correlation", type=float, metavar="R",
               help="paired: correlation of the arms' per-prompt success rates (1 = the same "
                    "prompts are hard for both)")
    add_option(parser, "--json", action="store_true", help="print one JSON object")


def _inputs(args: argparse.Namespace) -> PlanInputs:
    from analytics.plan import PlanInputs, measure

    measured: dict[str, object] = {}
    sources: dict[str, str] = {}
    if args.db is not None:
        from analytics.load import load_outcome_counts

        selection = selection_from_args(args)
        counts = load_outcome_counts(args.db, selection,
                                     by=("template_id", "model_id", "prompt_id"))
        if counts.empty:
            raise ConfigError(f"no executions in {describe(selection)} of "
                              f"{parse_location(args.db)} to measure from")
        models = tuple(selection.models or ())
        pair = (str(models[0]), str(models[1])) if (
            args.paired and args.prompt_correlation is None and len(models) == 2) else None
        found = measure(counts, paired_models=pair)
        measured = {name: getattr(found, name) for name in (
            "rate", "icc", "runs_per_prompt", "prompts_per_arm", "prompt_correlation")}
        sources = dict(found.sources)
    flags = {"rate": args.rate, "icc": args.icc, "runs_per_prompt": args.runs_per_prompt,
             "prompts_per_arm": args.prompts, "prompt_correlation": args.prompt_correlation}
    for name, value in flags.items():
        if value is not None:
            measured[name], sources[name] = value, "flag"
    for name, flag in (("rate", "--rate"), ("icc", "--icc")):
        if measured.get(name) is None:
            raise ConfigError(f"give {flag} or --db to measure it from")
    if args.paired and measured.get("prompt_correlation") is None:
        raise ConfigError("--paired needs --prompt-correlation, or --db with exactly two "
                          "--models to measure it between")
    return PlanInputs(sources=sources, **measured)  # type: ignore[arg-type]


def render(result: Plan, console: Console) -> None:
    from rich.table import Table

    i = result.inputs
    given = ", ".join(f"{name} {value}" for name, value in (
        ("rate", f"{i.rate:.1%}"), ("ICC", f"{i.icc:.3f}"),
        ("runs per prompt", f"{i.runs_per_prompt:.3g}" if i.runs_per_prompt else None),
        ("prompts per arm", f"{i.prompts_per_arm:,}" if i.prompts_per_arm else None),
        ("prompt correlation", f"{i.prompt_correlation:.2f}" if result.paired and
         i.prompt_correlation is not None else None)) if value is not None)
    shape = "paired" if result.paired else "different prompts per arm"
    console.print(f"[bold]Plan[/bold] ({shape}): detect {result.effect * 100:g} points at "
                  f"{result.power:.0%} power, alpha {result.alpha:g}; {given}")
    table = Table(title="Prompts per arm needed")
    for column in ("runs per prompt", "prompts per arm", "executions per arm", "design effect"):
        table.add_column(column, justify="right")
    for option in result.options:
        table.add_row(f"{option.runs_per_prompt}", f"{option.prompts_per_arm:,}",
                      f"{option.executions_per_arm:,}", f"{option.design_effect:.2f}")
    console.print(table)
    console.print(f"at least {result.minimum_prompts_per_arm:,} prompts per arm however many "
                  "runs each")
    if result.minimum_detectable_effect is not None:
        console.print(f"the data at hand detects {result.minimum_detectable_effect * 100:.1f} "
                      f"points at {result.power:.0%} power")
    for note in result.notes:
        console.print(f"note: {note}")


def run(args: argparse.Namespace) -> int:
    if args.prompt_correlation is not None and not -1.0 <= args.prompt_correlation <= 1.0:
        raise ConfigError(f"--prompt-correlation must be in [-1, 1], got "
                          f"{args.prompt_correlation}")
    if args.runs_per_prompt is not None and not args.runs_per_prompt >= 1:
        raise ConfigError(f"--runs-per-prompt must be at least 1, got {args.runs_per_prompt}")
    if args.prompts is not None and args.prompts < 2:
        raise ConfigError(f"--prompts must be at least 2, got {args.prompts}")
    from rich.console import Console

    from analytics.plan import plan

    result = plan(args.effect, _inputs(args), alpha=args.alpha, power=args.power,
                  paired=bool(args.paired))
    if args.json:
        print(json.dumps(result.to_dict(), allow_nan=False))
    else:
        render(result, Console())
    return 0
