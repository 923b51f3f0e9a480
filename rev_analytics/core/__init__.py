"""The bottom layer: the project's errors and the prompt-execution event.

Imports nothing else of this project and nothing heavy (stdlib and msgspec),
so a REV worker that only publishes events installs and loads just this,
``streams.producer`` and redis-py.
"""
