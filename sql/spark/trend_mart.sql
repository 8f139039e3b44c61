-- Spark SQL: trend_mart. Generated from schemas/trend_mart.json; do not edit by hand.
-- spark-sql --hivevar warehouse=/abs/warehouse -f sql/spark/trend_mart.sql
CREATE TABLE IF NOT EXISTS digestflow.trend_mart (
  window STRING COMMENT 'keyword_trends.window (''7d'' or ''28d'').',
  list STRING COMMENT '''rising'' (rank_rising), ''falling'' (rank_falling) or ''new'' (is_new, ranked by df_target desc, then logodds_z desc, then term).',
  rank INT COMMENT '1-based rank within the list.',
  term STRING COMMENT 'keyword_trends.term.',
  display_form STRING COMMENT 'keyword_trends.display_form.',
  logodds_z DOUBLE COMMENT 'keyword_trends.logodds_z.',
  share_target DOUBLE COMMENT 'keyword_trends.share_target.',
  share_baseline DOUBLE COMMENT 'keyword_trends.share_baseline.',
  df_target BIGINT COMMENT 'keyword_trends.df_target.',
  df_baseline BIGINT COMMENT 'keyword_trends.df_baseline.',
  first_seen DATE COMMENT 'keyword_trends.first_seen.',
  burst_active BOOLEAN COMMENT 'keyword_trends.burst_active.',
  spark_weeks ARRAY<DATE> COMMENT 'Week starts (term_stats.period_start) of the sparkline, ascending; weeks without papers left out. Empty when term_stats has no row for the term.',
  spark_share ARRAY<DOUBLE> COMMENT 'term_stats.share for each of spark_weeks.',
  as_of DATE COMMENT 'Run date of the trends run (partition).'
)
USING parquet
PARTITIONED BY (as_of)
LOCATION '${warehouse}/trend_mart'
COMMENT 'The keyword lists a dashboard shows for one trends run: the top rising and falling terms (by log-odds z) and the top new terms of each window, each with its weekly-share sparkline. Built by the marts stage from keyword_trends and term_stats of the same as_of; at most 3 lists x 10 terms per window.';
-- Register partition folders written since the last repair.
MSCK REPAIR TABLE digestflow.trend_mart;
