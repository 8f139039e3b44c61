"""What Airflow costs per date: one digest_daily run vs ``digestflow run`` for the same day, a backfill,
and range mode (digest_range: one Spark application for the whole range).

The deployment runs a stage server (one warm Spark application for every task, digestflow.server).
At the end the stage server is stopped and a second day is run both ways again, so the table also
shows what a task costs when it starts its own Spark application (the fallback, and the old default).

Starts a throw-away local Airflow (digestflow.airflow_local: its PostgreSQL, LocalExecutor, 127.0.0.1) in a
tmp folder over a landing folder (synthetic weekday digests by default, or --landing ../shared/data/
hf-daily), runs each case to completion and prints a table with the wall times and the Airflow/CLI
ratio measured in the same session. The machine's load average is printed with it: on a shared
2-core box it moves every figure.

    .venv/bin/python benchmarks/bench_airflow.py                     # one day: CLI vs digest_daily vs range
    .venv/bin/python benchmarks/bench_airflow.py --backfill-days 20  # + a 20-day backfill
    .venv/bin/python benchmarks/bench_airflow.py --landing ../shared/data/hf-daily --range-all
    .venv/bin/python benchmarks/bench_airflow.py --landing ../shared/data/hf-daily --monthly-all

``--monthly-all`` is the history case on its own: ``digestflow run --start FIRST --end LAST`` over every
landing date (its own Spark application, empty warehouse) against a ``digest_monthly`` backfill of the
same months through the REST API (one run per month, one task per stage, stage server, empty
warehouse), then both warehouses' papers per date compared, and the backfill's task seconds per stage.
The deployment runs on its own PostgreSQL (make airflow's default), so the folder is made traversable
for the postgres system user when run as root.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from digestflow.airflow_local import STAGE_SERVER, LocalAirflow, _signal_group, free_port


def _wait_run(local: LocalAirflow, dag_id: str, run_id: str, timeout: float = 4 * 3600) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run = local.api("GET", f"/dags/{dag_id}/dagRuns/{run_id}")
        if run["state"] in ("success", "failed"):
            return run
        time.sleep(2)
    raise TimeoutError(f"{dag_id} {run_id} not finished after {timeout}s")


def _trigger(local: LocalAirflow, dag_id: str, logical: dt.date, conf: dict | None = None) -> float:
    """Trigger one run through the REST API; wall seconds from the request to the run's success."""
    t0 = time.perf_counter()
    body = {"logical_date": f"{logical}T00:00:00Z", "conf": conf or {}}
    run = local.api("POST", f"/dags/{dag_id}/dagRuns", body)
    done = _wait_run(local, dag_id, run["dag_run_id"])
    if done["state"] != "success":
        raise RuntimeError(f"{dag_id} {run['dag_run_id']} ended {done['state']}")
    return time.perf_counter() - t0


def _backfill(local: LocalAirflow, first: dt.date, last: dt.date, dag_id: str = "digest_daily") -> float:
    """One backfill through the REST API (PostgreSQL: no lock errors, no retry); wall seconds until the
    scheduler marks it completed."""
    t0 = time.perf_counter()
    body = {"dag_id": dag_id, "from_date": f"{first}T00:00:00Z", "to_date": f"{last}T00:00:00Z",
            "max_active_runs": 1, "reprocess_behavior": "completed"}
    local.api("POST", "/backfills", body)
    while True:
        backfill = local.api("GET", f"/backfills?dag_id={dag_id}")["backfills"][-1]
        if backfill["completed_at"]:
            return time.perf_counter() - t0
        time.sleep(1)  # the wall time is read to the second


def _backfill_runs(local: LocalAirflow, dag_id: str) -> list[tuple[dict, list[dict]]]:
    """The DAG's backfill runs, each with its task instances (REST API)."""
    runs = local.api("GET", f"/dags/{dag_id}/dagRuns?run_type=backfill&limit=1000")["dag_runs"]
    return [(run, local.api("GET", f"/dags/{dag_id}/dagRuns/{run['dag_run_id']}/taskInstances?limit=100")["task_instances"])
            for run in runs]


def _task_seconds(local: LocalAirflow, dag_id: str) -> tuple[dict[str, float], list[str]]:
    """Seconds per task id summed over the DAG's backfill runs (start to end of each task), and the
    backfill runs that did not succeed."""
    runs = _backfill_runs(local, dag_id)
    per_task: dict[str, float] = {}
    for _, tis in runs:
        for ti in tis:
            per_task[ti["task_id"]] = per_task.get(ti["task_id"], 0.0) + float(ti.get("duration") or 0.0)
    return per_task, [run["dag_run_id"] for run, _ in runs if run["state"] != "success"]


