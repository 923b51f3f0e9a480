"""The consumer: Redis stream -> Faust windows -> the store, acknowledged after commit.

One stage per module: ``settings`` (what it runs with), ``source`` (the Redis
side: group, reads, reclaims, acks, dead letters), ``window`` (one window from
entries to committed rows and acks), ``sink`` (the store writer thread),
``app`` (the Faust wiring), ``runner`` (start, run, drain, stop) and
``observer`` (the hooks the metrics exporter implements).
"""
