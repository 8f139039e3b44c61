"""### dashboard_refresh: rebuild the HTML dashboard when the published tables change

Scheduled on Assets, not on a clock: a run starts once every table the pipeline publishes (papers,
rejects, … daily_summary: one Asset each, emitted by the stage tasks of `digest_daily` and by
`digest_range`) has been updated since the last refresh. Weekends, where `digest_daily` is skipped,
publish nothing and trigger nothing.

The task runs `digestflow dashboard --warehouse $DIGESTFLOW_WAREHOUSE --out $DIGESTFLOW_DASHBOARD`
(default: `dashboard.html` beside the warehouse folder). DuckDB reads the Parquet files: no Spark, no
pool slot.
"""

from __future__ import annotations

import datetime as dt

from airflow.providers.standard.operators.bash import BashOperator
from airflow.sdk import DAG, AssetAll
from digestflow_common import DEFAULT_ARGS, published_tables, table_asset

REFRESH = r"""
set -eu
warehouse="${DIGESTFLOW_WAREHOUSE:-data/warehouse}"
out="${DIGESTFLOW_DASHBOARD:-$(dirname "$warehouse")/dashboard.html}"
digestflow dashboard --warehouse "$warehouse" --out "$out"
echo "dashboard: $out"
"""

with DAG(
    dag_id="dashboard_refresh",
    description="Rebuild the digestflow dashboard after the published tables change",
    schedule=AssetAll(*(table_asset(t) for t in published_tables())),
    start_date=dt.datetime(2024, 5, 27, tzinfo=dt.UTC),
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    tags=["digestflow", "dashboard", "assets"],
    doc_md=__doc__,
) as dag:
    BashOperator(
        task_id="dashboard",
        bash_command=REFRESH,
        execution_timeout=dt.timedelta(minutes=30),
        doc_md="Runs `digestflow dashboard` over the published marts (DuckDB; no Spark, no pool slot).",
    )
