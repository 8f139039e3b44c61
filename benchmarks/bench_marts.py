"""Why the dashboard reads marts: the same daily numbers from ``daily_summary`` vs from ``papers``.

Writes a synthetic warehouse with pyarrow (``papers`` with realistic abstract lengths, one partition per
day, and the matching ``daily_summary``), then times, through the same read-only DuckDB views
(``digestflow sql``'s connection), the dashboard's daily query on the mart and the equivalent
aggregation over ``papers`` (the same-run baseline). Usage::

    python benchmarks/bench_marts.py [--days 521] [--scales 1,10] [--repeat 5]
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
import statistics
import tempfile
import time
from pathlib import Path

from digestflow import schemas, sql, storage

ON_PAPERS = """
WITH firsts AS (SELECT paper_id, min(digest_date) AS first_seen FROM papers GROUP BY paper_id)
SELECT p.digest_date, count(*) AS n_papers,
       count(DISTINCT CASE WHEN f.first_seen = p.digest_date THEN p.paper_id END) AS n_new_papers,
       avg(p.n_words) AS mean_abstract_words,
       avg(CASE WHEN len(list_filter(p.urls, lambda u: regexp_matches(u, '^https?://(www\\.)?github\\.com/'))) > 0
           THEN 1.0 ELSE 0.0 END) AS share_with_code
FROM papers p JOIN firsts f USING (paper_id)
GROUP BY p.digest_date ORDER BY p.digest_date
"""
ON_MART = """
SELECT digest_date, n_papers, n_new_papers, mean_abstract_words, share_with_code
FROM daily_summary ORDER BY digest_date
"""


def _write(root: Path, table: str, rows: list[dict]) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = schemas.load(table)
    cols = list(schema.partition_by)
    fields = [f for f in schema.arrow() if f.name not in cols]
    groups: dict[tuple, list[dict]] = {}
    for r in rows:
        groups.setdefault(tuple(r[c] for c in cols), []).append(r)
    for key, group in groups.items():
        folder = root / table / storage.partition_relpath(dict(zip(cols, key, strict=True)))
        folder.mkdir(parents=True, exist_ok=True)
        data = pa.Table.from_pylist([{f.name: r.get(f.name) for f in fields} for r in group], schema=pa.schema(fields))
        pq.write_table(data, folder / "part-0.parquet", compression="zstd")


def build(root: Path, days: int, per_day: int, seed: int = 0) -> int:
    rng = random.Random(seed)
    words = [f"w{i}" for i in range(3000)]
    start = dt.date(2024, 1, 1)
    papers, summary, seen = [], [], set()
    for i in range(days):
        day = start + dt.timedelta(days=i)
        day_rows = []
        for k in range(per_day):
            pid = f"{rng.randrange(days * per_day * 50):016x}" if rng.random() > 0.01 or not seen else rng.choice(sorted(seen))
            n = rng.randint(60, 250)
            urls = [f"https://github.com/u{k}/r"] if rng.random() < 0.2 else []
            day_rows.append({
                "paper_id": pid, "digest_id": f"{i:016x}", "source_file": f"{day}.txt", "position": k,
                "line_start": 6 + 4 * k, "line_end": 8 + 4 * k, "title": " ".join(rng.choices(words, k=10)),
                "abstract": " ".join(rng.choices(words, k=n)), "abstract_truncated": False, "n_words": n,
                "urls": urls, "date_rule": "file_name", "ingested_at": dt.datetime(2025, 1, 1, tzinfo=dt.UTC),
                "parser_version": "bench", "digest_date": day,
            })
        new = len({r["paper_id"] for r in day_rows} - seen)
        seen |= {r["paper_id"] for r in day_rows}
        papers += day_rows
        summary.append({
            "digest_date": day, "month": day.strftime("%Y-%m"), "n_digests": 1, "n_papers": per_day, "n_new_papers": new,
            "n_repeated_papers": per_day - new, "n_rejects": 0,
            "mean_abstract_words": sum(r["n_words"] for r in day_rows) / per_day, "share_truncated": 0.0,
            "share_with_code": sum(bool(r["urls"]) for r in day_rows) / per_day,
            "validation_suites": 2, "validation_failed": 0, "validation_success": True,
        })
    _write(root, "papers", papers)
    _write(root, "daily_summary", summary)
    return len(papers)


def timed(warehouse: str, query: str, repeat: int) -> tuple[float, int]:
    times, n = [], 0
    for _ in range(repeat):
        with sql.connect(warehouse) as wh:
            t0 = time.perf_counter()
            _, rows = wh.execute(query)
            times.append(time.perf_counter() - t0)
            n = len(rows)
    return statistics.median(times), n


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=521)
    parser.add_argument("--scales", default="1,10", help="papers per day = 16 x scale")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    print(f"{'scale':>5} {'papers':>9} {'papers MB':>9} {'mart ms':>8} {'papers ms':>9} {'ratio':>6}")
    for scale in [int(s) for s in args.scales.split(",")]:
        with tempfile.TemporaryDirectory() as tmp:
            root = Path(tmp)
            n = build(root, args.days, 16 * scale)
            mb = sum(p.stat().st_size for p in (root / "papers").rglob("*.parquet")) / 1e6
            mart, rows_mart = timed(tmp, ON_MART, args.repeat)
            base, rows_base = timed(tmp, ON_PAPERS, args.repeat)
            assert rows_mart == rows_base == args.days
            print(f"{scale:>5} {n:>9,} {mb:>9.1f} {mart * 1e3:>8.1f} {base * 1e3:>9.1f} {base / mart:>5.1f}x")


if __name__ == "__main__":
    main()
