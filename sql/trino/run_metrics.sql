-- Trino (Hive connector): run_metrics. Generated from schemas/run_metrics.json; do not edit by hand.
CREATE TABLE IF NOT EXISTS hive.digestflow.run_metrics (
  run_id varchar COMMENT 'Run id (UTC timestamp + random suffix).',
  start_date date COMMENT 'First digest date of the run.',
  end_date date COMMENT 'Last digest date of the run.',
  rows_in bigint COMMENT 'Input units (files for ingest, rows for other stages).',
  rows_out bigint COMMENT 'Rows written to the stage''s main table.',
  rows_rejected bigint COMMENT 'Rows quarantined or blocked.',
  partitions integer COMMENT 'Partitions written.',
  seconds double COMMENT 'Wall time of the stage.',
  details_json varchar COMMENT 'Stage-specific counters as JSON.',
  finished_at timestamp(3) COMMENT 'When the stage finished (UTC).',
  stage varchar COMMENT 'Stage name (partition).'
)
COMMENT 'One row per stage per run: what went in and what came out. A log (one file per run), not a published table.'
WITH (
  external_location = '${warehouse}/run_metrics',
  format = 'PARQUET',
  partitioned_by = ARRAY['stage']
);
-- New partition folders are invisible to Trino until synced (run after every load).
CALL hive.system.sync_partition_metadata(schema_name => 'digestflow', table_name => 'run_metrics', mode => 'FULL');
