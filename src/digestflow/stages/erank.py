"""erank: ``embeddings`` (+ ``paper_terms``/``keyword_trends``) → ``erank_stats``, by set kind and period.

The run owns whole (set_kind, period) partitions: for calendar sets the months its dates touch
(recomputed from published embeddings of those months plus six days), for term sets the as_of dates
of the run. See docs/erank.md for why.
"""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass
from typing import Any

import click

from digestflow import storage
from digestflow.params import load, param, parse_days
from digestflow.pipeline import Read, RunContext, Stage, StageReport, UserError
from digestflow.stages import StageCli


@dataclass(frozen=True)
class ErankConfig:
    """How erank_stats are computed; every field has a ``DIGESTFLOW_ERANK_<FIELD>`` env var.

    ``at_n_m`` = 8 because real days hold 1–50 papers (median 15; 56 of 521 days have fewer than 8),
    weeks 26–224: at m = 8 almost every day, and every week and month, gets a size-matched erank, so
    day, week and month sets are comparable on one scale.
    """

    eps: float = param(1e-7, env="DIGESTFLOW_ERANK_EPS")  # = metrics.spectrum.DEFAULT_EPS
    at_n_m: int = param(8, env="DIGESTFLOW_ERANK_AT_N_M", flag="--at-n-m", help="Subsample size of erank_at_n.")
    at_n_b: int = param(200, env="DIGESTFLOW_ERANK_AT_N_B")
    ci: float = param(0.95, env="DIGESTFLOW_ERANK_CI")
    seed: int = param(0, env="DIGESTFLOW_ERANK_SEED")
    gram_threshold: int = param(
        20_000, env="DIGESTFLOW_ERANK_GRAM_THRESHOLD", flag="--gram-threshold",
        help="Sets above this many rows take the Gram route.",
    )
    pool_rows: int = param(4_096, env="DIGESTFLOW_ERANK_POOL_ROWS")
    gram_partition_rows: int = param(500_000, env="DIGESTFLOW_ERANK_GRAM_PARTITION_ROWS")
    top_terms: int = param(10, env="DIGESTFLOW_ERANK_TOP_TERMS")
    term_window: str = param("28d", env="DIGESTFLOW_ERANK_TERM_WINDOW")
    terms: bool = param(True, env="DIGESTFLOW_ERANK_TERMS", help="Also measure the top-term sets.")

    @classmethod
    def from_env(cls, **overrides: Any) -> ErankConfig:
        """Defaults, then ``DIGESTFLOW_ERANK_<FIELD>`` variables, then non-None ``overrides``."""
        return load(cls, os.environ, **overrides)

    def __post_init__(self) -> None:
        parse_days(self.term_window)




def trend_dates(ctx: RunContext, config: ErankConfig) -> list[dt.date]:
    """as_of dates of the run with published keyword_trends: the term sets' dates."""
    if not config.terms:
        return []
    found = storage.existing_partitions(ctx.warehouse, "keyword_trends", storage.date_partitions(ctx.dates, "as_of"))
    return [p["as_of"] for p in found]


def term_dates(ctx: RunContext, config: ErankConfig) -> list[dt.date]:
    from digestflow.erank import term_read_dates

    return term_read_dates(trend_dates(ctx, config), parse_days(config.term_window))


