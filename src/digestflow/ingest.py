"""Ingest transforms (the stage is declared in ``stages/ingest.py``): landing files → ``papers`` and ``rejects``,
parsed by the pure parser inside Spark.

The driver only lists file names; executors read and parse the bytes (``mapInArrow``), so the work
spreads over the cluster and a bad file turns into reject rows instead of a failed job.
"""

from __future__ import annotations

import datetime as dt
import os
import stat
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from digestflow import schemas
from digestflow.landing import LandingFile
from digestflow.parsing import REJECT_REASONS, digest_id_for, parse_digest

if TYPE_CHECKING:
    import pyarrow as pa
    from pyspark.sql import DataFrame, SparkSession

_REJECT_ONLY = ("raw_text", "reason", "detail")


def parsed_schema() -> Any:
    """One Arrow schema for both outputs: papers' columns, rejects' extra columns and a ``kind`` tag."""
    import pyarrow as pa

    papers = schemas.load("papers").arrow()
    rejects = schemas.load("rejects").arrow()
    fields = [f.with_nullable(True) for f in papers if f.name != "ingested_at"]
    fields += [rejects.field(n).with_nullable(True) for n in _REJECT_ONLY]
    return pa.schema([pa.field("kind", pa.string()), *fields])


def parse_files(batches: Iterator[pa.RecordBatch], run_end: dt.date, latest: dt.date) -> Iterator[Any]:
    """mapInArrow body: read each listed file and emit its papers and rejects as tagged rows."""
    import pyarrow as pa

    schema = parsed_schema()
    names = schema.names
    for batch in batches:
        rows: list[dict[str, Any]] = []
        for item in batch.to_pylist():
            rows.extend(_parse_one(item, run_end, latest))
        yield pa.RecordBatch.from_pylist([{n: r.get(n) for n in names} for r in rows], schema=schema)


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
) -> tuple[DataFrame, DataFrame]:
    """``(papers, rejects)`` DataFrames for the listed files, restricted to digest dates in [start, end].

    Rows of an undated file that resolve outside the range belong to another run and are left out
    (that run picks the file up again); the caller counts them.
    """
    from pyspark.sql import functions as F

    from digestflow.parsing import PARSER_VERSION

    listing = spark.createDataFrame(
        [(f.source_file, f.path, f.file_date, f.refused) for f in files],
        "source_file string, path string, file_date date, refused string",
    )
    n_tasks = max(1, min(len(files), spark.sparkContext.defaultParallelism * 2))
    parsed = (
        listing.repartition(n_tasks)
        .mapInArrow(lambda it: parse_files(it, end, latest), _spark_ddl(parsed_schema()))
        .withColumn("ingested_at", F.lit(ingested_at).cast("timestamp"))
        .withColumn("parser_version", F.coalesce("parser_version", F.lit(PARSER_VERSION)))
        .where(F.col("digest_date").between(F.lit(start), F.lit(end)))
        .persist()  # read and parse once, although two tables are written from it
    )
    # The same bytes landed twice under two names (a re-sent e-mail, a copy): keep the papers once, from
    # the first name, and quarantine the other copy's papers, so a partition never holds a key twice.
    # The first name per (date, content) is a tiny aggregate (one row per file), broadcast back to the
    # rows: no shuffle of the papers themselves, which a window over them would cost.
    papers_only = parsed.where(F.col("kind") == "paper")
    firsts = papers_only.groupBy("digest_date", "digest_id").agg(F.min("source_file").alias("_first"))
    candidates = papers_only.join(F.broadcast(firsts), ["digest_date", "digest_id"])
    papers = candidates.where(F.col("source_file") == F.col("_first")).select(*schemas.load("papers").names)
    copies = (
        candidates.where(F.col("source_file") != F.col("_first"))
        .withColumn("reason", F.lit("duplicate_file"))
        .withColumn("raw_text", F.concat_ws("\n", "title", "abstract"))
        .withColumn(
            "detail",
            F.format_string(
                "%s:%d-%d: this file has the same bytes as %s, whose copy of this paper is kept",
                "source_file", "line_start", "line_end", "_first",
            ),
        )
    )
    reject_cols = schemas.load("rejects").names
    rejects = (
        parsed.where(F.col("kind") == "reject").select(*reject_cols).unionByName(copies.select(*reject_cols))
    )
    return papers, rejects


def _spark_ddl(arrow_schema: Any) -> str:
    from pyspark.sql.pandas.types import from_arrow_schema

    return from_arrow_schema(arrow_schema).simpleString().removeprefix("struct<").removesuffix(">")
