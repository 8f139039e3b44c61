"""All reads and writes of warehouse tables: the edges of every stage.

Layout: ``<warehouse>/<table>/<col>=<value>/…/part-*.parquet`` (Hive-style, zstd). A stage writes its
output into ``<warehouse>/_staging/<run_id>/<table>/`` and :func:`publish` then swaps each partition the
run owns into the published table. The swap is one ``renameat2(RENAME_EXCHANGE)`` per partition on a
local disk: a reader sees the old directory or the new one, never a mix. Partitions the run owns but
produced no rows for are removed, so re-running a date always leaves exactly what that run computed.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import datetime as dt
import errno
import fcntl
import logging
import os
import secrets
import shutil
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from digestflow import schemas

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

log = logging.getLogger("digestflow")

Partition = Mapping[str, Any]  # e.g. {"digest_date": date(2025, 3, 12)} or {"model": "hashing", …}


def new_run_id() -> str:
    """Sortable, unique run id: UTC time plus a random suffix."""
    return dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ") + "-" + secrets.token_hex(3)


def local_path(uri: str | os.PathLike[str]) -> Path:
    """A ``file://`` URI or plain path as a local absolute Path. Other schemes are not local."""
    text = os.fspath(uri)
    if text.startswith("file://"):
        text = text[len("file://") :]
    elif "://" in text:
        raise ValueError(f"{text!r} is not on the local file system")
    return Path(text).absolute()


def table_dir(warehouse: str, table: str) -> Path:
    return local_path(warehouse) / table


def staging_dir(warehouse: str, run_id: str, table: str) -> Path:
    return local_path(warehouse) / "_staging" / run_id / table


def format_value(value: Any) -> str:
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)


def partition_relpath(partition: Partition) -> str:
    return "/".join(f"{col}={format_value(val)}" for col, val in partition.items())


def uri(path: Path) -> str:
    """Spark wants URIs: make the local scheme explicit so a cluster's default FS is never assumed.

    Not ``Path.as_uri()``: Hadoop's ``Path`` takes the string unescaped, so the ``%3D`` that as_uri
    makes of the ``=`` in ``digest_date=…`` would name a folder that does not exist.
    """
    return "file://" + str(path.absolute())


# --------------------------------------------------------------------------------------------- reads


def read_table(
    spark: SparkSession,
    warehouse: str,
    table: str,
    partitions: Iterable[Partition] | None = None,
) -> DataFrame:
    """Read ``table`` with its declared schema: all of it, or only the listed partitions that exist.
    A log table (:data:`LOG_TABLES`) read whole comes from :func:`read_log_table`."""
    if table in LOG_TABLES and partitions is None:
        return read_log_table(spark, warehouse, table)
    schema = schemas.load(table)
    root = table_dir(warehouse, table)
    if partitions is None:
        paths = [root] if root.is_dir() and any(root.glob("*=*")) else []
    else:
        paths = [root / partition_relpath(p) for p in existing_partitions(warehouse, table, partitions)]
    if not paths:
        return spark.createDataFrame([], schema.spark())
    df = (
        spark.read.schema(schema.spark())
        .option("basePath", uri(root))
        .option("pathGlobFilter", "*.parquet")
        .parquet(*[uri(p) for p in paths])
    )
    return df.select(*schema.names)


def read_log_table(spark: SparkSession, warehouse: str, table: str) -> DataFrame:
    """All of log ``table`` (validation_results, run_metrics), read on the driver with pyarrow while
    holding :func:`table_lock` shared, then handed to Spark.

    A Spark scan lists the files when the frame is made and opens them later, in its tasks: a
    :func:`compact_log` of another process in between would swap them away ("file not found"). Under the
    shared lock no compaction or log write can happen between listing and reading, so the frame is one
    consistent snapshot. Log tables are small (a few rows per run and table), so the driver holds them
    easily, and reading a few hundred small files with pyarrow beats a Spark scan of them.
    """
    import pyarrow as pa
    import pyarrow.dataset as ds

    schema = schemas.load(table)
    arrow = schema.arrow()
    root = local_path(table_dir(warehouse, table))
    partitioning = ds.partitioning(pa.schema([arrow.field(c) for c in schema.partition_by]), flavor="hive")
    with table_lock(warehouse, table, shared=True):
        if not root.is_dir():
            return spark.createDataFrame([], schema.spark())
        data = ds.dataset(root, format="parquet", schema=arrow, partitioning=partitioning,
                          ignore_prefixes=[".", "_"]).to_table()
    return spark.createDataFrame(data.select(schema.names), schema.spark())


