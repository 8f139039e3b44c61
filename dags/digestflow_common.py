"""What the digestflow DAGs share: the stage graph, the published tables as Assets, task defaults.

Orchestration only: nothing here imports Spark, reads data or asks the metadata DB at parse time. The
stage graph is not written here: tasks, edges and Assets come from the stage declarations
(``digestflow.stages.STAGES``: what each stage reads and writes), the same ones that drive the CLI and
``digestflow run``. Every task calls the one ``digestflow`` CLI, the same command people,
docker-compose and the tests run, so a task's log shows exactly what the CLI prints (the stage's row
counts) and a failed task can be re-run by hand with the command shown in its log.

Settings reach the CLI through the environment of the Airflow worker (``DIGESTFLOW_LANDING``,
``DIGESTFLOW_WAREHOUSE``, ``SPARK_MASTER``; absolute paths, since BashOperator runs in a temp dir).
"""

from __future__ import annotations

import datetime as dt

from airflow.sdk import Asset

from digestflow.pipeline import Stage, upstream
from digestflow.stages import STAGES

#: Spark applications share this pool. ``digestflow.airflow_local`` creates it with 1 slot: one local
#: Spark app already uses both cores of a small machine; more at once only thrash.
SPARK_POOL = "spark"

DEFAULT_ARGS = {
    "owner": "digestflow",
    "retries": 2,
    "retry_delay": dt.timedelta(seconds=30),
    "retry_exponential_backoff": True,
    "max_retry_delay": dt.timedelta(minutes=10),
}


def stages() -> list[Stage]:
    """Every stage, in run order."""
    return list(STAGES.values())


def stage_upstream() -> dict[str, list[str]]:
    """stage → the stages whose tables it reads (the DAG's edges)."""
    return upstream(stages())


def published_tables() -> list[str]:
    """Every table a stage publishes, in run order."""
    return [t for s in stages() for t in s.writes]


def table_asset(table: str) -> Asset:
    """The Asset for one published table; the URI names the table, not a path, so it is the same on
    every deployment (the warehouse root is a runtime setting)."""
    return Asset(name=f"digestflow.{table}", uri=f"digestflow://warehouse/{table}", group="digestflow")


def stage_command(stage: Stage, date: str = "{{ ds }}") -> str:
    """The bash command of a stage task for one date: ``digestflow <stage> --date D``, or ``--as-of D``
    for a stage whose dates are its run date (trends: the last day of its windows)."""
    flag = "--as-of" if stage.dates == "as_of" else "--date"
    return f"digestflow {stage.name} {flag} {date}"


def stage_doc(stage: Stage) -> str:
    tables = ", ".join(f"`{t}`" for t in stage.writes)
    reads = ", ".join(f"`{r.table}` ({r.scope})" for r in stage.reads) or "the landing files of the date"
    return (
        f"**{stage.summary}**\n\nRuns `{stage_command(stage)}` (pool `{SPARK_POOL}`): in the deployment's warm "
        f"Spark application when `DIGESTFLOW_SERVER` names a stage server, else in its own. Reads {reads}; "
        f"publishes {tables} (each an Asset). A missing input ends the task with one line naming the table "
        f"and the command that makes it. The log ends with the stage's row counts (`in, out, rejected, "
        f"partitions`). Re-running overwrites exactly this date's partitions, so clearing the task is "
        f"always safe."
    )
