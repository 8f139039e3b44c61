"""Compaction of the log tables (validation_results, run_metrics): one run leaves one small file per
partition, ``storage.compact_log`` merges a partition's files into one and swaps it in atomically.

Rows are compared as DuckDB (the ``<table>/**/*.parquet`` glob of the ``digestflow sql`` views, hive
partitioning) and pyarrow's dataset reader see them, on real files: before == after, every row once,
also while a writer adds files, a reader queries and a compacting process is SIGKILLed.
"""

from __future__ import annotations

import collections
import datetime as dt
import multiprocessing
import os
import random
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from digestflow import storage

T0 = dt.datetime(2026, 5, 1, 6, tzinfo=dt.UTC)
TABLES = ("papers", "rejects", "daily_summary")


def verdict_rows(run: int, table_name: str, n: int = 2, day: dt.date | None = None, success: bool = True) -> list[dict]:
    """``n`` validation_results rows of run ``run`` for ``table_name`` (all distinct: run, suite, partition)."""
    day = day or dt.date(2026, 5, 1)
    return [
        {
            "run_id": f"r{run:04d}",
            "partition": f"digest_date={day + dt.timedelta(days=k)}",
            "suite": table_name,
            "success": success,
            "blocked": not success,
            "evaluated": 10 + k,
            "failed": 0 if success else 1,
            "failed_critical": 0,
            "rows": 100 * run + k,
            "details_json": f'{{"run": {run}, "k": {k}}}',
            "validated_at": T0 + dt.timedelta(minutes=run),
            "table_name": table_name,
        }
        for k in range(n)
    ]


def write_run(warehouse: Path, run: int, tables=TABLES, **kw) -> None:
    """One run's log: one file per table, named like ``validate.record``'s (``<run_id>-<suite>``)."""
    for table_name in tables:
        storage.write_log_rows(str(warehouse), "validation_results", verdict_rows(run, table_name, **kw),
                               file_stem=f"2026{run:010d}-{table_name}")


def glob(warehouse: Path, table: str = "validation_results") -> str:
    return (warehouse / table / "**" / "*.parquet").as_posix()


def duck_rows(warehouse: Path, table: str = "validation_results") -> list[tuple]:
    import duckdb

    return duckdb.sql(f"SELECT * FROM read_parquet('{glob(warehouse, table)}', hive_partitioning = true)").fetchall()


def arrow_rows(warehouse: Path, table: str = "validation_results") -> collections.Counter:
    import pyarrow.dataset as ds

    data = ds.dataset(warehouse / table, format="parquet", partitioning="hive").to_table()
    return collections.Counter(tuple(sorted(r.items())) for r in data.to_pylist())


def assert_same_rows(before: Path, after: Path, table: str = "validation_results") -> None:
    """EXCEPT ALL both ways (DuckDB) and equal multisets (pyarrow): every row exactly once."""
    import duckdb

    con = duckdb.connect()
    a = f"SELECT * FROM read_parquet('{glob(before, table)}', hive_partitioning = true)"
    b = f"SELECT * FROM read_parquet('{glob(after, table)}', hive_partitioning = true)"
    assert con.sql(f"SELECT count(*) FROM ({a})").fetchall() == con.sql(f"SELECT count(*) FROM ({b})").fetchall()
    assert con.sql(f"SELECT count(*) FROM ({a} EXCEPT ALL {b})").fetchall() == [(0,)]
    assert con.sql(f"SELECT count(*) FROM ({b} EXCEPT ALL {a})").fetchall() == [(0,)]
    assert arrow_rows(before, table) == arrow_rows(after, table)


def files(warehouse: Path, table: str = "validation_results") -> dict[str, list[str]]:
    """Every name in each partition folder (hidden ones too)."""
    root = warehouse / table
    return {p.name: sorted(f.name for f in p.iterdir()) for p in sorted(root.iterdir())}


def snapshot(warehouse: Path, tmp_path: Path) -> Path:
    import shutil

    copy = tmp_path / "before"
    shutil.copytree(warehouse, copy)
    return copy


