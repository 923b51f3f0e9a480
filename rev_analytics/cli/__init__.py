"""The ``rev-analytics`` command line: one module per sub-command under ``commands``.

The top layer: it composes ``streams``, ``analytics`` and ``storage`` and is
imported by nothing else of the project.
"""
