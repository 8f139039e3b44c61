"""ingest: landing files for the run's dates → ``papers`` + ``rejects`` (staged, audited, published)."""

from __future__ import annotations

from digestflow import io
from digestflow.ingest import parse_landing
from digestflow.landing import list_landing
from digestflow.pipeline import RunContext, StageReport, stage


@stage("ingest")
def ingest(ctx: RunContext) -> StageReport:
    """Parse every landing file of [start, end]; every non-blank line ends in papers or rejects."""
    files = list_landing(ctx.settings.landing, ctx.start, ctx.end)
    papers, rejects = parse_landing(
        ctx.spark, files, start=ctx.start, end=ctx.end, latest=ctx.today, ingested_at=ctx.started_at
    )
    report = StageReport("ingest", rows_in=len(files))
    owned = io.date_partitions(ctx.dates)
    ctx.publish("papers", papers, owned, report)
    ctx.publish("rejects", rejects, owned, report)
    report.rows_out = papers.count()
    report.rows_rejected = rejects.count()
    report.details = {"files": len(files), "refused": sum(1 for f in files if f.refused)}
    return report
