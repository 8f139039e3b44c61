"""SIGKILL the real ``digestflow ingest`` at random moments: readers see the old or the new partition,
never a partial one, and a re-run gives the same tables as a run that was never interrupted.

The warehouse starts with the "old" landing's tables; each killed run ingests the "new" landing (same
dates, other papers). Kills are spread over three phases, with random delays inside each: while the JVM
starts, while Spark writes to staging, and during the publish (``DIGESTFLOW_TEST_PUBLISH_DELAY`` pauses
between partition swaps so kills can land between them). Ground truth is the generator's papers.

Each CLI start costs a JVM start (15–25 s idle, minutes under load): ``DIGESTFLOW_CRASH_KILLS`` (default
10) sets the number of kills.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from digestflow import schemas
from digestflow.generate import generate_corpus, write_corpus

START = dt.date(2025, 3, 3)
N_DAYS = 4  # Mon–Thu: a digest every day


def cli(*args: str, env_extra: dict[str, str] | None = None) -> subprocess.Popen:
    env = dict(os.environ)
    env.update(SPARK_MASTER="local[1]", DIGESTFLOW_SHUFFLE_PARTITIONS="2", DIGESTFLOW_VALIDATE="0",
               DIGESTFLOW_DRIVER_MEMORY="1g")
    env.update(env_extra or {})
    return subprocess.Popen([sys.executable, "-m", "digestflow.cli", *args], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)


def ingest(landing: Path, warehouse: Path, **env: str) -> subprocess.Popen:
    end = START + dt.timedelta(days=N_DAYS - 1)
    return cli("ingest", "--start", START.isoformat(), "--end", end.isoformat(), "--landing", str(landing),
               "--warehouse", str(warehouse), env_extra=env)


def finish(proc: subprocess.Popen) -> None:
    _, err = proc.communicate(timeout=1800)
    assert proc.returncode == 0, err[-3000:]


def kill_group(proc: subprocess.Popen) -> None:
    """SIGKILL the CLI and everything it started (the JVM, Python workers), like an OOM killer would."""
    os.killpg(proc.pid, signal.SIGKILL)
    proc.communicate(timeout=120)


def partitions(warehouse: Path) -> dict[str, list[tuple[int, str, str]]]:
    """``{digest_date: [(position, title, abstract)]}`` as DuckDB reads the published papers table."""
    import duckdb

    if not any((warehouse / "papers").glob("**/*.parquet")):
        return {}
    pattern = (warehouse / "papers" / "**" / "*.parquet").as_posix()
    rows = duckdb.sql(
        f"SELECT CAST(digest_date AS VARCHAR), position, title, abstract FROM read_parquet('{pattern}', "
        "hive_partitioning = true) ORDER BY ALL"
    ).fetchall()
    out: dict[str, list[tuple[int, str, str]]] = {}
    for day, pos, title, abstract in rows:
        out.setdefault(day, []).append((pos, title, abstract))
    return out


def expected(digests) -> dict[str, list[tuple[int, str, str]]]:
    return {d.digest_date.isoformat(): [(i, t, a) for i, (t, a) in enumerate(d.papers)] for d in digests}


def table_checksum(warehouse: Path, table: str) -> str:
    """sha256 over the table's non-volatile columns, rows sorted: equal iff the contents are equal."""
    import duckdb

    cols = schemas.load(table).data_columns
    pattern = (warehouse / table / "**" / "*.parquet").as_posix()
    if not any((warehouse / table).glob("**/*.parquet")):
        return "empty"
    select = ", ".join(f'"{c}"' for c in cols)
    rows = duckdb.sql(
        f"SELECT {select} FROM read_parquet('{pattern}', hive_partitioning = true) ORDER BY ALL"
    ).fetchall()
    return hashlib.sha256(repr(rows).encode()).hexdigest()


