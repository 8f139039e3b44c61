"""marts: papers, rejects, validation_results, keyword_trends, term_stats, erank_stats → dashboard marts.

The last stage of ``digestflow run``. Every mart is a function of the same partitions of its inputs, so
it owns exactly those partitions: ``daily_summary`` the run's digest dates, ``trend_mart`` the run's
``as_of`` dates, ``erank_mart`` the (set_kind, period) partitions the erank stage owns for those dates. An
input without data for those partitions empties the matching mart partitions.
"""

from __future__ import annotations

from typing import Any

from digestflow import storage
from digestflow.pipeline import Read, RunContext, Stage, StageReport


def run(ctx: RunContext, _params: Any) -> StageReport:
    """Rebuild the dashboard marts for the run's dates from the published tables."""
    from pyspark.sql import functions as F

    from digestflow.erank import CALENDAR_KINDS, owned_periods
    from digestflow.marts import select_erank_series, select_trend_lists, summarize_days

    report = StageReport("marts")
    days = storage.date_partitions(ctx.dates)
    # Whole tables filtered on the partition column (Spark prunes the folders), rather than a list of
    # partition paths: summarize_days needs every earlier date of papers anyway.
    papers = ctx.read("papers").where(F.col("digest_date") <= F.lit(ctx.end))
    rejects = ctx.read("rejects").where(F.col("digest_date").between(F.lit(ctx.start), F.lit(ctx.end)))
    history = papers.select("paper_id", "digest_date")
    summary = summarize_days(papers, history, rejects, ctx.read("validation_results"), ctx.start, ctx.end)
    summary = summary.persist()
    ctx.publish("daily_summary", summary, days, report)
    rows = {"daily_summary": summary.count()}
    summary.unpersist()

    as_of = storage.date_partitions(ctx.dates, "as_of")
    in_run = F.col("as_of").between(F.lit(ctx.start), F.lit(ctx.end))
    trends, weekly = ctx.read("keyword_trends").where(in_run), ctx.read("term_stats").where(in_run)
    lists = select_trend_lists(trends, weekly).persist()
    ctx.publish("trend_mart", lists, as_of, report)
    rows["trend_mart"] = lists.count()
    lists.unpersist()

    periods = owned_periods(ctx.dates)
    owned = [{"set_kind": k, "period": p} for k in CALENDAR_KINDS for p in periods]
    stats = ctx.read("erank_stats").where(F.col("set_kind").isin(*CALENDAR_KINDS) & F.col("period").isin(*periods))
    series = select_erank_series(stats, CALENDAR_KINDS).persist()
    ctx.publish("erank_mart", series, owned, report)
    rows["erank_mart"] = series.count()
    series.unpersist()

    report.rows_in = rows["daily_summary"]  # digest dates summarised
    report.rows_out = sum(rows.values())
    report.details = {"rows": rows}
    return report


STAGE = Stage(
    name="marts",
    doc="""Rebuild the dashboard marts (daily_summary, trend_mart, erank_mart) for the dates.

    Small tables for dashboards and the built-in page: one row per digest date, the top-10 lists of
    each trend window with sparklines, and the erank series of days, weeks and months.""",
    reads=(
        Read("papers"),
        Read("rejects", need="optional"),
        Read("validation_results", need="optional"),
        Read("keyword_trends", lambda ctx, p: ctx.dates, "the run's dates (as_of)", need="optional", column="as_of"),
        Read("term_stats", lambda ctx, p: ctx.dates, "the run's dates (as_of)", need="optional", column="as_of"),
        Read("erank_stats", need="optional", scope="the calendar periods the run's dates touch"),
    ),
    writes=("daily_summary", "trend_mart", "erank_mart"),
    run=run,
)
