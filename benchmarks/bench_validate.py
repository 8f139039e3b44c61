"""Validation gate cost: GE fixed cost, one day (cold and warm), all real days in one run, a failing run;
and the gate over the ten tables of a full run, before vs after (same process, same data).

Part "ingest" — baseline in the same process and session: the ingest stage (without the gate) of the
same day(s). Part "tables" — every stage runs once without the gate over [start, end]; then the gate
(``audit``) of each of the ten published tables is timed, alternating three variants, ``--repeat`` times:
**before** = ``src/digestflow/validate.py`` as of ``--before`` (git), loaded side by side (its own GE
context; Spark engine for every table, a counting job, Data Docs per checkpoint); **after, docs per
table** = this checkout, Data Docs built at each audit; **after** = this checkout with the run's
Data Docs built once (``defer_docs`` / ``build_docs``). Each pass gets a fresh GE context (built
untimed) and its own Data Docs folder, like one ``digestflow run`` process. Verdicts (blocked
partitions, failed rules, row counts) must be identical, else the script fails.

    .venv/bin/python benchmarks/bench_validate.py [--landing ../shared/data/hf-daily] [--master local[2]]
        [--part all|ingest|tables] [--before 9c14a0f] [--repeat 2]
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
    parser.add_argument("--part", choices=["all", "ingest", "tables"], default="all")
    parser.add_argument("--before", default="9c14a0f", help="git revision of the gate to compare with")
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()
    if args.part in ("all", "tables"):
        bench_tables(args)
    if args.part in ("all", "ingest"):
        bench_ingest(args)


def bench_ingest(args: argparse.Namespace) -> None:

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


TABLES = ["papers", "rejects", "paper_terms", "embeddings", "keyword_trends", "term_stats", "erank_stats",
          "daily_summary", "trend_mart", "erank_mart"]


def _load_before(rev: str):  # type: ignore[no-untyped-def]
    """``digestflow.validate`` as of git ``rev``, as a separate module with its own GE context."""
    import importlib.util
    import subprocess

    repo = Path(__file__).resolve().parents[1]
    source = subprocess.run(["git", "-C", str(repo), "show", f"{rev}:src/digestflow/validate.py"],
                            capture_output=True, text=True, check=True).stdout
    name = "digestflow._validate_before"
    module = importlib.util.module_from_spec(importlib.util.spec_from_loader(name, loader=None))
    sys.modules[name] = module  # dataclasses look their module up
    exec(compile(source, f"{rev}:validate.py", "exec"), module.__dict__)
    return module


def _verdict(outcome) -> dict[str, object]:  # type: ignore[no-untyped-def]
    return {p.label: (p.rows, p.blocked, sorted((f.expectation, f.column, f.severity, f.unexpected) for f in p.failures))
            for p in outcome.partitions}


def bench_tables(args: argparse.Namespace) -> None:
    from digestflow import storage, validate
    from digestflow.runner import make_context
    from digestflow.runner import run as run_stages
    from digestflow.settings import Settings
    from digestflow.spark import build_session

    start, end = dt.date.fromisoformat(args.start), dt.date.fromisoformat(args.end)
    before = _load_before(args.before)
    load0 = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="bench-gate-") as tmp:
        wh = str(Path(tmp) / "wh")
        settings = Settings.from_env().replace(landing=args.landing, warehouse=wh, spark_master=args.master, validate=False)
        spark = build_session(settings)
        t = time.perf_counter()
        run_stages(make_context(spark=spark, settings=settings, start=start, end=end))
        run_secs = time.perf_counter() - t
        staged = {}
        for table in TABLES:
            root = storage.table_dir(wh, table)
            parts = sorted({f.parent for f in root.rglob("*.parquet")})
            partitions = [dict(piece.split("=", 1) for piece in p.relative_to(root).parts) for p in parts]
            staged[table] = storage.Staged(table, root, tuple(partitions))
        validate.gx_context()
        before.gx_context()

        variants = ["before", "after, docs per table", "after"]
        seconds: dict[str, list[dict[str, float]]] = {v: [] for v in variants}
        engines: dict[str, str] = {}
        phases: dict[str, str] = {}
        verdicts: dict[str, dict[str, object]] = {}
        for i in range(args.repeat):
            for variant in variants if i % 2 == 0 else variants[::-1]:
                gated = settings.replace(warehouse=str(Path(tmp) / f"docs-{variant}-{i}"), validate=True)
                ctx = make_context(spark=spark, settings=gated, start=start, end=end, today=end)
                module = before if variant == "before" else validate
                # A fresh GE context per pass, built untimed (a run overlaps it with its first stage): each
                # table's suite, batch definition (and before: checkpoint) is then set up once per pass,
                # as in one `digestflow run` process.
                module._GX = None
                module.gx_context()
                if variant == "after":
                    validate.defer_docs(ctx)
                per_table: dict[str, float] = {}
                for table in TABLES:
                    t = time.perf_counter()
                    verdict = module.audit(ctx, staged[table])
                    per_table[table] = time.perf_counter() - t
                    engines[f"{variant}:{table}"] = getattr(verdict.outcome, "engine", "spark")
                    phases[f"{variant}:{table}"] = _phases(verdict.outcome)
                    got = _verdict(verdict.outcome)
                    if table in verdicts and verdicts[table] != got:
                        raise SystemExit(f"{table}: {variant} gives other verdicts than before:\n{got}\n{verdicts[table]}")
                    verdicts[table] = got
                if variant == "after":
                    t = time.perf_counter()
                    validate.build_docs(ctx)
                    per_table["(data docs, once)"] = time.perf_counter() - t
                seconds[variant].append(per_table)
        spark.stop()

    load1 = os.getloadavg()
    print(f"machine: {os.cpu_count()} cores, load avg before {load0[0]:.1f}, after {load1[0]:.1f}; "
          f"full run without gate {run_secs:.0f} s ({start}..{end}); before = {args.before}; "
          f"best of {args.repeat} per variant")
    rows = [*TABLES, "(data docs, once)"]
    print(f"{'table':20} {'rows':>9} {'blocked':>7}  " + "  ".join(f"{v:>22}" for v in variants) + "  engine (after)")
    for table in rows:
        cells = []
        for v in variants:
            vals = [r[table] for r in seconds[v] if table in r]
            cells.append(f"{min(vals):22.2f}" if vals else f"{'':>22}")
        verdict = verdicts.get(table, {})
        n = sum(r[0] for r in verdict.values()) if verdict else 0
        blocked = sum(1 for r in verdict.values() if r[1])
        print(f"{table:20} {n:9d} {blocked:7d}  " + "  ".join(cells) + f"  {engines.get('after:' + table, '')}")
    print("phases of the last repeat (seconds):")
    for v in variants:
        for table in TABLES:
            print(f"  {v:22} {table:15} {phases.get(f'{v}:{table}', '')}")
    totals = {v: min(sum(r.values()) for r in seconds[v]) for v in variants}
    print(f"{'total':20} {'':>9} {'':>7}  " + "  ".join(f"{totals[v]:22.2f}" for v in variants))
    print(f"ratio after / before = {totals['after'] / totals['before']:.2f}; "
          f"after (docs per table) / before = {totals['after, docs per table'] / totals['before']:.2f}; "
          "verdicts identical in every variant and repeat")


def _phases(outcome) -> str:
    return ", ".join(f"{k} {v:.1f}" for k, v in outcome.seconds.items())


if __name__ == "__main__":
    main()
