"""### digest_daily: one run per digest date

Waits for the day's landing file (`$DIGESTFLOW_LANDING/*<YYYY-MM-DD>*.txt`), then runs each stage of
the pipeline as its own task, in dependency order (from the stage declarations: each stage runs after
the stages whose tables it reads; `ingest → terms, embed → trends → erank → marts`). Every stage task runs `digestflow <stage> --date {{ ds }}`
(`--as-of` for trends; pool `spark`) and overwrites exactly that date's partitions, so clearing a task
or a run, or backfilling a range again, is safe. With `DIGESTFLOW_SERVER` set (`make airflow` does) the
command runs in the deployment's warm Spark application (the stage server); otherwise in its own.

* **No digest that day** (weekends): the sensor ends SKIPPED, and so does every stage task; its log
  says why (`no digest for <date> in <landing> (none expected any more)`). Airflow has no skipped
  state for a run: such a run ends `success` with all of its tasks skipped. A past date with no file is
  skipped at the first poke; today's date is polled (reschedule mode, no worker slot held) until two
  days after the date.
* **Backfill**: `airflow backfill create --dag-id digest_daily --from-date A --to-date B
  --max-active-runs 1` (or the UI's *Trigger → Backfill*, or `POST /api/v2/backfills`). One run per
  date; `--max-active-runs 1` keeps dates in order, which the trend windows rely on (backfills have
  their own limit; the DAG's 3 active runs let today's waiting run coexist with a manual one). For years of
  history, `digest_range` does the whole range in one Spark application instead.
* **Settings**: `DIGESTFLOW_LANDING`, `DIGESTFLOW_WAREHOUSE`, `SPARK_MASTER` in the workers' environment.
"""

from __future__ import annotations

import datetime as dt

from airflow.providers.standard.operators.bash import BashOperator
from airflow.sdk import DAG, PokeReturnValue, task
from digestflow_common import (
    DEFAULT_ARGS,
    SPARK_POOL,
    stage_command,
    stage_doc,
    stage_upstream,
    stages,
    table_asset,
)

#: A date's digest may land late; after this long past the date, "no file" means "no digest that day".
GRACE = dt.timedelta(days=2)


@task.sensor(
    task_id="wait_for_digest",
    mode="reschedule",
    poke_interval=600,
    timeout=int((GRACE + dt.timedelta(days=1)).total_seconds()),
    soft_fail=True,
    doc_md=(
        "Pokes for the landing file of this run's date (reschedule mode: no worker slot is held between "
        "pokes). Found: passes its name on. Not found and the date is more than two days past: SKIPPED "
        "(no digest that day, e.g. a weekend), and the stage tasks are skipped with it, never failed."
    ),
)
def wait_for_digest() -> PokeReturnValue:
    """Runtime only: reads the landing folder from the worker's environment, never at parse time."""
    import logging
    import os
    from pathlib import Path

    from airflow.sdk import get_current_context
    from airflow.sdk.exceptions import AirflowSkipException

    # The task logger, not print: stdout reaches the log on its own channel, after Airflow's own
    # "Skipping task." line; a log record keeps its place.
    log = logging.getLogger("airflow.task")
    ds = get_current_context()["ds"]
    landing = Path(os.environ.get("DIGESTFLOW_LANDING", "data/landing"))
    found = sorted(p.name for p in landing.glob(f"*{ds}*.txt") if p.is_file())
    if found:
        log.info("landing file(s) for %s in %s: %s", ds, landing, ", ".join(found))
        return PokeReturnValue(is_done=True, xcom_value=found)
    if dt.datetime.now(dt.UTC).date() > dt.date.fromisoformat(ds) + GRACE:
        reason = f"no digest for {ds} in {landing} (none expected any more): skipping this run's tasks"
        log.info(reason)  # Airflow logs only "Skipping task." for the exception, not its message
        raise AirflowSkipException(reason)
    log.info("no landing file for %s in %s yet; poking again", ds, landing)
    return PokeReturnValue(is_done=False)


with DAG(
    dag_id="digest_daily",
    description="Landing file of one date → every digestflow stage, one task per stage",
    schedule="@daily",
    start_date=dt.datetime(2024, 5, 27, tzinfo=dt.UTC),
    catchup=False,
    # > 1: today's run may wait up to GRACE for its file (reschedule mode, no slot held) and must not
    # block a manual run of another date; Spark stays one app at a time through the pool.
    max_active_runs=3,
    default_args=DEFAULT_ARGS,
    tags=["digestflow", "daily", "spark"],
    doc_md=__doc__,
) as dag:
    sensor = wait_for_digest()
    tasks = {
        stage.name: BashOperator(
            task_id=stage.name,
            bash_command=stage_command(stage),
            pool=SPARK_POOL,
            outlets=[table_asset(t) for t in stage.writes],
            execution_timeout=dt.timedelta(hours=1),
            doc_md=stage_doc(stage),
        )
        for stage in stages()
    }
    for stage, upstream in stage_upstream().items():
        for up in upstream:
            tasks[up] >> tasks[stage]
        if not upstream:
            sensor >> tasks[stage]
