"""The ``rev-analytics`` command line.

Each sub-command lives in its own module under :mod:`rev_analytics.commands`
and exposes ``NAME``, ``HELP``, ``add_arguments(parser)`` and
``run(args) -> int``. This module only builds the parser, maps every option
to its ``REV_ANALYTICS_<OPTION>`` environment variable and turns errors into
exit codes: 0 done, 1 runtime failure, 2 bad usage or bad input (one line on
stderr, no traceback).
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import pkgutil
import sys
import traceback
from collections.abc import Sequence
from types import ModuleType
from typing import Any, NoReturn

from rev_analytics import __version__, commands
from rev_analytics.errors import RevAnalyticsError

PROG = "rev-analytics"
ENV_PREFIX = "REV_ANALYTICS_"

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2


class UsageError(RevAnalyticsError):
    """Bad command-line usage (exit code 2)."""


class _Parser(argparse.ArgumentParser):
    """argparse that reports a usage error as one line instead of usage + error."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{self.prog}: {message} (see --help)")


def env_name(flag: str) -> str:
    """``--redis-url`` -> ``REV_ANALYTICS_REDIS_URL``."""
    return ENV_PREFIX + flag.lstrip("-").replace("-", "_").upper()


def add_option(parser: argparse.ArgumentParser, flag: str, **kwargs: Any) -> argparse.Action:
    """Add ``flag`` to ``parser`` with its default read from the environment.

    A value in ``REV_ANALYTICS_<OPTION>`` overrides the built-in default and
    satisfies ``required=True``; argparse converts it with the option's
    ``type`` exactly as if it had been typed on the command line.
    """
    variable = env_name(flag)
    from_env = os.environ.get(variable)
    if from_env is not None:
        if kwargs.get("action") in ("store_true", "store_false"):
            kwargs["default"] = from_env.strip().lower() in ("1", "true", "yes", "on")
        else:
            kwargs["default"] = from_env
        kwargs["required"] = False
    help_text = kwargs.get("help", "")
    if help_text and help_text != argparse.SUPPRESS:
        kwargs["help"] = f"{help_text} [env {variable}]"
    return parser.add_argument(flag, **kwargs)


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
        command.set_defaults(run=module.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; return the process exit code."""
    try:
        args = build_parser().parse_args(argv)
    except UsageError as exc:
        print(exc, file=sys.stderr)
        return EXIT_USAGE
    logging.basicConfig(
        level=args.log_level,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
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
