-- Spark SQL: term_stats. Generated from schemas/term_stats.json; do not edit by hand.
-- spark-sql --hivevar warehouse=/abs/warehouse -f sql/spark/term_stats.sql
CREATE TABLE IF NOT EXISTS digestflow.term_stats (
  term STRING COMMENT 'keyword_trends.term.',
  period_start DATE COMMENT 'Monday of the week (ISO week start), even when the lookback starts later in that week.',
  period_days INT COMMENT 'Days of the week inside the lookback (7 except at the edges).',
  df BIGINT COMMENT 'Papers in the week mentioning the term.',
  n_papers BIGINT COMMENT 'Papers in the week.',
  share DOUBLE COMMENT 'df / n_papers (NULL for a week without papers).',
  as_of DATE COMMENT 'Run date of the trends run (partition).'
)
USING parquet
PARTITIONED BY (as_of)
LOCATION '${warehouse}/term_stats'
COMMENT 'Weekly document frequency of the terms a trends run lists (ranked in the top N rising or falling of a window, new, or bursting), over that run''s lookback: the data behind sparklines. Weeks start on Monday (period_start is a date, never a week number); the first and last week may be partial, so always use share, not df. Written by the trends stage, partitioned like keyword_trends.';
-- Register partition folders written since the last repair.
MSCK REPAIR TABLE digestflow.term_stats;
