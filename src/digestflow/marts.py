"""Marts: the small tables a dashboard reads instead of scanning ``papers`` (pure DataFrame transforms).

- :func:`summarize_days` → ``daily_summary``: one row per digest date (partitioned by its month).
- :func:`select_trend_lists` → ``trend_mart``: top rising / falling / new terms per window, with the
  weekly-share sparkline of each.
- :func:`select_erank_series` → ``erank_mart``: erank and erank_at_n of day and week sets over time.

Each function takes DataFrames and returns one with exactly its table's columns; the marts stage does
the reading and publishing. Missing inputs are passed as empty frames with the right schema, so a mart
of a table that does not exist yet is simply empty.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from digestflow import schemas

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

#: A URL counts as a code link when it points at one of these hosts (project pages do not count).
CODE_LINK = r"^https?://(www\.)?(github\.com|gitlab\.com|bitbucket\.org|codeberg\.org|gitee\.com|sourceforge\.net)/"
#: Ingest outputs whose validation decides a date's ``validation_success``.
VALIDATED_TABLES = ("papers", "rejects")
TOP_N = 10


def _finish(df: DataFrame, table: str) -> DataFrame:
    """Cast to the schema's types and order, so the stage writes exactly what the schema says."""
    from pyspark.sql import functions as F

    schema = schemas.load(table)
    return df.select(*[F.col(c.name).cast(c.type).alias(c.name) for c in schema.columns])


def summarize_days(
    papers: DataFrame,
    rejects: DataFrame,
    validations: DataFrame,
    start: dt.date,
    end: dt.date,
) -> DataFrame:
    """``daily_summary`` rows for digest dates in [start, end] that have papers, rejects or validations.

    ``papers`` holds every date up to ``end``: the range's rows are summarised, earlier dates decide
    what is new; ``validations`` is ``validation_results`` (or an empty frame with at least its
    ``table_name, partition, suite, success, validated_at, run_id`` columns).
    """
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    def in_range(df: DataFrame) -> DataFrame:
        return df.where(F.col("digest_date").between(F.lit(start), F.lit(end)))

    # A paper's first date over the history, beside each of its rows: one scan and one shuffle of papers
    # (a group-by joined back read papers twice and shuffled both sides; BENCHMARKS.md, session 35).
    first_seen = F.min("digest_date").over(Window.partitionBy("paper_id"))
    has_code = F.exists("urls", lambda u: u.rlike(CODE_LINK))
    # Papers and rejects of the range as one frame, aggregated once per date: a reject row has no paper
    # (its paper columns are NULL, which count() and avg() skip), so one group-by gives the paper,
    # reject and digest counts that were three aggregations and two full joins (BENCHMARKS.md, session 26).
    paper_rows = (
        in_range(papers.withColumn("first_seen", first_seen))
        .select(
            "digest_date",
            "digest_id",
            "paper_id",
            "first_seen",
            "n_words",
            F.col("abstract_truncated").cast("double").alias("truncated"),
            has_code.cast("double").alias("with_code"),
            F.lit(False).alias("is_reject"),
        )
    )
    reject_rows = in_range(rejects).select("digest_date", "digest_id", F.lit(True).alias("is_reject"))
    entry_days = paper_rows.unionByName(reject_rows, allowMissingColumns=True).groupBy("digest_date").agg(
        F.count(F.when(~F.col("is_reject"), F.lit(1))).alias("n_papers"),
        F.count_distinct(F.when(F.col("first_seen") == F.col("digest_date"), F.col("paper_id"))).alias(
            "n_new_papers"
        ),
        F.count_distinct(F.when(F.col("first_seen") < F.col("digest_date"), F.col("paper_id"))).alias(
            "n_repeated_papers"
        ),
        F.avg("n_words").alias("mean_abstract_words"),
        F.avg("truncated").alias("share_truncated"),
        F.avg("with_code").alias("share_with_code"),
        F.count(F.when(F.col("is_reject"), F.lit(1))).alias("n_rejects"),
        F.count_distinct("digest_id").alias("n_digests"),
    )

    # A partition's verdict is its latest run of each suite: a re-ingested date replaces an old failure.
    latest = Window.partitionBy("table_name", "partition", "suite").orderBy(
        F.col("validated_at").desc(), F.col("run_id").desc()
    )
    validation_days = in_range(
        validations.where(F.col("table_name").isin(*VALIDATED_TABLES))
        .withColumn("digest_date", F.to_date(F.regexp_extract("partition", r"digest_date=(\d{4}-\d{2}-\d{2})", 1)))
        .where(F.col("digest_date").isNotNull())
        .withColumn("_n", F.row_number().over(latest))
        .where(F.col("_n") == 1)
    ).groupBy("digest_date").agg(
        F.count(F.lit(1)).alias("validation_suites"),
        F.sum(F.when(F.col("success"), 0).otherwise(1)).alias("validation_failed"),
    )

    days = entry_days.join(validation_days, "digest_date", "full")
    counts = ["n_digests", "n_papers", "n_new_papers", "n_repeated_papers", "n_rejects"]
    counts += ["validation_suites", "validation_failed"]
    days = days.fillna(0, subset=counts).withColumns({
        "validation_success": F.when(F.col("validation_suites") > 0, F.col("validation_failed") == 0),
        "month": F.date_format("digest_date", "yyyy-MM"),
    })
    return _finish(days, "daily_summary")


def select_trend_lists(trends: DataFrame, term_stats: DataFrame, top_n: int = TOP_N) -> DataFrame:
    """``trend_mart``: per (as_of, window) the top ``top_n`` rising, falling and new terms, with sparklines."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    rising = trends.where(F.col("rank_rising") <= top_n).withColumns(
        {"list": F.lit("rising"), "rank": F.col("rank_rising")}
    )
    falling = trends.where(F.col("rank_falling") <= top_n).withColumns(
        {"list": F.lit("falling"), "rank": F.col("rank_falling")}
    )
    by_support = Window.partitionBy("as_of", "window").orderBy(
        F.col("df_target").desc(), F.col("logodds_z").desc(), F.col("term")
    )
    new = (
        trends.where(F.col("is_new"))
        .withColumns({"list": F.lit("new"), "rank": F.row_number().over(by_support)})
        .where(F.col("rank") <= top_n)
    )
    lists = rising.unionByName(falling).unionByName(new)

    weeks = (
        term_stats.where(F.col("share").isNotNull())
        .groupBy("as_of", "term")
        .agg(F.array_sort(F.collect_list(F.struct("period_start", "share"))).alias("_points"))
        .select(
            "as_of",
            "term",
            F.transform("_points", lambda p: p["period_start"]).alias("spark_weeks"),
            F.transform("_points", lambda p: p["share"]).alias("spark_share"),
        )
    )
    out = lists.join(weeks, ["as_of", "term"], "left").withColumns(
        {
            "spark_weeks": F.coalesce("spark_weeks", F.array().cast("array<date>")),
            "spark_share": F.coalesce("spark_share", F.array().cast("array<double>")),
        }
    )
    return _finish(out, "trend_mart")


def select_erank_series(erank_stats: DataFrame, kinds: tuple[str, ...] = ("day", "week", "month")) -> DataFrame:
    """``erank_mart``: the calendar sets of ``erank_stats`` with the columns a time-series plot needs."""
    from pyspark.sql import functions as F

    series = erank_stats.where(F.col("set_kind").isin(*kinds) & F.col("set_start").isNotNull())
    return _finish(series, "erank_mart")
