"""trends: ``paper_terms`` + ``papers`` of one lookback → ``keyword_trends``, ``term_stats`` and ``trend_papers``
at as_of.

as_of is the run's last date. Only the lookback's partitions are read (the longest target window plus
its baseline, 210 days by default), so a daily run costs the same with 50 or 500 days of history.
Parameters come from :meth:`TrendParams.from_env` (``digestflow trends --window/--baseline`` set them).
"""

from __future__ import annotations

from typing import Any

from digestflow import io, schemas
from digestflow.evidence import select_evidence
from digestflow.pipeline import RunContext, StageReport, stage
from digestflow.trends import TermCounts, TrendParams, daily_volume, score_trends, term_forms, term_series


@stage("trends")
def trends(ctx: RunContext) -> StageReport:
    """Score every term of the lookback; publish the as_of partition of both tables."""
    params = TrendParams.from_env()
    as_of = ctx.end
    days = params.lookback_days(as_of)
    lookback = io.date_partitions(days)
    paper_terms, papers = ctx.read("paper_terms", lookback), ctx.read("papers", lookback)
    # Plural folds and acronym merges, decided once over the lookback: counted and evidence use the same.
    forms = term_forms(paper_terms, papers, params.acronym_min_definitions, params.acronym_min_share)
    series = term_series(paper_terms, params.min_df, forms).toPandas()
    volume = daily_volume(papers).toPandas()
    result = score_trends(TermCounts.from_frames(series, volume, days), as_of, params)

    report = StageReport("trends", rows_in=len(series))
    owned = [{"as_of": as_of}]
    ctx.publish("keyword_trends", _frame(ctx, "keyword_trends", result.trends), owned, report)
    ctx.publish("term_stats", _frame(ctx, "term_stats", result.term_stats), owned, report)
    ctx.publish("trend_papers", select_evidence(paper_terms, papers, forms, result.trends, as_of), owned, report)
    report.rows_out = len(result.trends)
    report.details = {
        **result.details,
        "as_of": as_of,
        "windows": [f"{w}d" for w in params.windows],
        "baseline_days": params.baseline_days,
        "term_stats_rows": len(result.term_stats),
    }
    return report


def _frame(ctx: RunContext, table: str, rows: Any) -> Any:
    """pandas rows → Spark DataFrame with the table's schema, through Arrow (NaN → NULL)."""
    import pyarrow as pa

    schema = schemas.load(table)
    arrow = pa.Table.from_pandas(rows[schema.names], schema=schema.arrow(), preserve_index=False)
    return ctx.spark.createDataFrame(arrow, schema=schema.spark())
