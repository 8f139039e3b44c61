-- Trino (Hive connector): trend_mart. Generated from schemas/trend_mart.json; do not edit by hand.
CREATE TABLE IF NOT EXISTS hive.digestflow.trend_mart (
  window varchar COMMENT 'keyword_trends.window (''7d'' or ''28d'').',
  list varchar COMMENT '''rising'' (rank_rising), ''falling'' (rank_falling) or ''new'' (is_new, ranked by df_target desc, then logodds_z desc, then term).',
  rank integer COMMENT '1-based rank within the list.',
  term varchar COMMENT 'keyword_trends.term.',
  display_form varchar COMMENT 'keyword_trends.display_form.',
  logodds_z double COMMENT 'keyword_trends.logodds_z.',
  share_target double COMMENT 'keyword_trends.share_target.',
  share_baseline double COMMENT 'keyword_trends.share_baseline.',
  df_target bigint COMMENT 'keyword_trends.df_target.',
  df_baseline bigint COMMENT 'keyword_trends.df_baseline.',
  first_seen date COMMENT 'keyword_trends.first_seen.',
  burst_active boolean COMMENT 'keyword_trends.burst_active.',
  spark_weeks array(date) COMMENT 'Week starts (term_stats.period_start) of the sparkline, ascending; weeks without papers left out. Empty when term_stats has no row for the term.',
  spark_share array(double) COMMENT 'term_stats.share for each of spark_weeks.',
  as_of date COMMENT 'Run date of the trends run (partition).'
)
COMMENT 'The keyword lists a dashboard shows for one trends run: the top rising and falling terms (by log-odds z) and the top new terms of each window, each with its weekly-share sparkline. Built by the marts stage from keyword_trends and term_stats of the same as_of; at most 3 lists x 10 terms per window.'
WITH (
  external_location = '${warehouse}/trend_mart',
  format = 'PARQUET',
  partitioned_by = ARRAY['as_of']
);
-- New partition folders are invisible to Trino until synced (run after every load).
CALL hive.system.sync_partition_metadata(schema_name => 'digestflow', table_name => 'trend_mart', mode => 'FULL');