def existing_partitions(warehouse: str, table: str, partitions: Iterable[Partition]) -> list[Partition]:
    """The listed partitions that are published (their folder exists), in the order given."""
    root = table_dir(warehouse, table)
    return [p for p in partitions if (root / partition_relpath(p)).is_dir()]


def listed_partitions(warehouse: str, table: str) -> list[dict[str, Any]]:
    """Every published partition of ``table`` (its folders), with values typed by the schema."""
    root = local_path(table_dir(warehouse, table))
    cols = list(schemas.load(table).partition_by)
    found: list[dict[str, Any]] = []

    def walk(folder: Path, depth: int, prefix: str) -> None:
        if depth == len(cols):
            found.append(parse_relpath(table, prefix))
            return
        for child in sorted(folder.iterdir()) if folder.is_dir() else []:
            if child.is_dir() and child.name.startswith(f"{cols[depth]}="):
                walk(child, depth + 1, f"{prefix}/{child.name}" if prefix else child.name)

    if cols:
        walk(root, 0, "")
    return found


def parse_relpath(table: str, relpath: str) -> dict[str, Any]:
    """``digest_date=2025-03-12`` (or ``model=hashing/digest_date=…``) → typed partition values."""
    schema = schemas.load(table)
    out: dict[str, Any] = {}
    for part in relpath.split("/"):
        col, _, text = part.partition("=")
        kind = schema.column(col).type
        out[col] = dt.date.fromisoformat(text) if kind == "date" else int(text) if kind in ("int", "long") else text
    return out


def published_rows(warehouse: str, table: str, partitions: Iterable[Partition]) -> int:
    """Rows in the listed published partitions of ``table`` (those that exist), from Parquet footers."""
    root = table_dir(warehouse, table)
    return sum(footer_rows(root / partition_relpath(p)) for p in existing_partitions(warehouse, table, partitions))


def date_partitions(dates: Iterable[dt.date], column: str = "digest_date") -> list[dict[str, dt.date]]:
    return [{column: d} for d in dates]


# -------------------------------------------------------------------------------------------- writes


@dataclass(frozen=True)
class Staged:
    """A table's output for one run, written under ``_staging`` and not yet visible to readers."""

    table: str
    path: Path
    partitions: tuple[dict[str, Any], ...]  # partitions the run owns (written or to be emptied)


def write_staged(
    df: DataFrame,
    table: str,
    warehouse: str,
    run_id: str,
    owned: Sequence[Partition],
    clustered: bool = False,
) -> Staged:
    """Write ``df`` (with exactly the schema's columns) under ``_staging/<run_id>/<table>``.

    Rows are hash-clustered by the partition columns, so each partition is one file (no small-file
    explosion), and sorted by the table key inside it, which makes the content deterministic.
    ``clustered``: the caller guarantees that all rows of a partition are in one task of ``df`` already
    (e.g. a ``mapInArrow`` over input repartitioned by those columns, whose output Spark cannot see as
    partitioned): the write then skips its shuffle.
    """
    schema = schemas.load(table)
    target = staging_dir(warehouse, run_id, table)
    ordered = df.select(*schema.names)
    cols = list(schema.partition_by)
    if cols and not clustered:
        ordered = ordered.repartition(write_tasks(df), *cols)
    sort_cols = cols + [k for k in schema.key if k not in cols]
    if sort_cols:
        ordered = ordered.sortWithinPartitions(*sort_cols)
    writer = ordered.write.mode("overwrite").option("compression", "zstd")
    if cols:
        writer = writer.partitionBy(*cols)
    writer.parquet(uri(target))
    return Staged(table, target, tuple(dict(p) for p in owned))


def write_tasks(df: DataFrame) -> int:
    """Tasks (= hash partitions by the partition columns) a staged write uses: a transform that
    hash-partitions its input by those columns into this many partitions spares the write its shuffle."""
    conf = df.sparkSession.conf.get("spark.sql.shuffle.partitions")
    return int(conf or 4)


