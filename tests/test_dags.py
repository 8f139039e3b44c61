"""DAG integrity: every DAG file imports cleanly, declares, and only declares (docs/architecture.md).

Loads dags/ with Airflow's own DagBag (what the dag-processor does), checks the parts a reviewer would:
tags, docs, retries with backoff, the Spark pool, the tasks, commands, edges and Assets against
expectations written out by hand below, the schema files, and that parsing a DAG file imports no Spark
and touches no data (checked in a fresh interpreter with an audit hook).
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


#: Written out by hand from what each stage reads (README "The flow", docs/architecture.md): a stage runs
#: after every stage whose table it reads.
EXPECTED_UPSTREAM = {
    "ingest": {"wait_for_digest"},
    "terms": {"ingest"},  # papers
    "embed": {"ingest"},  # papers
    "trends": {"ingest", "terms"},  # papers (volume), paper_terms
    "erank": {"terms", "embed", "trends"},  # paper_terms, embeddings, keyword_trends (term sets)
    "marts": {"ingest", "trends", "erank"},  # papers, rejects, keyword_trends, term_stats, erank_stats
}
EXPECTED_COMMANDS = {
    "ingest": "digestflow ingest --date {{ ds }}",
    "terms": "digestflow terms --date {{ ds }}",
    "embed": "digestflow embed --date {{ ds }}",
    "trends": "digestflow trends --as-of {{ ds }}",
    "erank": "digestflow erank --date {{ ds }}",
    "marts": "digestflow marts --date {{ ds }}",
}
EXPECTED_OUTLETS = {
    "ingest": {"papers", "rejects"},
    "terms": {"paper_terms"},
    "embed": {"embeddings"},
    "trends": {"keyword_trends", "term_stats", "trend_papers"},
    "erank": {"erank_stats"},
    "marts": {"daily_summary", "trend_mart", "erank_mart"},
}
ALL_TABLES = {f"digestflow://warehouse/{t}" for tables in EXPECTED_OUTLETS.values() for t in tables}


def test_digest_daily_tasks_commands_and_edges(dagbag):
    dag = dagbag.dags["digest_daily"]
    assert {t.task_id for t in dag.tasks} == {"wait_for_digest", *EXPECTED_COMMANDS}
    for stage, command in EXPECTED_COMMANDS.items():
        task = dag.get_task(stage)
        assert task.bash_command == command
        assert task.pool == "spark"
        assert task.upstream_task_ids == EXPECTED_UPSTREAM[stage], stage
        assert {a.uri for a in task.outlets} == {f"digestflow://warehouse/{t}" for t in EXPECTED_OUTLETS[stage]}


def test_every_dag_command_is_a_cli_command():
    """The tasks call commands that exist, with the flags they take."""
    from click.testing import CliRunner

    from digestflow.cli import main

    for command in EXPECTED_COMMANDS.values():
        _, name, flag = command.split()[:3]
        result = CliRunner().invoke(main, [name, "--help"])
        assert result.exit_code == 0, result.output
        assert flag in result.output, f"`digestflow {name}` has no {flag}"


def test_landing_sensor_reschedules_and_soft_fails(dagbag):
    sensor = dagbag.dags["digest_daily"].get_task("wait_for_digest")
    assert sensor.mode == "reschedule"  # holds no worker slot between pokes
    assert sensor.soft_fail is True  # timeout → SKIPPED, never FAILED
    assert 0 < sensor.timeout <= 4 * 24 * 3600
    assert sensor.pool != "spark"


def test_stage_tables_match_the_schema_files():
    """Each published table has a schema file, and the stage named in its description publishes it."""
    logs = {"run_metrics", "validation_results"}
    schema_tables = {p.stem for p in SCHEMAS.glob("*.json")} - logs
    ours = {t: s for s, tables in EXPECTED_OUTLETS.items() for t in tables}
    assert set(ours) == schema_tables
    for table in schema_tables:
        description = json.loads((SCHEMAS / f"{table}.json").read_text()).get("description", "")
        named = re.findall(r"(?:Written|Built) by the (\w+) stage", description)
        if named:
            assert ours[table] == named[0], f"{table}: schema says {named[0]}, DAG says {ours[table]}"


def test_assets_connect_producers_and_the_dashboard(dagbag):
    def outlets(dag_id):
        return {a.uri for t in dagbag.dags[dag_id].tasks for a in t.outlets}

    assert outlets("digest_daily") == ALL_TABLES
    assert outlets("digest_range") == ALL_TABLES
    dashboard = dagbag.dags["dashboard_refresh"]
    condition = dashboard.timetable.asset_condition
    assert type(condition).__name__ == "AssetAll"  # refresh once every table has new data, not per table
    assert {a.uri for a in condition.objects} == ALL_TABLES
    assert dashboard.get_task("dashboard").bash_command.count("digestflow dashboard") == 1


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
declarations = ("digestflow.stages", "digestflow.pipeline", "digestflow.params", "digestflow.settings",
                "digestflow.storage", "digestflow.schemas", "digestflow.resources", "digestflow.landing",
                "digestflow.parsing")
heavy = sorted(m for m in sys.modules
               if m.split(".")[0] in ("pyspark", "py4j", "great_expectations", "duckdb", "pandas", "scipy")
               or (m.startswith("digestflow.") and not m.startswith(declarations)))
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
