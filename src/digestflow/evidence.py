"""The papers behind a trend: ``trend_papers``, up to 5 papers for every listed term.

For every term of the top-``top_n`` rising, top-``top_n`` falling and new lists of each window
(:func:`listed_terms`, the same lists ``trend_mart`` holds), :func:`select_evidence` picks papers that
carry the term:

- rising and new terms: papers of the target window (target_start .. as_of);
- falling terms: the most recent papers of the baseline (baseline_start .. the day before target_start)
  that carried it.

A paper carries a term when one of its ``paper_terms`` forms maps to the term by the same rules the
trends stage counted with (plural folds and merged acronyms, :func:`digestflow.metrics.termseries.canonical_forms`),
so a paper listed really contains the term in one of its surface forms, and a paper that contains only
one word of a phrase is never listed. Order within a term (``evidence_rank``): rising/new put the papers
that have the term in the title first, then by occurrences, then the latest; falling puts the latest first
(then title, then occurrences); ties by paper_id. A paper listed on several days of the range counts
once, at its latest date there.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
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
    aliases: Mapping[str, str] | None,
    trends: pd.DataFrame,
    as_of: dt.date,
    top_n: int = TOP_N,
    per_term: int = PER_TERM,
) -> DataFrame:
    """``trend_papers`` rows (a Spark DataFrame with the schema's columns) for one trends run.

    ``paper_terms`` and ``papers`` are the lookback the stage scored, ``aliases`` the acronym merges it
    counted with (:func:`~digestflow.trends.lookback_forms`), ``trends`` the keyword_trends rows.
    """
    from pyspark.sql import functions as F

    from digestflow.metrics.termseries import canonical_forms
    from digestflow.pipeline import in_list
    from digestflow.trends import families_of, family_key

    spark = paper_terms.sparkSession
    schema = schemas.load("trend_papers")
    listed = listed_terms(trends, top_n)
    if listed.empty:
        return spark.createDataFrame([], schema.spark())
    aliases = dict(aliases or {})
    wanted_terms = set(listed["term"])
    # Only the listed terms' families are read (every form that can fold or merge into them, and nothing
    # else), then mapped to canonical terms on the driver exactly as term_series does in its workers.
    # Spark reads the hits: a few papers per listed term, so they are merged per (term, date, paper) and
    # ranked on the driver (pandas), as the scoring does; as Spark windows it was shuffles of ~10⁴ rows
    # (BENCHMARKS.md, session 18), and as a Spark group-by a shuffle and a sort (``max_by`` on strings)
    # for rows that merging barely reduces.
    rows = (
        paper_terms.withColumn("family", family_key(F.col("term")))
        .where(in_list("family", sorted(families_of(wanted_terms, aliases))))
        .select("term", "digest_date", "paper_id", "tf", "in_title", "surface")
        .toPandas()
    )
    changed = canonical_forms(set(rows["term"]), aliases)
    rows = rows.assign(term=[changed.get(t, (t, False))[0] for t in rows["term"]])
    rows = rows[rows["term"].isin(wanted_terms)].reset_index(drop=True)
    picked = rank_evidence(merge_hits(rows), listed, per_term)
    if picked.empty:
        return spark.createDataFrame([], schema.spark())
    titles = (
        papers.where(in_list("paper_id", sorted(set(picked["paper_id"]))))
        .select("digest_date", "paper_id", "title")
        .toPandas()
        .drop_duplicates(["digest_date", "paper_id"])
    )
    out = picked.merge(titles, on=["digest_date", "paper_id"], how="inner").assign(as_of=as_of)
    return schema.frame(spark, out)


def merge_hits(rows: pd.DataFrame) -> pd.DataFrame:
    """One hit per (term, digest_date, paper_id) from the canonical paper_terms rows of the listed terms
    (several forms of a term in one paper: "adapter" and "adapters"): occurrences summed, in the title if
    any form is, and the surface of the form with the most occurrences (ties: the larger surface)."""
    key = ["term", "digest_date", "paper_id"]
    columns = [*key, "tf", "in_title", "surface"]
    if rows.empty:
        return rows[columns]
    ordered = rows.sort_values([*key, "tf", "surface"], ascending=[True, True, True, False, False], kind="stable")
    grouped = ordered.groupby(key, sort=False)
    merged = grouped.agg(tf=("tf", "sum"), in_title=("in_title", "max"), surface=("surface", "first")).reset_index()
    merged["tf"] = merged["tf"].astype("int32")
    merged["in_title"] = merged["in_title"].astype(bool)
    return merged[columns]


def rank_evidence(hits: pd.DataFrame, listed: pd.DataFrame, per_term: int = PER_TERM) -> pd.DataFrame:
    """Up to ``per_term`` papers for every listed term: ``hits`` (term, digest_date, paper_id, tf, in_title,
    surface) inside the term's date range, a paper once (its latest date in the range), in the order the
    module docstring gives, numbered ``evidence_rank`` from 1."""
    group = ["window", "list", "term"]
    carried = hits.merge(listed, on="term", how="inner")
    carried = carried[(carried["digest_date"] >= carried["lo"]) & (carried["digest_date"] <= carried["hi"])]
    if carried.empty:
        return carried.assign(evidence_rank=pd.Series(dtype="int64"))
    # A paper listed on several days of the range counts once, at its latest date there.
    carried = carried.sort_values([*group, "paper_id", "digest_date"], ascending=[True, True, True, True, False])
    once = carried.drop_duplicates([*group, "paper_id"], keep="first")
    # Falling terms: latest first. Every other list: title, then occurrences, then latest. Ties: paper_id.
    latest_first = once["digest_date"].map(dt.date.toordinal).where(once["list"] == "falling", 0)
    ordered = once.assign(_latest=latest_first, _day=once["digest_date"].map(dt.date.toordinal)).sort_values(
        [*group, "_latest", "in_title", "tf", "_day", "paper_id"],
        ascending=[True, True, True, False, False, False, False, True],
        kind="stable",
    )
    ordered["evidence_rank"] = ordered.groupby(group, sort=False).cumcount() + 1
    return ordered[ordered["evidence_rank"] <= per_term].drop(columns=["_latest", "_day", "lo", "hi"])

