-- Spark SQL: paper_terms. Generated from schemas/paper_terms.json; do not edit by hand.
-- spark-sql --hivevar warehouse=/abs/warehouse -f sql/spark/paper_terms.sql
CREATE TABLE IF NOT EXISTS digestflow.paper_terms (
  paper_id STRING COMMENT 'papers.paper_id.',
  term STRING COMMENT 'Normalised n-gram: URLs removed, hyphenated compounds split into words, acronym plurals folded (LoRAs -> LoRA), lower-cased, words joined by one space. Never starts or ends with a stopword or a number.',
  n_tokens INT COMMENT 'Words in the term (1-3).',
  tf INT COMMENT 'Occurrences of the term in title + abstract (a raw count; trend statistics use document frequency, not this).',
  in_title BOOLEAN COMMENT 'The term occurs in the title.',
  surface STRING COMMENT 'Most frequent surface form in this paper before case folding (hyphens kept), ties broken by the lexicographically larger form; the trends stage picks display_form from these.',
  digest_date DATE COMMENT 'Date of the digest (partition).'
)
USING parquet
PARTITIONED BY (digest_date)
LOCATION '${warehouse}/paper_terms'
COMMENT 'One candidate term (1-3-gram, normalised) in one paper of one digest. Written by the terms stage from papers of the same date only, so a date''s partition never depends on other dates; plural folding and the termhood filter need corpus statistics and happen in the trends stage (docs/trends.md).';
-- Register partition folders written since the last repair.
MSCK REPAIR TABLE digestflow.paper_terms;
