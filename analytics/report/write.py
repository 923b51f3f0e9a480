"""Write a report directory: report.html, report.json, summary.md, figures/*.png.

Every path written is resolved and checked to lie inside the output
directory before anything is opened, so no name derived from data (figure
names come from :func:`analytics.figures.safe_name`) can escape it. Each file
is written to a temporary sibling and renamed, so a reader never sees half a
report file.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from analytics.figures import safe_name
from analytics.report.model import Report
from analytics.report.render import render_html, render_summary_markdown
from rev_analytics.core.errors import ConfigError


@dataclass(frozen=True, slots=True)
class WrittenReport:
    """Where each output went."""

    directory: Path
    html: Path
    json: Path
    summary: Path
    figures: tuple[Path, ...]


def check_output_dir(out: str | Path) -> Path:
    """``out`` resolved to an absolute path, refused if it exists and is not a directory.

    Creates nothing: call it before a long computation to fail fast.
    """
    directory = Path(out).expanduser().resolve()
    if directory.exists() and not directory.is_dir():
        raise ConfigError(f"--out {directory} exists and is not a directory")
    return directory


def resolve_output_dir(out: str | Path) -> Path:
    """``out`` as an absolute directory, created if needed; refused if it is a file."""
    directory = check_output_dir(out)
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"cannot create output directory {directory}: {exc}") from exc
    return directory


def inside(directory: Path, name: str) -> Path:
    """``directory / name`` resolved, refused unless it stays inside ``directory``."""
    target = (directory / name).resolve()
    if not target.is_relative_to(directory.resolve()) or target == directory.resolve():
        raise ConfigError(f"refusing to write {name!r}: it resolves outside {directory}")
    return target


def _write(path: Path, data: bytes) -> None:
    partial = path.with_name(f".{path.name}.partial-{os.getpid()}")
    try:
        partial.write_bytes(data)
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)


def write_report(report: Report, out: str | Path) -> WrittenReport:
    """Write all outputs of ``report`` into the directory ``out``."""
    directory = resolve_output_dir(out)
    figure_dir = inside(directory, "figures")
    figure_dir.mkdir(exist_ok=True)
    figure_paths = []
    for figure in report.figures:
        path = inside(figure_dir, f"{safe_name(figure.name)}.png")
        _write(path, figure.png)
        figure_paths.append(path)
    document = json.dumps(report.to_dict(), indent=2, ensure_ascii=False, allow_nan=False)
    paths = {name: inside(directory, name) for name in ("report.json", "summary.md",
                                                        "report.html")}
    _write(paths["report.json"], document.encode("utf-8"))
    _write(paths["summary.md"], render_summary_markdown(report).encode("utf-8"))
    # The HTML last: its presence means the report is complete.
    _write(paths["report.html"], render_html(report).encode("utf-8"))
    return WrittenReport(directory, paths["report.html"], paths["report.json"],
                         paths["summary.md"], tuple(figure_paths))
