"""DAG integrity: every DAG file imports cleanly, declares, and only declares (STYLE.md §1, §8).

Loads dags/ with Airflow's own DagBag (what the dag-processor does), checks the parts a reviewer would:
tags, docs, retries with backoff, the Spark pool, the stage graph against the library's RUN_ORDER and
the schema files, the Assets the dashboard DAG is scheduled on, and that parsing a DAG file imports no
Spark and touches no data (checked in a fresh interpreter with an audit hook).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
DAGS = REPO / "dags"
SCHEMAS = REPO / "schemas"
DAG_IDS = {"digest_daily", "digest_range", "digest_monthly", "dashboard_refresh"}


@pytest.fixture(scope="module")
def dagbag(tmp_path_factory):
    home = tmp_path_factory.mktemp("airflow_home")
    saved = {k: os.environ.get(k) for k in ("AIRFLOW_HOME", "AIRFLOW__CORE__LOAD_EXAMPLES", "AIRFLOW__CORE__DAGS_FOLDER")}
    os.environ.update(
        AIRFLOW_HOME=str(home), AIRFLOW__CORE__LOAD_EXAMPLES="False", AIRFLOW__CORE__DAGS_FOLDER=str(DAGS)
    )
    if str(DAGS) not in sys.path:
        sys.path.append(str(DAGS))  # Airflow puts the DAGs folder on sys.path; so do we for the helper module
    from airflow.dag_processing.dagbag import DagBag

    yield DagBag(str(DAGS))  # include_examples= is gone in 3.3 (TypeError): LOAD_EXAMPLES=False does it
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


@pytest.fixture(scope="module")
def common(dagbag):
    import digestflow_common

    return digestflow_common


def test_every_dag_file_imports_without_errors(dagbag):
    assert dagbag.import_errors == {}
    assert set(dagbag.dag_ids) == DAG_IDS
    assert {Path(dagbag.dags[d].fileloc).name for d in DAG_IDS} == {f"{d}.py" for d in DAG_IDS}


@pytest.mark.parametrize("dag_id", sorted(DAG_IDS))
def test_dag_declares_tags_docs_retries_and_owner(dagbag, dag_id):
    dag = dagbag.dags[dag_id]
    assert "digestflow" in dag.tags
    assert len(dag.doc_md or "") > 200, "the DAG's doc_md is what the UI shows on its page"
    assert dag.catchup is False
    # digest_daily: today's run may wait for its file for two days; it must not block other dates
    assert dag.max_active_runs == (3 if dag_id == "digest_daily" else 1)
    for task in dag.tasks:
        assert task.retries >= 1, task.task_id
        assert task.retry_exponential_backoff, task.task_id
        assert task.doc_md, f"{dag_id}.{task.task_id} has no doc_md"
        assert task.owner == "digestflow"
        if task.task_id != "wait_for_digest":
            assert task.execution_timeout is not None, task.task_id


@pytest.mark.parametrize("dag_id", sorted(DAG_IDS))
def test_dag_is_acyclic(dagbag, dag_id):
    """Kahn's algorithm over the declared edges: every task gets removed exactly once."""
    dag = dagbag.dags[dag_id]
    indegree = {t.task_id: len(t.upstream_task_ids) for t in dag.tasks}
    ready = [t for t, n in indegree.items() if n == 0]
    removed = 0
    while ready:
        task_id = ready.pop()
        removed += 1
        for down in dag.get_task(task_id).downstream_task_ids:
            indegree[down] -= 1
            if indegree[down] == 0:
                ready.append(down)
    assert removed == len(dag.tasks)


def test_stage_list_matches_the_library_run_order(common):
    from digestflow.pipeline import RUN_ORDER

    assert list(common.STAGE_UPSTREAM) == RUN_ORDER
    assert list(common.STAGE_TABLES) == RUN_ORDER
    for stage, upstream in common.STAGE_UPSTREAM.items():
        assert all(RUN_ORDER.index(u) < RUN_ORDER.index(stage) for u in upstream), stage


def test_digest_daily_has_one_task_per_stage_command(dagbag, common):
    """Ground truth: the click commands of the CLI, in the library's RUN_ORDER."""
    from digestflow.cli import main
    from digestflow.pipeline import RUN_ORDER

    expected = [s for s in RUN_ORDER if s in main.commands]
    assert "ingest" in expected
    dag = dagbag.dags["digest_daily"]
    stage_tasks = [t for t in dag.tasks if t.task_id != "wait_for_digest"]
    assert sorted(t.task_id for t in stage_tasks) == sorted(expected)
    for task in stage_tasks:
        flag = "--as-of" if task.task_id == "trends" else "--date"  # `digestflow trends --help`
        assert task.bash_command == f"digestflow {task.task_id} {flag} {{{{ ds }}}}"
        assert task.pool == "spark"
    assert dag.get_task("ingest").upstream_task_ids == {"wait_for_digest"}


def test_every_registered_stage_can_be_run_by_airflow():
    """A stage module without a ``digestflow <stage>`` command is invisible to the DAG: flag it."""
    from digestflow.cli import main
    from digestflow.pipeline import available_stages

    missing = [s for s in available_stages() if s not in main.commands]
    assert not missing, f"stages registered in the library with no CLI command (so no DAG task): {missing}"


