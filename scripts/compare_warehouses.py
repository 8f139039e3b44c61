"""Are two warehouses' published tables equal? ``EXCEPT ALL`` both ways in DuckDB, table by table.

    python scripts/compare_warehouses.py WAREHOUSE_A WAREHOUSE_B

How a refactor proves it changed nothing: run ``digestflow run`` over the same range before and after
into two warehouses, then compare. Run-time provenance is set aside: the columns the schemas mark
``volatile`` (ingested_at, computed_at, …), and in validation_results the run id, time and details.
``run_metrics`` (a log of runs) is not compared. Exits 1 when any table differs.
"""

from __future__ import annotations

import sys
from pathlib import Path

import duckdb

from digestflow import schemas


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
            return f"read_parquet('{w}/{t}/**/*.parquet', hive_partitioning=true, union_by_name=true)"

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
