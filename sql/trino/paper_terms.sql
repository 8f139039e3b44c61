-- Trino (Hive connector): paper_terms. Generated from schemas/paper_terms.json; do not edit by hand.
CREATE TABLE IF NOT EXISTS hive.digestflow.paper_terms (
  paper_id varchar COMMENT 'papers.paper_id.',
  term varchar COMMENT 'Normalised n-gram: URLs removed, hyphenated compounds split into words, acronym plurals folded (LoRAs -> LoRA), lower-cased, words joined by one space. Never starts or ends with a stopword or a number.',
  n_tokens integer COMMENT 'Words in the term (1-3).',
  tf integer COMMENT 'Occurrences of the term in title + abstract (a raw count; trend statistics use document frequency, not this).',
  in_title boolean COMMENT 'The term occurs in the title.',
  surface varchar COMMENT 'Most frequent surface form in this paper before case folding (hyphens kept), ties broken by the lexicographically larger form; the trends stage picks display_form from these.',
  digest_date date COMMENT 'Date of the digest (partition).'
)
COMMENT 'One candidate term (1-3-gram, normalised) in one paper of one digest. Written by the terms stage from papers of the same date only, so a date''s partition never depends on other dates; plural folding and the termhood filter need corpus statistics and happen in the trends stage (docs/trends.md).'
WITH (
  external_location = '${warehouse}/paper_terms',
  format = 'PARQUET',
  partitioned_by = ARRAY['digest_date']
);
-- New partition folders are invisible to Trino until synced (run after every load).
CALL hive.system.sync_partition_metadata(schema_name => 'digestflow', table_name => 'paper_terms', mode => 'FULL');
