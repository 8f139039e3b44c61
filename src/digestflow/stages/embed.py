"""embed: ``papers`` of the run's dates → ``embeddings`` (model = settings.embed_model), one partition
per (model, digest_date)."""

from __future__ import annotations

from digestflow import io
from digestflow.embed import embed_papers
from digestflow.pipeline import RunContext, StageReport, stage


@stage("embed")
def embed(ctx: RunContext) -> StageReport:
    """Embed every paper of [start, end] with one embedder; the run owns (model, date) partitions."""
    model = ctx.settings.embed_model
    papers = ctx.read("papers", io.date_partitions(ctx.dates))
    report = StageReport("embed")
    owned = [{"model": model, "digest_date": d} for d in ctx.dates]
    ctx.publish("embeddings", embed_papers(papers, model), owned, report)
    report.rows_out = published_rows(ctx, "embeddings", owned)
    report.rows_in = report.rows_out
    report.details = {"model": model}
    return report


def published_rows(ctx: RunContext, table: str, partitions: list[dict]) -> int:
    """Rows in the published partitions, from the Parquet footers: no Spark job for a count."""
    import pyarrow.parquet as pq

    root = io.table_dir(ctx.warehouse, table)
    total = 0
    for part in partitions:
        for f in (root / io.partition_relpath(part)).glob("*.parquet"):
            total += pq.ParquetFile(f).metadata.num_rows
    return total
