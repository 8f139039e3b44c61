"""trends: ``paper_terms`` + ``papers`` of one lookback → ``keyword_trends``, ``term_stats`` and ``trend_papers``
at as_of.

as_of is the run's last date. Only the lookback's partitions are read (the longest target window plus
its baseline, 210 days by default), so a daily run costs the same with 50 or 500 days of history.
"""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass
from typing import Any

import click

from digestflow import schemas, storage
from digestflow.params import load, param, parse_days, parse_days_list, show_days
from digestflow.pipeline import Read, RunContext, Stage, StageReport, side_by_side
from digestflow.stages import StageCli


@dataclass(frozen=True)
class TrendParams:
    """Every tunable of the trends stage, with the values docs/trends.md justifies."""

    windows: tuple[int, ...] = param(
        (7, 28), env="DIGESTFLOW_TRENDS_WINDOWS", flag="--window", multiple=True, parse=parse_days_list,
        show=show_days, help="Target window, e.g. 7d; repeat for more (7d,28d).",
    )  # target windows, days ending at as_of
    baseline_days: int = param(
        182, env="DIGESTFLOW_TRENDS_BASELINE", flag="--baseline", parse=parse_days, show=show_days,
        help="Baseline before each target window, e.g. 26w.",
    )  # baseline window right before each target window (26 weeks)
    alpha0: float = 100.0  # = metrics.trendstats.DEFAULT_ALPHA0; Dirichlet prior mass (weak; prior shares from the baseline)
    prior_pseudocount: float = 0.5  # smoothing of the baseline shares that form the prior
    min_df: int = 3  # support floor: papers over the lookback for a term to be scored at all
    new_min_df: int = 3  # a new term needs this many papers in the target window
    weirdness_min: float = 25.0  # unigram: corpus frequency / general-English frequency
    npmi_min: float = 0.25  # multiword: normalised PMI of its parts
    mk_min_points: int = 28  # days with papers needed before Mann–Kendall is reported
    mk_min_df: int = 10  # papers over the lookback needed before Mann–Kendall is reported
    burst_s: float = 2.0
    burst_gamma: float = 1.0
    sparkline_top: int = 50  # term_stats holds terms ranked up to this (plus new and bursting ones)
    nested_min_z: float = 1.0  # nested-phrase suppression judges only terms that move at least this much
    fragment_min_share: float = 0.8  # a cut fragment's overlap continues into the longer phrase this often
    acronym_min_definitions: int = 2  # papers that must define an acronym before it merges with its expansion
    acronym_min_share: float = 2 / 3  # share of the acronym's definitions its expansion must hold

    @classmethod
    def from_env(cls, **overrides: object) -> TrendParams:
        """Defaults, then ``DIGESTFLOW_TRENDS_WINDOWS`` (e.g. ``7d,28d``) and ``DIGESTFLOW_TRENDS_BASELINE``
        (e.g. ``26w``), then non-None ``overrides``."""
        return load(cls, os.environ, **overrides)

    def __post_init__(self) -> None:
        if not self.windows or min(self.windows) < 1 or self.baseline_days < 1:
            raise ValueError(
                f"windows and baseline must be >= 1 day, got {self.windows}, {self.baseline_days}"
            )

    def lookback_start(self, as_of: dt.date) -> dt.date:
        """First day any window reads: the longest target window plus its baseline, ending at as_of."""
        return as_of - dt.timedelta(days=max(self.windows) + self.baseline_days - 1)

    def lookback_days(self, as_of: dt.date) -> list[dt.date]:
        start = self.lookback_start(as_of)
        return [start + dt.timedelta(days=i) for i in range((as_of - start).days + 1)]




def lookback(ctx: RunContext, params: TrendParams) -> list[dt.date]:
    return params.lookback_days(ctx.end)


