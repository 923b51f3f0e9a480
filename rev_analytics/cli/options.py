"""What every sub-command shares: the program name, exit codes, and options that
also read ``REV_ANALYTICS_<OPTION>`` environment variables."""

from __future__ import annotations

import argparse
import os
from typing import Any

from rev_analytics.core.errors import RevAnalyticsError

PROG = "rev-analytics"
ENV_PREFIX = "REV_ANALYTICS_"

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2


class UsageError(RevAnalyticsError):
    """Bad command-line usage (exit code 2)."""


def env_name(flag: str) -> str:
    """``--redis-url`` -> ``REV_ANALYTICS_REDIS_URL``."""
    return ENV_PREFIX + flag.lstrip("-").replace("-", "_").upper()


_FLAG_ACTIONS = ("store_true", "store_false")


def default_text(kwargs: dict[str, Any]) -> str | None:
    """How the built-in default of an option reads in ``--help``, or None if it has none.

    A flag (``store_true``) and an option without a default (None, or
    required) show nothing: "(default: False)" or "(default: None)" says
    nothing a reader can use.
    """
    default = kwargs.get("default")
    if default is None or kwargs.get("required") or kwargs.get("action") in _FLAG_ACTIONS:
        return None
    return str(default)


def add_option(parser: argparse.ArgumentParser, flag: str, **kwargs: Any) -> argparse.Action:
    """Add ``flag`` to ``parser`` with its default read from the environment.

    A value in ``REV_ANALYTICS_<OPTION>`` overrides the built-in default and
    satisfies ``required=True``; argparse converts it with the option's
    ``type`` exactly as if it had been typed on the command line. The help
    text shows the built-in default and the variable's name, and says when
    the variable is set, never its value (it may hold a password).
    """
    variable = env_name(flag)
    shown_default = default_text(kwargs)
    from_env = os.environ.get(variable)
    if from_env is not None:
        if kwargs.get("action") in _FLAG_ACTIONS:
            kwargs["default"] = from_env.strip().lower() in ("1", "true", "yes", "on")
        else:
            kwargs["default"] = from_env
        kwargs["required"] = False
    help_text = kwargs.get("help", "")
    if help_text and help_text != argparse.SUPPRESS:
        if shown_default is not None:
            help_text += " (default: " + shown_default.replace("%", "%%") + ")"
        env = f"env {variable}" if from_env is None else \
            f"env {variable} is set" + (" and overrides the default"
                                        if shown_default is not None else "")
        kwargs["help"] = f"{help_text} [{env}]"
    return parser.add_argument(flag, **kwargs)
