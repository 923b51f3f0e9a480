"""``rev-analytics analyze``: every statistical analysis of a range, as JSON or tables."""

from __future__ import annotations

import argparse
import json
import sys
from typing import TYPE_CHECKING

from rev_analytics.cli.commands._comparison import checked_levels
from rev_analytics.cli.console import make_console
from rev_analytics.cli.options import add_option
from rev_analytics.cli.progress import progress_bar
from rev_analytics.cli.selection import add_selection_options, describe, selection_from_args
from rev_analytics.core.errors import ConfigError
from storage.location import parse_location

if TYPE_CHECKING:  # the statistics stack loads in run(): every CLI start-up would pay for it
    from rich.console import Console

    from analytics.analyze import AnalysisReport

NAME = "analyze"
HELP = ("success rates, template comparisons, discrimination power, trends and change points, "
        "correlations, success prediction and model identification for a range")
ORDER = 40
EXTRA = "analytics"
TOP = 15


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_option(parser, "--db", required=True, metavar="PATH|URL",
               help="the store to read: a SQLite file or a postgresql:// URL")
    add_selection_options(parser)
    add_option(parser, "--alpha", type=float, default=0.05,
               help="significance level for every test and interval")
    add_option(parser, "--baseline", metavar="TEMPLATE",
               help="compare every template with this one (default: all pairs)")
    add_option(parser, "--correction", choices=["holm", "fdr_bh"], default="holm",
               help="multiple-comparison correction for the template comparisons")
    add_option(parser, "--min-effect", type=float, default=0.05,
               help="smallest difference in success rate that counts for discrimination "
                    "and change alarms (0.05 = 5 points)")
    add_option(parser, "--json", action="store_true", help="print one JSON object")


def _shown(console: Console, shown: int, total: int, what: str, which: str) -> None:
    """Say when a table holds only some of the rows (``--json`` has them all)."""
    if shown < total:
        console.print(f"showing {shown} of {total} {what} ({which}; --json for all)")


