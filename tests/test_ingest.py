"""Spark ingest end to end: synthetic and real digests → papers/rejects, re-runs, SQL on the result."""

from __future__ import annotations

import collections
import datetime as dt
import hashlib
import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from digestflow import schemas
from digestflow.generate import generate_corpus, write_corpus
from digestflow.runner import make_context
from digestflow.runner import run as run_stages
from digestflow.settings import Settings


def table_checksum(warehouse: Path, table: str) -> dict[str, str]:
    """Per-partition sha256 of the rows (non-volatile columns, sorted), read back with pyarrow."""
    schema = schemas.load(table)
    out = {}
    for part in sorted((warehouse / table).glob("*=*")):
        rows = []
        for f in sorted(part.glob("*.parquet")):
            t = pq.read_table(f, columns=[c for c in schema.data_columns if c not in schema.partition_by])
            rows += [json.dumps(r, sort_keys=True, default=str) for r in t.to_pylist()]
        out[part.name] = hashlib.sha256("\n".join(sorted(rows)).encode()).hexdigest()
    return out


def run_ingest(spark, landing: Path, warehouse: Path, start: dt.date, end: dt.date):
    settings = Settings.from_env().replace(landing=str(landing), warehouse=str(warehouse), validate=False)
    ctx = make_context(spark=spark, settings=settings, start=start, end=end)
    run_stages(ctx, ["ingest"])
    return ctx


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    landing = tmp_path_factory.mktemp("landing")
    digests = generate_corpus(12, start=dt.date(2025, 3, 3), seed=7)
    write_corpus(digests, landing)
    return landing, digests


def test_ingest_matches_the_generated_papers_and_reruns_are_identical(spark, corpus, tmp_path) -> None:
    landing, digests = corpus
    warehouse = tmp_path / "wh"
    start, end = dt.date(2025, 3, 3), dt.date(2025, 3, 14)
    run_ingest(spark, landing, warehouse, start, end)
    first = table_checksum(warehouse, "papers")

    import duckdb

    rows = duckdb.sql(
        f"SELECT digest_date, position, title, abstract FROM read_parquet('{warehouse}/papers/**/*.parquet', "
        "hive_partitioning=true) ORDER BY digest_date, position"
    ).fetchall()
    expected = [
        (d.digest_date, i, t, a)
        for d in sorted(digests, key=lambda d: d.digest_date)
        if start <= d.digest_date <= end
        for i, (t, a) in enumerate(d.papers)
    ]
    assert rows == expected

    # Same range again, then an overlapping range: identical content, partitions outside untouched.
    run_ingest(spark, landing, warehouse, start, end)
    assert table_checksum(warehouse, "papers") == first
    run_ingest(spark, landing, warehouse, dt.date(2025, 3, 10), dt.date(2025, 3, 20))
    again = table_checksum(warehouse, "papers")
    assert {k: v for k, v in again.items() if k <= "digest_date=2025-03-14"} == first
    assert all(
        (warehouse / "papers" / f"digest_date={d.digest_date}").is_dir()
        for d in digests
        if d.digest_date <= dt.date(2025, 3, 14)
    )
    # Parquet is zstd and one file per partition.
    some = next((warehouse / "papers").glob("*=*/*.parquet"))
    assert pq.ParquetFile(some).metadata.row_group(0).column(0).compression == "ZSTD"
    assert all(len(list(p.glob("*.parquet"))) == 1 for p in (warehouse / "papers").glob("*=*"))


def test_rejects_land_with_reasons_and_a_removed_file_empties_its_partition(spark, tmp_path) -> None:
    from digestflow.generate import render_digest

    landing, warehouse = tmp_path / "landing", tmp_path / "wh"
    landing.mkdir()
    good = generate_corpus(3, start=dt.date(2025, 3, 3), seed=1)
    write_corpus(good, landing)
    bad_day = dt.date(2025, 3, 6)
    papers = good[0].papers[:2]
    text = render_digest(bad_day, papers).replace(papers[1][1], "")  # second title loses its abstract
    (landing / f"{bad_day}.txt").write_text(text, encoding="utf-8")
    (landing / "2025-03-07.txt").write_bytes(b"")
    run_ingest(spark, landing, warehouse, dt.date(2025, 3, 3), dt.date(2025, 3, 7))

    rejects = pq.read_table(warehouse / "rejects").to_pylist()
    by_file = collections.Counter((r["source_file"], r["reason"]) for r in rejects)
    assert by_file == {("2025-03-06.txt", "title_without_abstract"): 1, ("2025-03-07.txt", "empty_file"): 1}
    assert pq.read_table(warehouse / "papers" / "digest_date=2025-03-06").num_rows == 1

    # The digest for 2025-03-06 is replaced by an empty file: a re-run leaves no stale papers behind.
    (landing / f"{bad_day}.txt").write_bytes(b"")
    run_ingest(spark, landing, warehouse, bad_day, bad_day)
    assert not (warehouse / "papers" / "digest_date=2025-03-06").exists()
    reasons = {r["reason"] for r in pq.read_table(warehouse / "rejects" / "digest_date=2025-03-06").to_pylist()}
    assert reasons == {"empty_file"}


@pytest.mark.realdata
@pytest.mark.slow
def test_all_dev_digests_ingest_and_sql_counts_match_the_manifest(spark, shared_data, tmp_path) -> None:
    from click.testing import CliRunner

    from digestflow.cli import main

    warehouse = tmp_path / "wh"
    run_ingest(spark, shared_data / "hf-daily", warehouse, dt.date(2024, 5, 27), dt.date(2026, 5, 29))
    manifest = collections.Counter(
        json.loads(line)["date"] for line in (shared_data / "hf-daily.manifest.jsonl").read_text().splitlines()
    )
    result = CliRunner().invoke(
        main,
        ["sql", "--warehouse", str(warehouse), "--format", "json",
         "SELECT digest_date, count(*) AS n FROM papers GROUP BY 1 ORDER BY 1"],
    )
    assert result.exit_code == 0, result.output
    answer = {row["digest_date"]: row["n"] for row in json.loads(result.output)}
    assert answer == dict(manifest)
    assert not list((warehouse / "rejects").glob("*=*/*.parquet"))
