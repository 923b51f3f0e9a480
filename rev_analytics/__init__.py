"""rev-analytics: prompt analytics for the REV pipeline.

The code is layered; each layer imports only the ones below it (enforced by
``tests/test_layers.py``):

* ``rev_analytics.cli`` and ``rev_analytics.prompt_analytics`` (the design
  document's API, for migrating code) on top, imported by nothing;
* ``streams`` (producer, consumer, metrics exporter, simulator) and
  ``analytics`` (statistics, figures, reports, exports), independent of each
  other;
* ``storage`` (the stores and the one reader of them);
* ``rev_analytics.core`` (errors and the event's single definition) at the bottom.
"""