@dataclass(frozen=True)
class PublishReport:
    table: str
    published: int  # partitions swapped in
    removed: int  # owned partitions the run produced nothing for, taken out
    rows: int = 0  # rows of the published partitions, from their Parquet footers (no Spark job)


def footer_rows(folder: Path) -> int:
    """Rows of the Parquet files in ``folder`` (one partition), from their footers: no data read."""
    import pyarrow.parquet as pq

    return sum(pq.read_metadata(f).num_rows for f in folder.glob("*.parquet") if not f.name.startswith("."))


@contextlib.contextmanager
def table_lock(warehouse: str, table: str, *, shared: bool = False) -> Iterator[None]:
    """Hold ``<warehouse>/_locks/<table>.lock`` exclusively (``flock``) while partitions are swapped;
    ``shared``: with other shared holders, for a reader that must not see a swap (:func:`read_log_table`).

    Two runs publishing the same table take turns, so "is the partition there yet?" and the swap that
    follows cannot interleave (the last writer wins, whole partitions only). The kernel drops the lock
    when its process dies, even on SIGKILL: a crashed run never blocks the next one. Readers take no lock.
    """
    folder = local_path(warehouse) / "_locks"
    folder.mkdir(parents=True, exist_ok=True)
    fd = os.open(folder / f"{table}.lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_SH if shared else fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def _publish_pause() -> None:
    """Test hook: ``DIGESTFLOW_TEST_PUBLISH_DELAY`` seconds between partition swaps, so crash tests can
    land a SIGKILL in the middle of a publish. Unset (the default) costs nothing."""
    delay = os.environ.get("DIGESTFLOW_TEST_PUBLISH_DELAY")
    if delay:
        time.sleep(float(delay))


def publish(staged: Staged, warehouse: str, only: Iterable[Partition] | None = None) -> PublishReport:
    """Swap every owned partition (or only those in ``only``) from staging into the published table."""
    root = table_dir(warehouse, staged.table)
    root.mkdir(parents=True, exist_ok=True)
    keep = None if only is None else {partition_relpath(p) for p in only}
    with table_lock(warehouse, staged.table):
        return _publish_locked(staged, root, keep)


def _publish_locked(staged: Staged, root: Path, keep: set[str] | None) -> PublishReport:
    published = removed = rows = 0
    for part in staged.partitions:
        rel = partition_relpath(part)
        if keep is not None and rel not in keep:
            continue
        source, target = staged.path / rel, root / rel
        if source.is_dir():
            _strip_side_files(source)
            rows += footer_rows(source)
            target.parent.mkdir(parents=True, exist_ok=True)
            swap_in(source, target)
            published += 1
            _publish_pause()
        elif target.exists():
            # The run owns this partition and produced nothing for it: an empty partition is no partition.
            retired = staged.path.parent / "_retired" / staged.table / rel
            retired.parent.mkdir(parents=True, exist_ok=True)
            if retired.exists():  # a re-publish of the same staging (retry after a crash)
                shutil.rmtree(retired)
            os.rename(target, retired)
            removed += 1
            _publish_pause()
    return PublishReport(staged.table, published, removed, rows)


def _strip_side_files(folder: Path) -> None:
    """Spark's ``.crc`` checksums are useless to readers and double the file count."""
    for crc in folder.glob(".*.crc"):
        crc.unlink(missing_ok=True)


_libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
_RENAME_EXCHANGE = 2
_AT_FDCWD = -100


def swap_in(source: Path, target: Path) -> None:
    """Atomically make ``source`` visible at ``target``; the previous ``target`` ends up at ``source``.

    Linux ``renameat2(RENAME_EXCHANGE)`` exchanges two directories in one step. Where it is missing
    (other kernels, some network file systems) we fall back to rename-aside + rename, which leaves a
    window of microseconds in which the partition is absent (never partial).
    """
    if not target.exists():
        try:
            os.rename(source, target)
            return
        except OSError as exc:  # another writer created it since the check: exchange instead
            if exc.errno not in (errno.ENOTEMPTY, errno.EEXIST):
                raise
    renameat2 = getattr(_libc, "renameat2", None)
    if renameat2 is not None:
        rc = renameat2(_AT_FDCWD, os.fsencode(source), _AT_FDCWD, os.fsencode(target), _RENAME_EXCHANGE)
        if rc == 0:
            shutil.rmtree(source, ignore_errors=True)
            return
        err = ctypes.get_errno()
        if err not in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP):
            raise OSError(err, os.strerror(err), str(target))
    # The old copy goes aside inside staging, never next to the target: a crash right here must not
    # leave a second copy where readers glob ``<table>/**/*.parquet``.
    aside = source.with_name(source.name + f".old-{secrets.token_hex(4)}")
    os.rename(target, aside)
    os.rename(source, target)
    shutil.rmtree(aside, ignore_errors=True)


