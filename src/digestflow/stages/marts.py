"""marts: papers, rejects, validation_results, keyword_trends, term_stats, erank_stats → dashboard marts.

The last stage of ``digestflow run``. Every mart is a function of the published inputs, and each owns
whole partitions: ``daily_summary`` the months of the run's dates (every date of those months is rebuilt:
one partition per month, not one one-row folder per date), ``trend_mart`` the run's ``as_of`` dates,
``erank_mart`` the (set_kind, period) partitions the erank stage owns for those dates. An input without
data for those partitions empties the matching mart partitions.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from digestflow import storage
from digestflow.pipeline import Read, RunContext, Stage, StageReport, in_list, side_by_side

log = logging.getLogger("digestflow")


def run(ctx: RunContext, _params: Any) -> StageReport:
    """Rebuild the dashboard marts for the run's dates from the published tables."""
    from pyspark.sql import functions as F

    from digestflow.erank import CALENDAR_KINDS, owned_periods
    from digestflow.marts import select_erank_series, select_trend_lists, summarize_days

    report = StageReport("marts")
    legacy = per_date_partitions(ctx.warehouse)
    if legacy:
        log.info("daily_summary: replacing %d per-date partitions of the old layout by monthly ones "
                 "(%s..%s, rebuilt from the published tables)", len(legacy), legacy[0], legacy[-1])
    months, first, last = summary_months([*ctx.dates, *legacy])

    def daily() -> dict[str, int]:
        # Whole tables filtered on the partition column (Spark prunes the folders), rather than a list of
        # partition paths: summarize_days needs every earlier date of papers anyway.
        papers = ctx.read("papers").where(F.col("digest_date") <= F.lit(last))
        rejects = ctx.read("rejects").where(F.col("digest_date").between(F.lit(first), F.lit(last)))
        summary = summarize_days(papers, rejects, ctx.read("validation_results"), first, last)
        # An owned partition the run wrote nothing for is removed: so are the old layout's date folders.
        owned: list[dict[str, Any]] = [{"digest_date": d} for d in legacy] + [{"month": m} for m in months]
        # Row counts are those published (Parquet footers): no count job over the marts.
        return {"daily_summary": ctx.publish("daily_summary", summary, owned, report).rows}

    def lists() -> dict[str, int]:
        as_of = storage.date_partitions(ctx.dates, "as_of")
        in_run = F.col("as_of").between(F.lit(ctx.start), F.lit(ctx.end))
        trends, weekly = ctx.read("keyword_trends").where(in_run), ctx.read("term_stats").where(in_run)
        rows = {"trend_mart": ctx.publish("trend_mart", select_trend_lists(trends, weekly), as_of, report).rows}
        periods = owned_periods(ctx.dates)
        owned = [{"set_kind": k, "period": p} for k in CALENDAR_KINDS for p in periods]
        stats = ctx.read("erank_stats").where(F.col("set_kind").isin(*CALENDAR_KINDS) & in_list("period", list(periods)))
        rows["erank_mart"] = ctx.publish("erank_mart", select_erank_series(stats, CALENDAR_KINDS), owned, report).rows
        return rows

    # Two independent chains of small jobs, each mostly waiting on the driver: side by side, the stage
    # takes ~0.5 s less warm (BENCHMARKS.md, session 27).
    rows: dict[str, int] = {}
    for part in side_by_side(ctx, daily, lists):
        rows.update(part)
    report.rows_in = rows["daily_summary"]  # digest dates summarised and published (every date of the owned months)
    report.rows_out = sum(rows.values())
    report.details = {"rows": rows}
    return report


def summary_months(dates: list[dt.date]) -> tuple[list[str], dt.date, dt.date]:
    """The ``daily_summary`` partitions ('YYYY-MM') a run over ``dates`` owns: every month from the first
    date's to the last's; and the first and last day of those months: the dates it rebuilds."""
    first = min(dates).replace(day=1)
    after = max(dates).replace(day=28) + dt.timedelta(days=4)  # a day of the next month
    last = after - dt.timedelta(days=after.day)
    months = []
    month = first
    while month <= last:
        months.append(month.strftime("%Y-%m"))
        month = (month.replace(day=28) + dt.timedelta(days=4)).replace(day=1)
    return months, first, last


def per_date_partitions(warehouse: str) -> list[dt.date]:
    """Dates of ``daily_summary`` folders in the layout before session 24 (``digest_date=YYYY-MM-DD``,
    one per date). The marts stage rebuilds their months and removes them, so a warehouse made by an
    older digestflow moves to the monthly layout on its first marts run, and no date is read twice."""
    root = storage.table_dir(warehouse, "daily_summary")
    if not root.is_dir():
        return []
    found = []
    for folder in root.glob("digest_date=*"):
        try:
            found.append(dt.date.fromisoformat(folder.name.removeprefix("digest_date=")))
        except ValueError:
            continue
    return sorted(found)


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