def test_stage_edges_follow_the_declared_reads(dagbag, common):
    """Hand-derived: with every stage present the edges are exactly the declared ones; a missing stage
    is bridged to its own upstream (marts reads trends; without trends it must still wait for terms)."""
    full = common.resolved_upstream(list(common.STAGE_UPSTREAM))
    assert full == {
        "ingest": [], "terms": ["ingest"], "embed": ["ingest"], "trends": ["terms"],
        "erank": ["embed"], "marts": ["ingest", "trends", "erank"],
    }
    assert common.resolved_upstream(["ingest", "terms", "marts"]) == {
        "ingest": [], "terms": ["ingest"], "marts": ["ingest", "terms"],
    }
    dag = dagbag.dags["digest_daily"]
    present = [t.task_id for t in dag.tasks if t.task_id != "wait_for_digest"]
    for stage, upstream in common.resolved_upstream(present).items():
        assert dag.get_task(stage).upstream_task_ids == (set(upstream) or {"wait_for_digest"})


def test_landing_sensor_reschedules_and_soft_fails(dagbag):
    sensor = dagbag.dags["digest_daily"].get_task("wait_for_digest")
    assert sensor.mode == "reschedule"  # holds no worker slot between pokes
    assert sensor.soft_fail is True  # timeout → SKIPPED, never FAILED
    assert 0 < sensor.timeout <= 4 * 24 * 3600
    assert sensor.pool != "spark"


def test_stage_tables_match_the_schema_files(common):
    """Each published table has a schema file, and the stage named in its description is ours."""
    logs = {"run_metrics", "validation_results"}
    schema_tables = {p.stem for p in SCHEMAS.glob("*.json")} - logs
    ours = {t: s for s, tables in common.STAGE_TABLES.items() for t in tables}
    assert set(ours) <= schema_tables, f"tables without a schema file: {sorted(set(ours) - schema_tables)}"
    assert schema_tables <= set(ours), f"tables no DAG task publishes as an Asset: {sorted(schema_tables - set(ours))}"
    for table in schema_tables:
        description = json.loads((SCHEMAS / f"{table}.json").read_text()).get("description", "")
        named = re.findall(r"(?:Written|Built) by the (\w+) stage", description)
        if named:
            assert ours[table] == named[0], f"{table}: schema says {named[0]}, DAG says {ours[table]}"


def test_assets_connect_producers_and_the_dashboard(dagbag, common):
    def outlets(dag_id):
        return {a.uri for t in dagbag.dags[dag_id].tasks for a in t.outlets}

    expected = {
        f"digestflow://warehouse/{t}" for s in common.available_stages() for t in common.STAGE_TABLES[s]
    }
    assert outlets("digest_daily") == expected
    assert outlets("digest_range") == expected
    dashboard = dagbag.dags["dashboard_refresh"]
    condition = dashboard.timetable.asset_condition
    assert type(condition).__name__ == "AssetAll"  # refresh once every table has new data, not per table
    scheduled_on = {a.uri for a in condition.objects}
    assert scheduled_on == expected
    assert dashboard.get_task("dashboard").skip_on_exit_code == [99]


def test_range_dag_runs_one_spark_application_over_its_params(dagbag):
    dag = dagbag.dags["digest_range"]
    assert dag.schedule is None  # manual, REST or UI trigger only
    assert {"start", "end"} <= set(dag.params.keys())
    (task,) = dag.tasks
    assert task.bash_command == "digestflow run --start {{ params.start }} --end {{ params.end }}"
    assert task.pool == "spark"


PARSE_PROBE = r"""
import json, os, sys
landing, warehouse = os.environ["DIGESTFLOW_LANDING"], os.environ["DIGESTFLOW_WAREHOUSE"]
touched, connected = [], []
def hook(event, args):
    if event in ("open", "os.listdir", "os.scandir", "glob.glob") and args and args[0] is not None:
        path = str(args[0])
        if path.startswith((landing, warehouse)):
            touched.append(path)
    if event == "socket.connect":
        connected.append(str(args[1]))
sys.addaudithook(hook)
sys.path.insert(0, sys.argv[1])
import importlib.util
for name in sys.argv[2:]:
    spec = importlib.util.spec_from_file_location(name, os.path.join(sys.argv[1], name + ".py"))
    spec.loader.exec_module(importlib.util.module_from_spec(spec))
heavy = sorted(m for m in sys.modules if m.split(".")[0] in ("pyspark", "py4j", "great_expectations", "duckdb", "pandas")
               or (m.startswith("digestflow.") and m not in ("digestflow.cli", "digestflow.settings")))
print(json.dumps({"heavy": heavy, "touched": touched, "connected": connected}))
"""


def test_parsing_a_dag_file_imports_no_spark_and_touches_no_data(tmp_path):
    """A fresh interpreter imports each DAG file, as the dag-processor does, with an audit hook on."""
    env = {
        **os.environ,
        "AIRFLOW_HOME": str(tmp_path / "home"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "DIGESTFLOW_LANDING": str(tmp_path / "landing"),
        "DIGESTFLOW_WAREHOUSE": str(tmp_path / "warehouse"),
    }
    out = subprocess.run(
        [sys.executable, "-c", PARSE_PROBE, str(DAGS), *sorted(DAG_IDS)],
        env=env, capture_output=True, text=True, timeout=600, check=False,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    probe = json.loads(out.stdout.strip().splitlines()[-1])
    assert probe == {"heavy": [], "touched": [], "connected": []}
