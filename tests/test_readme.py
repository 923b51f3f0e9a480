"""The README stays true: its first commands, and its Python examples run."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import redis

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", README, re.S)


def test_readme_starts_with_the_demo_and_the_test_command_ci_runs() -> None:
    first_block = re.search(r"```bash\n(.*?)```", README, re.S)
    assert first_block is not None
    lines = [line.split("#")[0].strip() for line in first_block.group(1).strip().splitlines()]
    assert lines[0] == "pip install '.[all]' && rev-analytics demo"
    assert lines[1] == "pip install -e '.[test]' && python -m pytest"
    ci = (ROOT / ".ci" / "run").read_text()
    assert "\npython -m pytest\n" in ci
    assert "pip install -q -e '.[test]'" in ci


def test_producer_example_publishes_what_the_consumer_accepts(
    redis_url: str, redis_client: redis.Redis
) -> None:
    (block,) = [b for b in python_blocks() if "Producer(" in b]
    code = block.replace('"redis://localhost:6379/0"', repr(redis_url))
    namespace = {
        "rev_result": {"prompt_id": "p1", "template_id": "t1", "model_id": "m1",
                       "success": True, "execution_time": 1.5, "response": "42"},
        "merkle_data": {"verification_confidence": 0.91, "tree_depth": 8},
        "behavioral_data": {"overall_score": 0.7},
    }
    exec(compile(code, "README.md", "exec"), namespace)

    from rev_analytics.core.decode import decode_entry

    entries = redis_client.xrange("rev:prompt_executions")
    events = [decode_entry(entry_id, fields) for entry_id, fields in entries]
    assert [e.template_id for e in events] == ["math_reasoning_template", "t1"]
    assert events[0].event_id == namespace["event_id"]
    assert events[1].discrimination_score == pytest.approx(0.91)


def test_facade_example_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (block,) = [b for b in python_blocks() if "create_analytics_system" in b]
    monkeypatch.chdir(tmp_path)
    exec(compile(block, "README.md", "exec"), {})
    assert (tmp_path / "rev_analytics.db").exists()