def test_compaction_merges_each_partition_into_one_file_with_every_row_once(tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    wh = tmp_path / "wh"
    for run in range(1, 6):
        write_run(wh, run)
    folder = wh / "validation_results" / "table_name=papers"
    run_files = sorted(folder.glob("*.parquet"))
    in_file_order = pa.concat_tables([pq.read_table(f) for f in run_files])
    run_schema = pq.read_schema(run_files[0])
    before = snapshot(wh, tmp_path)

    done = storage.compact_log(str(wh), "validation_results", min_files=5)

    assert sorted((c.partition, c.files, c.rows) for c in done) == [(f"table_name={t}", 5, 10) for t in sorted(TABLES)]
    assert {c.merged for c in done} == {done[0].merged}
    assert done[0].merged.startswith("compacted-")
    assert files(wh) == {f"table_name={t}": [done[0].merged] for t in sorted(TABLES)}
    assert_same_rows(before, wh)
    merged = pq.read_table(folder / done[0].merged)
    assert merged.schema.equals(run_schema)  # same columns, order, types, nullability
    assert merged.equals(in_file_order)  # rows in file-name order, then row order
    assert not (wh / "_staging").exists() or not any((wh / "_staging").iterdir())


def test_threshold_is_respected_and_a_second_compaction_is_a_no_op(tmp_path: Path) -> None:
    wh = tmp_path / "wh"
    for run in range(1, 4):
        write_run(wh, run, tables=("papers",))
    write_run(wh, 4, tables=("rejects",))
    write_run(wh, 5, tables=("rejects",))
    untouched = files(wh)

    assert storage.compact_log(str(wh), "validation_results", min_files=4) == []
    assert files(wh) == untouched
    done = storage.compact_log(str(wh), "validation_results", min_files=3)
    assert [(c.partition, c.files) for c in done] == [("table_name=papers", 3)]
    assert files(wh)["table_name=rejects"] == untouched["table_name=rejects"]
    before = snapshot(wh, tmp_path)

    done = storage.compact_log(str(wh), "validation_results", min_files=2)
    merged = files(wh)["table_name=rejects"]
    assert done == [storage.Compaction("validation_results", "table_name=rejects", 2, 4, merged[0])]
    stat = {p: p.stat().st_mtime_ns for p in (wh / "validation_results").glob("*/*.parquet")}
    assert storage.compact_log(str(wh), "validation_results", min_files=2) == []  # idempotent
    assert {p: p.stat().st_mtime_ns for p in (wh / "validation_results").glob("*/*.parquet")} == stat
    assert_same_rows(before, wh)

    # A later run's file beside the merged one: the next merge puts the merged file's rows first.
    import pyarrow.parquet as pq

    write_run(wh, 6, tables=("papers",))
    (done,) = storage.compact_log(str(wh), "validation_results", min_files=2)
    assert (done.files, done.rows) == (2, 8)
    runs = pq.read_table(wh / "validation_results" / "table_name=papers" / done.merged).column("run_id").to_pylist()
    assert runs == ["r0001"] * 2 + ["r0002"] * 2 + ["r0003"] * 2 + ["r0006"] * 2

    with pytest.raises(ValueError, match="min_files"):
        storage.compact_log(str(wh), "validation_results", min_files=1)
    with pytest.raises(ValueError, match="not a log table"):
        storage.compact_log(str(wh), "papers", min_files=2)


def test_a_partition_with_a_file_of_another_schema_is_left_alone(tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    wh = tmp_path / "wh"
    write_run(wh, 1, tables=("papers",))
    write_run(wh, 2, tables=("papers",))
    pq.write_table(pa.table({"run_id": ["old"]}), wh / "validation_results" / "table_name=papers" / "2025-old.parquet")
    untouched = files(wh)
    assert storage.compact_log(str(wh), "validation_results", min_files=2) == []
    assert files(wh) == untouched


def test_run_metrics_compacts_too_and_compact_logs_uses_the_default_threshold(tmp_path: Path) -> None:
    wh = tmp_path / "wh"
    for run in range(3):
        row = {"run_id": f"r{run}", "stage": "marts", "start_date": dt.date(2026, 5, 1),
               "end_date": dt.date(2026, 5, 1), "rows_in": run, "rows_out": run, "rows_rejected": 0,
               "partitions": 1, "seconds": 1.5, "details_json": "{}", "finished_at": T0}
        storage.write_log_rows(str(wh), "run_metrics", [row], file_stem=f"2026{run:010d}")
    write_run(wh, 1, tables=("papers",))
    before = snapshot(wh, tmp_path)
    assert storage.compact_logs(str(wh)) == {"validation_results": 0, "run_metrics": 0}  # 3 < 64 files
    assert storage.compact_logs(str(wh), min_files=3) == {"validation_results": 0, "run_metrics": 1}
    assert len(files(wh, "run_metrics")["stage=marts"]) == 1
    assert_same_rows(before, wh, "run_metrics")


def test_the_table_lock_excludes_two_threads_of_one_process(tmp_path: Path) -> None:
    """flock belongs to an open file description and each ``table_lock`` opens the file anew, so two
    threads of one process (the stage threads of one run) exclude each other like two processes."""
    inside, most = [0], [0]
    count = threading.Lock()

    def hold() -> None:
        for _ in range(50):
            with storage.table_lock(str(tmp_path), "validation_results"):
                with count:
                    inside[0] += 1
                    most[0] = max(most[0], inside[0])
                time.sleep(0.0005)
                with count:
                    inside[0] -= 1

    threads = [threading.Thread(target=hold) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert most[0] == 1


def test_writers_and_a_reader_racing_compactions_lose_nothing_and_see_every_row_once(tmp_path: Path) -> None:
    """Two writer threads add run files while the main thread compacts in a loop and a DuckDB reader
    queries: every read has each finished run's rows exactly once (or fails with "file not found", a
    query racing a swap), and after the last compaction every row written is there once."""
    import duckdb

    wh = tmp_path / "wh"
    write_run(wh, 0, tables=("papers",))
    committed: list[int] = [0]  # runs whose file is in place
    stop = threading.Event()
    lock = threading.Lock()

    def writer(first: int) -> None:
        try:
            for run in range(first, first + 2000, 2):
                if stop.is_set():
                    return
                write_run(wh, run, tables=("papers",))
                with lock:
                    committed.append(run)
        except Exception as exc:
            wrong.append(f"writer {first}: {exc!r}")

    reads, errors, wrong = [0], [], []

    def reader() -> None:
        con = duckdb.connect()
        while not stop.is_set():
            with lock:
                known = set(committed)
            try:
                rows = con.sql(f"SELECT run_id, partition FROM read_parquet('{glob(wh)}', hive_partitioning = true)"
                               ).fetchall()
            except duckdb.Error as exc:
                errors.append(str(exc))
                continue
            seen = collections.Counter(rows)
            if max(seen.values()) != 1:
                wrong.append(f"a row seen twice: {seen.most_common(1)}")
            if missed := known - {int(r[1:]) for r, _ in seen}:
                wrong.append(f"finished runs missing: {sorted(missed)}")
            reads[0] += 1

    threads = [threading.Thread(target=writer, args=(k,)) for k in (1, 2)] + [threading.Thread(target=reader)]
    for t in threads:
        t.start()
    merges = 0
    deadline = time.monotonic() + 3
    try:
        while time.monotonic() < deadline:
            merges += len(storage.compact_log(str(wh), "validation_results", min_files=2))
    finally:
        stop.set()
        for t in threads:
            t.join()
    merges += len(storage.compact_log(str(wh), "validation_results", min_files=2))

    assert wrong == []
    unexpected = [e for e in errors if not any(s in e for s in ("No files found", "No such file", "not exist"))]
    assert unexpected == []
    assert (merges >= 10, reads[0] >= 10, len(committed) >= 20) == (True, True, True), (merges, reads, len(committed))
    expected = collections.Counter((f"r{run:04d}", f"digest_date={dt.date(2026, 5, 1) + dt.timedelta(days=k)}")
                                   for run in committed for k in range(2))
    final = duck_rows(wh)
    assert collections.Counter((r[0], r[1]) for r in final) == expected
    assert len(files(wh)["table_name=papers"]) == 1


def _compact_slowly(warehouse: str) -> None:  # runs in a child process, killed midway
    os.environ["DIGESTFLOW_TEST_PUBLISH_DELAY"] = "0.03"
    Path(warehouse, "ready").touch()
    storage.compact_log(warehouse, "validation_results", min_files=2)


@pytest.mark.slow
def test_sigkill_during_compaction_leaves_the_old_files_or_the_merged_one(tmp_path: Path) -> None:
    """SIGKILL a compacting process at random moments (20 times, a new run's files added before each):
    each partition holds either its files of before or one merged file, and the table has every row
    exactly once; the kills land before and after swaps (both outcomes are seen)."""
    rng = random.Random(11)
    wh = tmp_path / "wh"
    for run in range(1, 4):
        write_run(wh, run)
    ctx = multiprocessing.get_context("fork")
    outcomes = collections.Counter()
    for attempt in range(20):
        write_run(wh, 10 + attempt)
        old = files(wh)
        before = snapshot(wh, tmp_path / f"a{attempt}")
        proc = ctx.Process(target=_compact_slowly, args=(str(wh),))
        proc.start()
        while not (wh / "ready").exists() and proc.is_alive():
            time.sleep(0.001)
        time.sleep(rng.uniform(0.0, 0.2))  # 3 partitions x 2 pauses x 0.03 s: most kills land mid-way
        proc.kill()
        proc.join()
        (wh / "ready").unlink()
        now = files(wh)
        for part, names in now.items():
            if names == old[part]:
                outcomes["old"] += 1
            else:
                assert len(names) == 1, f"{part}: {names} (was {old[part]})"
                assert names[0].startswith("compacted-"), names
                outcomes["merged"] += 1
        assert_same_rows(before, wh)
    assert outcomes["old"] > 0, outcomes
    assert outcomes["merged"] > 0, outcomes
    # What the kills left in _staging is gc's to remove; the next compaction starts from a whole table.
    before = snapshot(wh, tmp_path / "last")
    storage.compact_log(str(wh), "validation_results", min_files=2)
    assert all(len(names) == 1 for names in files(wh).values())
    assert_same_rows(before, wh)


@pytest.mark.slow
def test_gc_compacts_both_log_tables_and_says_what_it_did(tmp_path: Path) -> None:
    wh = tmp_path / "wh"
    for run in range(1, 4):
        write_run(wh, run, tables=("papers", "rejects"))
    write_run(wh, 4, tables=("daily_summary",))
    before = snapshot(wh, tmp_path)
    result = subprocess.run(
        [sys.executable, "-m", "digestflow.cli", "gc", "--warehouse", str(wh)],
        capture_output=True, text=True, check=True,
    )
    out = result.stdout
    assert "compacted validation_results/table_name=papers: 3 files, 6 rows -> compacted-" in out
    assert "compacted validation_results/table_name=rejects: 3 files, 6 rows -> compacted-" in out
    assert "validation_results: 2 partition(s) compacted" in out
    assert "run_metrics: 0 partition(s) compacted" in out
    assert [len(v) for v in files(wh).values()] == [1, 1, 1]
    assert_same_rows(before, wh)


# ------------------------------------------------------------------ the marts stage reads the merged file


def write_papers(wh: Path, day: dt.date, n: int) -> None:
    """``n`` papers of ``day`` in the published layout (pyarrow, the table's schema)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from digestflow import schemas

    schema = schemas.load("papers")
    fields = [f for f in schema.arrow() if f.name != "digest_date"]
    rows = [
        {"paper_id": f"p{day.day}-{i}", "digest_id": f"d{day}", "source_file": f"{day}.txt", "position": i,
         "line_start": 3 * i, "line_end": 3 * i + 2, "title": f"Paper {i}", "abstract": "word " * (20 + i),
         "abstract_truncated": i == 0, "n_words": 20 + i,
         "urls": ["https://github.com/a/b"] if i % 2 else [], "date_rule": "file_name", "ingested_at": T0,
         "parser_version": "1"}
        for i in range(n)
    ]
    folder = wh / "papers" / f"digest_date={day}"
    folder.mkdir(parents=True)
    pq.write_table(pa.Table.from_pylist(rows, schema=pa.schema(fields)), folder / "part-00000.parquet")


@pytest.mark.slow
def test_the_marts_stage_computes_the_same_daily_summary_after_compaction(spark, tmp_path: Path) -> None:
    """Four runs' verdicts on three dates (a later run's verdict wins: the second date's last one
    failed); daily_summary is the same from the run files and from the merged file."""
    from digestflow import sql
    from digestflow.runner import make_context
    from digestflow.runner import run as run_stages
    from digestflow.settings import Settings

    wh = tmp_path / "wh"
    days = [dt.date(2026, 5, 4) + dt.timedelta(days=k) for k in range(3)]
    for k, day in enumerate(days):
        write_papers(wh, day, 3 + k)
    for run in range(1, 5):
        failed = run == 4
        for table_name in ("papers", "rejects"):
            rows = verdict_rows(run, table_name, n=3, day=days[0])
            if failed:  # the last run re-validated the second date only, and it failed
                rows = [dict(rows[1], success=False, failed=1)]
            storage.write_log_rows(str(wh), "validation_results", rows, file_stem=f"2026{run:010d}-{table_name}")
    settings = Settings.from_env().replace(warehouse=str(wh), spark_master="local[2]", shuffle_partitions=2,
                                           validate=False)
    query = """SELECT digest_date, n_papers, validation_suites, validation_failed, validation_success
               FROM daily_summary ORDER BY digest_date"""

    def marts() -> list[tuple]:
        run_stages(make_context(spark, settings, days[0], days[-1]), ["marts"])
        return sql.query(str(wh), query)[1]

    before = marts()
    assert before == [(days[0], 3, 2, 0, True), (days[1], 4, 2, 2, False), (days[2], 5, 2, 0, True)]
    assert len(storage.compact_log(str(wh), "validation_results", min_files=2)) == 2
    assert [len(v) for v in files(wh).values()] == [1, 1]
    assert marts() == before


def test_a_spark_read_of_a_log_table_racing_compactions_never_fails_and_sees_each_row_once(spark, tmp_path: Path) -> None:
    """``storage.read_table`` of a log table (what the marts stage reads) takes the table's lock shared
    and reads on the driver: a compaction cannot swap files away between Spark's listing and its tasks,
    so every read of a warehouse being written and compacted succeeds, with each finished run's rows once."""
    wh = tmp_path / "wh"
    for run in range(8):
        write_run(wh, run, tables=("papers", "rejects"))
    committed = list(range(8))
    stop = threading.Event()
    problems: list[str] = []

    def churn() -> None:  # a writer and a compaction loop: what other runs do meanwhile
        run = 8
        while not stop.is_set():
            write_run(wh, run, tables=("papers", "rejects"))
            committed.append(run)
            run += 1
            storage.compact_log(str(wh), "validation_results", min_files=2)

    thread = threading.Thread(target=churn)
    thread.start()
    reads = 0
    try:
        deadline = time.monotonic() + 4
        while time.monotonic() < deadline:
            known = set(committed)
            try:
                rows = storage.read_table(spark, str(wh), "validation_results").select(
                    "run_id", "partition", "table_name").collect()
            except Exception as exc:
                problems.append(repr(exc)[:300])
                continue
            seen = collections.Counter(tuple(r) for r in rows)
            if max(seen.values()) != 1:
                problems.append(f"a row read twice: {seen.most_common(1)}")
            if missed := known - {int(r[0][1:]) for r in seen}:
                problems.append(f"finished runs missing: {sorted(missed)}")
            reads += 1
    finally:
        stop.set()
        thread.join()
    assert problems == []
    assert reads >= 5
    assert len(committed) > 8 + reads // 2  # the churn really ran alongside
