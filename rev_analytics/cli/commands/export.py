"""``rev-analytics export``: the raw history as CSV, JSON lines or Parquet."""

from __future__ import annotations

import argparse

from analytics.defaults import DEFAULT_EXPORT_CHUNK_ROWS, EXPORT_FORMATS
from rev_analytics.cli.options import add_option
from rev_analytics.cli.progress import progress_bar
from rev_analytics.cli.selection import add_selection_options, describe, selection_from_args
from rev_analytics.core.errors import ConfigError

NAME = "export"
HELP = "export the raw execution history (CSV, JSON lines or Parquet), streamed in chunks"
ORDER = 60
EXTRA = "analytics"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_option(parser, "--db", required=True, metavar="PATH|URL",
               help="the store to read: a SQLite file or a postgresql:// URL")
    add_option(parser, "--format", required=True, choices=EXPORT_FORMATS, help="output format")
    add_option(parser, "--out", required=True, metavar="PATH",
               help="file to write (a directory with --partition-by date); never overwritten")
    add_option(parser, "--partition-by", choices=["none", "date"], default="none",
               help="parquet only: one Hive-style folder per event date (date=YYYY-MM-DD)")
    add_option(parser, "--chunk-rows", type=int, default=DEFAULT_EXPORT_CHUNK_ROWS, metavar="N",
               help="rows read and written per chunk (bounds memory)")
    add_selection_options(parser)


def run(args: argparse.Namespace) -> int:
    from analytics.export import count_rows, export_history  # heavy: Arrow, ADBC

    selection = selection_from_args(args)
    if args.chunk_rows < 1:
        raise ConfigError(f"--chunk-rows must be positive, got {args.chunk_rows}")
    total = count_rows(args.db, selection)
    with progress_bar() as bar:
        task = bar.add_task(f"exporting {args.format}", total=total)
        result = export_history(
            args.db, args.out, args.format, selection,
            partition_by_date=args.partition_by == "date", chunk_rows=args.chunk_rows,
            progress=lambda rows: bar.update(task, completed=rows),
        )
    where = f" in {result.partitions} date partition(s)" if args.partition_by == "date" else ""
    print(f"exported {result.rows} execution(s) ({describe(selection)}) to {result.path}{where}")
    return 0
