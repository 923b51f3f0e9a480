"""The facade's errors: each is the project's own error *and* a ``ValueError``.

The original module raised ``ValueError`` for "no data", "insufficient sample
size" and bad arguments, so migrated code catches ``ValueError``. The real
modules raise the project's hierarchy (:mod:`rev_analytics.core.errors`); the
facade re-raises those as these subclasses, so both ``except ValueError`` and
``except NothingToReportError`` (or ``AnalysisError``, ``InvalidEventError``,
``ConfigError``) catch them. The original error is kept as ``__cause__``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import ParamSpec, TypeVar

from rev_analytics.core.errors import (
    AnalysisError,
    ConfigError,
    InvalidEventError,
    NothingToReportError,
)

P = ParamSpec("P")
R = TypeVar("R")


class NoDataError(NothingToReportError, ValueError):
    """The selected range (or experiment) holds no executions; the message says "No data"."""


class UnknownExperimentError(NoDataError):
    """No stored execution carries the requested ``experiment_id``."""


class InsufficientSampleError(AnalysisError, ValueError):
    """An A/B arm has fewer executions than ``min_sample_size``."""


class AnalysisValueError(AnalysisError, ValueError):
    """An analysis cannot run on the data it was given."""


class ConfigValueError(ConfigError, ValueError):
    """An argument has an unusable value (e.g. an unsupported export format)."""


class InvalidExecutionError(InvalidEventError, ValueError):
    """A recorded execution breaks the wire contract (``field`` names the field)."""


@contextmanager
def value_errors() -> Iterator[None]:
    """Re-raise the project's user errors as the ``ValueError`` subclasses above."""
    try:
        yield
    except ValueError:
        raise
    except NothingToReportError as exc:
        raise NoDataError(f"No data available: {exc}") from exc
    except InvalidEventError as exc:
        message = str(exc).removeprefix(f"{exc.field}: ")
        raise InvalidExecutionError(exc.field, message, exc.reason) from exc
    except AnalysisError as exc:
        raise AnalysisValueError(str(exc)) from exc
    except ConfigError as exc:
        raise ConfigValueError(str(exc)) from exc


def compatible(method: Callable[P, R]) -> Callable[P, R]:
    """Decorate a public facade method with :func:`value_errors`."""

    @functools.wraps(method)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        with value_errors():
            return method(*args, **kwargs)

    return wrapper


__all__ = ["AnalysisValueError", "ConfigValueError", "InsufficientSampleError",
           "InvalidExecutionError", "NoDataError", "UnknownExperimentError", "compatible",
           "value_errors"]
