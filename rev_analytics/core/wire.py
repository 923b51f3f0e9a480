"""Where events travel: the stream, group and dead-letter keys of CONTRACT.md section 1.

Shared by the producer (which writes to the stream), the consumer (which reads
it through the group and writes dead letters) and the command line.
"""

DEFAULT_STREAM = "rev:prompt_executions"
DEFAULT_GROUP = "rev-analytics"


def dead_letter_stream(stream: str) -> str:
    """The dead-letter stream of ``stream`` (``<stream>:dead``)."""
    return f"{stream}:dead"
