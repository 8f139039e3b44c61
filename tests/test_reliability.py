"""Idempotency and order: a range backfilled in one run, day by day forwards, backwards or shuffled,
with single days re-run, gives byte-identical tables (checksums over the non-volatile columns).

Every run is the real ingest stage (``run_stages(ctx, ["ingest"])``) on the shared test SparkSession.
The landing folder holds clean digests, one file with rejected parts and one file with no date in its
name (its year comes from the run's last date, so only the run covering its date keeps it). The
landing folder is hashed before and after: the pipeline never rewrites or deletes an input.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import random
from pathlib import Path

import pytest

from digestflow import schemas
from digestflow.generate import generate_corpus, render_digest, write_corpus

START = dt.date(2025, 3, 3)
DATES = [START + dt.timedelta(days=i) for i in range(3)]


def table_checksum(warehouse: Path, table: str) -> tuple[int, str]:
    """(rows, sha256) over the schema's non-volatile columns, rows sorted: equal iff contents equal."""
    import duckdb

    if not any((warehouse / table).glob("**/*.parquet")):
        return 0, "empty"
    cols = ", ".join(f'"{c}"' for c in schemas.load(table).data_columns)
    pattern = (warehouse / table / "**" / "*.parquet").as_posix()
    rows = duckdb.sql(
        f"SELECT {cols} FROM read_parquet('{pattern}', hive_partitioning = true) ORDER BY ALL"
    ).fetchall()
    return len(rows), hashlib.sha256(repr(rows).encode()).hexdigest()


def landing_hash(folder: Path) -> str:
    h = hashlib.sha256()
    for path in sorted(folder.iterdir()):
        st = path.stat()
        h.update(f"{path.name}:{st.st_mode}:{st.st_mtime_ns}:".encode())
        h.update(hashlib.sha256(path.read_bytes()).digest())
    return h.hexdigest()


@pytest.fixture(scope="module")
def landing(tmp_path_factory) -> tuple[Path, list]:
    folder = tmp_path_factory.mktemp("idem") / "landing"
    digests = generate_corpus(len(DATES), start=START, seed=7)
    write_corpus(digests, folder)
    extra = generate_corpus(2, start=dt.date(2025, 1, 6), seed=8, plants=[])[0].papers[:4]
    broken = render_digest(DATES[1], extra) + "\nA Title Without Its Abstract\n"
    (folder / f"{DATES[1]}_resent.txt").write_text(broken, encoding="utf-8")
    undated = render_digest(DATES[2], extra[:2])
    (folder / "digest without a date.txt").write_text(undated, encoding="utf-8")
    return folder, digests


def run(spark, landing_dir: Path, warehouse: Path, start: dt.date, end: dt.date) -> None:
    from digestflow.runner import make_context
    from digestflow.runner import run as run_stages
    from digestflow.settings import Settings

    settings = Settings.from_env().replace(landing=str(landing_dir), warehouse=str(warehouse), validate=False)
    run_stages(make_context(spark=spark, settings=settings, start=start, end=end), ["ingest"])


@pytest.mark.slow
@pytest.mark.timeout(3600)  # 12 ingest runs
def test_backfill_order_and_reruns_give_identical_tables(spark, landing, tmp_path: Path) -> None:
    folder, digests = landing
    before = landing_hash(folder)
    orders = {
        "forwards": list(DATES),
        "backwards": list(reversed(DATES)),
        "shuffled": random.Random(int(os.environ.get("DIGESTFLOW_ORDER_SEED", "5"))).sample(DATES, len(DATES)),
    }
    if orders["shuffled"] in (orders["forwards"], orders["backwards"]):
        orders["shuffled"] = [DATES[1], DATES[2], DATES[0]]
    run(spark, folder, tmp_path / "range", DATES[0], DATES[-1])
    for name, order in orders.items():
        for day in order:
            run(spark, folder, tmp_path / name, day, day)
    for day in (DATES[1], DATES[0]):  # re-run single days over a finished backfill
        run(spark, folder, tmp_path / "forwards", day, day)

    for table in ("papers", "rejects"):
        sums = {name: table_checksum(tmp_path / name, table) for name in ["range", *orders]}
        assert len(set(sums.values())) == 1, f"{table}: {sums}"
        assert sums["range"][0] > 0, f"{table} is empty: the test proves nothing"
    assert landing_hash(folder) == before, "the pipeline changed the landing folder"

    # Ground truth: the generator's papers, the resent file's 4 papers and the undated file's 2.
    import duckdb

    pattern = (tmp_path / "range" / "papers" / "**" / "*.parquet").as_posix()
    per_file = dict(duckdb.sql(
        f"SELECT source_file, count(*) FROM read_parquet('{pattern}', hive_partitioning = true) GROUP BY 1"
    ).fetchall())
    expected = {d.file_name: len(d.papers) for d in digests}
    expected |= {f"{DATES[1]}_resent.txt": 4, "digest without a date.txt": 2}
    assert per_file == expected
    reasons = duckdb.sql(
        "SELECT source_file, reason FROM read_parquet('"
        + (tmp_path / "range" / "rejects" / "**" / "*.parquet").as_posix()
        + "', hive_partitioning = true)"
    ).fetchall()
    assert reasons == [(f"{DATES[1]}_resent.txt", "title_without_abstract")]


@pytest.mark.slow
def test_a_rerun_over_changed_output_restores_it(spark, landing, tmp_path: Path) -> None:
    """Debris in a published partition (a stray file someone copied in) is gone after a re-run: the
    partition is replaced as a whole, never merged into."""
    folder, _ = landing
    warehouse = tmp_path / "wh"
    run(spark, folder, warehouse, DATES[0], DATES[0])
    clean = table_checksum(warehouse, "papers")
    part = warehouse / "papers" / f"digest_date={DATES[0]}"
    stray = next(part.glob("*.parquet"))
    (part / "copy-of-part.parquet").write_bytes(stray.read_bytes())
    assert table_checksum(warehouse, "papers")[0] == 2 * clean[0]
    run(spark, folder, warehouse, DATES[0], DATES[0])
    assert table_checksum(warehouse, "papers") == clean
