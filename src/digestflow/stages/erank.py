"""erank: ``embeddings`` (+ ``paper_terms``/``keyword_trends``) → ``erank_stats``, by set kind and period.

The run owns whole (set_kind, period) partitions: for calendar sets the months its dates touch
(recomputed from published embeddings of those months plus six days), for term sets the as_of dates
of the run. See docs/erank.md for why.
"""

from __future__ import annotations

import os

from digestflow import io, schemas
from digestflow.erank import (
    CALENDAR_KINDS,
    ErankConfig,
    calendar_read_dates,
    calendar_set_rows,
    erank_stats,
    owned_periods,
    set_sizes,
    term_read_dates,
    term_set_rows,
    window_days,
)
from digestflow.pipeline import RunContext, StageReport, stage


@stage("erank")
def erank(ctx: RunContext) -> StageReport:
    """Measure every day, week, month (and top-term) set touched by [start, end], for every model."""
    from pyspark.sql import functions as F

    config = ErankConfig.from_env()
    report = StageReport("erank")
    models = embedding_models(ctx)
    periods = owned_periods(ctx.dates)
    owned = [{"set_kind": k, "period": p} for k in CALENDAR_KINDS for p in periods]
    with_terms = terms_available(ctx)
    # Term sets exist only for as_of dates with published keyword_trends (a `digestflow run` publishes
    # its last date's): read paper_terms for their windows, not for every date of the run.
    trend_dates = (
        [p["as_of"] for p in io.existing_partitions(ctx.warehouse, "keyword_trends", io.date_partitions(ctx.dates, "as_of"))]
        if with_terms
        else []
    )
    term_dates = term_read_dates(trend_dates, window_days(config.term_window))
    days = sorted(set(calendar_read_dates(periods)) | set(term_dates))
    embeddings = ctx.read("embeddings", [{"model": m, "digest_date": d} for m in models for d in days])

    rows = calendar_set_rows(embeddings, periods)
    if trend_dates:
        terms = term_set_rows(
            embeddings,
            ctx.read("paper_terms", io.date_partitions(term_dates)),
            ctx.read("keyword_trends", io.date_partitions(trend_dates, "as_of")),
            top=config.top_terms,
            window=config.term_window,
        )
        rows = rows.unionByName(terms)
    if with_terms:
        owned += [{"set_kind": "term", "period": d.isoformat()} for d in ctx.dates]

    # Route picking counts the sets, then the routes read the same rows: keep them (40 MB of vectors
    # for the dev corpus) instead of re-reading embeddings and re-joining paper_terms (~5 s).
    rows = rows.persist()
    try:
        sizes = set_sizes(rows) if models else {}
        stats = erank_stats(rows, config, sizes).withColumn("computed_at", F.lit(ctx.started_at))
        ctx.publish("erank_stats", stats, owned, report)
    finally:
        rows.unpersist()
    report.rows_in = sum(sizes.values())
    report.rows_out = len(sizes)
    report.details = {
        "models": models,
        "periods": periods,
        "term_sets": with_terms,
        "gram_sets": sum(1 for n in sizes.values() if n > config.gram_threshold),
        "at_n_m": config.at_n_m,
    }
    return report


def embedding_models(ctx: RunContext) -> list[str]:
    """Every embedder with published embeddings: erank_stats of a period cover all of them at once."""
    root = io.table_dir(ctx.warehouse, "embeddings")
    return sorted(p.name.split("=", 1)[1] for p in root.glob("model=*") if p.is_dir())


def terms_available(ctx: RunContext) -> bool:
    """Term sets need the terms and trends stages' tables; without them only calendar sets are built."""
    if os.environ.get("DIGESTFLOW_ERANK_TERMS", "1").lower() in {"0", "false", "no"}:
        return False
    known = set(schemas.tables())
    if not {"paper_terms", "keyword_trends"} <= known:
        return False
    return io.table_dir(ctx.warehouse, "keyword_trends").is_dir()


__all__ = ["embedding_models", "erank", "terms_available"]
