"""The design document's Python API, for REV code migrating from ``prompt_analytics``.

A compatibility layer over the real modules, faithful to the public
implementation the design document describes (rohanvinaik/REV
``src/dashboard/prompt_analytics.py``) where users port code: class, method
and keyword names, return field names and types, sign conventions, and
``ValueError`` for bad input. Replace ``from src.dashboard.prompt_analytics
import ...`` with ``from rev_analytics.prompt_analytics import ...``.

One module per original class: :mod:`.system` (``PromptAnalyticsSystem``,
``create_analytics_system``), :mod:`.database` (``MetricsDatabase``,
``PromptMetrics``), :mod:`.collector` (``MetricsCollector``),
:mod:`.statistics` (``StatisticalAnalysis``, ``ABTestResult``),
:mod:`.visualization` (``VisualizationEngine``), :mod:`.reporting`
(``ReportingSystem``, ``PromptAnalysisReport``), :mod:`.integration`
(``REVPipelineIntegration``, ``integrate_with_rev_pipeline``) and
:mod:`.errors`. Every call delegates: writes to the producer or the store,
reads to :mod:`analytics.load` / :mod:`storage.reader`, statistics to the
analytics modules, figures to :mod:`analytics.figures`, reports to
:mod:`analytics.report`, exports to :mod:`analytics.export`. Nothing in the
project imports this package (it is the top layer).

Kept from the original: ``run_ab_test``'s ``effect_size`` and
``confidence_interval`` are A minus B (the project's own ``ab-test`` reports
B minus A; the real result is ``ABTestResult.details``); ``min_sample_size=``;
errors are ``ValueError`` (and the project's own error classes).

Changed, each fixing one of the original's faults:

* with a Redis URL, ``record_prompt_execution`` publishes to the stream (the
  consumer stores it, exactly once); without one it validates with the wire
  contract's rules and writes the store directly;
* one store connection per system, so ``":memory:"`` works;
* measurements not given stay absent (NaN), not 0.0; event time is the call
  time unless ``timestamp`` is given, never the arrival time;
* "no data" is never "0 %": rates are ``nan``, heatmaps show missing cells,
  reports and exports of an empty range raise ``NoDataError``;
* figures read the store over event time, not an in-memory buffer of what this
  process recorded; trends are models over event time (``r2`` is ``nan``);
* A/B tests follow the data's design (prompts that repeat), stratify by model;
  prediction excludes outcome-derived features such as ``quality_score``;
* ``sync_with_experiment_tracking`` returns the experiment's real figures, and
  an unknown experiment id raises ``UnknownExperimentError``;
* file names carry a random suffix, so two outputs in one second never clash.
"""

from __future__ import annotations

from rev_analytics.prompt_analytics.collector import MetricsCollector
from rev_analytics.prompt_analytics.database import MetricsDatabase, PromptMetrics
from rev_analytics.prompt_analytics.errors import (
    AnalysisValueError,
    ConfigValueError,
    InsufficientSampleError,
    InvalidExecutionError,
    NoDataError,
    UnknownExperimentError,
)
from rev_analytics.prompt_analytics.integration import (
    REVPipelineIntegration,
    integrate_with_rev_pipeline,
)
from rev_analytics.prompt_analytics.reporting import (
    ComprehensiveReport,
    PromptAnalysisReport,
    ReportingSystem,
)
from rev_analytics.prompt_analytics.statistics import (
    ABTestResult,
    ABTestView,
    StatisticalAnalysis,
)
from rev_analytics.prompt_analytics.system import PromptAnalyticsSystem, create_analytics_system
from rev_analytics.prompt_analytics.visualization import VisualizationEngine

__all__ = [
    "ABTestResult", "ABTestView", "AnalysisValueError", "ComprehensiveReport",
    "ConfigValueError", "InsufficientSampleError", "InvalidExecutionError", "MetricsCollector",
    "MetricsDatabase", "NoDataError", "PromptAnalysisReport", "PromptAnalyticsSystem",
    "PromptMetrics", "REVPipelineIntegration", "ReportingSystem", "StatisticalAnalysis",
    "UnknownExperimentError", "VisualizationEngine", "create_analytics_system",
    "integrate_with_rev_pipeline",
]