def run(ctx: RunContext, config: ErankConfig) -> StageReport:
    """Measure every day, week, month (and top-term) set touched by [start, end], for every model."""
    from pyspark.sql import functions as F

    from digestflow.erank import (
        CALENDAR_KINDS,
        calendar_read_dates,
        erank_stats,
        owned_periods,
        set_candidates,
        set_sizes,
        term_members,
        term_read_dates,
    )

    report = StageReport("erank")
    models = embedding_models(ctx)
    periods = owned_periods(ctx.dates)
    owned = [{"set_kind": k, "period": p} for k in CALENDAR_KINDS for p in periods]
    # Term sets exist only for as_of dates with published keyword_trends (a `digestflow run` publishes
    # its last date's): read paper_terms for their windows, not for every date of the run.
    as_of_dates = trend_dates(ctx, config)
    terms_read = term_read_dates(as_of_dates, parse_days(config.term_window))
    days = sorted(set(calendar_read_dates(periods)) | set(terms_read))
    embeddings = ctx.read("embeddings", [{"model": m, "digest_date": d} for m in models for d in days])

    with_terms = config.terms and storage.table_dir(ctx.warehouse, "keyword_trends").is_dir()
    if with_terms:
        owned += [{"set_kind": "term", "period": d.isoformat()} for d in ctx.dates]

    # No set holds more rows than the embeddings read (Parquet footers): when those fit the exact route,
    # every set does, and no count job is needed to pick routes (the 521 dev days: 8,507 rows).
    read = storage.published_rows(ctx.warehouse, "embeddings", [{"model": m, "digest_date": d}
                                                                for m in models for d in days])
    exact = read <= config.gram_threshold
    members = None
    if as_of_dates:
        members = term_members(
            ctx.read("paper_terms", storage.date_partitions(terms_read)),
            ctx.read("keyword_trends", storage.date_partitions(as_of_dates, "as_of")),
            top=config.top_terms,
            window=config.term_window,
        )
        if not exact:  # route picking and both routes join them: keep the few hundred rows
            members = members.persist()
    # Candidate rows: a paper on several days of a set is cut to its earliest day by the exact route's
    # workers, or by first_per_paper before the Gram route (erank.erank_stats); route picking counts the
    # papers per set without reading a vector.
    rows = set_candidates(embeddings, periods, members)
    sizes = None if exact else set_sizes(rows)
    stats = erank_stats(rows, config, sizes, exact=exact)
    try:
        result = ctx.publish("erank_stats", stats.withColumn("computed_at", F.lit(ctx.started_at)), owned, report)
    finally:
        if members is not None and not exact:
            members.unpersist()
    report.rows_in = read  # embedding rows the sets are built from
    report.rows_out = result.rows  # sets measured and published
    report.details = {
        "models": models,
        "periods": periods,
        "term_sets": with_terms,
        "gram_sets": sum(1 for n in (sizes or {}).values() if n > config.gram_threshold),
        "at_n_m": config.at_n_m,
    }
    return report


def embedding_models(ctx: RunContext) -> list[str]:
    """Every embedder with published embeddings: erank_stats of a period cover all of them at once."""
    root = storage.table_dir(ctx.warehouse, "embeddings")
    return sorted(p.name.split("=", 1)[1] for p in root.glob("model=*") if p.is_dir())


# --- command line: --input measures the sets of a file instead of the warehouse ------------------

INPUT_OPTIONS = ("input_file", "set_col", "vector_col", "fmt", "out")


def _before(settings: Any, config: ErankConfig, flags: dict[str, Any], *, start: dt.date | None,
            end: dt.date | None, input_file: Any, set_col: str | None, vector_col: str, fmt: str, out: Any) -> bool:
    if input_file is None:
        return False
    if start is not None or end is not None:
        raise click.UsageError("--input measures a file: give no --date/--start/--end with it")
    from digestflow.erank import external_stats, render_stats, write_stats_file

    try:
        rows = external_stats(input_file, config, set_col=set_col, vector_col=vector_col)
    except ValueError as exc:
        raise UserError(str(exc)) from exc
    click.echo(render_stats(rows, fmt), nl=False)
    if out is not None:
        write_stats_file(rows, out)
        click.echo(f"wrote {len(rows)} rows to {out}", err=True)
    return True


STAGE = Stage(
    name="erank",
    doc="""Effective-rank statistics: of the day/week/month/term sets of the dates (→ erank_stats), or of
    the sets in one --input file (printed; --out writes them too).

    Calendar sets are recomputed for every month the run's dates touch (from published embeddings of
    those months plus six days); top-term sets for the run's as_of dates that have keyword_trends
    (docs/erank.md).""",
    reads=(
        Read("embeddings", need="every"),
        Read("paper_terms", term_dates, "the 28-day windows of the run's as_of dates with keyword_trends",
             need="optional", handoff=False),
        Read("keyword_trends", lambda ctx, c: ctx.dates, "the run's dates (as_of)", need="optional",
             column="as_of"),
    ),
    writes=("erank_stats",),
    run=run,
    params=ErankConfig,
    cli=StageCli(
        options=(
            click.option("--input", "input_file", type=click.Path(dir_okay=False, exists=True, path_type=None),
                         help="Measure the sets of this .parquet (vector + set columns) or .npy file instead "
                              "of the warehouse."),
            click.option("--set-col", help="Set column of --input (default: 'set' if present, else one set per file)."),
            click.option("--vector-col", default="vector", show_default=True, help="Vector column of --input."),
            click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True),
            click.option("--out", type=click.Path(dir_okay=False), help="Also write the rows to this .parquet file."),
        ),
        before=_before,
        extra=INPUT_OPTIONS,
    ),
)
