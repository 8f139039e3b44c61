"""Ingest transforms (the stage is declared in ``stages/ingest.py``): landing files → ``papers`` and ``rejects``,
parsed by the pure parser inside Spark.

The driver only lists file names (and their sizes); executors read and parse the bytes (``mapInArrow``),
so the work spreads over the cluster and a bad file turns into reject rows instead of a failed job. Each
file is read once: the tasks emit papers and leave rejects in a side folder (docs/design.md).
"""

from __future__ import annotations

import datetime as dt
import functools
import os
import stat
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from digestflow import schemas
from digestflow.landing import LandingFile
from digestflow.parsing import REJECT_REASONS, digest_id_for, parse_digest

if TYPE_CHECKING:
    import pyarrow as pa
    from pyspark.sql import DataFrame, SparkSession

_REJECT_ONLY = ("raw_text", "reason", "detail")


class Parsed(NamedTuple):
    """:func:`parse_landing`'s answer. ``papers`` parses the files when it is computed (the papers
    write), and its tasks leave their reject rows in a side folder that ``rejects()``, called after
    that write, reads: every file is read and parsed once for both tables. ``clustered``: every date's
    papers come out of one task of ``papers`` (the write may skip its shuffle,
    :func:`digestflow.storage.write_staged`)."""

    papers: DataFrame
    rejects: Callable[[], DataFrame]
    clustered: bool


@functools.cache
def parsed_schema() -> Any:
    """One Arrow schema for both outputs: papers' columns, rejects' extra columns and a ``kind`` tag."""
    import pyarrow as pa

    papers = schemas.load("papers").arrow()
    rejects = schemas.load("rejects").arrow()
    fields = [f.with_nullable(True) for f in papers if f.name != "ingested_at"]
    fields += [rejects.field(n).with_nullable(True) for n in _REJECT_ONLY]
    return pa.schema([pa.field("kind", pa.string()), *fields])


Listed = tuple[str, str, "dt.date | None", "str | None"]  # a LandingFile as the parse tasks get it


def parse_groups(
    ids: Iterator[pa.RecordBatch],
    tasks: list[list[int]],
    groups: list[list[Listed]],
    side: str,
    run_end: dt.date,
    latest: dt.date,
) -> Iterator[Any]:
    """mapInArrow body over ``spark.range(len(tasks))``: task ``i`` parses the file groups ``tasks[i]``
    (indices into ``groups``, :func:`plan_groups`) and emits their papers; a group's rejects go to
    ``<side>/group-<index>.parquet`` (written whole, then renamed: a task that runs twice writes the
    same file again, and a reader never sees half of one)."""
    for batch in ids:
        for task in batch.column(0).to_pylist():
            for g in tasks[task]:
                rows = _parse_group(groups[g], run_end, latest)
                rejects = [r for r in rows if r["kind"] == "reject"]
                if rejects:
                    _write_side(_batch(rejects), Path(side) / f"group-{g:06d}.parquet")
                papers = [r for r in rows if r["kind"] == "paper"]
                if papers:
                    yield _batch(papers)


def _write_side(batch: Any, target: Path) -> None:
    import uuid

    import pyarrow as pa
    import pyarrow.parquet as pq

    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.{uuid.uuid4().hex}.tmp")  # hidden: readers skip it
    pq.write_table(pa.Table.from_batches([batch]), partial, compression="zstd")
    os.replace(partial, target)


def _parse_group(group: list[Listed], run_end: dt.date, latest: dt.date) -> list[dict[str, Any]]:
    """The parsed rows of one group's files. The same bytes landed twice under two names (a re-sent
    e-mail, a copy): the papers of each (digest date, content) are kept once, from the first name, and
    the other copies' papers are quarantined as ``duplicate_file``, so a partition never holds a key
    twice. A group holds every copy of its files (:func:`plan_groups`), so deciding here is exact."""
    keys = ("source_file", "path", "file_date", "refused")
    rows = [r for listed in group for r in _parse_one(dict(zip(keys, listed, strict=True)), run_end, latest)]
    first: dict[tuple[Any, str], str] = {}
    for r in rows:
        if r["kind"] == "paper":
            key = (r["digest_date"], r["digest_id"])
            first[key] = min(first.get(key, r["source_file"]), r["source_file"])
    out = []
    for r in rows:
        kept = r["kind"] != "paper" or first[(r["digest_date"], r["digest_id"])] == r["source_file"]
        out.append(r if kept else _copy_reject(r, first[(r["digest_date"], r["digest_id"])]))
    return out


