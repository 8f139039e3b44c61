"""Validation gate cost: GE fixed cost, one day (cold and warm), all real days in one run, a failing run.

Baseline in the same process and session: the ingest stage (without the gate) of the same day(s).

    .venv/bin/python benchmarks/bench_validate.py [--landing ../shared/data/hf-daily] [--master local[2]]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    here = Path(__file__).resolve().parents[1]
    parser.add_argument("--landing", default=str(here.parent / "shared" / "data" / "hf-daily"))
    parser.add_argument("--master", default="local[2]")
    parser.add_argument("--start", default="2024-05-27")
    parser.add_argument("--end", default="2026-05-29")
    args = parser.parse_args()

    from pyspark.sql import functions as F

    from digestflow import validate
    from digestflow.runner import make_context
    from digestflow.runner import run as run_stages
    from digestflow.settings import Settings
    from digestflow.spark import build_session

    start, end = dt.date.fromisoformat(args.start), dt.date.fromisoformat(args.end)
    day_a, day_b = dt.date(2025, 3, 12), dt.date(2025, 3, 13)
    rows: list[tuple[str, float, str]] = []
    load0 = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="bench-validate-") as tmp:
        wh = str(Path(tmp) / "wh")
        settings = Settings.from_env().replace(landing=args.landing, warehouse=wh, spark_master=args.master, validate=False)
        t = time.perf_counter()
        spark = build_session(settings)
        rows.append(("spark session start", time.perf_counter() - t, ""))

        def ingest(first: dt.date, last: dt.date) -> float:
            ctx = make_context(spark=spark, settings=settings, start=first, end=last)
            (report,) = run_stages(ctx, ["ingest"])
            return report.seconds

        rows.append(("ingest 1 day, no gate (cold)", ingest(day_a, day_a), f"{day_a}"))
        ingest_one = ingest(day_b, day_b)
        rows.append(("ingest 1 day, no gate (warm)  [baseline]", ingest_one, f"{day_b}"))
        ingest_all = ingest(start, end)
        rows.append(("ingest all days, no gate  [baseline]", ingest_all, f"{start}..{end}"))

        t = time.perf_counter()
        import great_expectations  # noqa: F401

        t_import = time.perf_counter() - t
        t = time.perf_counter()
        validate.gx_context()
        t_ctx = time.perf_counter() - t
        rows.append(("GE import", t_import, "once per process"))
        rows.append(("GE context + data source", t_ctx, "once per process"))

        # The gate as the pipeline runs it: ingest with validation on, audit() timed from inside.
        audits: list[float] = []
        plain_audit = validate.audit

        def timed_audit(ctx, staged):  # type: ignore[no-untyped-def]
            t0 = time.perf_counter()
            verdict = plain_audit(ctx, staged)
            audits.append(time.perf_counter() - t0)
            return verdict

        validate.audit = timed_audit
        gated = settings.replace(validate=True, warehouse=str(Path(tmp) / "wh-gated"))
        for label, first, last in [("1 day (cold: first GE run)", day_a, day_a), ("1 day (warm)", day_b, day_b),
                                   ("all days, one GE run per table", start, end)]:
            audits.clear()
            ctx = make_context(spark=spark, settings=gated, start=first, end=last)
            (report,) = run_stages(ctx, ["ingest"])
            rows.append((f"ingest {label} WITH gate", report.seconds,
                         f"audit papers {audits[0]:.1f} + rejects {audits[1]:.1f}" if len(audits) == 2 else ""))
            if label == "1 day (warm)":
                gate_one = sum(audits)
            elif label.startswith("all"):
                gate_all = sum(audits)
        validate.audit = plain_audit

        def check(first: dt.date, last: dt.date) -> tuple[float, validate.Outcome]:
            t0 = time.perf_counter()
            outcome = validate.validate_published(spark, wh, "papers", first, last, today=end)
            return time.perf_counter() - t0, outcome

        secs, out = check(day_a, day_a)
        rows.append(("digestflow validate: 1 day, published", secs, _phases(out)))
        secs, out = check(start, end)
        assert not out.blocked, [p.label for p in out.blocked]
        rows.append((f"digestflow validate: all {len(out.partitions)} days, one GE run", secs, _phases(out)))

        # A failing run: 3 corrupted partitions among all days → the attribution pass runs too.
        spec = validate.load_suite("papers")
        df = validate.read_frame(spark, Path(wh) / "papers", "papers")
        bad_days = [dt.date(2024, 6, 3), dt.date(2025, 1, 7), dt.date(2026, 2, 2)]
        corrupt = df.withColumn(
            "title",
            F.when(F.col("digest_date").isin(*bad_days) & (F.col("position") == 0), F.lit("")).otherwise(F.col("title")),
        )
        t0 = time.perf_counter()
        out = validate.validate_frame(corrupt, spec, validate.suite_parameters(start, end, end))
        secs = time.perf_counter() - t0
        blocked = sorted(p.label for p in out.blocked)
        assert blocked == [f"digest_date={d}" for d in bad_days], blocked
        rows.append((f"all days, 3 corrupt → {len(blocked)} blocked (no docs)", secs, _phases(out)))
        spark.stop()

    load1 = os.getloadavg()
    print(f"machine: {os.cpu_count()} cores, load avg before {load0[0]:.1f}, after {load1[0]:.1f}; "
          f"python {sys.version.split()[0]}")
    width = max(len(r[0]) for r in rows)
    print(f"{'step':{width}}  {'seconds':>8}  note")
    for name, secs, note in rows:
        print(f"{name:{width}}  {secs:8.1f}  {note}")
    print(f"ratio gate(1 day, warm: papers + rejects) / ingest(1 day, warm, no gate) = {gate_one / ingest_one:.2f}")
    print(f"ratio gate(all days) / ingest(all days, no gate) = {gate_all / ingest_all:.2f}")


def _phases(outcome) -> str:
    return ", ".join(f"{k} {v:.1f}" for k, v in outcome.seconds.items())


if __name__ == "__main__":
    main()
