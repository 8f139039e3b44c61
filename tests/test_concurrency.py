"""Concurrent publishers and readers of one partition: whole partitions only, never a mix, never a crash.

The publish protocol (storage.publish): each run writes its partitions under ``_staging/<run_id>``, then,
holding ``_locks/<table>.lock`` (flock), swaps each partition in with ``renameat2(RENAME_EXCHANGE)``.
Two runs for the same date therefore give "last writer wins, whole partitions"; a reader sees one
complete version. These tests run the real storage.publish in several processes (no Spark: fast), with a
DuckDB reader querying the same glob the ``digestflow sql`` views use, and one slow test starts two real
``digestflow ingest`` runs for the same date at once.
"""

from __future__ import annotations

import datetime as dt
import multiprocessing
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from digestflow import storage

DATES = [dt.date(2025, 3, 3), dt.date(2025, 3, 4)]
FILES_PER_VERSION = 3
ROWS_PER_FILE = 50


def write_version(folder: Path, version: int, round_: int) -> None:
    """One partition's content: several Parquet files whose every row says which version it is.

    File names are unique per version, like Spark's ``part-…-<uuid>`` names, so a reader that listed
    the old files can never open a new file under an old name.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    folder.mkdir(parents=True, exist_ok=True)
    for k in range(FILES_PER_VERSION):
        table = pa.table({"version": [version] * ROWS_PER_FILE, "row": list(range(ROWS_PER_FILE))})
        pq.write_table(table, folder / f"part-{k:05d}-v{version}-r{round_}.parquet")


def stage_version(warehouse: Path, run_id: str, version: int, round_: int) -> storage.Staged:
    target = storage.staging_dir(str(warehouse), run_id, "papers")
    for d in DATES:
        write_version(target / f"digest_date={d.isoformat()}", version, round_)
    return storage.Staged("papers", target, tuple({"digest_date": d} for d in DATES))


def _publisher(warehouse: str, version: int, rounds: int, barrier) -> None:  # runs in a child process
    for r in range(rounds):
        staged = stage_version(Path(warehouse), f"run-v{version}-r{r}", version, r)
        barrier.wait(timeout=60)
        storage.publish(staged, warehouse)


def read_versions(warehouse: Path) -> dict[str, list[tuple[int, int]]]:
    """``{digest_date: [(version, rows)]}`` as a DuckDB reader of the published table sees it."""
    import duckdb

    pattern = (warehouse / "papers" / "**" / "*.parquet").as_posix()
    rows = duckdb.sql(
        f"SELECT CAST(digest_date AS VARCHAR), version, count(*) FROM read_parquet('{pattern}', "
        "hive_partitioning = true) GROUP BY ALL ORDER BY ALL"
    ).fetchall()
    out: dict[str, list[tuple[int, int]]] = {}
    for day, version, n in rows:
        out.setdefault(day, []).append((version, n))
    return out


def assert_whole_versions(seen: dict[str, list[tuple[int, int]]], allowed: set[int]) -> None:
    for day, versions in seen.items():
        assert len(versions) == 1, f"{day}: a reader saw a mix of versions {versions}"
        version, n = versions[0]
        assert version in allowed, f"{day}: unknown version {version}"
        assert n == FILES_PER_VERSION * ROWS_PER_FILE, f"{day}: partial partition, {n} rows of version {version}"


def assert_no_debris(warehouse: Path) -> None:
    """Only ``digest_date=…`` folders with Parquet files inside the published table."""
    table = warehouse / "papers"
    assert sorted(p.name for p in table.iterdir()) == [f"digest_date={d.isoformat()}" for d in DATES]
    for part in table.iterdir():
        assert all(f.suffix == ".parquet" for f in part.iterdir()), list(part.iterdir())


def test_concurrent_publishers_and_a_reader_never_see_a_partial_partition(tmp_path: Path) -> None:
    n_proc, rounds = 4, 6
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(n_proc)
    procs = [
        ctx.Process(target=_publisher, args=(str(tmp_path), v, rounds, barrier)) for v in range(1, n_proc + 1)
    ]
    for p in procs:
        p.start()
    reads, errors = 0, []
    while any(p.is_alive() for p in procs):
        try:
            seen = read_versions(tmp_path)
        except Exception as exc:  # a query racing a swap may fail (file gone): never a wrong answer
            errors.append(str(exc))
            continue
        reads += 1
        assert_whole_versions(seen, set(range(1, n_proc + 1)))
    unexpected = [e for e in errors if not any(s in e for s in ("No files found", "No such file", "not exist"))]
    assert unexpected == [], unexpected
    for p in procs:
        p.join(timeout=60)
        assert p.exitcode == 0, "a concurrent publisher crashed"
    final = read_versions(tmp_path)
    assert set(final) == {d.isoformat() for d in DATES}
    assert_whole_versions(final, set(range(1, n_proc + 1)))
    assert_no_debris(tmp_path)
    assert reads > 0


def _slow_publish(warehouse: str, version: int) -> None:  # runs in a child process, killed midway
    os.environ["DIGESTFLOW_TEST_PUBLISH_DELAY"] = "0.05"
    staged = stage_version(Path(warehouse), f"run-v{version}", version, 0)
    Path(warehouse, f"ready-{version}").touch()
    storage.publish(staged, warehouse)


def test_sigkill_during_publish_leaves_old_or_new_partitions(tmp_path: Path) -> None:
    """SIGKILL a publishing process at random moments (20 times): every partition stays whole."""
    import random

    rng = random.Random(9)
    dates_many = [dt.date(2025, 3, 1) + dt.timedelta(days=i) for i in range(10)]
    old = storage.staging_dir(str(tmp_path), "run-old", "papers")
    for d in dates_many:
        write_version(old / f"digest_date={d.isoformat()}", 1, 0)
    storage.publish(storage.Staged("papers", old, tuple({"digest_date": d} for d in dates_many)), str(tmp_path))

    ctx = multiprocessing.get_context("fork")
    for attempt in range(20):
        version = 100 + attempt
        target = storage.staging_dir(str(tmp_path), f"run-new-{attempt}", "papers")
        for d in dates_many:
            write_version(target / f"digest_date={d.isoformat()}", version, attempt)
        staged = storage.Staged("papers", target, tuple({"digest_date": d} for d in dates_many))
        os.environ["DIGESTFLOW_TEST_PUBLISH_DELAY"] = "0.05"
        try:
            proc = ctx.Process(target=storage.publish, args=(staged, str(tmp_path)))
            proc.start()
            time.sleep(rng.uniform(0.0, 0.5))  # 10 partitions x 0.05 s: most kills land mid-publish
            proc.kill()
            proc.join()
        finally:
            del os.environ["DIGESTFLOW_TEST_PUBLISH_DELAY"]
        seen = read_versions(tmp_path)
        assert set(seen) == {d.isoformat() for d in dates_many}, "a partition vanished"
        assert_whole_versions(seen, set(range(1, 100 + attempt + 1)))
    # A re-run (here: the last staged version published without interruption) replaces everything.
    final = storage.staging_dir(str(tmp_path), "run-final", "papers")
    for d in dates_many:
        write_version(final / f"digest_date={d.isoformat()}", 999, 0)
    storage.publish(storage.Staged("papers", final, tuple({"digest_date": d} for d in dates_many)), str(tmp_path))
    seen = read_versions(tmp_path)
    assert all(v == [(999, FILES_PER_VERSION * ROWS_PER_FILE)] for v in seen.values()), seen
    assert sorted(p.name for p in (tmp_path / "papers").iterdir()) == [
        f"digest_date={d.isoformat()}" for d in dates_many
    ]


def test_stale_staging_is_removed_by_gc_and_fresh_staging_kept(tmp_path: Path) -> None:
    stale = tmp_path / "_staging" / "20240101T000000Z-abcdef" / "papers" / "digest_date=2024-01-01"
    fresh_id = storage.new_run_id()
    fresh = tmp_path / "_staging" / fresh_id / "papers"
    stale.mkdir(parents=True)
    fresh.mkdir(parents=True)
    (stale / "part-0.parquet").write_bytes(b"x")
    result = subprocess.run(
        [sys.executable, "-m", "digestflow.cli", "gc", "--warehouse", str(tmp_path), "--older-than-hours", "24"],
        capture_output=True, text=True, check=True,
    )
    assert "1 stale staging folder(s) removed" in result.stdout
    assert not (tmp_path / "_staging" / "20240101T000000Z-abcdef").exists()
    assert fresh.is_dir()


def _announce_and_publish(staged: storage.Staged, warehouse: str) -> None:  # runs in a child process
    Path(warehouse, "publishing").touch()
    storage.publish(staged, warehouse)


def test_the_publish_lock_serialises_publishers(tmp_path: Path) -> None:
    """While one process holds the table lock, another's publish waits (it does not interleave)."""
    import fcntl

    staged = stage_version(tmp_path, "run-a", 7, 0)
    lock_path = tmp_path / "_locks" / "papers.lock"
    lock_path.parent.mkdir(parents=True)
    with open(lock_path, "w") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        # spawn, not fork: a forked child would inherit (and so share) the lock this test holds.
        ctx = multiprocessing.get_context("spawn")
        proc = ctx.Process(target=_announce_and_publish, args=(staged, str(tmp_path)))
        proc.start()
        deadline = time.monotonic() + 120
        while not (tmp_path / "publishing").exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(1.0)
        assert proc.is_alive(), "publish did not wait for the lock"
        assert not (tmp_path / "papers" / "digest_date=2025-03-03").exists()
    proc.join(timeout=30)
    assert proc.exitcode == 0
    assert read_versions(tmp_path)["2025-03-03"] == [(7, FILES_PER_VERSION * ROWS_PER_FILE)]


