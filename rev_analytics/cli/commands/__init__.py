"""One module per ``rev-analytics`` sub-command (discovered by :mod:`rev_analytics.cli.main`).

A command module defines ``NAME``, ``HELP``, optional ``ORDER`` (position in
``--help``), ``EXTRA`` (the optional install it needs, see
:mod:`rev_analytics.cli.extras`), ``add_arguments(parser)`` and
``run(args) -> int``. Use :func:`rev_analytics.cli.options.add_option` so every
option has its environment variable. Import heavy packages inside ``run``:
building the parser must work on the base install.
"""