def _backfill_breakdown(local: LocalAirflow, dag_id: str = "digest_daily") -> list[tuple[str, float, str]]:
    """Where a backfilled digest's seconds go: each task's mean run time over the runs that ran a stage
    (a digest), the mean of what the run's wall time adds to its tasks' (the scheduler's hand-overs:
    queueing, starting, noticing the end), the mean wall of the runs without a digest, and the backfill's
    span from its creation to its last run's end, then to Airflow's ``completed_at``."""
    def seconds(a: str | None, b: str | None) -> float:
        return (dt.datetime.fromisoformat(b) - dt.datetime.fromisoformat(a)).total_seconds() if a and b else 0.0

    per_task: dict[str, list[float]] = {}
    handovers, skipped = [], []
    runs = _backfill_runs(local, dag_id)
    for run, tis in runs:
        ran = [ti for ti in tis if ti["state"] == "success" and ti.get("start_date") and ti.get("end_date")]
        if len(ran) < 2:  # a weekend: the sensor skipped the run
            skipped.append(seconds(run["start_date"], run["end_date"]))
            continue
        for ti in ran:
            per_task.setdefault(ti["task_id"], []).append(seconds(ti["start_date"], ti["end_date"]))
        handovers.append(seconds(run["start_date"], run["end_date"]) - sum(seconds(t["start_date"], t["end_date"]) for t in ran))
    if not handovers:
        return []
    tasks = ", ".join(f"{task} {sum(v) / len(v):.1f}" for task, v in per_task.items())
    total = sum(sum(v) / len(v) for v in per_task.values())
    # Airflow marks a backfill completed from a fixed 30 s timer of the scheduler (not configurable in
    # 3.3): its last run's end is when the tables are published.
    backfill = local.api("GET", f"/backfills?dag_id={dag_id}")["backfills"][-1]
    last_end = max(run["end_date"] for run, _ in runs)
    n = len(handovers)
    return [(f"  per digest run: tasks (mean s, {n} runs)", total, tasks),
            ("  per digest run: hand-overs (run wall minus its tasks)", sum(handovers) / n, ""),
            (f"  per run without a digest (mean wall, {len(skipped)} runs)", sum(skipped) / max(len(skipped), 1), ""),
            ("  backfill created to its last run's end", seconds(backfill["created_at"], last_end),
             f"{seconds(backfill['created_at'], last_end) / n:.1f} s/digest"),
            ("  last run's end to completed_at (the scheduler's 30 s timer)", seconds(last_end, backfill["completed_at"]), "")]


def _papers_per_date(warehouse: Path) -> dict[str, int]:
    import duckdb

    return dict(duckdb.sql(
        f"SELECT CAST(digest_date AS VARCHAR), count(*) FROM read_parquet('{warehouse}/papers/**/*.parquet', "
        "hive_partitioning=true) GROUP BY 1"
    ).fetchall())


def _quiet(local: LocalAirflow) -> None:
    """Nothing but the measured work: pause both scheduled DAGs and stop the runs the scheduler made on
    start (digest_monthly's last month, digest_daily's today)."""
    local.pause(["digest_monthly", "digest_daily"])
    time.sleep(10)  # a stopped run's running task notices at its next heartbeat and ends


def _history(args: argparse.Namespace, root: Path, landing: Path, dates: list[dt.date]) -> list[tuple[str, float, str]]:
    """digestflow run over every landing date vs a digest_monthly backfill of the same months."""
    first, last = dates[0], dates[-1]
    local = LocalAirflow(root / "home", port=free_port(), landing=landing.absolute(), warehouse=root / "wh_monthly")
    rows: list[tuple[str, float, str]] = []
    try:
        t0 = time.perf_counter()
        local.start(timeout=1200)
        rows.append((f"start local Airflow ({local.db_kind}, stage server, {len(local.components)} components)",
                     time.perf_counter() - t0, ""))
        _quiet(local)
        env = {**os.environ, **local.env(), "DIGESTFLOW_WAREHOUSE": str(root / "wh_cli")}
        env.pop("DIGESTFLOW_SERVER", None)
        t0 = time.perf_counter()
        subprocess.run([str(Path(sys.executable).parent / "digestflow"), "run", "--start", str(first), "--end", str(last)],
                       env=env, check=True, capture_output=True)
        cli = time.perf_counter() - t0
        rows.append((f"digestflow run --start {first} --end {last} (CLI, {len(dates)} digests)", cli, "1.00x"))
        months = (last.year - first.year) * 12 + last.month - first.month + 1
        local.api("PATCH", "/dags/digest_monthly", {"is_paused": False})  # backfills run on unpaused DAGs only
        seconds = _backfill(local, first.replace(day=1), last.replace(day=1), dag_id="digest_monthly")
        rows.append((f"digest_monthly backfill, {months} months x 6 stage tasks", seconds, f"{seconds / cli:.2f}x"))
        per_task, failed = _task_seconds(local, "digest_monthly")
        rows.append(("  of which task run time (sum over tasks)", sum(per_task.values()),
                     ", ".join(f"{k} {v:.0f}" for k, v in per_task.items())))
        if failed:
            rows.append((f"  FAILED runs: {failed}", 0.0, ""))
        same = _papers_per_date(root / "wh_cli") == _papers_per_date(root / "wh_monthly")
        rows.append(("  papers per date identical in both warehouses", 0.0, str(same)))
    finally:
        local.stop()
    return rows


