"""Every Python example of the design document runs against the facade.

The examples are read from a verbatim copy of the design document
(``tests/prompt_analytics/data/prompt-analytics-design.md``). Two substitutions are
made, both what a migrating user does: the import line points at
``rev_analytics.prompt_analytics`` instead of ``src.dashboard.prompt_analytics``, and the
production path ``/var/lib/rev/analytics.db`` becomes a file in the test's
directory. The names the examples leave to the reader (``send_alert``,
``schedule``, ``experiment_config``, a REV ``model`` ...) are recording stubs;
the functions an example only defines are then called, and each example's
effect is checked (rows stored, PNGs written, callbacks fed, reports built).
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

import rev_analytics.prompt_analytics as facade
from analytics.figures import png_is_valid
from analytics.load import load_executions
from tests.analytics.report_data import make_events, write_store

DESIGN_DOC = Path(__file__).parent / "data" / "prompt-analytics-design.md"
TEMPLATES = {"math_reasoning_template": 0.8, "template_a": 0.6, "template_b": 0.75,
             "template_original": 0.55, "template_improved": 0.8, "math_template": 0.85,
             "reasoning_template": 0.7, "behavioral_probe_template": 0.65}
MODELS = ("llama_70b", "gpt4", "claude")


def examples() -> list[str]:
    text = DESIGN_DOC.read_text(encoding="utf-8")
    return re.findall(r"```python\n(.*?)```", text, re.S)


EXAMPLES = examples()


class Recorder:
    """Collects what the examples hand to the stand-ins for the reader's own code."""

    def __init__(self) -> None:
        self.calls: dict[str, list[tuple[Any, ...]]] = {}

    def stub(self, name: str) -> Callable[..., None]:
        def record(*args: Any, **kwargs: Any) -> None:
            self.calls.setdefault(name, []).append((*args, *kwargs.values()))
        return record


class Schedule:
    """Stand-in for the ``schedule`` package: remembers jobs so the test can run them."""

    def __init__(self) -> None:
        self.jobs: list[tuple[str, Callable[[], Any]]] = []

    def every(self) -> Schedule:
        return self

    @property
    def day(self) -> Schedule:
        return self

    def at(self, when: str) -> _Job:
        return _Job(self, when)


class _Job:
    def __init__(self, schedule: Schedule, when: str) -> None:
        self.schedule, self.when = schedule, when

    def do(self, job: Callable[[], Any]) -> None:
        self.schedule.jobs.append((self.when, job))


class FakeModel:
    """The REV model in the integration example: returns a REV execution result."""

    def execute(self, prompt: str, segment_data: dict[str, Any]) -> dict[str, Any]:
        return {"prompt_id": prompt, "template_id": "math_template", "model_id": "gpt4",
                "success": True, "response": "42", "execution_time": 1.5, "cost": 0.02,
                "metadata": {"experiment_id": "exp-1"}}


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Path:
    end = datetime.now(UTC) - timedelta(minutes=1)
    events = make_events(900, end=end, templates=TEMPLATES, models=MODELS, skip=None)
    return write_store(tmp_path_factory.mktemp("seed") / "seeded.db", events)


