"""The papers behind a trend: ``trend_papers``, up to 5 papers for every listed term.

For every term of the top-``top_n`` rising, top-``top_n`` falling and new lists of each window
(:func:`listed_terms`, the same lists ``trend_mart`` holds), :func:`select_evidence` picks papers that
carry the term:

- rising and new terms: papers of the target window (target_start .. as_of);
- falling terms: the most recent papers of the baseline (baseline_start .. the day before target_start)
  that carried it.

A paper carries a term when one of its ``paper_terms`` forms maps to the term through the same table
the trends stage counted with (:func:`digestflow.trends.term_forms`: plural folds and merged acronyms),
so a paper listed really contains the term in one of its surface forms, and a paper that contains only
one word of a phrase is never listed. Order within a term (``evidence_rank``): rising/new put the papers
that have the term in the title first, then by occurrences, then the latest; falling puts the latest first
(then title, then occurrences); ties by paper_id. A paper listed on several days of the range counts
once, at its latest date there.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

import pandas as pd

from digestflow import schemas

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

__all__ = ["PER_TERM", "TOP_N", "listed_terms", "select_evidence"]

TOP_N = 10  # as digestflow.marts.TOP_N: the lists the dashboard shows
PER_TERM = 5


def listed_terms(trends: pd.DataFrame, top_n: int = TOP_N) -> pd.DataFrame:
    """``(window, list, rank, term, display_form, lo, hi)``: the listed terms of one keyword_trends
    partition and the date range their evidence comes from. The lists are trend_mart's:
    rank_rising / rank_falling ≤ top_n, and new terms by df_target desc, logodds_z desc, term."""
    columns = ["window", "list", "rank", "term", "display_form", "lo", "hi"]
    if trends.empty:
        return pd.DataFrame(columns=columns)
    frames = []
    for _, frame in trends.groupby("window", sort=True):
        target_start = frame["target_start"].iloc[0]
        baseline_start = frame["baseline_start"].iloc[0]
        as_of = frame["as_of"].iloc[0]
        rising = frame[pd.to_numeric(frame["rank_rising"]) <= top_n].assign(
            list="rising", rank=lambda f: f["rank_rising"], lo=target_start, hi=as_of
        )
        falling = frame[pd.to_numeric(frame["rank_falling"]) <= top_n].assign(
            list="falling",
            rank=lambda f: f["rank_falling"],
            lo=baseline_start,
            hi=target_start - dt.timedelta(days=1),
        )
        new = (
            frame[frame["is_new"].astype(bool)]
            .sort_values(["df_target", "logodds_z", "term"], ascending=[False, False, True], kind="stable")
            .head(top_n)
        )
        new = new.assign(list="new", rank=range(1, len(new) + 1), lo=target_start, hi=as_of)
        frames += [rising, falling, new]
    out = pd.concat(frames, ignore_index=True)[columns]
    out["rank"] = out["rank"].astype(int)
    out["window"] = out["window"].astype(str)
    return out.sort_values(["window", "list", "rank"]).reset_index(drop=True)


def select_evidence(
    paper_terms: DataFrame,
    papers: DataFrame,
    forms: pd.DataFrame | None,
    trends: pd.DataFrame,
    as_of: dt.date,
    top_n: int = TOP_N,
    per_term: int = PER_TERM,
) -> DataFrame:
    """``trend_papers`` rows (a Spark DataFrame with the schema's columns) for one trends run.

    ``paper_terms`` and ``papers`` are the lookback the stage scored, ``forms`` the
    :func:`~digestflow.trends.term_forms` table it counted with, ``trends`` the keyword_trends rows.
    """
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    from digestflow.trends import canonical_terms

    spark = paper_terms.sparkSession
    schema = schemas.load("trend_papers")
    listed = listed_terms(trends, top_n)
    if listed.empty:
        return spark.createDataFrame([], schema.spark())
    wanted = spark.createDataFrame(
        [tuple(r) for r in listed.itertuples(index=False)],
        "window string, list string, rank int, term string, display_form string, lo date, hi date",
    )
    wanted_terms = set(listed["term"])
    terms = spark.createDataFrame([(t,) for t in sorted(wanted_terms)], "term string")
    # Only the listed terms' own forms are read: a filter the Parquet scan applies, not a join of the lookback.
    raw = set(wanted_terms)
    if forms is not None and len(forms):
        raw |= set(forms.loc[forms["canon"].isin(wanted_terms), "term"])
        raw -= set(forms.loc[~forms["canon"].isin(wanted_terms), "term"])  # a listed word that folds elsewhere
    hits = (
        canonical_terms(paper_terms.where(F.col("term").isin(*sorted(raw))), forms)
        .join(F.broadcast(terms), "term")
        .groupBy("term", "digest_date", "paper_id")
        .agg(
            F.sum("tf").cast("int").alias("tf"),
            F.max("in_title").alias("in_title"),
            F.max_by("surface", F.struct("tf", "surface")).alias("surface"),
        )
    )
    carried = hits.join(F.broadcast(wanted), "term").where(F.col("digest_date").between(F.col("lo"), F.col("hi")))
    group = ["window", "list", "term"]
    latest = Window.partitionBy(*group, "paper_id").orderBy(F.col("digest_date").desc())
    once = carried.withColumn("_n", F.row_number().over(latest)).where(F.col("_n") == 1).drop("_n")
    by_evidence = Window.partitionBy(*group).orderBy(
        F.when(F.col("list") == "falling", F.col("digest_date")).desc_nulls_last(),
        F.col("in_title").desc(),
        F.col("tf").desc(),
        F.col("digest_date").desc(),
        F.col("paper_id"),
    )
    picked = (
        once.withColumn("evidence_rank", F.row_number().over(by_evidence))
        .where(F.col("evidence_rank") <= per_term)
    )
    titles = papers.select("digest_date", "paper_id", "title").dropDuplicates(["digest_date", "paper_id"])
    out = picked.join(titles, ["digest_date", "paper_id"], "inner").withColumn("as_of", F.lit(as_of))
    return out.select(*[F.col(c.name).cast(c.type).alias(c.name) for c in schema.columns])
