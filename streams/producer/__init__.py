"""The producer API for REV workers (CONTRACT.md: the public import path in every install).

    from streams.producer import Producer, AsyncProducer, event_from_rev_result

Light on purpose: redis-py, msgspec (the consumer's own decoder validates
locally), tenacity and uuid6; nothing of the consumer, the metrics or the
analytics is imported.
"""

from streams.producer.client import AsyncProducer, Producer
from streams.producer.prepare import new_event_id, prepare
from streams.producer.rev import event_from_rev_result

__all__ = ["AsyncProducer", "Producer", "event_from_rev_result", "new_event_id", "prepare"]
