-- Trino (Hive connector): embeddings. Generated from schemas/embeddings.json; do not edit by hand.
CREATE TABLE IF NOT EXISTS hive.digestflow.embeddings (
  paper_id varchar COMMENT 'papers.paper_id of the embedded paper (a paper listed twice in one digest is embedded once).',
  vector array(real) COMMENT 'The embedding of title + ''. '' + abstract, float32, L2-normalised (all zeros when the text is empty).',
  dim integer COMMENT 'Length of vector (256 for hashing, 384 for minilm).',
  model varchar COMMENT 'Embedder name (partition): ''hashing'' (hashed 1-2-grams + fixed sparse random projection, scikit-learn) or ''minilm'' (all-MiniLM-L6-v2).',
  digest_date date COMMENT 'Date of the digest the paper appeared in (partition).'
)
COMMENT 'One vector per paper per digest date per embedder. Written by the embed stage from papers; a vector depends only on the paper''s own title and abstract (stateless embedders), so a daily run and a backfill give the same vectors.'
WITH (
  external_location = '${warehouse}/embeddings',
  format = 'PARQUET',
  partitioned_by = ARRAY['model', 'digest_date']
);
-- New partition folders are invisible to Trino until synced (run after every load).
CALL hive.system.sync_partition_metadata(schema_name => 'digestflow', table_name => 'embeddings', mode => 'FULL');
