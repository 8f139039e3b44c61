"""### digest_monthly: history, one run per calendar month, one task per stage

Each run's data interval is one calendar month; its stage tasks run
`digestflow <stage> --start <first day> --end <last day>` over that month (`trends --as-of <last day>`),
in dependency order (from the stage declarations: `ingest → terms, embed → trends → erank → marts`; pool `spark`; in the warm stage
server when `DIGESTFLOW_SERVER` is set, as `make airflow` does). Dates without a landing file produce
no partitions. Every stage overwrites exactly the month's partitions, so re-running a month is safe.

**Load years of history from the UI**: *Dags → digest_monthly → Trigger → Backfill*, a date range
(e.g. 2024-05-01 … 2026-05-31), *Max active runs* 1, then *Run Backfill*: one run per month, and the
grid shows every month as a column and every stage as a row, green as it finishes. Or the CLI:
`airflow backfill create --dag-id digest_monthly --from-date 2024-05-01 --to-date 2026-05-31
--max-active-runs 1`. Keep one active run: the trend windows of a month read the months before it.

Which DAG when: `digest_daily` for the day-to-day schedule (waits for each day's file, per-date
retries); `digest_monthly` for history (months to years: per-month, per-stage progress and retries,
a fraction of the per-date task overhead); `digest_range` for one opaque run of an arbitrary range.
The schedule (`@monthly`, no catchup) also closes each finished month, which re-computes its trends
at the month's last day.
"""

from __future__ import annotations

import datetime as dt

from airflow.providers.standard.operators.bash import BashOperator
from airflow.sdk import DAG, CronDataIntervalTimetable
from digestflow_common import DEFAULT_ARGS, SPARK_POOL, stage_upstream, stages, table_asset

from digestflow.pipeline import Stage

#: The run's data interval is [first day of the month, first day of the next): its dates, inclusive.
FIRST_DAY = "{{ data_interval_start.strftime('%Y-%m-%d') }}"
LAST_DAY = "{{ (data_interval_end - macros.timedelta(days=1)).strftime('%Y-%m-%d') }}"


def range_command(stage: Stage) -> str:
    """``digestflow <stage> --start FIRST --end LAST`` over the run's month, or ``--as-of LAST`` for a
    stage whose dates are its run date (trends: the last day of its windows, as ``digestflow run`` over
    the same range does). The stage's declaration decides, as in ``digestflow_common.stage_command``."""
    if stage.dates == "as_of":
        return f"digestflow {stage.name} --as-of {LAST_DAY}"
    return f"digestflow {stage.name} --start {FIRST_DAY} --end {LAST_DAY}"


with DAG(
    dag_id="digest_monthly",
    description="History: every digestflow stage over one calendar month per run, one task per stage",
    # A data interval of one month (plain "@monthly" is a CronTriggerTimetable in Airflow 3: interval
    # start == end == the trigger time, no month to run over).
    schedule=CronDataIntervalTimetable("@monthly", timezone="UTC"),
    start_date=dt.datetime(2024, 5, 1, tzinfo=dt.UTC),
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    tags=["digestflow", "monthly", "history", "spark"],
    doc_md=__doc__,
) as dag:
    tasks = {
        stage.name: BashOperator(
            task_id=stage.name,
            bash_command=range_command(stage),
            pool=SPARK_POOL,
            outlets=[table_asset(t) for t in stage.writes],
            execution_timeout=dt.timedelta(hours=2),
            doc_md=(
                f"**{stage.summary}**\n\n`{range_command(stage)}`: this run's month. Publishes "
                + ", ".join(f"`{t}`" for t in stage.writes)
                + "; the log ends with the stage's row counts."
            ),
        )
        for stage in stages()
    }
    for stage, upstream in stage_upstream().items():
        for up in upstream:
            tasks[up] >> tasks[stage]
