"""Are two warehouses' published tables equal? ``EXCEPT ALL`` both ways in DuckDB, table by table.

    python scripts/compare_warehouses.py WAREHOUSE_A WAREHOUSE_B

How a refactor proves it changed nothing: run ``digestflow run`` over the same range before and after
into two warehouses, then compare. Run-time provenance is set aside: the columns the schemas mark
``volatile`` (ingested_at, computed_at, …), and in validation_results the run id, time and details.
``run_metrics`` (a log of runs) is not compared. Exits 1 when any table differs.

A table whose layout changed on purpose (:data:`LAYOUT_CHANGES`) is compared on the columns both
warehouses have, and the column the change added is checked against the query that derives it from the
old rows: that is the proof that the new layout keeps exactly the old information.
"""

from __future__ import annotations

import sys
from pathlib import Path

import duckdb

from digestflow import schemas

#: Layout changes made on purpose: table -> {column the change added: the DuckDB expression that rebuilds
#: it from the table's other columns}. ``daily_summary`` went from one partition per date to one per
#: month (session 24): its rows are the old ones, plus ``month``.
LAYOUT_CHANGES = {"daily_summary": {"month": "strftime(digest_date, '%Y-%m')"}}


def compare(a: Path, b: Path) -> bool:
    con = duckdb.connect()
    equal = True
    for table in sorted({p.name for w in (a, b) for p in w.iterdir() if p.is_dir() and not p.name.startswith("_")}):
        if table == "run_metrics":
            print(f"{table:20} (a log of runs: not compared)")
            continue
        keep = [c.name for c in schemas.load(table).columns if not c.volatile and c.name != "computed_at"]
        if table == "validation_results":
            keep = [k for k in keep if k not in ("run_id", "validated_at", "details_json")]
        cols = ", ".join(f'"{c}"' for c in keep)
        have = {w: any((w / table).rglob("*.parquet")) for w in (a, b)}
        if not any(have.values()):
            print(f"{table:20} empty in both")
            continue
        if not all(have.values()):
            print(f"{table:20} DIFF: only in {a if have[a] else b}")
            equal = False
            continue

        def src(w: Path, t: str = table) -> str:
            files = f"read_parquet('{w}/{t}/**/*.parquet', hive_partitioning=true, union_by_name=true)"
            if t != "validation_results":
                return files
            # A suite's rows name the partitions it validated, so a changed table's rows follow its layout
            # (one per month, not per date): they are counted apart, not compared row by row.
            changed = ", ".join(f"'{c}'" for c in LAYOUT_CHANGES)
            return f"(SELECT * FROM {files} WHERE table_name NOT IN ({changed}))"

        present = {w: {r[0] for r in con.execute(f"DESCRIBE SELECT * FROM {src(w)}").fetchall()} for w in (a, b)}
        added = {c: expr for c, expr in LAYOUT_CHANGES.get(table, {}).items() if c in present[a] ^ present[b]}
        for column, expr in added.items():
            w = a if column in present[a] else b
            off = con.execute(f'SELECT count(*) FROM {src(w)} WHERE "{column}" IS DISTINCT FROM {expr}').fetchone()[0]
            equal &= off == 0
            print(f"{table:20} {column} (added by a layout change, in {w.name} only) = {expr}: "
                  f"{'every row' if off == 0 else f'DIFF: {off} rows differ'}")
        missing = [c for c in keep if c not in added and not (c in present[a] and c in present[b])]
        if missing:
            print(f"{table:20} DIFF: columns {missing} missing on one side")
            equal = False
            continue
        keep = [c for c in keep if c not in added]
        cols = ", ".join(f'"{c}"' for c in keep)
        if table == "validation_results":
            for w in (a, b):
                n, ok = con.execute(
                    f"SELECT count(*), count(*) FILTER (success) FROM read_parquet('{w}/{table}/**/*.parquet', "
                    f"hive_partitioning=true, union_by_name=true) WHERE table_name IN "
                    f"({', '.join(repr(c) for c in LAYOUT_CHANGES)})").fetchone()
                print(f"{table:20} {w.name}: {n} rows of the re-laid-out tables' suites ({ok} passed), not compared")
        rows = con.execute(f"SELECT count(*) FROM {src(a)}").fetchone()[0]
        only_a = con.execute(f"SELECT count(*) FROM (SELECT {cols} FROM {src(a)} EXCEPT ALL SELECT {cols} FROM {src(b)})").fetchone()[0]
        only_b = con.execute(f"SELECT count(*) FROM (SELECT {cols} FROM {src(b)} EXCEPT ALL SELECT {cols} FROM {src(a)})").fetchone()[0]
        same = only_a == only_b == 0
        equal &= same
        print(f"{table:20} {rows:>9} rows  only in A {only_a}  only in B {only_b}  {'EQUAL' if same else 'DIFF'}")
    return equal


if __name__ == "__main__":
    if len(sys.argv) != 3:
        raise SystemExit(__doc__)
    sys.exit(0 if compare(Path(sys.argv[1]), Path(sys.argv[2])) else 1)
