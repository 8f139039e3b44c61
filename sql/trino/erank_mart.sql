-- Trino (Hive connector): erank_mart. Generated from schemas/erank_mart.json; do not edit by hand.
CREATE TABLE IF NOT EXISTS hive.digestflow.erank_mart (
  set_key varchar COMMENT 'erank_stats.set_key (''YYYY-MM-DD'' for day and week sets, ''YYYY-MM'' for months).',
  model varchar COMMENT 'Embedder (embeddings.model).',
  set_start date COMMENT 'First digest date of the set (the x axis).',
  set_end date COMMENT 'Last digest date of the set.',
  n bigint COMMENT 'Papers in the set.',
  erank double COMMENT 'RankMe erank of the whole set (grows with n: compare sets of similar size only).',
  erank_at_n double COMMENT 'Mean erank of subsamples of erank_at_n_m papers: comparable across sets. NULL when n < erank_at_n_m.',
  erank_ci_low double COMMENT 'Lower end of the 95% interval behind erank_at_n.',
  erank_ci_high double COMMENT 'Upper end of the 95% interval behind erank_at_n.',
  erank_at_n_m integer COMMENT 'Subsample size behind erank_at_n.',
  participation_ratio double COMMENT 'erank_stats.participation_ratio (centered).',
  mean_cosine double COMMENT 'erank_stats.mean_cosine.',
  null_reason varchar COMMENT 'erank_stats.null_reason: why the statistics are NULL.',
  set_kind varchar COMMENT 'day, week or month (partition).',
  period varchar COMMENT 'Month ''YYYY-MM'' of set_start (partition), as in erank_stats.'
)
COMMENT 'Effective rank of the calendar embedding sets (day, week, month) over time, for dashboards: erank (depends on set size) and the size-matched erank_at_n with its 95% interval. A projection of erank_stats built by the marts stage; it owns the same (set_kind, period) partitions as the erank stage for the run''s dates.'
WITH (
  external_location = '${warehouse}/erank_mart',
  format = 'PARQUET',
  partitioned_by = ARRAY['set_kind', 'period']
);
-- New partition folders are invisible to Trino until synced (run after every load).
CALL hive.system.sync_partition_metadata(schema_name => 'digestflow', table_name => 'erank_mart', mode => 'FULL');
