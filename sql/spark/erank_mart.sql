-- Spark SQL: erank_mart. Generated from schemas/erank_mart.json; do not edit by hand.
-- spark-sql --hivevar warehouse=/abs/warehouse -f sql/spark/erank_mart.sql
CREATE TABLE IF NOT EXISTS digestflow.erank_mart (
  set_key STRING COMMENT 'erank_stats.set_key (''YYYY-MM-DD'' for day and week sets, ''YYYY-MM'' for months).',
  model STRING COMMENT 'Embedder (embeddings.model).',
  set_start DATE COMMENT 'First digest date of the set (the x axis).',
  set_end DATE COMMENT 'Last digest date of the set.',
  n BIGINT COMMENT 'Papers in the set.',
  erank DOUBLE COMMENT 'RankMe erank of the whole set (grows with n: compare sets of similar size only).',
  erank_at_n DOUBLE COMMENT 'Mean erank of subsamples of erank_at_n_m papers: comparable across sets. NULL when n < erank_at_n_m.',
  erank_ci_low DOUBLE COMMENT 'Lower end of the 95% interval behind erank_at_n.',
  erank_ci_high DOUBLE COMMENT 'Upper end of the 95% interval behind erank_at_n.',
  erank_at_n_m INT COMMENT 'Subsample size behind erank_at_n.',
  participation_ratio DOUBLE COMMENT 'erank_stats.participation_ratio (centered).',
  mean_cosine DOUBLE COMMENT 'erank_stats.mean_cosine.',
  null_reason STRING COMMENT 'erank_stats.null_reason: why the statistics are NULL.',
  set_kind STRING COMMENT 'day, week or month (partition).',
  period STRING COMMENT 'Month ''YYYY-MM'' of set_start (partition), as in erank_stats.'
)
USING parquet
PARTITIONED BY (set_kind, period)
LOCATION '${warehouse}/erank_mart'
COMMENT 'Effective rank of the calendar embedding sets (day, week, month) over time, for dashboards: erank (depends on set size) and the size-matched erank_at_n with its 95% interval. A projection of erank_stats built by the marts stage; it owns the same (set_kind, period) partitions as the erank stage for the run''s dates.';
-- Register partition folders written since the last repair.
MSCK REPAIR TABLE digestflow.erank_mart;
