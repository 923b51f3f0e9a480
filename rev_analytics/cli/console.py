"""The rich Console every command prints through.

On a terminal a command gets rich's defaults: colour, and tables and text
fitted to the terminal's width. Anywhere else (a pipe, a file, a CI log)
rich would wrap at 80 columns, cutting a printed command or a table row in
two; there the console never wraps, crops or colours: each line comes out
whole, ready to copy, ``grep`` or parse. Emoji codes are never substituted
(an id such as ``:fire:`` is printed as it is).
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, TextIO

if TYPE_CHECKING:  # rich loads when a command prints: the base install has none
    from rich.console import Console

UNWRAPPED_WIDTH = 100_000
"""Width given to a console that is not a terminal: wide enough that nothing wraps."""


def is_terminal(stream: TextIO) -> bool:
    """True when ``stream`` is an interactive terminal (a pipe or a file is not)."""
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # a closed or odd stream: not a terminal
        return False


def make_console(*, stderr: bool = False) -> Console:
    """A Console on stdout (or stderr): rich's defaults on a terminal, unwrapped elsewhere.

    The stream is looked up when each line is written, not now, so a test
    that swaps ``sys.stdout`` sees the output.
    """
    from rich.console import Console

    stream = sys.stderr if stderr else sys.stdout
    if is_terminal(stream):
        return Console(stderr=stderr, emoji=False)
    return Console(
        stderr=stderr, emoji=False, width=UNWRAPPED_WIDTH, soft_wrap=True,
        color_system=None, no_color=True, highlight=False, force_terminal=False,
        force_interactive=False, force_jupyter=False,
    )
