"""The same jobs on a real Spark standalone cluster (1 master + 2 workers × 1 core, on 127.0.0.1).

The executors run a Python that does NOT have digestflow installed (a bare venv that sees only the
third-party packages), so a passing run proves the library reached them the documented way: the zip
from ``--py-files`` (spark-submit) or shipped automatically (``SPARK_MASTER=spark://… digestflow run``).
Both cluster runs must publish tables whose content equals a ``local[2]`` run of the same input.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from digestflow import schemas
from digestflow.bundle import build_library_zip
from digestflow.generate import generate_corpus, write_corpus

pytestmark = [pytest.mark.cluster, pytest.mark.slow, pytest.mark.timeout(2400)]

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "scripts" / "spark-cluster.sh"
SPARK_HOME = Path(__import__("pyspark").__file__).parent
LOG_TABLES = {"run_metrics", "validation_results"}  # one row per run: ids and timings differ by design
DAYS, START = 3, dt.date(2025, 3, 10)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """Start master + 2 workers with the repo script; always stop them (pid files), even on failure."""
    state = tmp_path_factory.mktemp("spark-cluster")
    env = {
        **os.environ,
        "SPARK_CLUSTER_DIR": str(state),
        "SPARK_MASTER_PORT": str(_free_port()),
        "SPARK_MASTER_WEBUI_PORT": str(_free_port()),
        "PYTHON": sys.executable,
    }
    try:
        started = subprocess.run([str(SCRIPT), "start"], env=env, capture_output=True, text=True, timeout=900)
        assert started.returncode == 0, started.stderr + started.stdout
        master = started.stdout.strip().splitlines()[-1].removeprefix("MASTER=")
        yield {"master": master, "state": state}
    finally:
        subprocess.run([str(SCRIPT), "stop"], env=env, capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def bare_python(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A venv whose only link to the project venv is a .pth with its site-packages path.

    Path lines in a .pth are appended without processing the .pth files inside that folder, so the
    editable install of digestflow is invisible: executors must import it from the shipped zip.
    """
    root = tmp_path_factory.mktemp("bare-venv")
    subprocess.run([sys._base_executable, "-m", "venv", "--without-pip", str(root)], check=True)  # type: ignore[attr-defined]
    python = root / "bin" / "python"
    site = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True, text=True, check=True,
    ).stdout.strip()
    ours = next(p for p in sys.path if p.endswith("site-packages") and Path(p, "pyspark").is_dir())
    Path(site, "project-deps.pth").write_text(ours + "\n")
    probe = subprocess.run([str(python), "-c", "import pyarrow, pyspark; import digestflow.parsing"],
                           capture_output=True, text=True)
    assert "No module named 'digestflow.parsing'" in probe.stderr, probe.stderr
    return python


@pytest.fixture(scope="module")
def landing(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, int]:
    folder = tmp_path_factory.mktemp("landing")
    digests = generate_corpus(DAYS, start=START, seed=11)
    write_corpus(digests, folder)
    return folder, sum(len(d.papers) for d in digests)


def _env(bare_python: Path) -> dict[str, str]:
    quick_jvm = "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC"
    return {
        **os.environ,
        "PYSPARK_PYTHON": str(bare_python),  # executors: no digestflow installed
        "PYSPARK_DRIVER_PYTHON": sys.executable,
        "SPARK_LOCAL_IP": "127.0.0.1",
        "GX_ANALYTICS_ENABLED": "false",
        # The gate has its own tests; here it would only add Spark jobs that are identical in all runs.
        "DIGESTFLOW_VALIDATE": "0",
        "DIGESTFLOW_SHUFFLE_PARTITIONS": "2",
        "DIGESTFLOW_EXECUTOR_MEMORY": "768m",
        "DIGESTFLOW_JVM_OPTS": quick_jvm,
        "DIGESTFLOW_SPARK_CONF": f"spark.executor.extraJavaOptions={quick_jvm}",
    }


def _range_args(landing: Path, warehouse: Path) -> list[str]:
    end = START + dt.timedelta(days=DAYS - 1)
    return ["--start", START.isoformat(), "--end", end.isoformat(),
            "--landing", landing.as_uri(), "--warehouse", warehouse.as_uri()]


