-- Trino (Hive connector): papers. Generated from schemas/papers.json; do not edit by hand.
CREATE TABLE IF NOT EXISTS hive.digestflow.papers (
  paper_id varchar COMMENT 'Stable id: sha1 of the normalised title (NFKC, case-folded, punctuation collapsed), 16 hex chars. Same paper on two days, same id.',
  digest_id varchar COMMENT 'sha256 of the landing file''s bytes, 16 hex chars.',
  source_file varchar COMMENT 'Landing file name (relative to the landing folder).',
  position integer COMMENT '0-based order of the paper among the accepted papers of its digest.',
  line_start integer COMMENT '1-based line of the title in the landing file.',
  line_end integer COMMENT '1-based line of the abstract in the landing file.',
  title varchar COMMENT 'Title, whitespace-trimmed.',
  abstract varchar COMMENT 'Abstract, whitespace-trimmed, kept even when cut off upstream.',
  abstract_truncated boolean COMMENT 'The abstract ends in '' ...'' or ''…'' (cut off upstream).',
  n_words integer COMMENT 'Whitespace-separated words in the abstract.',
  urls array(varchar) COMMENT 'http(s) URLs found in title and abstract, in order.',
  date_rule varchar COMMENT 'How the year-less date line got its year: ''file_name'' (date in the file name) or ''run_date''.',
  ingested_at timestamp(3) COMMENT 'When the ingest run wrote the row (UTC). Provenance: differs between re-runs.',
  parser_version varchar COMMENT 'digestflow parser version that produced the row.',
  digest_date date COMMENT 'Date of the digest (partition).'
)
COMMENT 'One paper in one digest, as parsed from a landing file. Written by the ingest stage.'
WITH (
  external_location = '${warehouse}/papers',
  format = 'PARQUET',
  partitioned_by = ARRAY['digest_date']
);
-- New partition folders are invisible to Trino until synced (run after every load).
CALL hive.system.sync_partition_metadata(schema_name => 'digestflow', table_name => 'papers', mode => 'FULL');
