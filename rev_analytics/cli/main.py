"""The ``rev-analytics`` command line.

Each sub-command lives in its own module under :mod:`rev_analytics.cli.commands`
and exposes ``NAME``, ``HELP``, ``EXTRA`` (the optional install it needs),
``add_arguments(parser)`` and ``run(args) -> int``. This module only builds
the parser, checks the command's extra is installed, maps every option to its
``REV_ANALYTICS_<OPTION>`` environment variable and turns errors into exit
codes: 0 done, 1 runtime failure, 2 bad usage or bad input (one line on
stderr, no traceback).
"""

from __future__ import annotations

import argparse
import importlib
import logging
import pkgutil
import sys
import traceback
from collections.abc import Sequence
from types import ModuleType
from typing import NoReturn

from rev_analytics.cli import commands
from rev_analytics.cli.extras import require
from rev_analytics.cli.options import EXIT_FAILURE, EXIT_USAGE, PROG, UsageError, add_option
from rev_analytics.core.errors import RevAnalyticsError
from rev_analytics.core.version import __version__


class _Parser(argparse.ArgumentParser):
    """argparse that reports a usage error as one line instead of usage + error."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{self.prog}: {message} (see --help)")


def _command_modules() -> list[ModuleType]:
    found = [
        importlib.import_module(f"{commands.__name__}.{info.name}")
        for info in pkgutil.iter_modules(commands.__path__)
        if not info.name.startswith("_")
    ]
    return sorted(found, key=lambda module: getattr(module, "ORDER", 100))


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog=PROG,
        description="Prompt analytics for the REV pipeline.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    add_option(
        parser,
        "--log-level",
        default="INFO",
        choices=["DEBUG", "INFO", "WARNING", "ERROR"],
        type=str.upper,
        help="logging verbosity",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True
    for module in _command_modules():
        command = sub.add_parser(module.NAME, help=module.HELP, description=module.HELP)
        module.add_arguments(command)
        command.set_defaults(run=module.run, extra=getattr(module, "EXTRA", None))
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; return the process exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        args = build_parser().parse_args(argv)
    except UsageError as exc:
        print(exc, file=sys.stderr)
        return EXIT_USAGE
    logging.basicConfig(
        level=args.log_level,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    args.argv = argv  # what a command that starts copies of itself (consume --workers) re-runs
    try:
        require(args.extra, f"{PROG} {args.command}")
        return int(args.run(args))
    except RevAnalyticsError as exc:
        print(f"{PROG} {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print(f"{PROG} {args.command}: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # a runtime failure: say what, keep the detail for debugging
        if args.log_level == "DEBUG":
            traceback.print_exc()
        print(f"{PROG} {args.command}: failed: {type(exc).__name__}: {exc}", file=sys.stderr)
        return EXIT_FAILURE


if __name__ == "__main__":
    raise SystemExit(main())
