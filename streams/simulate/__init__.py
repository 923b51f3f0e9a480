"""A seeded, realistic synthetic REV workload (``rev-analytics simulate`` and the demo)."""
