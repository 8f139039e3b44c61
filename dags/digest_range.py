"""### digest_range: a whole date range in one Spark application (bulk history)

Trigger it by hand with the params `start` and `end` (inclusive, `YYYY-MM-DD`; the UI's *Trigger*
form shows them). One task runs `digestflow run --start … --end …`: every stage over the whole range
inside one Spark application (the stage server's, when the deployment has one), so each stage runs once
over the range: none of the per-date task overhead and per-date jobs of a `digest_daily` backfill.
Dates with no landing file produce no partitions.
Re-running overwrites the range's partitions; the results match per-date runs (BENCHMARKS.md).

Use it to load months or years of history; use `digest_daily` (and its backfills) for the day-to-day
schedule, where per-date runs, per-stage retries and the landing sensor matter more than start-up time.
"""

from __future__ import annotations

import datetime as dt

from airflow.providers.standard.operators.bash import BashOperator
from airflow.sdk import DAG, Param
from digestflow_common import DEFAULT_ARGS, SPARK_POOL, published_tables, table_asset

with DAG(
    dag_id="digest_range",
    description="Every digestflow stage over a date range, in one Spark application",
    schedule=None,
    start_date=dt.datetime(2024, 5, 27, tzinfo=dt.UTC),
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    tags=["digestflow", "range", "spark", "backfill"],
    doc_md=__doc__,
    params={
        "start": Param("2024-05-27", type="string", format="date", description="First digest date."),
        "end": Param("2024-05-31", type="string", format="date", description="Last digest date, inclusive."),
    },
) as dag:
    BashOperator(
        task_id="run",
        bash_command="digestflow run --start {{ params.start }} --end {{ params.end }}",
        pool=SPARK_POOL,
        outlets=[table_asset(t) for t in published_tables()],
        execution_timeout=dt.timedelta(hours=6),
        doc_md=(
            "`digestflow run --start {{ params.start }} --end {{ params.end }}`: all stages over the range "
            "in one Spark application; the log ends with each stage's row counts."
        ),
    )
