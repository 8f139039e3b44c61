-- Spark SQL: daily_summary. Generated from schemas/daily_summary.json; do not edit by hand.
-- spark-sql --hivevar warehouse=/abs/warehouse -f sql/spark/daily_summary.sql
CREATE TABLE IF NOT EXISTS digestflow.daily_summary (
  n_digests BIGINT COMMENT 'Distinct landing files (digest_id) with papers or rejects on the date.',
  n_papers BIGINT COMMENT 'Rows of papers on the date (a paper listed in two digests of the same date counts twice) = count(*) FROM papers.',
  n_new_papers BIGINT COMMENT 'Distinct paper_id on the date that no earlier digest date lists.',
  n_repeated_papers BIGINT COMMENT 'Distinct paper_id on the date that an earlier digest date already lists.',
  n_rejects BIGINT COMMENT 'Rows of rejects on the date (quarantined blocks or files).',
  mean_abstract_words DOUBLE COMMENT 'Mean of papers.n_words on the date; NULL without papers.',
  share_truncated DOUBLE COMMENT 'Share of the date''s papers whose abstract was cut off upstream; NULL without papers.',
  share_with_code DOUBLE COMMENT 'Share of the date''s papers with a code link: a URL on github.com, gitlab.com, bitbucket.org, codeberg.org, gitee.com or sourceforge.net (project pages such as *.github.io do not count); NULL without papers.',
  validation_suites INT COMMENT 'Suites whose latest run covered this date''s papers or rejects partition (0 when never validated).',
  validation_failed INT COMMENT 'Of those, suites whose latest run failed.',
  validation_success BOOLEAN COMMENT 'Every latest suite run on the date''s papers and rejects partitions passed; NULL when none was recorded (e.g. run with --no-validate).',
  digest_date DATE COMMENT 'Digest date (the grain: one row per date).',
  month STRING COMMENT 'The month ''YYYY-MM'' of digest_date (partition): a run owns and rebuilds whole months.'
)
USING parquet
PARTITIONED BY (month)
LOCATION '${warehouse}/daily_summary'
COMMENT 'One digest date: papers, rejects, new vs repeated papers, abstract length, code links and the validation verdict of its ingest partitions. A mart for dashboards (never scan papers for these). Partitioned by month: the marts stage rebuilds every date of the months the run''s dates fall in (from the published tables, so re-runs and backfills inside a month agree); n_new_papers looks at every earlier date, so after backfilling an earlier month re-run marts for the later ones.';
-- Register partition folders written since the last repair.
MSCK REPAIR TABLE digestflow.daily_summary;
