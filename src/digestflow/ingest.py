"""Ingest stage: landing files → ``papers`` and ``rejects``, parsed by the pure parser inside Spark.

The driver only lists file names; executors read and parse the bytes (``mapInArrow``), so the work
spreads over the cluster and a bad file turns into reject rows instead of a failed job.
"""

from __future__ import annotations

import datetime as dt
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
        with open(item["path"], "rb") as handle:
            data = handle.read()
    except OSError as exc:
        return [_file_reject(source, b"", "unreadable_file", f"{source}: cannot read: {exc.strerror}", fallback)]
    result = parse_digest(data, source=source, run_date=run_end, latest_date=latest)
    out = [{"kind": "paper", **p} for p in result.papers]
    for r in result.rejects:
        out.append({"kind": "reject", **r, "digest_date": r["digest_date"] or fallback})
    return out


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
    papers = parsed.where(F.col("kind") == "paper").select(*schemas.load("papers").names)
    rejects = parsed.where(F.col("kind") == "reject").select(*schemas.load("rejects").names)
    return papers, rejects


def _spark_ddl(arrow_schema: Any) -> str:
    from pyspark.sql.pandas.types import from_arrow_schema

    return from_arrow_schema(arrow_schema).simpleString().removeprefix("struct<").removesuffix(">")
