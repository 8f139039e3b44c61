"""What the digestflow DAGs share: the stage graph, the published tables as Assets, task defaults.

Orchestration only (STYLE.md §1): nothing here imports Spark, reads data or asks the metadata DB at
parse time; of the digestflow library only the CLI's command list is looked at. Every task calls the one ``digestflow`` CLI, the same command
people, docker-compose and the tests run, so a task's log shows exactly what the CLI prints (the
stage's row counts) and a failed task can be re-run by hand with the command shown in its log.

Settings reach the CLI through the environment of the Airflow worker (``DIGESTFLOW_LANDING``,
``DIGESTFLOW_WAREHOUSE``, ``SPARK_MASTER``; absolute paths, since BashOperator runs in a temp dir).
"""

from __future__ import annotations

import datetime as dt

from airflow.sdk import Asset

#: The stages in ``digestflow.pipeline.RUN_ORDER`` order with the stages each one reads from.
#: tests/test_dags.py checks this list against RUN_ORDER, so a renamed or new stage is caught.
STAGE_UPSTREAM: dict[str, tuple[str, ...]] = {
    "ingest": (),
    "terms": ("ingest",),
    "embed": ("ingest",),
    "trends": ("terms",),
    "erank": ("embed",),
    "marts": ("ingest", "trends", "erank"),
}

#: The tables each stage publishes (each one an Airflow Asset; see :func:`table_asset`).
STAGE_TABLES: dict[str, tuple[str, ...]] = {
    "ingest": ("papers", "rejects"),
    "terms": ("paper_terms",),
    "embed": ("embeddings",),
    "trends": ("keyword_trends", "term_stats", "trend_papers"),
    "erank": ("erank_stats",),
    "marts": ("daily_summary", "trend_mart", "erank_mart"),
}

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


def table_asset(table: str) -> Asset:
    """The Asset for one published table; the URI names the table, not a path, so it is the same on
    every deployment (the warehouse root is a runtime setting)."""
    return Asset(name=f"digestflow.{table}", uri=f"digestflow://warehouse/{table}", group="digestflow")


def available_stages() -> list[str]:
    """The stages of STAGE_UPSTREAM that the installed ``digestflow`` CLI has a command for.

    The CLI is the contract between the DAGs and the library: a task runs ``digestflow <stage>``, so a
    stage without a command is left out of the DAG (its downstream tasks are wired to its upstream
    instead) rather than failing every run while it is being built. Importing ``digestflow.cli`` loads
    click and the settings class only (every Spark import in it is inside a command), reads no data.
    """
    from digestflow.cli import main

    return [name for name in STAGE_UPSTREAM if name in main.commands]


def resolved_upstream(stages: list[str]) -> dict[str, list[str]]:
    """Each present stage's upstream among the present stages (a missing one is replaced by its own
    upstream, transitively), so skipping an absent stage never drops a dependency."""
    present = set(stages)

    def walk(name: str) -> set[str]:
        found: set[str] = set()
        for up in STAGE_UPSTREAM[name]:
            found |= {up} if up in present else walk(up)
        return found

    return {name: [s for s in stages if s in walk(name)] for name in stages}


def stage_command(stage: str, date: str = "{{ ds }}") -> str:
    """The bash command of a stage task for one date: ``digestflow <stage> --date D``, or ``--as-of D``
    for a stage whose command takes a run date instead (trends: the last day of its windows)."""
    from digestflow.cli import main

    options = {opt for param in main.commands[stage].params for opt in getattr(param, "opts", [])}
    flag = "--date" if "--date" in options else "--as-of"
    if flag not in options:
        raise ValueError(f"`digestflow {stage}` takes neither --date nor --as-of: {sorted(options)}")
    return f"digestflow {stage} {flag} {date}"


def stage_doc(stage: str) -> str:
    tables = ", ".join(f"`{t}`" for t in STAGE_TABLES[stage])
    return (
        f"Runs `digestflow {stage}` for this run's date (pool `{SPARK_POOL}`): in the deployment's warm "
        f"Spark application when `DIGESTFLOW_SERVER` names a stage server, else in its own; publishes "
        f"{tables} (each an Asset). The log ends with the stage's row "
        f"counts (`in, out, rejected, partitions`). Re-running overwrites exactly this date's "
        f"partitions, so clearing the task is always safe."
    )