def render(report: AnalysisReport, console: Console) -> None:
    """The readable tables: the most decision-relevant rows of each section.

    Every table that holds only some rows says so; a difference of two rates
    is in percentage points (b - a: positive means b succeeds more often); a
    p-value too small to print reads "< 0.0001", never 0.
    """
    from rich.markup import escape
    from rich.table import Table

    from analytics.formatting import P_FLOOR, p_text, p_value, percent, points

    o = report.overview
    console.print(
        f"[bold]{o.n:,} executions[/bold], {o.templates} templates, {o.models} models, "
        f"{o.start:%Y-%m-%d %H:%M} .. {o.end:%Y-%m-%d %H:%M} UTC; success {o.rate:.1%} "
        f"[{o.ci_low:.1%}, {o.ci_high:.1%}]"
    )
    for name, title in (("template", "Success by template"), ("model", "Success by model")):
        rates = report.rates.get(name)
        if rates is None:
            continue
        kind = "prompt-clustered Wilson" if rates.clustered else "Wilson"
        table = Table(title=f"{title} ({kind} {1 - report.alpha:.0%} CI)")
        for column in (rates.by[0], "n", "rate", "CI"):
            table.add_column(column, justify="left" if column == rates.by[0] else "right")
        for row in rates.rows[:TOP]:
            table.add_row(escape(str(row.keys[rates.by[0]])), f"{row.n:,}", percent(row.rate),
                          f"{percent(row.ci_low)} - {percent(row.ci_high)}")
        console.print(table)
        _shown(console, min(TOP, len(rates.rows)), len(rates.rows), f"{name}s",
               "the highest success rates")
    if report.comparisons is not None:
        c = report.comparisons
        # Most significant first; among those that all read "< 0.0001", the largest difference.
        ordered = sorted(c.comparisons,
                         key=lambda x: (max(x.p_adjusted, P_FLOOR), -abs(x.difference)))
        table = Table(title=f"Template comparisons ({c.mode}, {c.correction}): "
                            f"{len(c.discoveries)} of {len(c.comparisons)} significant")
        for column in ("a", "b", "rate a", "rate b", "b − a (points)", "p adjusted",
                       "significant"):
            table.add_column(column, justify="left" if column in ("a", "b") else "right")
        for comp in ordered[:TOP]:
            table.add_row(escape(comp.a), escape(comp.b), percent(comp.rate_a),
                          percent(comp.rate_b), points(comp.difference, unit=""),
                          p_value(comp.p_adjusted), "yes" if comp.significant else "no")
        console.print(table)
        _shown(console, min(TOP, len(ordered)), len(ordered), "comparisons",
               "the most significant")
    if report.discrimination is not None:
        table = Table(title="Discrimination power (separation of models)")
        for column in ("template", "Cramer's V", "CI", "p adjusted", "mean score"):
            table.add_column(column)
        templates = report.discrimination.templates
        for d in templates[:TOP]:
            table.add_row(escape(d.template_id), f"{d.cramers_v:.3f}",
                          f"{d.v_ci_low:.3f} - {d.v_ci_high:.3f}", p_value(d.p_adjusted),
                          "-" if d.mean_score is None else f"{d.mean_score:.3f}")
        console.print(table)
        _shown(console, min(TOP, len(templates)), len(templates), "templates",
               "the most discriminating")
    if report.trends:
        table = Table(title="Trends over event time (quasi-binomial GLM)")
        for column in ("series", "direction", "change / day (points)", "p"):
            table.add_column(column)
        for trend in report.trends[: TOP + 1]:
            shown = not trend.insufficient
            table.add_row(escape(trend.key), trend.direction,
                          points(trend.rate_change_per_day, 2, unit="") if shown else "-",
                          p_value(trend.p_value) if shown else "-")
        console.print(table)
        # The first row is all executions; the others are templates.
        _shown(console, min(TOP, len(report.trends) - 1), len(report.trends) - 1,
               "templates' trends", "in alphabetical order")
    if report.changes is not None:
        flagged = [c for c in report.changes.changes if c.significant]
        console.print(f"[bold]Change points[/bold] ({report.changes.method}): "
                      + (", ".join(f"{escape(c.template_id)} {c.direction} at "
                                   f"{c.changed_at:%Y-%m-%d %H:%M} UTC "
                                   f"({percent(c.rate_before)} -> {percent(c.rate_after)})"
                                   for c in flagged if c.changed_at is not None)
                         or "none"))
    if report.correlations is not None:
        table = Table(title="Correlation with success (point-biserial, BH FDR)")
        for column in ("feature", "r", "p adjusted", "n"):
            table.add_column(column)
        for f in report.correlations.features:
            table.add_row(escape(f.feature) + (" (outcome-derived)" if f.outcome_derived else ""),
                          "-" if f.r is None else f"{f.r:+.3f}", p_value(f.p_adjusted),
                          f"{f.n:,}")
        console.print(table)
    if report.prediction is not None:
        p = report.prediction
        models = "; ".join(f"{m.name}: ROC-AUC {m.roc_auc:.3f} (+/-{m.roc_auc_fold_sd:.3f}), "
                           f"Brier {m.brier:.3f}" for m in p.models)
        console.print(f"[bold]Success prediction[/bold] ({p.folds}-fold CV on "
                      f"{p.sample_size:,} rows): {escape(models)}")
        if p.excluded:
            console.print("  excluded as leakage: " + ", ".join(
                f"{escape(name)} ({escape(why)})" for name, why in p.excluded.items()))
    if report.identification is not None:
        i = report.identification
        console.print(f"[bold]Model identification[/bold]: accuracy {i.accuracy:.1%} "
                      f"[{i.accuracy_ci[0]:.1%}, {i.accuracy_ci[1]:.1%}] vs chance "
                      f"{i.chance:.1%} ({p_text(i.p_value)}); balanced "
                      f"{i.balanced_accuracy:.1%}")
        matrix = Table(title="Confusion matrix (rows: true model, columns: predicted)")
        matrix.add_column("")
        for label in i.labels:
            matrix.add_column(escape(label), justify="right")
        for label, counts in zip(i.labels, i.matrix, strict=True):
            matrix.add_row(escape(label), *(f"{v:,}" for v in counts))
        console.print(matrix)
    for section, note in report.notes.items():
        console.print(f"note ({section}): {escape(note)}")


def run(args: argparse.Namespace) -> int:
    alpha, min_effect = checked_levels(args)
    from analytics.analyze import ANALYSIS_INPUT_COLUMNS, SECTIONS, run_analysis
    from analytics.load import load_executions

    selection = selection_from_args(args)
    with progress_bar() as bar:
        task = bar.add_task("loading executions", total=len(SECTIONS))
        frame = load_executions(args.db, selection, columns=ANALYSIS_INPUT_COLUMNS)
        if frame.empty:
            bar.stop()
            print(f"nothing to analyse: no executions in {describe(selection)} "
                  f"of {parse_location(args.db)}")
            return 0
        if args.baseline is not None and not (frame["template_id"] == args.baseline).any():
            raise ConfigError(f"--baseline {args.baseline!r} has no executions in the range")

        def step(name: str) -> None:
            bar.update(task, description=name, advance=0 if name == SECTIONS[0] else 1)

        report = run_analysis(frame, alpha=alpha, baseline=args.baseline,
                              correction=args.correction, progress=step, min_effect=min_effect)
    if args.json:
        json.dump(report.to_dict(), sys.stdout, allow_nan=False)
        sys.stdout.write("\n")
    else:
        render(report, make_console())
    return 0