def _canonical(value: Any) -> Any:
    """Order-free, type-stable form of a cell; doubles to 12 significant digits (summation order)."""
    if isinstance(value, float):
        return float(f"{value:.12g}")
    if isinstance(value, dt.date | dt.datetime):
        return value.isoformat()
    if isinstance(value, list | tuple):
        return [_canonical(v) for v in value]
    if isinstance(value, dict):
        return {k: _canonical(v) for k, v in sorted(value.items())}
    return value


def table_checksums(warehouse: Path) -> dict[str, tuple[int, str]]:
    """{table: (rows, sha256 of the sorted rows over the schema's non-volatile columns)}."""
    import pyarrow.dataset as ds

    out = {}
    for folder in sorted(p for p in warehouse.iterdir() if p.is_dir() and not p.name.startswith("_")):
        if folder.name in LOG_TABLES:
            continue
        schema = schemas.load(folder.name)
        data = ds.dataset(folder, format="parquet", partitioning="hive").to_table()
        rows = []
        for row in data.to_pylist():
            rows.append(json.dumps([_canonical(row.get(c)) for c in schema.data_columns], default=str))
        rows.sort()
        out[folder.name] = (len(rows), hashlib.sha256("\n".join(rows).encode()).hexdigest())
    return out


def _executor_apps(state: Path) -> dict[str, set[str]]:
    """{worker work dir: application ids that ran executors there}."""
    return {w.name: {a.name for a in w.glob("app-*")} for w in sorted(state.glob("work-*"))}


def test_cluster_runs_equal_local_run(cluster, bare_python, landing, spark, tmp_path: Path) -> None:
    from digestflow.runner import make_context
    from digestflow.runner import run as run_stages
    from digestflow.settings import Settings

    folder, n_papers = landing
    env = _env(bare_python)

    # 1. Reference: local[2] (the test session), in-process.
    local_wh = tmp_path / "local"
    settings = Settings.from_env().replace(landing=folder.as_uri(), warehouse=local_wh.as_uri(), validate=False)
    end = START + dt.timedelta(days=DAYS - 1)
    run_stages(make_context(spark=spark, settings=settings, start=START, end=end))
    expected = table_checksums(local_wh)
    assert expected["papers"][0] == n_papers  # ground truth: the generator's paper count
    for table in ("papers", "paper_terms", "embeddings"):  # a comparison of empty tables proves nothing
        assert expected[table][0] > 0, expected

    # 2. spark-submit --master spark://… --py-files <zip> jobs/run.py …
    zip_path = build_library_zip(tmp_path / "dist")
    submit_wh = tmp_path / "submit"
    submit = subprocess.run(
        [str(SPARK_HOME / "bin" / "spark-submit"), "--master", cluster["master"],
         "--py-files", str(zip_path),
         "--driver-java-options", env["DIGESTFLOW_JVM_OPTS"],
         "--conf", "spark.executor.memory=768m",
         str(REPO / "jobs" / "run.py"), *_range_args(folder, submit_wh)],
        env={**env, "DIGESTFLOW_SPARK_CONF": "", "SPARK_HOME": str(SPARK_HOME)},
        capture_output=True, text=True, timeout=1200,
    )
    assert submit.returncode == 0, submit.stderr[-4000:]
    after_submit = _executor_apps(cluster["state"])
    assert len(after_submit) == 2
    assert all(len(apps) == 1 for apps in after_submit.values()), after_submit

    # 3. SPARK_MASTER=spark://… digestflow run … (library zip shipped automatically)
    cli_wh = tmp_path / "cli"
    cli = subprocess.run(
        [str(Path(sys.executable).parent / "digestflow"), "run", *_range_args(folder, cli_wh)],
        env={**env, "SPARK_MASTER": cluster["master"], "DIGESTFLOW_PY_FILES": ""},
        capture_output=True, text=True, timeout=1200,
    )
    assert cli.returncode == 0, cli.stderr[-4000:]
    after_cli = _executor_apps(cluster["state"])
    assert all(len(apps) == 2 for apps in after_cli.values()), after_cli  # both workers ran both apps

    assert table_checksums(submit_wh) == expected
    assert table_checksums(cli_wh) == expected
