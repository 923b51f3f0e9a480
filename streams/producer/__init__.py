"""The producer API for REV workers (CONTRACT.md: the public import path in every install).

    from streams.producer import Producer, AsyncProducer, event_from_rev_result
"""

from streams.producer.client import AsyncProducer, Producer, event_from_rev_result, prepare

__all__ = ["AsyncProducer", "Producer", "event_from_rev_result", "prepare"]
