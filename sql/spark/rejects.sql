-- Spark SQL: rejects. Generated from schemas/rejects.json; do not edit by hand.
-- spark-sql --hivevar warehouse=/abs/warehouse -f sql/spark/rejects.sql
CREATE TABLE IF NOT EXISTS digestflow.rejects (
  source_file STRING COMMENT 'Landing file name (relative to the landing folder).',
  digest_id STRING COMMENT 'sha256 of the landing file''s bytes, 16 hex chars.',
  line_start INT COMMENT '1-based first line of the rejected text (0 for an empty file).',
  line_end INT COMMENT '1-based last line of the rejected text (0 for an empty file).',
  raw_text STRING COMMENT 'The rejected lines as read (undecodable bytes shown as U+FFFD).',
  reason STRING COMMENT 'Machine-readable reason code, one of digestflow.parsing.REJECT_REASONS.',
  detail STRING COMMENT 'What was expected and what was found, for a person.',
  date_rule STRING COMMENT 'How digest_date was chosen: ''file_name'', ''run_date'', or ''unresolved'' (partition of the run date).',
  ingested_at TIMESTAMP COMMENT 'When the ingest run wrote the row (UTC).',
  parser_version STRING COMMENT 'digestflow parser version.',
  digest_date DATE COMMENT 'Date of the digest when it resolved, else the run date (partition).'
)
USING parquet
PARTITIONED BY (digest_date)
LOCATION '${warehouse}/rejects'
COMMENT 'One quarantined block or file: every input line that is not a paper lands here with a reason.';
-- Register partition folders written since the last repair.
MSCK REPAIR TABLE digestflow.rejects;
