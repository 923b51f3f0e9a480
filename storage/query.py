"""The SQL of the batch reads, for either backend: rows of a selection, counts, totals.

Every value is a bound parameter (ids can be anything the contract allows).
A backend supplies its :class:`Dialect`: its placeholder and how it binds
event time (SQLite: integer microseconds; PostgreSQL: ``timestamptz``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from rev_analytics.core.fields import Kind
from rev_analytics.core.timefmt import micros_from_datetime
from storage.columns import OUTCOME_KEYS, OUTCOMES_TABLE, STORED, TABLE
from storage.selection import Selection, as_utc


@dataclass(frozen=True, slots=True)
class Dialect:
    placeholder: str
    """The parameter mark; with ``numbered``, its prefix (``$`` gives ``$1``, ``$2``, ...)."""
    time_value: Callable[[datetime], Any]
    numbered: bool = False
    server_side: bool = False
    """PostgreSQL: its SUM of a bigint is numeric (cast back), and its GROUP BY
    hashes (so groups are put in SQLite's order explicitly, see :func:`outcome_counts`)."""


SQLITE = Dialect("?", lambda moment: micros_from_datetime(as_utc(moment)))
POSTGRES = Dialect("%s", as_utc, server_side=True)
"""psycopg's marks."""
POSTGRES_NUMBERED = Dialect("$", as_utc, numbered=True, server_side=True)
"""The server's own numbered marks, as ADBC's PostgreSQL driver binds them."""

COUNT_KEYS: tuple[str, ...] = (*OUTCOME_KEYS, "domain", "difficulty_level")
"""Columns :func:`outcome_counts` can group by."""


def where(selection: Selection | None, dialect: Dialect) -> tuple[str, list[Any]]:
    """`` WHERE ...`` (or ``""``) and its parameters for ``selection``."""
    selection = selection or Selection()
    clauses: list[str] = []
    params: list[Any] = []

    def mark() -> str:
        return f"${len(params)}" if dialect.numbered else dialect.placeholder

    if selection.since is not None:
        params.append(dialect.time_value(selection.since))
        clauses.append(f"timestamp >= {mark()}")
    if selection.until is not None:
        params.append(dialect.time_value(selection.until))
        clauses.append(f"timestamp < {mark()}")
    for column, values in selection.id_filters():
        marks = []
        for value in values:
            params.append(value)
            marks.append(mark())
        clauses.append(f"{column} IN ({', '.join(marks)})")
    return (" WHERE " + " AND ".join(clauses)) if clauses else "", params


def rows(
    columns: Sequence[str], selection: Selection | None, dialect: Dialect, *, ordered: bool
) -> tuple[str, list[Any]]:
    """The stored ``columns`` of ``selection``; ``ordered`` sorts by event time, then arrival."""
    unknown = [c for c in columns if c not in STORED]
    if unknown:
        raise ValueError(f"unknown column(s) {unknown}")
    clause, params = where(selection, dialect)
    order = " ORDER BY timestamp, id" if ordered else ""
    return f"SELECT {', '.join(columns)} FROM {TABLE}{clause}{order}", params


def total(selection: Selection | None, dialect: Dialect) -> tuple[str, list[Any]]:
    clause, params = where(selection, dialect)
    return f"SELECT COUNT(*) FROM {TABLE}{clause}", params


def outcome_counts(
    by: Sequence[str], selection: Selection | None, dialect: Dialect,
    *, outcomes_current: bool = True,
) -> tuple[str, list[Any]]:
    """Executions and successes per combination of ``by`` (columns of :data:`COUNT_KEYS`).

    Read from the small ``prompt_outcomes`` table the store keeps in step with
    its rows when nothing outside its keys is asked for (no time range, no
    domain filter) and the table is current (``outcomes_current``: a SQLite
    file whose rows something other than the store inserted is not, until the
    store's next write), otherwise aggregated over the rows themselves.
    """
    keys = list(by)
    unknown = [key for key in keys if key not in COUNT_KEYS]
    if unknown or not keys:
        raise ValueError(f"cannot group counts by {unknown or keys}; choose from {COUNT_KEYS}")
    if dialect.server_side:
        # The order SQLite's GROUP BY gives (NULL first, text by code point): statistics
        # summed over groups in another order differ in their last bits, and the same
        # rows must give the same JSON from either store.
        order = " ORDER BY " + ", ".join(
            f'{k} COLLATE "C" NULLS FIRST' if STORED[k].kind is not Kind.INT
            else f"{k} NULLS FIRST" for k in keys)
        total_of = "SUM({})::bigint"
    else:
        order, total_of = "", "SUM({})"
    selection = selection or Selection()
    from_outcomes = (
        outcomes_current and not selection.has_time_range and not selection.domains
        and set(keys) <= set(OUTCOME_KEYS)
    )
    if from_outcomes:
        clause, params = where(selection, dialect)
        # prompt_outcomes stores a missing experiment as '' (it is part of its key).
        shown = [f"NULLIF({k}, '') AS {k}" if k == "experiment_id" else k for k in keys]
        group = ", ".join(keys)
        return (f"SELECT {', '.join(shown)}, {total_of.format('executions')}, "
                f"{total_of.format('successes')} "
                f"FROM {OUTCOMES_TABLE}{clause} GROUP BY {group}{order}"), params
    clause, params = where(selection, dialect)
    group = ", ".join(keys)
    return (f"SELECT {group}, COUNT(*), {total_of.format('success')} FROM {TABLE}{clause} "
            f"GROUP BY {group}{order}"), params
