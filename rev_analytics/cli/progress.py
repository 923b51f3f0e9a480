"""A progress bar on stderr for long batch steps (report, export).

Shown only when stderr is a terminal, so scripts and CI logs get the one-line
result on stdout and nothing else; it disappears once the step is done.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

from rev_analytics.cli.console import is_terminal, make_console

if TYPE_CHECKING:
    from rich.progress import Progress


def progress_bar() -> Progress:
    """A transient rich progress bar writing to stderr (disabled when not a TTY)."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

    return Progress(
        "[progress.description]{task.description}", BarColumn(), MofNCompleteColumn(),
        TimeElapsedColumn(), console=make_console(stderr=True), transient=True,
        disable=not is_terminal(sys.stderr),
    )
