"""Reports: statistics -> figures -> report.html, report.json, summary.md, figures/*.png.

``build_report(frame)`` composes the statistics modules into a
:class:`~analytics.report.model.Report`; ``write_report(report, out_dir)``
renders and writes it. ``generate_report(db_path, out_dir, selection)`` does
both from a store, which is what ``rev-analytics report`` runs.
"""

from __future__ import annotations

from pathlib import Path

from analytics.defaults import DEFAULT_MIN_EFFECT
from analytics.load import Selection, load_executions
from analytics.report.build import DEFAULT_TARGET, StepProgress, analyse, build_report
from analytics.report.model import REPORT_SCHEMA_VERSION, Report
from analytics.report.write import WrittenReport, write_report


def generate_report(
    db_path: str | Path, out: str | Path, selection: Selection | None = None, *,
    alpha: float = 0.05, target: float = DEFAULT_TARGET, progress: StepProgress | None = None,
    min_effect: float = DEFAULT_MIN_EFFECT,
) -> tuple[Report, WrittenReport]:
    """Load ``selection`` from the store, build the report and write it to ``out``.

    Raises ``NothingToReportError`` (nothing is written) when the range is empty.
    """
    frame = load_executions(db_path, selection)
    report = build_report(frame, selection=selection, alpha=alpha, target=target,
                          progress=progress, min_effect=min_effect)
    return report, write_report(report, out)


__all__ = ["REPORT_SCHEMA_VERSION", "Report", "WrittenReport", "analyse", "build_report",
           "generate_report", "write_report"]
