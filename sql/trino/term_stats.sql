-- Trino (Hive connector): term_stats. Generated from schemas/term_stats.json; do not edit by hand.
CREATE TABLE IF NOT EXISTS hive.digestflow.term_stats (
  term varchar COMMENT 'keyword_trends.term.',
  period_start date COMMENT 'Monday of the week (ISO week start), even when the lookback starts later in that week.',
  period_days integer COMMENT 'Days of the week inside the lookback (7 except at the edges).',
  df bigint COMMENT 'Papers in the week mentioning the term.',
  n_papers bigint COMMENT 'Papers in the week.',
  share double COMMENT 'df / n_papers (NULL for a week without papers).',
  as_of date COMMENT 'Run date of the trends run (partition).'
)
COMMENT 'Weekly document frequency of the terms a trends run lists (ranked in the top N rising or falling of a window, new, or bursting), over that run''s lookback: the data behind sparklines. Weeks start on Monday (period_start is a date, never a week number); the first and last week may be partial, so always use share, not df. Written by the trends stage, partitioned like keyword_trends.'
WITH (
  external_location = '${warehouse}/term_stats',
  format = 'PARQUET',
  partitioned_by = ARRAY['as_of']
);
-- New partition folders are invisible to Trino until synced (run after every load).
CALL hive.system.sync_partition_metadata(schema_name => 'digestflow', table_name => 'term_stats', mode => 'FULL');
