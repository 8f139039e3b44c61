"""What Airflow costs per date: one digest_daily run vs ``digestflow run`` for the same day, a backfill,
and range mode (digest_range: one Spark application for the whole range).

The deployment runs a stage server (one warm Spark application for every task, digestflow.server).
At the end the stage server is stopped and a second day is run both ways again, so the table also
shows what a task costs when it starts its own Spark application (the fallback, and the old default).

Starts a throw-away local Airflow (digestflow.airflow_local: SQLite, LocalExecutor, 127.0.0.1) in a
tmp folder over a landing folder (synthetic weekday digests by default, or --landing ../shared/data/
hf-daily), runs each case to completion and prints a table with the wall times and the Airflow/CLI
ratio measured in the same session. The machine's load average is printed with it: on a shared
2-core box it moves every figure.

    .venv/bin/python benchmarks/bench_airflow.py                     # one day: CLI vs digest_daily vs range
    .venv/bin/python benchmarks/bench_airflow.py --backfill-days 20  # + a 20-day backfill
    .venv/bin/python benchmarks/bench_airflow.py --landing ../shared/data/hf-daily --range-all
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


def _backfill(local: LocalAirflow, first: dt.date, last: dt.date) -> float:
    t0 = time.perf_counter()
    body = {"dag_id": "digest_daily", "from_date": f"{first}T00:00:00Z", "to_date": f"{last}T00:00:00Z",
            "max_active_runs": 1, "reprocess_behavior": "completed"}
    for _ in range(8):  # SQLite: a create can lose a write race with the scheduler (503); Airflow cleans up
        try:
            local.api("POST", "/backfills", body)
            break
        except RuntimeError as exc:
            if "503" not in str(exc):
                raise
            time.sleep(3)
    while True:
        backfill = local.api("GET", "/backfills?dag_id=digest_daily")["backfills"][-1]
        if backfill["completed_at"]:
            return time.perf_counter() - t0
        time.sleep(5)


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
    args = parser.parse_args()

    root = Path(tempfile.mkdtemp(prefix="bench_airflow_"))
    landing = args.landing
    if landing is None:
        from digestflow.generate import generate_corpus, write_corpus

        landing = root / "landing"
        days = [d for d in generate_corpus(max(28, args.backfill_days + 10), start=dt.date(2025, 3, 3), seed=1)
                if d.digest_date.weekday() < 5]
        write_corpus(days, landing)
    dates = sorted(dt.date.fromisoformat(p.name[:10]) for p in Path(landing).glob("????-??-??*.txt"))
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
            rows.append((f"backfill digest_daily {first}..{last} ({n} digests)", seconds, f"{seconds / max(n, 1):.0f} s/digest"))
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
