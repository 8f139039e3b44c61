"""The gate's in-process audits with and without digestflow.gx_speedups (same process, same data).

    python benchmarks/bench_ge.py --warehouse W [--date 2026-05-29] [--repeat 5]

For each table the pandas engine audits (small tables), the published partitions of W are read as the
gate reads a staged table (:func:`digestflow.validate.read_arrow`) and validated with GE's pandas engine
``--repeat`` times with the speedups and as many without (:func:`digestflow.gx_speedups.restore`),
alternating which goes first; the first round of each is not counted (GE's metric code warms up). The
verdicts must be equal, else the script fails. Prints medians per table and their sum: the driver
Python a daily run spends in these audits (one per table).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import statistics
import time
from pathlib import Path

os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")

TABLES = ("keyword_trends", "term_stats", "trend_papers", "erank_stats", "daily_summary", "trend_mart", "erank_mart")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--warehouse", required=True)
    parser.add_argument("--date", type=dt.date.fromisoformat, default=dt.date(2026, 5, 29))
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()

    from digestflow import gx_speedups, validate

    validate.gx_context()
    params = validate.suite_parameters(args.date, args.date, args.date)
    rows = []
    for table in TABLES:
        data = validate.read_arrow(Path(args.warehouse) / table, table)
        if data is None:
            print(f"{table}: no data in {args.warehouse}, skipped")
            continue
        spec = validate.load_suite(table, "pandas")
        seconds: dict[bool, list[float]] = {True: [], False: []}
        verdicts = {}
        for i in range(args.repeat + 1):
            for fast in ((True, False) if i % 2 else (False, True)):
                gx_speedups.apply() if fast else gx_speedups.restore()
                t0 = time.perf_counter()
                outcome = validate.validate_frame(data, spec, params)
                if i:
                    seconds[fast].append(time.perf_counter() - t0)
                verdicts[fast] = [(p.label, p.rows, [(f.expectation, f.column, f.unexpected) for f in p.failures])
                                  for p in outcome.partitions]
        if verdicts[True] != verdicts[False]:
            raise SystemExit(f"{table}: the verdicts differ with and without the speedups")
        rows.append((table, data.num_rows, len(spec.expectations),
                     statistics.median(seconds[True]), statistics.median(seconds[False])))
    gx_speedups.apply()
    print(f"\nGE pandas-engine audits of {args.warehouse}, medians of {args.repeat}, load {os.getloadavg()[0]:.1f}")
    print("| table | rows | expectations | with speedups s | GE as shipped s | ratio |")
    print("|---|---|---|---|---|---|")
    for table, n, k, a, b in rows:
        print(f"| {table} | {n} | {k} | {a:.3f} | {b:.3f} | {a / b:.2f}× |")
    a, b = sum(r[3] for r in rows), sum(r[4] for r in rows)
    print(f"| all | | | {a:.3f} | {b:.3f} | {a / b:.2f}× |")


if __name__ == "__main__":
    main()
