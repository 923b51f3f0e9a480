"""One module per ``rev-analytics`` sub-command (discovered by :mod:`rev_analytics.cli`).

A command module defines ``NAME``, ``HELP``, optional ``ORDER`` (position in
``--help``), ``add_arguments(parser)`` and ``run(args) -> int``. Use
:func:`rev_analytics.cli.add_option` so every option has its environment variable.
"""