def run(ctx: RunContext, params: TrendParams) -> StageReport:
    """Score every term of the lookback; publish the as_of partition of the three tables."""
    from digestflow.evidence import select_evidence
    from digestflow.trends import (
        TermCounts,
        daily_volume,
        lookback_forms,
        score_trends,
        series_partitions,
        term_series,
    )

    as_of = ctx.end
    days = params.lookback_days(as_of)
    partitions = storage.date_partitions(days)
    paper_terms, papers = ctx.read("paper_terms", partitions), ctx.read("papers", partitions)
    # Acronym merges, decided once over the lookback (plural folds are decided inside term_series, family
    # by family): counted and evidence use the same. The daily volume (one small job over papers) runs
    # beside them: the driver mostly waits on Spark.
    shuffle = int(ctx.spark.conf.get("spark.sql.shuffle.partitions"))

    def counted() -> tuple[Any, Any]:
        forms = lookback_forms(paper_terms, papers, params.acronym_min_definitions, params.acronym_min_share)
        series = term_series(paper_terms, params.min_df, forms.aliases, series_partitions(forms.rows, shuffle))
        return forms, series.toPandas()

    (forms, series), volume = side_by_side(ctx, counted, lambda: daily_volume(papers).toPandas())
    result = score_trends(TermCounts.from_frames(series, volume, days), as_of, params)

    report = StageReport("trends", rows_in=len(series))
    owned = [{"as_of": as_of}]

    # Three small publishes, each with its gate, side by side (each its own table's as_of partition).
    side_by_side(
        ctx,
        lambda: ctx.publish("keyword_trends", schemas.load("keyword_trends").frame(ctx.spark, result.trends), owned, report),
        lambda: ctx.publish("term_stats", schemas.load("term_stats").frame(ctx.spark, result.term_stats), owned, report),
        lambda: ctx.publish(
            "trend_papers", select_evidence(paper_terms, papers, forms.aliases, result.trends, as_of), owned, report
        ),
    )
    report.rows_out = len(result.trends)
    report.details = {
        **result.details,
        "as_of": as_of,
        "windows": [f"{w}d" for w in params.windows],
        "baseline_days": params.baseline_days,
        "term_stats_rows": len(result.term_stats),
    }
    return report


def warm() -> None:
    """Load what scoring and evidence load on first use: the modules (scipy), the word-frequency table
    and its tokeniser, the word-class lexicon (:func:`digestflow.trends.termhood`)."""
    import digestflow.evidence  # noqa: F401
    from digestflow.trends import general_frequency, word_classes

    freq = general_frequency()
    freq("model")
    freq("gpt-4")  # not a plain word: wordfreq's tokeniser
    word_classes()("models")


# --- command line: --show / --show-only print the published partition ---------------------------


def render_published(warehouse: str, as_of: dt.date, windows: tuple[int, ...] | None, top: int) -> str:
    """The published as_of partition of keyword_trends as text tables (no Spark)."""
    import pandas as pd

    from digestflow.pipeline import UserError
    from digestflow.trends import render_trends

    folder = storage.table_dir(warehouse, "keyword_trends") / f"as_of={as_of.isoformat()}"
    files = sorted(folder.glob("*.parquet"))
    if not files:
        raise UserError(f"no keyword_trends for as_of {as_of} under {folder.parent} (run without --show-only)")
    frame = pd.concat([pd.read_parquet(f) for f in files], ignore_index=True)
    frame["as_of"] = as_of
    names = [f"{w}d" for w in windows] if windows else None
    # The papers behind each listed term (trend_papers, same as_of), printed under it; none before it existed.
    evidence = sorted((storage.table_dir(warehouse, "trend_papers") / folder.name).glob("*.parquet"))
    papers = pd.concat([pd.read_parquet(f) for f in evidence], ignore_index=True) if evidence else None
    return render_trends(frame, top=top, windows=names, evidence=papers)


def _before(settings: Any, params: TrendParams, flags: dict[str, Any], *, start: dt.date, end: dt.date,
            show: bool, show_only: bool, top: int) -> bool:
    if show_only:
        _after(settings, params, flags, start=start, end=end, show=True, show_only=False, top=top)
    return show_only


def _after(settings: Any, params: TrendParams, flags: dict[str, Any], *, start: dt.date, end: dt.date,
           show: bool, show_only: bool, top: int) -> None:
    if show:
        windows = params.windows if flags.get("windows") else None
        click.echo(render_published(settings.warehouse, end, windows, top), nl=False)


STAGE = Stage(
    name="trends",
    doc="""Keyword trends at --as-of: reads only the lookback's paper_terms (longest window + baseline) and
    writes the as_of partition of keyword_trends, term_stats and trend_papers (method: docs/trends.md).

    Rising, falling, bursting and new terms of each target window against its baseline: Monroe et al.
    log-odds z with an informative Dirichlet prior, Kleinberg bursts, Mann–Kendall/Sen, termhood and
    plural folding over the whole lookback.""",
    reads=(
        # A window of the biggest table: a pruned Parquet read, not a cache of every row of the run.
        Read("paper_terms", lookback, "the lookback: longest window + baseline, ending at as_of", need="every",
             handoff=False),
        Read("papers", lookback, "the lookback: longest window + baseline, ending at as_of"),
    ),
    writes=("keyword_trends", "term_stats", "trend_papers"),
    run=run,
    params=TrendParams,
    dates="as_of",
    warm=warm,
    cli=StageCli(
        options=(
            click.option("--show", is_flag=True,
                         help="Then print the top rising, falling and new terms, up to 3 papers under each."),
            click.option("--show-only", is_flag=True,
                         help="Only print the published as_of partition (no Spark, no recompute)."),
            click.option("--top", type=int, default=15, show_default=True, help="Rows per list with --show."),
        ),
        before=_before,
        after=_after,
        extra=("show", "show_only", "top"),
    ),
)
