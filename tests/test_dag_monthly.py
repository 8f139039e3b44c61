"""digest_monthly: one run per calendar month, one task per stage over that month's dates.

Parsed with Airflow's own DagBag; the commands are rendered with Airflow's own template environment,
macros and the DAG's timetable for a real month, and compared with hand-written commands.
"""

from __future__ import annotations

import datetime as dt
import os
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
DAGS = REPO / "dags"


@pytest.fixture(scope="module")
def dag(tmp_path_factory):
    home = tmp_path_factory.mktemp("airflow_home")
    saved = {k: os.environ.get(k) for k in ("AIRFLOW_HOME", "AIRFLOW__CORE__LOAD_EXAMPLES", "AIRFLOW__CORE__DAGS_FOLDER")}
    os.environ.update(AIRFLOW_HOME=str(home), AIRFLOW__CORE__LOAD_EXAMPLES="False", AIRFLOW__CORE__DAGS_FOLDER=str(DAGS))
    if str(DAGS) not in sys.path:
        sys.path.append(str(DAGS))
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(str(DAGS))
    assert bag.import_errors == {}
    yield bag.dags["digest_monthly"]
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


def _render(dag, template: str, start: dt.datetime, end: dt.datetime) -> str:
    from airflow.sdk.execution_time import macros

    env = dag.get_template_env()
    return env.from_string(template).render(data_interval_start=start, data_interval_end=end, macros=macros)


def test_a_run_covers_one_calendar_month(dag):
    import pendulum
    from airflow.serialization.encoders import coerce_to_core_timetable  # what the scheduler uses
    from airflow.timetables.base import TimeRestriction

    # The first run from 2024-02-01 on (a leap year): its data interval is all of February.
    timetable = coerce_to_core_timetable(dag.timetable)
    after = TimeRestriction(earliest=pendulum.datetime(2024, 2, 1, tz="UTC"), latest=None, catchup=True)
    interval = timetable.next_dagrun_info(last_automated_data_interval=None, restriction=after).data_interval
    assert (interval.start.date(), interval.end.date()) == (dt.date(2024, 2, 1), dt.date(2024, 3, 1))
    rendered = {t.task_id: _render(dag, t.bash_command, interval.start, interval.end) for t in dag.tasks}
    assert rendered == {
        "ingest": "digestflow ingest --start 2024-02-01 --end 2024-02-29",
        "terms": "digestflow terms --start 2024-02-01 --end 2024-02-29",
        "embed": "digestflow embed --start 2024-02-01 --end 2024-02-29",
        "trends": "digestflow trends --as-of 2024-02-29",
        "erank": "digestflow erank --start 2024-02-01 --end 2024-02-29",
        "marts": "digestflow marts --start 2024-02-01 --end 2024-02-29",
    }


def test_stages_in_dependency_order_on_the_spark_pool_one_month_at_a_time(dag):
    assert dag.max_active_runs == 1  # a month's trend windows read the months before it
    assert dag.catchup is False  # history comes from a backfill the user starts, not on first parse
    assert {t.pool for t in dag.tasks} == {"spark"}
    upstream = {t.task_id: t.upstream_task_ids for t in dag.tasks}
    assert upstream == {
        "ingest": set(), "terms": {"ingest"}, "embed": {"ingest"}, "trends": {"ingest", "terms"},
        "erank": {"terms", "embed", "trends"}, "marts": {"ingest", "trends", "erank"},
    }
