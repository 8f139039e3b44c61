-- Spark SQL: embeddings. Generated from schemas/embeddings.json; do not edit by hand.
-- spark-sql --hivevar warehouse=/abs/warehouse -f sql/spark/embeddings.sql
CREATE TABLE IF NOT EXISTS digestflow.embeddings (
  paper_id STRING COMMENT 'papers.paper_id of the embedded paper (a paper listed twice in one digest is embedded once).',
  vector ARRAY<FLOAT> COMMENT 'The embedding of title + ''. '' + abstract, float32, L2-normalised (all zeros when the text is empty).',
  dim INT COMMENT 'Length of vector (256 for hashing, 384 for minilm).',
  model STRING COMMENT 'Embedder name (partition): ''hashing'' (hashed 1-2-grams + fixed sparse random projection, scikit-learn) or ''minilm'' (all-MiniLM-L6-v2).',
  digest_date DATE COMMENT 'Date of the digest the paper appeared in (partition).'
)
USING parquet
PARTITIONED BY (model, digest_date)
LOCATION '${warehouse}/embeddings'
COMMENT 'One vector per paper per digest date per embedder. Written by the embed stage from papers; a vector depends only on the paper''s own title and abstract (stateless embedders), so a daily run and a backfill give the same vectors.';
-- Register partition folders written since the last repair.
MSCK REPAIR TABLE digestflow.embeddings;
