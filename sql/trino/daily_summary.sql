-- Trino (Hive connector): daily_summary. Generated from schemas/daily_summary.json; do not edit by hand.
CREATE TABLE IF NOT EXISTS hive.digestflow.daily_summary (
  n_digests bigint COMMENT 'Distinct landing files (digest_id) with papers or rejects on the date.',
  n_papers bigint COMMENT 'Rows of papers on the date (a paper listed in two digests of the same date counts twice) = count(*) FROM papers.',
  n_new_papers bigint COMMENT 'Distinct paper_id on the date that no earlier digest date lists.',
  n_repeated_papers bigint COMMENT 'Distinct paper_id on the date that an earlier digest date already lists.',
  n_rejects bigint COMMENT 'Rows of rejects on the date (quarantined blocks or files).',
  mean_abstract_words double COMMENT 'Mean of papers.n_words on the date; NULL without papers.',
  share_truncated double COMMENT 'Share of the date''s papers whose abstract was cut off upstream; NULL without papers.',
  share_with_code double COMMENT 'Share of the date''s papers with a code link: a URL on github.com, gitlab.com, bitbucket.org, codeberg.org, gitee.com or sourceforge.net (project pages such as *.github.io do not count); NULL without papers.',
  validation_suites integer COMMENT 'Suites whose latest run covered this date''s papers or rejects partition (0 when never validated).',
  validation_failed integer COMMENT 'Of those, suites whose latest run failed.',
  validation_success boolean COMMENT 'Every latest suite run on the date''s papers and rejects partitions passed; NULL when none was recorded (e.g. run with --no-validate).',
  digest_date date COMMENT 'Digest date (the grain: one row per date).',
  month varchar COMMENT 'The month ''YYYY-MM'' of digest_date (partition): a run owns and rebuilds whole months.'
)
COMMENT 'One digest date: papers, rejects, new vs repeated papers, abstract length, code links and the validation verdict of its ingest partitions. A mart for dashboards (never scan papers for these). Partitioned by month: the marts stage rebuilds every date of the months the run''s dates fall in (from the published tables, so re-runs and backfills inside a month agree); n_new_papers looks at every earlier date, so after backfilling an earlier month re-run marts for the later ones.'
WITH (
  external_location = '${warehouse}/daily_summary',
  format = 'PARQUET',
  partitioned_by = ARRAY['month']
);
-- New partition folders are invisible to Trino until synced (run after every load).
CALL hive.system.sync_partition_metadata(schema_name => 'digestflow', table_name => 'daily_summary', mode => 'FULL');
