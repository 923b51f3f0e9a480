"""The design document's Python API under the ``rev_analytics`` package name.

A re-export of :mod:`analytics.facade` (a thin facade over the real modules)
for code migrating from ``src.dashboard.prompt_analytics``.
"""

from analytics.facade import (
    PromptAnalyticsSystem,
    create_analytics_system,
    integrate_with_rev_pipeline,
)

__all__ = ["PromptAnalyticsSystem", "create_analytics_system", "integrate_with_rev_pipeline"]
