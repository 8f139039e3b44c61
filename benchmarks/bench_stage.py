"""One stage of `digestflow run`, warm: the stage run several times over a warehouse in one Spark session.

    python benchmarks/bench_stage.py STAGE --warehouse W [--start 2024-05-27 --end 2026-05-29]
                                     [--landing ../shared/data/hf-daily] [--repeat 3]

W must already hold the stage's inputs (e.g. a `digestflow run` over the dates). Every run publishes the
stage's own partitions again (a re-run gives identical tables), with the gate on, parameters from the
``DIGESTFLOW_<STAGE>_*`` variables as in the CLI. The first run pays the cold JVM code and the Python
workers' imports; the later ones are what a warm stage costs (the stage server's case, or a stage inside a
long run). To compare two checkouts, run this once per checkout with ``PYTHONPATH=<checkout>/src``,
alternating (BENCHMARKS.md, session 33, did so for erank).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("stage")
    parser.add_argument("--warehouse", required=True)
    parser.add_argument("--landing", default=str(ROOT.parent / "shared" / "data" / "hf-daily"))
    parser.add_argument("--start", type=dt.date.fromisoformat, default=dt.date(2024, 5, 27))
    parser.add_argument("--end", type=dt.date.fromisoformat, default=dt.date(2026, 5, 29))
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    import digestflow
    from digestflow import params as P
    from digestflow.runner import make_context, run
    from digestflow.session import spark_session
    from digestflow.settings import Settings
    from digestflow.stages import STAGES

    if args.stage not in STAGES:
        raise SystemExit(f"unknown stage {args.stage!r}; known: {', '.join(STAGES)}")
    settings = Settings.from_env(landing=args.landing, warehouse=args.warehouse)
    seconds = []
    with spark_session(settings, days=(args.end - args.start).days + 1) as spark:
        for _ in range(args.repeat):
            params = {s.name: (P.load(s.params, os.environ) if s.params else None) for s in STAGES.values()}
            ctx = make_context(spark, settings, args.start, args.end, params=params)
            t0 = time.perf_counter()
            run(ctx, [args.stage])
            seconds.append(time.perf_counter() - t0)
    code = Path(digestflow.__file__).resolve().parent
    print(f"{args.stage} over {args.start}..{args.end}, code {code}, load {os.getloadavg()[0]:.1f}")
    print("| run | " + " | ".join(str(i + 1) for i in range(len(seconds))) + " |")
    print("|---|" + "---|" * len(seconds))
    print("| seconds | " + " | ".join(f"{s:.2f}" for s in seconds) + " |")


if __name__ == "__main__":
    main()