def clean_staging(warehouse: str, run_id: str) -> None:
    shutil.rmtree(local_path(warehouse) / "_staging" / run_id, ignore_errors=True)


def clean_stale_staging(
    warehouse: str, older_than: dt.timedelta, now: dt.datetime | None = None
) -> list[Path]:
    """Remove ``_staging/<run_id>`` folders of runs that started more than ``older_than`` ago.

    A killed run leaves its staging behind (readers never see it: views glob ``<table>/**``, not
    ``_staging``). The run id starts with its UTC start time; folders without one go by mtime. Keep
    ``older_than`` above the longest run, so a live run's staging is never taken from under it.
    """
    root = local_path(warehouse) / "_staging"
    if not root.is_dir():
        return []
    now = now or dt.datetime.now(dt.UTC)
    removed = []
    for entry in sorted(root.iterdir()):
        try:
            started = dt.datetime.strptime(entry.name[:16], "%Y%m%dT%H%M%SZ").replace(tzinfo=dt.UTC)
        except ValueError:
            started = dt.datetime.fromtimestamp(entry.lstat().st_mtime, dt.UTC)
        if now - started > older_than:
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry, ignore_errors=True)
            else:
                entry.unlink(missing_ok=True)
            removed.append(entry)
    return removed


# ------------------------------------------------------------------------------------------ run logs

#: The two tables written one small file per run by :func:`write_log_rows`, not by a stage's publish.
LOG_TABLES = ("validation_results", "run_metrics")
#: A log partition is merged once it holds this many files: at the end of a daily run, one merge every
#: ~64 runs. Each extra ``validation_results`` file costs the marts stage ~2.5 ms per run (BENCHMARKS.md).
COMPACT_MIN_FILES = 64
#: Name prefix of a merged log file: run ids start with a digit, so it never collides with a run's file.
COMPACTED_PREFIX = "compacted-"


