"""terms: ``papers`` of the run's dates → ``paper_terms`` (one partition per date, from that date alone)."""

from __future__ import annotations

from typing import Any

from digestflow import storage
from digestflow.pipeline import Read, RunContext, Stage, StageReport


def run(ctx: RunContext, _params: Any) -> StageReport:
    """Candidate 1-3-grams per paper; corpus-wide decisions (plurals, termhood) wait for the trends stage."""
    from digestflow.terms import extract_terms

    owned = storage.date_partitions(ctx.dates)
    report = StageReport("terms")
    # extract_terms keeps each date's rows in one task (it clusters papers by date before the Python
    # extraction, whose output Spark cannot see as partitioned): the write needs no shuffle.
    result = ctx.publish("paper_terms", extract_terms(ctx.read("papers", owned)), owned, report, clustered=True)
    # Both counts from Parquet footers, not a Spark job over what was published.
    report.rows_in = storage.published_rows(ctx.warehouse, "papers", owned)
    report.rows_out = result.rows
    return report


STAGE = Stage(
    name="terms",
    doc="""Extract candidate terms (1-3-grams per paper) of the dates' papers into paper_terms.

    Per paper and date only: corpus-wide decisions (plural folding, termhood) wait for the trends stage,
    so a date's partition depends on that date's papers alone (docs/trends.md).""",
    reads=(Read("papers"),),
    writes=("paper_terms",),
    run=run,
    full_jit=True,
)