def swapped(warehouse: Path, inodes: dict[str, int]) -> bool:
    return any(p.stat().st_ino != inodes.get(p.name) for p in (warehouse / "papers").iterdir())


def wait_for(condition, proc: subprocess.Popen, timeout: float = 900) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        if condition():
            return True
        time.sleep(0.05)
    return False


@pytest.mark.slow
@pytest.mark.timeout(3600)  # 12+ JVM starts: minutes on an idle machine, far more under load
def test_sigkill_at_random_moments_never_shows_a_partial_partition(tmp_path: Path) -> None:
    old_digests = generate_corpus(N_DAYS, start=START, seed=1)
    new_digests = generate_corpus(N_DAYS, start=START, seed=2)
    assert len(old_digests) == len(new_digests) == N_DAYS
    old, new = expected(old_digests), expected(new_digests)
    write_corpus(old_digests, tmp_path / "landing_old")
    write_corpus(new_digests, tmp_path / "landing_new")
    warehouse, reference = tmp_path / "wh", tmp_path / "ref"

    # The old state, and an uninterrupted run of the new landing to compare with at the end.
    base, ref = ingest(tmp_path / "landing_old", warehouse), ingest(tmp_path / "landing_new", reference)
    finish(base)
    finish(ref)
    assert partitions(warehouse) == old
    assert partitions(reference) == new

    rng = random.Random(int(os.environ.get("DIGESTFLOW_CRASH_SEED", "20250303")))
    n_kills = int(os.environ.get("DIGESTFLOW_CRASH_KILLS", "10"))
    phases = ["start", "write", "publish"]
    log = []
    for attempt in range(n_kills):
        phase = phases[attempt % 3] if attempt < 3 else rng.choice(phases)
        staging = warehouse / "_staging"
        before_staging = set(staging.iterdir()) if staging.is_dir() else set()
        snapshot = {p.name: p.stat().st_ino for p in (warehouse / "papers").iterdir()}
        proc = ingest(tmp_path / "landing_new", warehouse, DIGESTFLOW_TEST_PUBLISH_DELAY="1.5")
        if phase == "start":
            time.sleep(rng.uniform(0.5, 12.0))
        elif phase == "write":
            wait_for(lambda s=staging, b=before_staging: s.is_dir() and bool(set(s.iterdir()) - b), proc)
            time.sleep(rng.uniform(0.0, 4.0))
        else:  # a partition was swapped in (its directory inode changed): more are pending
            wait_for(lambda snap=snapshot: swapped(warehouse, snap), proc)
            time.sleep(rng.uniform(0.0, 3.0))
        finished = proc.poll() is not None
        kill_group(proc)
        seen = partitions(warehouse)
        assert set(seen) == set(old), f"kill {attempt} ({phase}): partitions {sorted(seen)}"
        states = {}
        for day, rows in seen.items():
            assert rows in (old[day], new[day]), f"kill {attempt} ({phase}): {day} is partial or mixed"
            states[day] = "new" if rows == new[day] else "old"
        log.append((phase, finished, "".join(s[0] for s in states.values())))
    print("kills (phase, had finished, per-partition state):", log)

    # A re-run completes; killed runs' staging is invisible to readers and `digestflow gc` removes it.
    finish(ingest(tmp_path / "landing_new", warehouse))
    assert partitions(warehouse) == new
    for table in ("papers", "rejects"):
        assert table_checksum(warehouse, table) == table_checksum(reference, table), table
    gc = cli("gc", "--warehouse", str(warehouse), "--older-than-hours", "0")
    out, _ = gc.communicate(timeout=300)
    assert gc.returncode == 0
    assert not (warehouse / "_staging").exists() or not any((warehouse / "_staging").iterdir()), out
    assert partitions(warehouse) == new
    # Over the kills, at least one landed after a swap and before the last one (a mixed warehouse).
    if n_kills >= 10:
        assert any(0 < states.count("n") < N_DAYS for _, _, states in log), log
