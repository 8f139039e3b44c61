"""ingest: landing files for the run's dates → ``papers`` + ``rejects`` (staged, audited, published)."""

from __future__ import annotations

from typing import Any

from digestflow import landing, storage
from digestflow.landing import list_landing
from digestflow.pipeline import RunContext, Stage, StageReport, UserError, span


def check_landing(ctx: RunContext, _params: Any) -> None:
    """The landing folder exists and holds digest files for the run's dates (before Spark starts)."""
    try:
        files = landing.list_landing(ctx.settings.landing, ctx.start, ctx.end)
    except FileNotFoundError as exc:
        raise UserError(str(exc)) from None
    if not files:
        raise UserError(
            f"no digest files for {span(ctx.dates)} in landing folder {ctx.settings.landing} "
            "(files are matched by the YYYY-MM-DD in their name)"
        )


def run(ctx: RunContext, _params: Any) -> StageReport:
    """Parse every landing file of [start, end]; every non-blank line ends in papers or rejects."""
    from digestflow.ingest import parse_landing

    files = list_landing(ctx.settings.landing, ctx.start, ctx.end)
    parsed = parse_landing(
        ctx.spark, files, start=ctx.start, end=ctx.end, latest=ctx.today, ingested_at=ctx.started_at,
        side=storage.staging_dir(ctx.warehouse, ctx.run_id, "_parsed_rejects"),
    )
    report = StageReport("ingest", rows_in=len(files))
    owned = storage.date_partitions(ctx.dates)
    # Rows out: what was published (footer counts), not a count job that recomputes the rejects.
    report.rows_out = ctx.publish("papers", parsed.papers, owned, report, clustered=parsed.clustered).rows
    report.rows_rejected = ctx.publish("rejects", parsed.rejects(), owned, report).rows
    report.details = {"files": len(files), "refused": sum(1 for f in files if f.refused)}
    return report


STAGE = Stage(
    name="ingest",
    doc="""Parse landing files into papers and rejects (validated, then published).

    Reads the landing folder's digest files whose name carries a date of the run (an undated file is
    kept when its resolved date falls in the range). Every non-blank line ends in ``papers`` or, with a
    reason and its raw text, in ``rejects``; the run owns the ``digest_date`` partitions of its dates.""",
    reads=(),
    writes=("papers", "rejects"),
    run=run,
    extra_inputs=check_landing,
)