def _cli_run(local: LocalAirflow, root: Path, day: dt.date) -> float:
    """``digestflow run --date day`` by hand, in its own Spark application (not through the server)."""
    env = {**os.environ, **local.env(), "DIGESTFLOW_WAREHOUSE": str(root / "wh_cli")}
    env.pop("DIGESTFLOW_SERVER", None)
    t0 = time.perf_counter()
    subprocess.run([str(Path(sys.executable).parent / "digestflow"), "run", "--date", str(day)],
                   env=env, check=True, capture_output=True)
    return time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--landing", type=Path, help="Landing folder (default: synthetic weekday digests).")
    parser.add_argument("--date", help="The day to compare (default: the first weekday digest).")
    parser.add_argument("--backfill-days", type=int, default=0, help="Also time a backfill of N days.")
    parser.add_argument("--range-all", action="store_true", help="Also time digest_range over every landing date.")
    parser.add_argument("--monthly-all", action="store_true",
                        help="Only the history case: digestflow run vs a digest_monthly backfill over every landing date.")
    args = parser.parse_args()

    root = Path(tempfile.mkdtemp(prefix="bench_airflow_"))
    root.chmod(0o711)  # as root, the deployment's PostgreSQL runs as the postgres user, who must reach it
    landing = args.landing
    if landing is None:
        from digestflow.generate import generate_corpus, write_corpus

        landing = root / "landing"
        days = [d for d in generate_corpus(max(28, args.backfill_days + 10), start=dt.date(2025, 3, 3), seed=1)
                if d.digest_date.weekday() < 5]
        write_corpus(days, landing)
    dates = sorted(dt.date.fromisoformat(p.name[:10]) for p in Path(landing).glob("????-??-??*.txt"))
    if args.monthly_all:
        print(f"load average at start: {os.getloadavg()}", flush=True)
        rows = _history(args, root, Path(landing), dates)
        print(f"load average at end: {os.getloadavg()}  (2 cores)")
        for name, seconds, ratio in rows:
            print(f"{name:62} {seconds:9.1f}  {ratio}")
        return
    day = dt.date.fromisoformat(args.date) if args.date else dates[0]
    local = LocalAirflow(root / "home", port=free_port(), landing=Path(landing).absolute(), warehouse=root / "wh")
    rows: list[tuple[str, float, str]] = []
    print(f"load average at start: {os.getloadavg()}", flush=True)
    try:
        t0 = time.perf_counter()
        local.start(timeout=1200)
        rows.append(("start local Airflow (stage server + 4 components)", time.perf_counter() - t0, ""))
        cli = _cli_run(local, root, day)
        rows.append((f"digestflow run --date {day} (CLI, own Spark app)", cli, "1.00x"))
        daily = _trigger(local, "digest_daily", day)
        rows.append((f"digest_daily run for {day} (6 stage tasks, stage server)", daily, f"{daily / cli:.2f}x"))
        ranged = _trigger(local, "digest_range", day, {"start": str(day), "end": str(day)})
        rows.append((f"digest_range {day}..{day} (1 task)", ranged, f"{ranged / cli:.2f}x"))
        if args.backfill_days:
            first, last = day, day + dt.timedelta(days=args.backfill_days - 1)
            n = sum(first <= d <= last for d in dates)
            seconds = _backfill(local, first, last)
            rows.append((f"backfill digest_daily {first}..{last} ({n} digests)", seconds, f"{seconds / max(n, 1):.1f} s/digest"))
            rows += _backfill_breakdown(local)
            seconds = _trigger(local, "digest_range", last, {"start": str(first), "end": str(last)})
            rows.append((f"digest_range {first}..{last}", seconds, f"{seconds / max(n, 1):.1f} s/digest"))
        if args.range_all:
            first, last = dates[0], dates[-1]
            seconds = _trigger(local, "digest_range", last + dt.timedelta(days=1), {"start": str(first), "end": str(last)})
            rows.append((f"digest_range all {len(dates)} dates {first}..{last}", seconds, f"{seconds / len(dates):.2f} s/digest"))
        # Without the stage server: each task starts its own Spark application (the CLI's fallback).
        _signal_group(local.pids()[STAGE_SERVER], signal.SIGTERM)
        while STAGE_SERVER in local.pids():
            time.sleep(0.5)
        other = next(d for d in dates if d > day + dt.timedelta(days=args.backfill_days))  # a date with no run yet
        cli = _cli_run(local, root, other)
        rows.append((f"digestflow run --date {other} (CLI, own Spark app)", cli, "1.00x"))
        daily = _trigger(local, "digest_daily", other)
        rows.append((f"digest_daily run for {other} (6 stage tasks, no stage server)", daily, f"{daily / cli:.2f}x"))
    finally:
        local.stop()
        print(f"load average at end: {os.getloadavg()}  (2 cores)")
        print(f"{'case':62} {'wall s':>9}  ratio")
        for name, seconds, ratio in rows:
            print(f"{name:62} {seconds:9.1f}  {ratio}")


if __name__ == "__main__":
    main()
