"""rev-analytics: prompt analytics for the REV pipeline.

Stages live in their own packages: ``streams`` (wire format, Redis source,
Faust windows, metrics), ``storage`` (SQLite store) and ``analytics``
(statistics, reports, exports). This package holds the command line, the
settings object and the error hierarchy that ties them together.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("rev-analytics")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+unknown"

__all__ = ["__version__"]
