"""The floor of a whole-history run's table handling: every published table, already computed, written,
gated and published through the harness, with nothing else to do.

``digestflow run`` over the 521 dev days spends its seconds in three places: Spark's start, the stages'
own computation (parsing, n-grams, embeddings, trends, erank), and the harness path every table takes
(``RunContext.publish``: the staged Parquet write, the gate's read-back and GE run, the swap). This
script measures the first and the third alone. It reads every table of a finished warehouse into
Spark's cache (not timed), then times ``RunContext.publish`` of each into a scratch warehouse, twice
(the second warm), in one fresh process, with the gate on: the same code a run uses, with the
computation taken away. Beside it, the same rows as one unpartitioned file (a Spark write and a read
back): what the per-partition layout costs.

Spark's start + the harness path + the one-process script's compute (``naive_pipeline.py``, run here too
for the same-run baseline) is a lower bound for ``digestflow run`` with this layout and gate on this
host: if it is above the target, no faster stage code reaches the target without a layout change.

``--date D`` measures what a one-day run of D owns instead (its date, its as_of, its months): the floor
of ``digestflow run --date D`` (target 4 compares that run with a bare Spark start; here both come from
the same process). Usage::

    python benchmarks/bench_floor.py [--warehouse W] [--landing ../shared/data/hf-daily] [--date D]

Without ``--warehouse``, a full ``digestflow run`` of the landing folder makes one first (not timed).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_LANDING = ROOT.parent / "shared" / "data" / "hf-daily"


def digest_range(landing: Path) -> tuple[str, str]:
    from digestflow.landing import list_landing

    dates = sorted(f.file_date for f in list_landing(landing, dt.date.min, dt.date.max) if f.file_date)
    return dates[0].isoformat(), dates[-1].isoformat()


def make_warehouse(landing: Path, out: Path, start: str, end: str) -> None:
    cmd = [sys.executable, "-m", "digestflow.cli", "run", "--landing", str(landing), "--warehouse", str(out),
           "--start", start, "--end", end]
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def script_seconds(landing: Path, tmp: Path) -> float:
    t0 = time.perf_counter()
    subprocess.run([sys.executable, str(ROOT / "benchmarks" / "naive_pipeline.py"), str(landing), str(tmp / "naive")], check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - t0


def one_day(partition: dict[str, object], day: dt.date) -> bool:
    """Does a one-day run of ``day`` own this partition?"""
    from digestflow.erank import owned_periods

    checks = {
        "digest_date": lambda v: v == day,
        "as_of": lambda v: v == day,
        "month": lambda v: v == day.strftime("%Y-%m"),
        "period": lambda v: v in owned_periods([day]) or v == day.isoformat(),
    }
    return all(checks[k](v) for k, v in partition.items() if k in checks)


def measure(warehouse: Path, start: str, end: str, tmp: Path,
            day: dt.date | None = None) -> tuple[float, list[dict[str, object]]]:
    """In this process: Spark's start (+ one trivial job), then each table's publish path, cold and warm."""
    from pyspark import StorageLevel

    from digestflow import storage
    from digestflow.pipeline import StageReport, _only
    from digestflow.runner import make_context
    from digestflow.settings import Settings
    from digestflow.spark import build_session
    from digestflow.stages import ordered

    first, last = dt.date.fromisoformat(start), dt.date.fromisoformat(end)
    if day is not None:
        first = last = day
    t0 = time.perf_counter()
    spark = build_session(Settings(warehouse=str(tmp / "scratch")), days=(last - first).days + 1)
    spark.range(1).count()
    started = time.perf_counter() - t0

    tables = [t for s in ordered() for t in s.writes]
    kept = {}
    for table in tables:  # into the cache, untimed: the "computation" a run would do
        owned = storage.listed_partitions(str(warehouse), table)
        df = storage.read_table(spark, str(warehouse), table)
        if day is not None:
            owned = [p for p in owned if one_day(p, day)]
            df = _only(df, table, owned)
        df = df.persist(StorageLevel.MEMORY_AND_DISK)
        kept[table] = (df, df.count(), owned)

    rows = []
    for table in tables:
        df, n, owned = kept[table]
        times = []
        for attempt in range(2):
            settings = Settings(warehouse=str(tmp / f"scratch{attempt}"))
            ctx = make_context(spark, settings, first, last)
            ctx.gate.warm()
            ctx.gate.begin(ctx)
            t = time.perf_counter()
            ctx.publish(table, df, owned, StageReport("floor"))
            times.append(time.perf_counter() - t)
            ctx.gate.finish(ctx)
            storage.clean_staging(ctx.warehouse, ctx.run_id)
        flat = tmp / f"flat-{table}"
        t = time.perf_counter()
        df.coalesce(1).write.mode("overwrite").option("compression", "zstd").parquet(storage.uri(flat))
        spark.read.parquet(storage.uri(flat)).toArrow()
        one_file = time.perf_counter() - t
        rows.append({"table": table, "rows": n, "partitions": len(owned), "cold": times[0], "warm": times[1],
                     "one_file": one_file})
        df.unpersist()
    spark.stop()
    return started, rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--warehouse", type=Path, help="a finished warehouse of the landing folder's dates")
    parser.add_argument("--landing", type=Path, default=DEFAULT_LANDING)
    parser.add_argument("--no-script", action="store_true", help="skip the one-process script's baseline")
    parser.add_argument("--date", type=dt.date.fromisoformat, help="only what a one-day run of this date owns")
    args = parser.parse_args()
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    start, end = digest_range(args.landing)
    with tempfile.TemporaryDirectory(prefix="bench-floor-") as tmp_name:
        tmp = Path(tmp_name)
        warehouse = args.warehouse
        if warehouse is None:
            warehouse = tmp / "warehouse"
            print(f"making a warehouse of {start}..{end} with digestflow run (not timed) …", flush=True)
            make_warehouse(args.landing, warehouse, start, end)
        started, rows = measure(warehouse, start, end, tmp, args.date)
        script = None if args.no_script or args.date else script_seconds(args.landing, tmp)

    print(f"\n{'table':16} {'rows':>10} {'partitions':>10} {'publish cold':>12} {'publish warm':>12} {'one file':>9}")
    for r in rows:
        print(f"{r['table']:16} {r['rows']:>10,} {r['partitions']:>10} {r['cold']:>11.2f}s {r['warm']:>11.2f}s"
              f" {r['one_file']:>8.2f}s")
    warm = sum(float(r["warm"]) for r in rows)
    cold = sum(float(r["cold"]) for r in rows)
    flat = sum(float(r["one_file"]) for r in rows)
    print(f"{'all tables':16} {sum(int(r['rows']) for r in rows):>10,} {sum(int(r['partitions']) for r in rows):>10}"
          f" {cold:>11.2f}s {warm:>11.2f}s {flat:>8.2f}s")
    print(f"\nSpark start + one trivial job: {started:.2f} s")
    if args.date:
        print(f"one-day floor = start + harness path (cold, as a fresh process pays it): {started + cold:.2f} s "
              f"= {(started + cold) / started:.2f}x the bare start")
    if script is not None:
        floor = started + warm + script
        print(f"one-process script (naive_pipeline.py): {script:.2f} s")
        print(f"floor = start + harness path (warm) + the script's whole run: {floor:.2f} s = {floor / script:.2f}x the script")


if __name__ == "__main__":
    main()
