"""Parser throughput and Spark ingest wall time, each against its natural single-process peer.

    python benchmarks/bench_ingest.py [--shared ../shared] [--scale 100] [--days 730] [--skip-spark]

Prints a table. Rows:
  parser          digestflow.parsing on the 521 real digests, MB/s, vs a naive split-on-blank-lines
  ingest-real     `digestflow ingest` (one Spark app, subprocess, incl. JVM start) over all 521 days
  peer-real       one process: same parser + pyarrow partitioned Parquet write (zstd), same 521 days
  ingest-100x     Spark ingest of a synthetic corpus at --scale × the real volume
  peer-100x       the single-process peer on that corpus
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def naive_split(data: bytes) -> list[tuple[str, str]]:
    """The baseline the issue names: split on blank lines, skip 5 header lines, pair the rest."""
    lines = [x for x in data.decode("utf-8").split("\n") if x.strip()]
    body = lines[5:]
    return list(zip(body[0::2], body[1::2], strict=False))


def bench_parser(files: list[Path]) -> list[tuple[str, float, str]]:
    from digestflow.parsing import parse_digest

    blobs = [(f.read_bytes(), f.name) for f in files]
    mb = sum(len(b) for b, _ in blobs) / 1e6
    rows = []
    for name, fn in (
        ("parser", lambda b, n: parse_digest(b, source=n)),
        ("naive-split", lambda b, n: naive_split(b)),
    ):
        best = float("inf")
        for _ in range(3):
            t0 = time.perf_counter()
            for b, n in blobs:
                fn(b, n)
            best = min(best, time.perf_counter() - t0)
        rows.append((name, best, f"{mb / best:.1f} MB/s over {mb:.1f} MB"))
    return rows


def peer_ingest(landing: Path, out: Path) -> int:
    """Single-process peer: same parser, pyarrow writes the same partitioned zstd Parquet. Columns are
    built as lists straight from the parsed rows (``RecordBatch.from_pylist`` over dicts costs ~30 %
    more of the whole, session 31): the fastest way a competent engineer would write it."""
    import pyarrow as pa
    import pyarrow.dataset as ds

    from digestflow import schemas
    from digestflow.parsing import parse_digest

    now = dt.datetime.now(dt.UTC)
    tables = {t: {n: [] for n in schemas.load(t).names} for t in ("papers", "rejects")}
    fixed = {"ingested_at": now, "parser_version": "x"}
    for path in sorted(landing.glob("*.txt")):
        result = parse_digest(path.read_bytes(), source=path.name, latest_date=dt.date.today())
        for table, rows in (("papers", result.papers), ("rejects", result.rejects)):
            for name, values in tables[table].items():
                if name in fixed and (name == "ingested_at" or table == "rejects"):
                    values.extend([fixed[name]] * len(rows))
                else:
                    values.extend([r.get(name) for r in rows])
    for table, columns in tables.items():
        if not columns["digest_date"]:
            continue
        data = pa.table(columns, schema=schemas.load(table).arrow())
        ds.write_dataset(
            data, out / table, format="parquet", partitioning=["digest_date"], partitioning_flavor="hive",
            file_options=ds.ParquetFileFormat().make_write_options(compression="zstd"),
            existing_data_behavior="delete_matching",
        )
    return len(tables["papers"]["digest_date"])


def spark_ingest(landing: Path, warehouse: Path, start: str, end: str) -> float:
    t0 = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "digestflow.cli", "ingest", "--landing", str(landing), "--warehouse", str(warehouse),
         "--start", start, "--end", end, "--no-validate"],
        check=True, capture_output=True,
    )
    return time.perf_counter() - t0


def timed(fn, *args) -> float:
    t0 = time.perf_counter()
    fn(*args)
    return time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shared", type=Path, default=REPO.parent / "shared")
    parser.add_argument("--scale", type=float, default=100.0)
    parser.add_argument("--days", type=int, default=730)
    parser.add_argument("--skip-spark", action="store_true")
    parser.add_argument("--skip-scaled", action="store_true")
    args = parser.parse_args()
    real = args.shared / "data" / "hf-daily"
    files = sorted(real.glob("*.txt"))
    rows = bench_parser(files)
    tmp = Path(tempfile.mkdtemp(prefix="bench-ingest-"))
    try:
        if not args.skip_spark:
            rows.append(("ingest-real (spark)", spark_ingest(real, tmp / "wh-spark", "2024-05-27", "2026-05-29"), "521 files, incl. JVM start"))
        rows.append(("peer-real (1 process)", timed(peer_ingest, real, tmp / "wh-peer"), "same parser + pyarrow"))
        if not args.skip_scaled:
            from digestflow.generate import iter_corpus, write_corpus

            big = tmp / "landing-big"
            t0 = time.perf_counter()
            write_corpus(iter_corpus(args.days, start=dt.date(2024, 5, 27), seed=3, scale=args.scale), big)
            size = sum(p.stat().st_size for p in big.glob("*.txt")) / 1e6
            rows.append(("generate-scaled", time.perf_counter() - t0, f"{size:.0f} MB, scale {args.scale:g}"))
            end = (dt.date(2024, 5, 27) + dt.timedelta(days=args.days - 1)).isoformat()
            if not args.skip_spark:
                rows.append((f"ingest-{args.scale:g}x (spark)", spark_ingest(big, tmp / "wh-big", "2024-05-27", end), "local[*], 2 cores"))
            rows.append((f"peer-{args.scale:g}x (1 process)", timed(peer_ingest, big, tmp / "wh-big-peer"), "same parser + pyarrow"))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"{'what':28} {'seconds':>9}  note   (cores: {os.cpu_count()}, load: {os.getloadavg()[0]:.1f})")
    for name, secs, note in rows:
        print(f"{name:28} {secs:9.2f}  {note}")


if __name__ == "__main__":
    main()