# ------------------------------------------------------------------------------ real CLI, same date


def _cli_env(tmp: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        SPARK_MASTER="local[1]", DIGESTFLOW_SHUFFLE_PARTITIONS="2", DIGESTFLOW_VALIDATE="0",
        DIGESTFLOW_DRIVER_MEMORY="1g", DIGESTFLOW_TEST_PUBLISH_DELAY="0.2",
    )
    return env


@pytest.mark.slow
@pytest.mark.timeout(3600)
def test_two_real_runs_for_the_same_dates_at_once(tmp_path: Path) -> None:
    """Two ``digestflow ingest`` processes for the same dates at once: both succeed, the tables equal
    the generator's papers exactly, no debris. (The publish delay makes their publishes overlap.)"""
    import duckdb

    from digestflow.generate import generate_corpus, write_corpus

    digests = generate_corpus(3, start=dt.date(2025, 3, 3), seed=5)
    write_corpus(digests, tmp_path / "landing")
    cmd = [
        sys.executable, "-m", "digestflow.cli", "ingest", "--start", "2025-03-03", "--end", "2025-03-05",
        "--landing", str(tmp_path / "landing"), "--warehouse", str(tmp_path / "wh"),
    ]
    procs = [subprocess.Popen(cmd, env=_cli_env(tmp_path), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True) for _ in range(2)]
    for p in procs:
        _, err = p.communicate(timeout=900)
        assert p.returncode == 0, err[-3000:]
    pattern = (tmp_path / "wh" / "papers" / "**" / "*.parquet").as_posix()
    got = duckdb.sql(
        f"SELECT CAST(digest_date AS VARCHAR), position, title, abstract FROM read_parquet('{pattern}', "
        "hive_partitioning = true) ORDER BY 1, 2"
    ).fetchall()
    expected = [
        (d.digest_date.isoformat(), i, t, a) for d in digests for i, (t, a) in enumerate(d.papers)
    ]
    assert got == expected
    table = tmp_path / "wh" / "papers"
    assert sorted(p.name for p in table.iterdir()) == [f"digest_date={d.digest_date}" for d in digests]
    assert not list((tmp_path / "wh").glob("**/*.old-*"))
    shutil.rmtree(tmp_path / "wh", ignore_errors=True)