def _copy_reject(paper: dict[str, Any], kept_from: str) -> dict[str, Any]:
    text = "\n".join(t for t in (paper["title"], paper["abstract"]) if t is not None)
    return {
        **paper, "kind": "reject", "reason": "duplicate_file", "raw_text": text,
        "detail": f"{paper['source_file']}:{paper['line_start']}-{paper['line_end']}: this file has the same "
                  f"bytes as {kept_from}, whose copy of this paper is kept",
    }


def _batch(rows: list[dict[str, Any]]) -> Any:
    """Parsed rows → one Arrow batch of :func:`parsed_schema`, built column by column (~30 % less CPU
    than ``RecordBatch.from_pylist``)."""
    import pyarrow as pa

    schema = parsed_schema()
    return pa.RecordBatch.from_pydict({n: [r.get(n) for r in rows] for n in schema.names}, schema=schema)


def plan_groups(files: list[LandingFile]) -> tuple[list[list[LandingFile]], list[int]]:
    """The listed files in groups that are parsed together, in date order, and each group's bytes.

    Files are grouped when they share the date in their names or their size (copies of the same bytes
    have the same size), transitively: every date's files and every set of copies are in one group,
    so the duplicate rule (:func:`_parse_group`) is decided inside a group, and a dated file's papers
    (which always land in its name's date) are in the group of that date. Refused files are groups of
    their own.
    """
    sizes = []
    for f in files:
        try:
            sizes.append(os.stat(f.path).st_size if f.path else 0)
        except OSError:
            sizes.append(0)
    parent = list(range(len(files)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    owner: dict[tuple[str, Any], int] = {}
    for i, f in enumerate(files):
        links = [("date", f.file_date)] if f.file_date is not None else []
        links += [("size", sizes[i])] if f.path else []
        for link in links:
            j = owner.setdefault(link, i)
            parent[root(i)] = root(j)
    members: dict[int, list[int]] = {}
    for i in range(len(files)):
        members.setdefault(root(i), []).append(i)

    def order(f: LandingFile) -> tuple[Any, ...]:
        return (f.file_date is None, f.file_date or dt.date.min, f.source_file)

    grouped = sorted((sorted(idx, key=lambda i: order(files[i])) for idx in members.values()),
                     key=lambda idx: order(files[idx[0]]))
    return [[files[i] for i in idx] for idx in grouped], [sum(sizes[i] for i in idx) for idx in grouped]


#: Landing bytes per parse task above which ingest splits into more tasks than the default parallelism.
TASK_BYTES = 64 * 2**20


def parse_tasks(total_bytes: int, groups: int, parallelism: int) -> int:
    """How many parse tasks: the default parallelism, up to twice that for inputs of more than
    :data:`TASK_BYTES` per task, never more than there are groups.

    The tasks' partitions are also the partitions of the papers a run hands to the next stages, and every
    query over them pays a fixed cost per task: the 521 dev days (12.5 MB) in 8 tasks made trends and
    erank ~1-1.5 s slower each than in 4 (alternating pairs against the previous code, BENCHMARKS.md
    session 31). At 100x (988 MB) 8 tasks balance the parse better: 29.8 s against 31.6 s in 4 (one run
    each, beside the one-process peer's 33.7 and 33.9 s)."""
    wanted = parallelism if total_bytes <= TASK_BYTES * parallelism else 2 * parallelism
    return max(1, min(groups, wanted))


def pack(sizes: list[int], n_tasks: int) -> list[list[int]]:
    """Consecutive runs of ``sizes``' indices in up to ``n_tasks`` tasks of similar total size."""
    share = max(1, sum(sizes)) / max(1, n_tasks)
    tasks: list[list[int]] = [[]]
    filled = 0
    for i, n in enumerate(sizes):
        if tasks[-1] and filled >= share * len(tasks) and len(tasks) < n_tasks:
            tasks.append([])
        tasks[-1].append(i)
        filled += n
    return tasks


def _parse_one(item: dict[str, Any], run_end: dt.date, latest: dt.date) -> list[dict[str, Any]]:
    source, fallback = item["source_file"], item["file_date"] or run_end
    if item["refused"]:
        return [_file_reject(source, b"", item["refused"], f"{source}: not read: {REJECT_REASONS[item['refused']]}", fallback)]
    try:
        data = _read_regular_file(item["path"])
    except OSError as exc:
        return [_file_reject(source, b"", "unreadable_file", f"{source}: cannot read: {exc.strerror}", fallback)]
    try:
        result = parse_digest(data, source=source, run_date=run_end, latest_date=latest)
    except Exception as exc:  # a parser bug on one file must not fail the other files' task
        text = data.decode("utf-8", errors="replace")
        detail = f"{source}: the parser failed ({type(exc).__name__}: {exc}); the whole file is kept here"
        row = _file_reject(source, data, "parser_error", detail, fallback)
        n_lines = len(text.replace("\r\n", "\n").replace("\r", "\n").split("\n"))
        return [{**row, "line_start": 1, "line_end": n_lines, "raw_text": text}]
    out = [{"kind": "paper", **p} for p in result.papers]
    for r in result.rejects:
        out.append({"kind": "reject", **r, "digest_date": r["digest_date"] or fallback})
    return out


def _read_regular_file(path: str) -> bytes:
    """The bytes of ``path`` if it is still a regular file, not a symlink, at the moment it is opened.

    The listing checked this already, but the landing folder can change before an executor gets here:
    ``O_NONBLOCK`` keeps a FIFO swapped in since from hanging the task, ``O_NOFOLLOW`` refuses a
    symlink swapped in since, and ``fstat`` on the open descriptor refuses directories and devices.
    """
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0))
    with os.fdopen(fd, "rb") as handle:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError(0, "not a regular file", path)
        return handle.read()


