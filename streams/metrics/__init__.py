"""The consumer's Prometheus exporter: metric families, label caps, rolling windows, /metrics."""