def write_log_rows(warehouse: str, table: str, rows: list[dict[str, Any]], file_stem: str) -> Path:
    """Write log rows (run_metrics, validation_results) as one small Parquet file per run, with pyarrow.

    Logs are one file per run inside the table's partition folders, so re-runs add files and never
    rewrite another run's rows. Each file is written and renamed while holding :func:`table_lock`, so
    a :func:`compact_log` of the same folder either merges it or leaves it beside the merged file.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = schemas.load(table)
    arrow_schema = schema.arrow()
    cols = list(schema.partition_by)
    written = None
    groups: dict[tuple[Any, ...], list[dict[str, Any]]] = {}
    for row in rows:
        groups.setdefault(tuple(row[c] for c in cols), []).append(row)
    data_fields = [f for f in arrow_schema if f.name not in cols]
    with table_lock(warehouse, table):
        for key, group in groups.items():
            folder = table_dir(warehouse, table) / partition_relpath(dict(zip(cols, key, strict=True)))
            folder.mkdir(parents=True, exist_ok=True)
            data = pa.Table.from_pylist(
                [{f.name: r.get(f.name) for f in data_fields} for r in group], schema=pa.schema(data_fields)
            )
            tmp = folder / f".{file_stem}.parquet.tmp"
            pq.write_table(data, tmp, compression="zstd")
            written = folder / f"{file_stem}.parquet"
            os.replace(tmp, written)  # atomic: readers never see a half-written log file
    return written or table_dir(warehouse, table)


@dataclass(frozen=True)
class Compaction:
    """One log partition whose files :func:`compact_log` merged into one."""

    table: str
    partition: str  # e.g. "table_name=papers"
    files: int  # Parquet files merged
    rows: int
    merged: str  # the merged file's name


def compact_log(warehouse: str, table: str, *, min_files: int = COMPACT_MIN_FILES) -> list[Compaction]:
    """Merge the Parquet files of each partition of log ``table`` that holds ``min_files`` or more into
    one file, ``compacted-<run id>.parquet``; the partitions merged (none: nothing to do).

    The merged file has the files' schema and every row once, in file-name order (an earlier merged
    file first) and row order within a file. It is written into a copy of the partition folder under
    ``_staging/<run id>/`` and swapped in with :func:`swap_in`, holding :func:`table_lock` like the
    writers: a reader lists the old files or the merged one, and a process killed at any point leaves
    one of the two in the table (leftovers only in ``_staging``, which ``digestflow gc`` removes).
    A partition whose files do not all have the table's schema is left alone (logged).
    """
    if min_files < 2:
        raise ValueError(f"min_files={min_files}: merging fewer than 2 files rewrites a partition for nothing")
    if table not in LOG_TABLES:
        raise ValueError(f"{table!r} is not a log table ({', '.join(LOG_TABLES)}): its partitions are published")
    run_id = new_run_id()
    done = []
    try:
        for part in listed_partitions(warehouse, table):
            rel = partition_relpath(part)
            with table_lock(warehouse, table):
                merged = _compact_partition(warehouse, table, rel, run_id, min_files)
            if merged is not None:
                done.append(merged)
                _publish_pause()
    finally:
        clean_staging(warehouse, run_id)
    return done


def _compact_partition(warehouse: str, table: str, rel: str, run_id: str, min_files: int) -> Compaction | None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    live = table_dir(warehouse, table) / rel
    files = sorted(
        (f for f in live.glob("*.parquet") if not f.name.startswith(".")),
        key=lambda f: (not f.name.startswith(COMPACTED_PREFIX), f.name),
    )
    if len(files) < min_files:
        return None
    cols = set(schemas.load(table).partition_by)
    expected = pa.schema([f for f in schemas.load(table).arrow() if f.name not in cols])
    parts = []
    for f in files:
        with pq.ParquetFile(f) as pf:
            data = pf.read()
        if not data.schema.equals(expected):
            log.warning("%s/%s not compacted: %s has columns %s, the table %s", table, rel, f.name,
                        data.schema, expected)
            return None
        parts.append(data)
    merged = pa.concat_tables(parts)
    stage = staging_dir(warehouse, run_id, table) / rel
    stage.mkdir(parents=True)
    name = f"{COMPACTED_PREFIX}{run_id}.parquet"
    pq.write_table(merged, stage / name, compression="zstd")
    merged_set = {f.name for f in files}
    for entry in live.iterdir():
        # Anything else visible is carried over (hard links); a hidden ``.*.tmp`` is a killed writer's
        # (writers hold the lock while their tmp file exists) and is dropped.
        if entry.name in merged_set or entry.name.startswith("."):
            continue
        if entry.is_dir():
            shutil.copytree(entry, stage / entry.name, copy_function=os.link)
        else:
            os.link(entry, stage / entry.name)
    _publish_pause()
    swap_in(stage, live)  # the old files end up in staging and are removed with it
    return Compaction(table, rel, len(files), merged.num_rows, name)


def compact_logs(warehouse: str, min_files: int = COMPACT_MIN_FILES) -> dict[str, int]:
    """:func:`compact_log` on each log table: partitions merged per table. The end of every run calls it.

    The run's tables are published by then, so a failure here is logged and the run goes on: the logs
    are complete either way, and the next run or ``digestflow gc`` merges them.
    """
    done = {}
    for table in LOG_TABLES:
        try:
            merged = compact_log(warehouse, table, min_files=min_files)
        except Exception:  # housekeeping after the run's publishes: see the docstring
            log.warning("compacting %s failed; its files stay as they are", table, exc_info=True)
            merged = []
        for c in merged:
            log.info("%s/%s: %d files merged into %s (%d rows)", table, c.partition, c.files, c.merged, c.rows)
        done[table] = len(merged)
    return done