def _file_reject(source: str, data: bytes, reason: str, detail: str, when: dt.date) -> dict[str, Any]:
    return {
        "kind": "reject",
        "source_file": source,
        "digest_id": digest_id_for(data),
        "line_start": 0,
        "line_end": 0,
        "raw_text": "",
        "reason": reason,
        "detail": detail,
        "date_rule": "unresolved",
        "parser_version": None,
        "digest_date": when,
    }


def parse_landing(
    spark: SparkSession,
    files: list[LandingFile],
    *,
    start: dt.date,
    end: dt.date,
    latest: dt.date,
    ingested_at: dt.datetime,
    side: Path,
) -> Parsed:
    """``papers`` and ``rejects`` DataFrames for the listed files, restricted to digest dates in [start, end].
    ``side``: an empty folder of the run's staging area, for the parse tasks' reject rows.

    Rows of an undated file that resolve outside the range belong to another run and are left out
    (that run picks the file up again); the caller counts them.
    """
    from pyspark.sql import functions as F
    from pyspark.sql.pandas.types import from_arrow_schema

    from digestflow.parsing import PARSER_VERSION

    groups, sizes = plan_groups(files)
    listed = [[(f.source_file, f.path, f.file_date, f.refused) for f in g] for g in groups]
    tasks = pack(sizes, parse_tasks(sum(sizes), len(groups), spark.sparkContext.defaultParallelism))
    ddl = _spark_ddl(parsed_schema())
    folder = str(side)

    def finish(parsed: DataFrame, table: str) -> DataFrame:
        return (
            parsed.withColumn("ingested_at", F.lit(ingested_at).cast("timestamp"))
            .withColumn("parser_version", F.coalesce("parser_version", F.lit(PARSER_VERSION)))
            .where(F.col("digest_date").between(F.lit(start), F.lit(end)))
            .select(*schemas.load(table).names)
        )

    parsed = spark.range(0, len(tasks), 1, len(tasks)).mapInArrow(  # one id, so one task, per entry of ``tasks``
        lambda it: parse_groups(it, tasks, listed, folder, end, latest), ddl
    )
    # Rows of a dated file land in its name's date, and a date's files are one group: each date's papers
    # come out of one task unless an undated file (whose date is only known once parsed) has some.
    clustered = all(f.file_date is not None for f in files)

    def rejects() -> DataFrame:
        found = sorted(str(f) for f in Path(side).glob("group-*.parquet"))
        struct = from_arrow_schema(parsed_schema())
        frame = spark.read.schema(struct).parquet(*found) if found else spark.createDataFrame([], struct)
        return finish(frame, "rejects")

    return Parsed(finish(parsed, "papers"), rejects, clustered)


def _spark_ddl(arrow_schema: Any) -> str:
    from pyspark.sql.pandas.types import from_arrow_schema

    return from_arrow_schema(arrow_schema).simpleString().removeprefix("struct<").removesuffix(">")
