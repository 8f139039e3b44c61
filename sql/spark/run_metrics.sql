-- Spark SQL: run_metrics. Generated from schemas/run_metrics.json; do not edit by hand.
-- spark-sql --hivevar warehouse=/abs/warehouse -f sql/spark/run_metrics.sql
CREATE TABLE IF NOT EXISTS digestflow.run_metrics (
  run_id STRING COMMENT 'Run id (UTC timestamp + random suffix).',
  start_date DATE COMMENT 'First digest date of the run.',
  end_date DATE COMMENT 'Last digest date of the run.',
  rows_in BIGINT COMMENT 'Input units (files for ingest, rows for other stages).',
  rows_out BIGINT COMMENT 'Rows written to the stage''s main table.',
  rows_rejected BIGINT COMMENT 'Rows quarantined or blocked.',
  partitions INT COMMENT 'Partitions written.',
  seconds DOUBLE COMMENT 'Wall time of the stage.',
  details_json STRING COMMENT 'Stage-specific counters as JSON.',
  finished_at TIMESTAMP COMMENT 'When the stage finished (UTC).',
  stage STRING COMMENT 'Stage name (partition).'
)
USING parquet
PARTITIONED BY (stage)
LOCATION '${warehouse}/run_metrics'
COMMENT 'One row per stage per run: what went in and what came out. A log (one file per run), not a published table.';
-- Register partition folders written since the last repair.
MSCK REPAIR TABLE digestflow.run_metrics;
