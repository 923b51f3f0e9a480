"""The streaming side, one package per concept.

* ``streams.producer``: what REV workers use to publish events (light: redis-py only);
* ``streams.consumer``: the consumer stages (Redis source, Faust windows, sink, lifecycle);
* ``streams.metrics``: the Prometheus exporter the consumer reports to;
* ``streams.simulate``: a seeded, realistic synthetic REV workload.

Package ``__init__`` modules import nothing heavy, so importing one stage never
loads another's dependencies (Faust, prometheus_client, numpy).
"""
