-- Trino (Hive connector): rejects. Generated from schemas/rejects.json; do not edit by hand.
CREATE TABLE IF NOT EXISTS hive.digestflow.rejects (
  source_file varchar COMMENT 'Landing file name (relative to the landing folder).',
  digest_id varchar COMMENT 'sha256 of the landing file''s bytes, 16 hex chars.',
  line_start integer COMMENT '1-based first line of the rejected text (0 for an empty file).',
  line_end integer COMMENT '1-based last line of the rejected text (0 for an empty file).',
  raw_text varchar COMMENT 'The rejected lines as read (undecodable bytes shown as U+FFFD).',
  reason varchar COMMENT 'Machine-readable reason code, one of digestflow.parsing.REJECT_REASONS.',
  detail varchar COMMENT 'What was expected and what was found, for a person.',
  date_rule varchar COMMENT 'How digest_date was chosen: ''file_name'', ''run_date'', or ''unresolved'' (partition of the run date).',
  ingested_at timestamp(3) COMMENT 'When the ingest run wrote the row (UTC).',
  parser_version varchar COMMENT 'digestflow parser version.',
  digest_date date COMMENT 'Date of the digest when it resolved, else the run date (partition).'
)
COMMENT 'One quarantined block or file: every input line that is not a paper lands here with a reason.'
WITH (
  external_location = '${warehouse}/rejects',
  format = 'PARQUET',
  partitioned_by = ARRAY['digest_date']
);
-- New partition folders are invisible to Trino until synced (run after every load).
CALL hive.system.sync_partition_metadata(schema_name => 'digestflow', table_name => 'rejects', mode => 'FULL');
