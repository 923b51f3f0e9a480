"""``rev-analytics report``: the statistical report of a range, as HTML, JSON and Markdown."""

from __future__ import annotations

import argparse
import math

from analytics.defaults import DEFAULT_MIN_EFFECT, DEFAULT_SUCCESS_TARGET
from rev_analytics.cli.commands._comparison import checked_levels
from rev_analytics.cli.options import add_option
from rev_analytics.cli.progress import progress_bar
from rev_analytics.cli.selection import add_selection_options, describe, selection_from_args
from rev_analytics.core.errors import ConfigError, NothingToReportError
from storage.location import parse_location

NAME = "report"
HELP = ("write DIR/report.html (self-contained), report.json, summary.md and figures/*.png "
        "for a range of executions")
ORDER = 50
EXTRA = "analytics"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_option(parser, "--db", required=True, metavar="PATH|URL",
               help="the store to read: a SQLite file or a postgresql:// URL")
    add_option(parser, "--out", required=True, metavar="DIR",
               help="directory for the report files (created if missing)")
    add_selection_options(parser)
    add_option(parser, "--alpha", type=float, default=0.05,
               help="significance level for every test and interval")
    add_option(parser, "--target", type=float, default=DEFAULT_SUCCESS_TARGET,
               help="success rate below which a template or model counts as a risk")
    add_option(parser, "--min-effect", type=float, default=DEFAULT_MIN_EFFECT,
               help="smallest difference in success rate that a ranking, alarm or "
                    "recommendation acts on (0.05 = 5 points)")


def _fraction(flag: str, value: float) -> float:
    if not math.isfinite(value) or not (0.0 < value < 1.0):
        raise ConfigError(f"{flag} must be between 0 and 1 (exclusive), got {value}")
    return value


def run(args: argparse.Namespace) -> int:
    # Imported here: matplotlib and the statistics stack cost seconds to load,
    # and every other command would pay for them while building the parser.
    from analytics.load import load_executions
    from analytics.report import build_report, write_report
    from analytics.report.write import check_output_dir

    selection = selection_from_args(args)
    alpha, min_effect = checked_levels(args)
    target = _fraction("--target", args.target)
    check_output_dir(args.out)  # fail before minutes of work, not after
    with progress_bar() as bar:
        task = bar.add_task("loading executions", total=None)
        frame = load_executions(args.db, selection)
        if frame.empty:
            bar.stop()
            print(f"nothing to report: no executions in {describe(selection)} "
                  f"of {parse_location(args.db)}")
            return 0

        def step(name: str, done: int, total: int) -> None:
            bar.update(task, description=name, completed=done, total=total)

        try:
            report = build_report(frame, selection=selection, alpha=alpha, target=target,
                                  progress=step, min_effect=min_effect)
        except NothingToReportError as exc:  # defensive: the frame was checked above
            print(exc)
            return 0
        bar.update(task, description="writing")
        written = write_report(report, args.out)
    h = report.headline
    print(f"report on {h.executions:,} execution(s), {h.templates} template(s), "
          f"{h.models} model(s), success {h.success_rate:.1%}: {written.html} "
          f"(+ report.json, summary.md, {len(written.figures)} figure(s))")
    return 0
