"""marts: papers, rejects, validation_results, keyword_trends, term_stats, erank_stats → dashboard marts.

The last stage of ``digestflow run``. Every mart is a function of the same partitions of its inputs, so
it owns exactly those partitions: ``daily_summary`` the run's digest dates, ``trend_mart`` the run's
``as_of`` dates, ``erank_mart`` the (set_kind, period) partitions the erank stage owns for those dates. An input
table that does not exist yet (no schema file) leaves its mart untouched; one without data empties it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from digestflow import io, schemas
from digestflow.marts import select_erank_series, select_trend_lists, summarize_days
from digestflow.pipeline import RunContext, StageReport, stage

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

_VALIDATION_COLUMNS = (
    "table_name string, partition string, suite string, success boolean, validated_at timestamp, run_id string"
)


def _validations(ctx: RunContext) -> DataFrame:
    if "validation_results" in schemas.tables():
        return ctx.read("validation_results")
    return ctx.spark.createDataFrame([], _VALIDATION_COLUMNS)


@stage("marts")
def marts(ctx: RunContext) -> StageReport:
    """Rebuild the dashboard marts for the run's dates from the published tables."""
    from pyspark.sql import functions as F

    report = StageReport("marts")
    days = io.date_partitions(ctx.dates)
    # Whole tables filtered on the partition column (Spark prunes the folders), rather than a list of
    # partition paths: summarize_days needs every earlier date of papers anyway.
    papers = ctx.read("papers").where(F.col("digest_date") <= F.lit(ctx.end))
    rejects = ctx.read("rejects").where(F.col("digest_date").between(F.lit(ctx.start), F.lit(ctx.end)))
    history = papers.select("paper_id", "digest_date")
    summary = summarize_days(papers, history, rejects, _validations(ctx), ctx.start, ctx.end).persist()
    ctx.publish("daily_summary", summary, days, report)
    rows = {"daily_summary": summary.count()}
    summary.unpersist()

    if {"keyword_trends", "term_stats"} <= set(schemas.tables()):
        as_of = io.date_partitions(ctx.dates, "as_of")
        in_run = F.col("as_of").between(F.lit(ctx.start), F.lit(ctx.end))
        trends, weekly = ctx.read("keyword_trends").where(in_run), ctx.read("term_stats").where(in_run)
        lists = select_trend_lists(trends, weekly).persist()
        ctx.publish("trend_mart", lists, as_of, report)
        rows["trend_mart"] = lists.count()
        lists.unpersist()

    if "erank_stats" in schemas.tables():
        from digestflow.erank import CALENDAR_KINDS, owned_periods

        periods = owned_periods(ctx.dates)
        owned = [{"set_kind": k, "period": p} for k in CALENDAR_KINDS for p in periods]
        stats = ctx.read("erank_stats").where(
            F.col("set_kind").isin(*CALENDAR_KINDS) & F.col("period").isin(*periods)
        )
        series = select_erank_series(stats, CALENDAR_KINDS).persist()
        ctx.publish("erank_mart", series, owned, report)
        rows["erank_mart"] = series.count()
        series.unpersist()

    report.rows_out = sum(rows.values())
    report.details = {"rows": rows}
    return report
