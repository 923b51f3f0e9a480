r"""Range and filter options shared by the batch commands (report, export).

``--since``/``--until`` take an RFC 3339 date or time (a date or a time
without an offset means UTC: batch jobs run on servers whose local zone is an
accident); ``--days N`` means "the last N days up to now"; ``--templates`` and
``--models`` take comma-separated ids and may be repeated; ``\,`` stands for a
comma inside an id (the contract allows commas in ids). Bad values raise
:class:`ConfigError` (exit 2 with a one-line reason).
"""

from __future__ import annotations

import argparse
import math
import re
from datetime import UTC, datetime, timedelta
from typing import Any

from rev_analytics.cli.options import add_option
from rev_analytics.core.errors import ConfigError
from storage.selection import Selection


def add_selection_options(parser: argparse.ArgumentParser) -> None:
    """Add ``--since``, ``--until``, ``--days``, ``--templates``, ``--models``, ``--experiment``."""
    add_option(parser, "--since", metavar="TIME",
               help="first event time to include (RFC 3339 date or time; UTC if no offset)")
    add_option(parser, "--until", metavar="TIME",
               help="event time to stop before (exclusive; same format as --since)")
    add_option(parser, "--days", metavar="N",
               help="only the last N days (up to now); not together with --since")
    add_option(parser, "--templates", metavar="ID[,ID...]", action=_IdList,
               help="only these template ids (comma-separated, repeatable; \\, is a comma "
                    "inside an id)")
    add_option(parser, "--models", metavar="ID[,ID...]", action=_IdList,
               help="only these model ids (comma-separated, repeatable; \\, is a comma "
                    "inside an id)")
    add_option(parser, "--experiment", metavar="ID", action=_IdList, dest="experiments",
               help="only executions of this REV experiment (repeatable; commas separate "
                    "ids as in --templates)")


class _IdList(argparse.Action):
    """Collects comma-separated ids over repeated flags; flags replace an environment default."""

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace,
                 values: Any, option_string: str | None = None) -> None:
        current = getattr(namespace, self.dest, None)
        collected = [] if current is None or current is self.default else list(current)
        collected.extend(split_ids(values))
        setattr(namespace, self.dest, collected)


def parse_time(flag: str, text: str) -> datetime:
    """An RFC 3339 date or date-time as an aware UTC datetime (naive means UTC)."""
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ConfigError(
            f"{flag}: expected an RFC 3339 date or time such as 2026-01-31 or "
            f"2026-01-31T08:00:00Z, got {text!r}"
        ) from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


# A comma not preceded by a backslash separates ids; \, is a literal comma and
# \\ a literal backslash, so any id the contract allows can be named.
_SEPARATOR = re.compile(r"(?<!\\)((?:\\\\)*),")
_ESCAPE = re.compile(r"\\([\\,])")


def split_ids(text: str) -> list[str]:
    """The ids in one comma-separated ``text``, unescaped and stripped, empty ones dropped."""
    # Keep the even run of backslashes before a separating comma with the id on its left.
    marked = _SEPARATOR.sub(lambda match: match.group(1) + "\0", text)
    ids = (_ESCAPE.sub(r"\1", part).strip() for part in marked.split("\0"))
    return [item for item in ids if item]


def _ids(values: list[str] | str | None) -> list[str] | None:
    if not values:
        return None
    # From the environment the value arrives as one string still to split; from
    # the command line _IdList has already split it (splitting again would cut
    # an escaped comma).
    ids = split_ids(values) if isinstance(values, str) else list(values)
    return ids or None


def selection_from_args(args: argparse.Namespace, now: datetime | None = None) -> Selection:
    """The :class:`Selection` that the parsed range/filter options describe."""
    since = parse_time("--since", args.since) if args.since else None
    until = parse_time("--until", args.until) if args.until else None
    if args.days is not None:
        if since is not None:
            raise ConfigError("give either --days or --since, not both")
        try:
            days = float(args.days)
        except ValueError:
            raise ConfigError(f"--days: expected a number, got {args.days!r}") from None
        if not math.isfinite(days) or days <= 0:
            raise ConfigError(f"--days must be a positive number, got {args.days}")
        since = (now or datetime.now(UTC)) - timedelta(days=days)
    if since is not None and until is not None and since >= until:
        raise ConfigError(f"--since ({since.isoformat()}) must be before --until "
                          f"({until.isoformat()})")
    return Selection(since=since, until=until, templates=_ids(args.templates),
                     models=_ids(args.models), experiments=_ids(args.experiments))


def describe(selection: Selection) -> str:
    """A short human description of a selection, for messages."""
    parts = []
    if selection.since is not None:
        parts.append(f"from {selection.since.isoformat()}")
    if selection.until is not None:
        parts.append(f"until {selection.until.isoformat()}")
    if selection.templates:
        parts.append(f"templates {', '.join(selection.templates)}")
    if selection.models:
        parts.append(f"models {', '.join(selection.models)}")
    if selection.experiments:
        parts.append(f"experiments {', '.join(selection.experiments)}")
    return "; ".join(parts) if parts else "the whole history"