@pytest.fixture
def workspace(seeded: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    # The stores the examples open by relative name start with the seeded history.
    for name in ("prompt_analytics.db", "rev_analytics.db", "custom_analytics.db",
                 "production.db"):
        shutil.copy(seeded, tmp_path / name)
    return tmp_path


@pytest.fixture
def namespace(workspace: Path) -> Iterator[dict[str, Any]]:
    recorder = Recorder()
    analytics = facade.create_analytics_system("prompt_analytics.db")
    names: dict[str, Any] = {
        "analytics": analytics, "analytics_system": analytics, "Path": Path,
        "PromptAnalyticsSystem": facade.PromptAnalyticsSystem,
        "create_analytics_system": facade.create_analytics_system,
        "integrate_with_rev_pipeline": facade.integrate_with_rev_pipeline,
        "update_dashboard_display": recorder.stub("update_dashboard_display"),
        "send_alert": recorder.stub("send_alert"), "alert": recorder.stub("alert"),
        "send_to_monitoring_dashboard": recorder.stub("send_to_monitoring_dashboard"),
        "schedule": Schedule(), "experiment_config": {"models": ["gpt4", "claude"],
                                                       "templates": ["math_template"]},
        "selected_templates": ["math_template", "reasoning_template"],
        "custom_models": ["gpt4", "claude"], "custom_templates": ["math_template"],
        "custom_timeframe": 7, "_recorder": recorder,
    }
    yield names
    for value in list(names.values()):
        if isinstance(value, facade.PromptAnalyticsSystem):
            value.close()


def run_example(index: int, names: dict[str, Any]) -> dict[str, Any]:
    code = EXAMPLES[index]
    code = code.replace("from src.dashboard.prompt_analytics import",
                        "from rev_analytics.prompt_analytics import")
    code = code.replace("/var/lib/rev/analytics.db", "production.db")
    exec(compile(code, f"design-doc-example-{index}", "exec"), names)  # the doc's own code
    return names


def stored(path: str) -> int:
    return len(load_executions(path))


def test_the_document_has_the_examples_this_test_knows() -> None:
    assert len(EXAMPLES) == 17
    assert "from src.dashboard.prompt_analytics import" in EXAMPLES[11]


def test_record_prompt_execution(namespace: dict[str, Any]) -> None:
    before = stored("prompt_analytics.db")
    run_example(0, namespace)
    frame = load_executions("prompt_analytics.db")
    assert len(frame) == before + 1
    row = frame[frame["prompt_id"] == "behavioral_probe_001"].iloc[0]
    assert row["template_id"] == "math_reasoning_template" and row["cost"] == 0.15
    assert row["difficulty_level"] == 4 and row["domain"] == "mathematical_reasoning"


def test_statistical_analysis(namespace: dict[str, Any]) -> None:
    names = run_example(1, namespace)
    assert names["ab_result"].sample_size_a > 0 and names["ab_result"].sample_size_b > 0
    assert isinstance(names["ab_result"].statistical_significance, bool)
    assert names["correlations"]["features"]
    assert "quality_score" in names["model_results"]["excluded_features"]


def test_visualizations(namespace: dict[str, Any], workspace: Path) -> None:
    names = run_example(2, namespace)
    for key in ("heatmap_path", "timeseries_path", "network_path"):
        path = Path(names[key])
        assert path.is_relative_to(workspace) and png_is_valid(path.read_bytes())


def test_reporting_and_export(namespace: dict[str, Any]) -> None:
    names = run_example(3, namespace)
    report = names["report"]
    assert report.total_prompts > 0
    assert set(report.models_tested) == {"llama_70b", "gpt4"}
    assert "Headline numbers" in names["summary"]
    exports = list(Path("analytics_outputs").glob("prompt_analytics_export_*.csv"))
    assert len(exports) == 1 and exports[0].stat().st_size > 0


def test_rev_integration_callback_and_monitoring(namespace: dict[str, Any]) -> None:
    names = run_example(4, namespace)
    before = stored("prompt_analytics.db")
    names["on_rev_execution_complete"](
        {"prompt_id": "p-rev", "template_id": "math_template", "model_id": "claude",
         "success": False, "response": "", "execution_time": 3.0},
        {"verification_confidence": 0.9, "tree_depth": 4}, {"overall_score": 0.4})
    frame = load_executions("prompt_analytics.db")
    assert len(frame) == before + 1
    row = frame[frame["prompt_id"] == "p-rev"].iloc[0]
    assert row["discrimination_score"] == 0.9 and row["behavioral_score"] == 0.4
    assert names["analytics"].monitoring_active


def test_execution_pipeline_integration(namespace: dict[str, Any]) -> None:
    names = run_example(5, namespace)
    before = stored("rev_analytics.db")
    result = names["execute_prompt_segment"]("p-seg", FakeModel(), {
        "merkle_data": {"verification_confidence": 0.7},
        "behavioral_data": {"overall_score": 0.6}})
    assert result["success"] is True
    assert stored("rev_analytics.db") == before + 1
    names["analytics_from_example"] = names["analytics"]


def test_live_dashboard(namespace: dict[str, Any]) -> None:
    names = run_example(6, namespace)
    dashboard = names["setup_rev_analytics_dashboard"]()
    names["dashboard_system"] = dashboard
    assert dashboard.monitoring_active
    dashboard.publish_update()
    shown = namespace["_recorder"].calls["update_dashboard_display"][-1][0]
    assert shown["total_executions"] >= 0 and set(shown) == {
        "success_rate", "total_executions", "template_performance"}


def test_experiment_tracking(namespace: dict[str, Any]) -> None:
    names = run_example(7, namespace)
    namespace["analytics"].metrics_collector.record_prompt_execution(
        "p-exp", "math_template", "gpt4", True, experiment_id="exp-7")
    outcome = names["track_rev_experiment"]("exp-7", namespace["analytics"])
    assert outcome["sync_status"]["executions"] == 1
    assert outcome["analytics_report"].total_prompts > 0


def test_configuration(namespace: dict[str, Any], workspace: Path) -> None:
    names = run_example(8, namespace)
    memory = names["test_analytics"]
    memory.metrics_collector.record_prompt_execution("p", "t", "m", True)
    assert len(memory.load()) == 1  # ':memory:' keeps its data across calls
    names["custom"] = names["analytics"]
    run_example(9, names)
    assert names["analytics"].monitoring_active
    names["analytics"].add_update_callback(names["custom_alert"])
    names["analytics"].publish_update()
    run_example(10, names)
    assert png_is_valid((workspace / "custom_outputs" / "custom_heatmap.png").read_bytes())


def test_basic_setup_and_comprehensive_analysis(
    namespace: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    names = run_example(11, namespace)
    assert names["analytics"].load()["prompt_id"].eq("test_001").sum() == 1
    run_example(12, names)
    out = capsys.readouterr().out
    assert "Total prompts:" in out and "Top performer:" in out
    assert Path(names["export_path"]).suffix == ".json"


def test_ab_testing_example(namespace: dict[str, Any], capsys: pytest.CaptureFixture[str]) -> None:
    run_example(13, namespace)
    assert "Recommendation:" in capsys.readouterr().out


def test_dashboard_creation(namespace: dict[str, Any], capsys: pytest.CaptureFixture[str]) -> None:
    names = run_example(14, namespace)
    assert names["dashboard_data"]["status"] == "success"
    visualizations = names["dashboard_data"]["visualizations"]
    assert {"success_heatmap", "network_graph"} <= set(visualizations)
    assert all(png_is_valid(Path(p).read_bytes()) for p in visualizations.values())
    assert "executive summary" in capsys.readouterr().out


def test_production_deployment_and_alerting(namespace: dict[str, Any]) -> None:
    names = run_example(15, namespace)
    assert names["production_analytics"].monitoring_active
    (when, job), = names["schedule"].jobs
    assert when == "06:00"
    job()
    assert "Headline numbers" in namespace["_recorder"].calls["send_to_monitoring_dashboard"][0][0]
    assert list(Path("analytics_outputs").glob("prompt_analytics_export_*.parquet"))
    names["analytics"] = names["production_analytics"]
    run_example(16, names)
    names["production_analytics"].publish_update()
