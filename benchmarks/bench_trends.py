"""Benchmark the terms + trends stages on the real dev digests (one Spark session for every case).

Cases (each after one warm-up action, Spark start-up excluded):

- ``terms (all days)``: the terms stage over every ingested day in one run;
- ``trends (as_of = last day)``: the trends stage on the full default lookback (210 days);
- ``daily run, N days of history``: terms for one day + trends at that day, for as_of chosen so that
  50, 210 and 500 days of history precede it. Trends reads only the lookback's partitions, so the cost
  must stop growing once the history exceeds the lookback (500 ≈ 210 > 50) — up to the volume inside
  the lookback, which grew on the real digests (the rows each run reads are printed with it);
- ``daily run, as_of of the 500-day case, history cut to the lookback``: the same day on a copy of the
  warehouse holding only the lookback's partitions. Same data read, 290 fewer days of history: equal
  times mean history beyond the lookback costs nothing.

Each daily case runs twice; the faster run is printed.

    .venv/bin/python benchmarks/bench_trends.py --warehouse /tmp/wh [--landing ../shared/data/hf-daily]
    .venv/bin/python benchmarks/bench_trends.py --warehouse /tmp/wh --steps [--as-of 2026-05-29] [--repeat 4]

``--steps`` runs the trends stage ``--repeat`` times in one session (C1 JIT, as a daily run or the stage
server) and prints where each run's seconds go: the stage's calls into ``digestflow.trends`` and
``digestflow.evidence``, each Spark action (``toPandas``/``collect``, named by the function and line
that called it) and each publish (stage, gate, publish). The first run pays the cold code.

With --landing, papers are ingested first (``--no-validate``) when the warehouse has none.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import shutil
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--warehouse", required=True)
    parser.add_argument(
        "--landing", default=str(Path(__file__).resolve().parents[2] / "shared/data/hf-daily")
    )
    parser.add_argument("--master", default="local[2]")
    parser.add_argument("--skip-full", action="store_true", help="Skip the all-days terms and trends runs.")
    parser.add_argument("--as-of", type=dt.date.fromisoformat, help="--steps: as_of (default: last paper_terms date)")
    parser.add_argument("--repeat", type=int, default=3, help="--steps: runs")
    parser.add_argument("--steps", action="store_true", help="Only the trends stage, timed step by step.")
    args = parser.parse_args()
    if args.steps:
        steps_case(args)
        return

    from digestflow.runner import make_context
    from digestflow.runner import run as run_stages
    from digestflow.settings import Settings
    from digestflow.spark import build_session
    from digestflow.trends import TrendParams

    files = sorted(p for p in Path(args.landing).glob("*.txt"))
    days = [dt.date.fromisoformat(p.stem) for p in files]
    first, last = days[0], days[-1]
    settings = Settings.from_env().replace(
        landing=args.landing, warehouse=args.warehouse, spark_master=args.master, validate=False
    )
    t0 = time.perf_counter()
    # One long-lived session for every case, with the full (C2) JIT (the days rule of spark.jvm_options; a
    # `digestflow run` gets it above 64 MiB of landing files, so figures stay comparable with earlier sessions').
    spark = build_session(settings, app_name="bench-trends", days=len(days))
    startup = time.perf_counter() - t0
    spark.range(1000).count()

    def run(stages: list[str], start: dt.date, end: dt.date, warehouse: str = args.warehouse) -> float:
        ctx = make_context(spark=spark, settings=settings.replace(warehouse=warehouse), start=start, end=end)
        t = time.perf_counter()
        run_stages(ctx, stages)
        return time.perf_counter() - t

    lookback = TrendParams().lookback_start

    def lookback_rows(as_of: dt.date, warehouse: str = args.warehouse) -> int:
        terms = spark.read.parquet(f"{warehouse}/paper_terms")
        return terms.where(terms.digest_date.between(lookback(as_of), as_of)).count()

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
        seconds = min(run(["terms", "trends"], as_of, as_of) for _ in range(2))
        rows.append(
            (
                f"daily run (terms + trends), {history} days of history, as_of {as_of}, "
                f"{lookback_rows(as_of):,} rows read",
                seconds,
            )
        )
    # The 500-day case again on a warehouse cut to its lookback (copies: the run overwrites partitions).
    cut = Path(args.warehouse + "-lookback")
    shutil.rmtree(cut, ignore_errors=True)
    for table in ("papers", "paper_terms"):
        for part in (Path(args.warehouse) / table).glob("digest_date=*"):
            if lookback(as_of) <= dt.date.fromisoformat(part.name.split("=")[1]) <= as_of:
                shutil.copytree(part, cut / table / part.name)
    history_cut = len({p.name for p in (cut / "papers").iterdir()})
    seconds = min(run(["terms", "trends"], as_of, as_of, str(cut)) for _ in range(2))
    rows.append(
        (
            f"daily run (terms + trends), {history_cut} days of history (the lookback), as_of {as_of}, "
            f"{lookback_rows(as_of, str(cut)):,} rows read",
            seconds,
        )
    )

    load = os.getloadavg()
    print(f"machine: {os.cpu_count()} cores, load average {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f}")
    print(f"spark session start: {startup:.1f} s (excluded below)")
    print(f"{'case':<100} {'seconds':>8}")
    for name, seconds in rows:
        print(f"{name:<100} {seconds:>8.1f}")
    daily = {
        h: s for (n, s) in rows for h in (50, 210, 500) if n.startswith(f"daily run (terms + trends), {h} ")
    }
    if daily.get(50):
        print(f"ratio daily run 500 days / 50 days of history: {daily[500] / daily[50]:.2f}")
        print(f"ratio daily run 500 days / 210 days of history: {daily[500] / daily[210]:.2f}")
        print(f"ratio daily run 500 days / the same day with history cut to the lookback: {daily[500] / seconds:.2f}")
    spark.stop()


def steps_case(args: argparse.Namespace) -> None:
    """The trends stage ``--repeat`` times at ``--as-of``, each run's seconds per step (see the docstring)."""
    import functools

    from pyspark.sql.classic.dataframe import DataFrame

    import digestflow.evidence as evidence
    import digestflow.trends as trends
    from digestflow.pipeline import RunContext
    from digestflow.runner import make_context
    from digestflow.runner import run as run_stages
    from digestflow.settings import Settings
    from digestflow.spark import build_session

    seconds: dict[str, float] = {}

    def timed(label: Callable[..., str], fn: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(fn)
        def wrapper(*a: Any, **k: Any) -> Any:
            key, t = label(*a, **k), time.perf_counter()
            try:
                return fn(*a, **k)
            finally:
                seconds[key] = seconds.get(key, 0.0) + time.perf_counter() - t
        return wrapper

    def caller(action: str) -> Callable[..., str]:
        def label(*_a: Any, **_k: Any) -> str:
            frame = sys._getframe(2)  # label <- wrapper <- the caller of the action
            return f"{action} in {frame.f_code.co_name}:{frame.f_lineno}"
        return label

    # The stage imports these names when it runs, so the module attributes are what it calls (the names
    # of earlier versions too, so that one checkout's benchmark times another's code on PYTHONPATH).
    for module, name in ((trends, "lookback_forms"), (trends, "term_forms"), (trends, "plural_folds"),
                         (trends, "supported_terms"), (trends, "score_trends"), (evidence, "select_evidence")):
        if hasattr(module, name):
            setattr(module, name, timed(lambda *a, _n=name, **k: _n, getattr(module, name)))
    DataFrame.toPandas = timed(caller("toPandas"), DataFrame.toPandas)
    DataFrame.collect = timed(caller("collect"), DataFrame.collect)
    RunContext.publish = timed(lambda _ctx, table, *a, **k: f"publish {table}", RunContext.publish)

    settings = Settings.from_env().replace(warehouse=args.warehouse, spark_master=args.master)
    spark = build_session(settings, app_name="bench-trends-steps", days=1)
    parts = sorted((Path(args.warehouse) / "paper_terms").glob("digest_date=*"))
    as_of = args.as_of or dt.date.fromisoformat(parts[-1].name.split("=")[1])
    runs = []
    for _ in range(args.repeat):
        seconds.clear()
        ctx = make_context(spark=spark, settings=settings, start=as_of, end=as_of)
        t = time.perf_counter()
        run_stages(ctx, ["trends"])
        runs.append((time.perf_counter() - t, dict(seconds)))
    load = os.getloadavg()
    print(f"trends at as_of {as_of}, {args.repeat} runs in one session; load {load[0]:.1f}")
    print("| step | " + " | ".join(f"run {i + 1}" for i in range(len(runs))) + " |")
    print("|---|" + "---|" * len(runs))
    print("| **whole stage** | " + " | ".join(f"**{total:.2f}**" for total, _ in runs) + " |")
    for key in runs[-1][1]:
        print(f"| {key} | " + " | ".join(f"{steps.get(key, 0.0):.2f}" for _, steps in runs) + " |")
    spark.stop()


if __name__ == "__main__":
    main()
