-- Spark SQL: papers. Generated from schemas/papers.json; do not edit by hand.
-- spark-sql --hivevar warehouse=/abs/warehouse -f sql/spark/papers.sql
CREATE TABLE IF NOT EXISTS digestflow.papers (
  paper_id STRING COMMENT 'Stable id: sha1 of the normalised title (NFKC, case-folded, punctuation collapsed), 16 hex chars. Same paper on two days, same id.',
  digest_id STRING COMMENT 'sha256 of the landing file''s bytes, 16 hex chars.',
  source_file STRING COMMENT 'Landing file name (relative to the landing folder).',
  position INT COMMENT '0-based order of the paper among the accepted papers of its digest.',
  line_start INT COMMENT '1-based line of the title in the landing file.',
  line_end INT COMMENT '1-based line of the abstract in the landing file.',
  title STRING COMMENT 'Title, whitespace-trimmed.',
  abstract STRING COMMENT 'Abstract, whitespace-trimmed, kept even when cut off upstream.',
  abstract_truncated BOOLEAN COMMENT 'The abstract ends in '' ...'' or ''…'' (cut off upstream).',
  n_words INT COMMENT 'Whitespace-separated words in the abstract.',
  urls ARRAY<STRING> COMMENT 'http(s) URLs found in title and abstract, in order.',
  date_rule STRING COMMENT 'How the year-less date line got its year: ''file_name'' (date in the file name) or ''run_date''.',
  ingested_at TIMESTAMP COMMENT 'When the ingest run wrote the row (UTC). Provenance: differs between re-runs.',
  parser_version STRING COMMENT 'digestflow parser version that produced the row.',
  digest_date DATE COMMENT 'Date of the digest (partition).'
)
USING parquet
PARTITIONED BY (digest_date)
LOCATION '${warehouse}/papers'
COMMENT 'One paper in one digest, as parsed from a landing file. Written by the ingest stage.';
-- Register partition folders written since the last repair.
MSCK REPAIR TABLE digestflow.papers;
