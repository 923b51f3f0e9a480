"""The project's exception hierarchy.

Every error a user can cause derives from :class:`RevAnalyticsError`; the CLI
turns those into a one-line message and exit code 2. Anything else is a bug or
a runtime failure (exit code 1).
"""

from __future__ import annotations


class RevAnalyticsError(Exception):
    """Root of every error raised on purpose by rev-analytics."""


class ConfigError(RevAnalyticsError):
    """A setting, flag or environment variable has an unusable value."""


class InvalidEventError(RevAnalyticsError):
    """A stream entry breaks the wire contract.

    ``field`` names the offending field (or ``"entry"`` for whole-entry
    problems) and ``reason`` is a small fixed category used as the
    dead-letter metric label; ``str(error)`` is the human-readable message
    written into the dead-letter entry.
    """

    def __init__(self, field: str, message: str, reason: str = "invalid_value") -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.reason = reason


class StorageError(RevAnalyticsError):
    """The store cannot be opened, migrated or written."""


class AnalysisError(RevAnalyticsError):
    """An analysis cannot run on the data it was given (e.g. an empty A/B arm)."""


class NothingToReportError(AnalysisError):
    """The requested range holds no executions."""
