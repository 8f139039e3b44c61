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


def test_files_are_grouped_by_date_and_by_size_and_packed_in_order(tmp_path) -> None:
    """Every date's files and every pair of files that could be copies (equal sizes) are one group,
    groups come in date order, and tasks take consecutive groups of similar bytes (sizes by hand)."""
    from digestflow.ingest import pack, plan_groups
    from digestflow.landing import LandingFile

    def landed(name: str, size: int, day: dt.date | None) -> LandingFile:
        (tmp_path / name).write_bytes(b"x" * size)
        return LandingFile(name, str(tmp_path / name), day)

    d = dt.date(2025, 1, 6)
    files = [
        landed("2025-01-08.txt", 150, d + dt.timedelta(days=2)),
        landed("2025-01-06_b.txt", 200, d),
        landed("2025-01-09.txt", 300, d + dt.timedelta(days=3)),
        landed("undated.txt", 100, None),  # the size of 2025-01-06.txt: it may be a copy of it
        landed("2025-01-07.txt", 300, d + dt.timedelta(days=1)),  # the size of 2025-01-09.txt
        landed("2025-01-06.txt", 100, d),
        LandingFile("2025-01-08_link.txt", "", d + dt.timedelta(days=2), "outside_landing"),  # never read
        landed("2025-01-10.txt", 999, d + dt.timedelta(days=4)),
    ]
    groups, sizes = plan_groups(files)
    assert [[f.source_file for f in g] for g in groups] == [
        ["2025-01-06.txt", "2025-01-06_b.txt", "undated.txt"],
        ["2025-01-07.txt", "2025-01-09.txt"],
        ["2025-01-08.txt", "2025-01-08_link.txt"],
        ["2025-01-10.txt"],
    ]
    assert sizes == [400, 600, 150, 999]
    # 2149 bytes in two tasks: the first takes groups until it holds half (1074.5), the second the rest.
    assert pack(sizes, 2) == [[0, 1, 2], [3]]
    assert pack([1, 1, 1, 1], 2) == [[0, 1], [2, 3]]
    assert pack([5, 5], 4) == [[0], [1]]
    assert pack([], 3) == [[]]


def test_parse_tasks_follow_the_input_size() -> None:
    from digestflow.ingest import TASK_BYTES, parse_tasks

    assert parse_tasks(12_500_000, 521, 4) == 4  # the dev days: one task per core slot
    assert parse_tasks(TASK_BYTES * 4, 521, 4) == 4
    assert parse_tasks(TASK_BYTES * 4 + 1, 521, 4) == 8  # 100x-sized input: twice that, for balance
    assert parse_tasks(10**12, 3, 4) == 3  # never more than the groups
    assert parse_tasks(0, 0, 4) == 1


def test_an_undated_copy_is_kept_once_and_every_date_is_one_file(spark, tmp_path) -> None:
    """An undated copy of a dated digest parses to the same date: its papers are quarantined as
    ``duplicate_file``, the dated name's kept (the first name). An undated digest of another day adds
    its papers to that day, still one file per partition: undated files' dates are only known once
    parsed, so their run shuffles by date before writing."""
    from digestflow.generate import render_digest

    landing, warehouse = tmp_path / "landing", tmp_path / "wh"
    landing.mkdir()
    days = generate_corpus(8, start=dt.date(2025, 3, 3), seed=5)
    write_corpus(days, landing)
    copied = days[2]
    (landing / "copy of the digest.txt").write_bytes((landing / f"{copied.digest_date}.txt").read_bytes())
    extra = generate_corpus(1, start=dt.date(2025, 3, 3), seed=9)[0].papers[:3]
    (landing / "late.txt").write_text(render_digest(days[0].digest_date, extra), encoding="utf-8")
    run_ingest(spark, landing, warehouse, days[0].digest_date, days[-1].digest_date)

    import duckdb

    papers = duckdb.sql(
        f"SELECT digest_date, source_file, title FROM read_parquet('{warehouse}/papers/**/*.parquet', "
        "hive_partitioning=true)"
    ).fetchall()
    by_date = collections.defaultdict(list)
    for day, source, title in papers:
        by_date[day].append((source, title))
    for d in days:
        expected = [(f"{d.digest_date}.txt", t) for t, _ in d.papers]
        if d is days[0]:
            expected += [("late.txt", t) for t, _ in extra]
        assert sorted(by_date[d.digest_date]) == sorted(expected)
    rejects = pq.read_table(warehouse / "rejects").to_pylist()
    assert sorted(r["raw_text"] for r in rejects) == sorted(f"{t}\n{a}" for t, a in copied.papers)
    assert {(r["source_file"], r["reason"]) for r in rejects} == {("copy of the digest.txt", "duplicate_file")}
    assert all(f"same bytes as {copied.digest_date}.txt" in r["detail"] for r in rejects)
    assert all(len(list(p.glob("*.parquet"))) == 1 for p in (warehouse / "papers").glob("*=*"))
