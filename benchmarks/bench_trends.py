"""Benchmark the terms + trends stages on the real dev digests (one Spark session for every case).

Cases (each after one warm-up action, Spark start-up excluded):

- ``terms (all days)``: the terms stage over every ingested day in one run;
- ``trends (as_of = last day)``: the trends stage on the full default lookback (210 days);
- ``daily run, N days of history``: terms for one day + trends at that day, for as_of chosen so that
  50, 210 and 500 days of history precede it. Trends reads only the lookback's partitions, so the cost
  must stop growing once the history exceeds the lookback (500 ≈ 210 > 50).

    .venv/bin/python benchmarks/bench_trends.py --warehouse /tmp/wh [--landing ../shared/data/hf-daily]

With --landing, papers are ingested first (``--no-validate``) when the warehouse has none.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import time
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--warehouse", required=True)
    parser.add_argument(
        "--landing", default=str(Path(__file__).resolve().parents[2] / "shared/data/hf-daily")
    )
    parser.add_argument("--master", default="local[2]")
    parser.add_argument("--skip-full", action="store_true", help="Skip the all-days terms run.")
    args = parser.parse_args()

    from digestflow.pipeline import RunContext, run_stages
    from digestflow.settings import Settings
    from digestflow.spark import build_session

    files = sorted(p for p in Path(args.landing).glob("*.txt"))
    days = [dt.date.fromisoformat(p.stem) for p in files]
    first, last = days[0], days[-1]
    settings = Settings().replace(
        landing=args.landing, warehouse=args.warehouse, spark_master=args.master, validate=False
    )
    t0 = time.perf_counter()
    spark = build_session(settings, app_name="bench-trends")
    startup = time.perf_counter() - t0
    spark.range(1000).count()

    def run(stages: list[str], start: dt.date, end: dt.date) -> float:
        ctx = RunContext(spark=spark, settings=settings, start=start, end=end)
        t = time.perf_counter()
        run_stages(ctx, stages)
        return time.perf_counter() - t

    rows: list[tuple[str, float]] = []
    if not (Path(args.warehouse) / "papers").is_dir():
        rows.append((f"ingest ({len(days)} files, setup)", run(["ingest"], first, last)))
    if not args.skip_full:
        rows.append(
            (f"terms ({(last - first).days + 1} calendar days, one run)", run(["terms"], first, last))
        )
    rows.append(("trends (as_of = last day, 210-day lookback)", run(["trends"], last, last)))
    for history in (50, 210, 500):
        as_of = days[min(history, len(days)) - 1]
        seconds = run(["terms", "trends"], as_of, as_of)
        rows.append((f"daily run (terms + trends), {history} days of history, as_of {as_of}", seconds))

    load = os.getloadavg()
    print(f"machine: {os.cpu_count()} cores, load average {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f}")
    print(f"spark session start: {startup:.1f} s (excluded below)")
    print(f"{'case':<72} {'seconds':>8}")
    for name, seconds in rows:
        print(f"{name:<72} {seconds:>8.1f}")
    daily = {
        h: s for (n, s) in rows for h in (50, 210, 500) if n.startswith(f"daily run (terms + trends), {h} ")
    }
    if daily.get(50):
        print(f"ratio daily run 500 days / 50 days of history: {daily[500] / daily[50]:.2f}")
        print(f"ratio daily run 500 days / 210 days of history: {daily[500] / daily[210]:.2f}")
    spark.stop()


if __name__ == "__main__":
    main()
