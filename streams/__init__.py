"""The streaming side: wire format, Redis source, Faust windows, metrics, producer."""
