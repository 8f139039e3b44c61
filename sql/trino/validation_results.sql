-- Trino (Hive connector): validation_results. Generated from schemas/validation_results.json; do not edit by hand.
CREATE TABLE IF NOT EXISTS hive.digestflow.validation_results (
  run_id varchar COMMENT 'Run id of the pipeline run (or of the `digestflow validate` call).',
  partition varchar COMMENT 'Hive partition path of the validated partition, e.g. ''digest_date=2025-03-12'' (''(unpartitioned)'' for a table without partitions).',
  suite varchar COMMENT 'Expectation suite name (the table name: generated structural rules + expectations/<table>.json).',
  success boolean COMMENT 'Every expectation passed on this partition, warnings included.',
  blocked boolean COMMENT 'A critical expectation failed: the partition was not published (the previous version stays).',
  evaluated integer COMMENT 'Expectations evaluated on the partition.',
  failed integer COMMENT 'Expectations that failed on the partition (critical and warning).',
  failed_critical integer COMMENT 'Failed expectations of severity critical.',
  rows bigint COMMENT 'Rows of the partition that were validated.',
  details_json varchar COMMENT 'JSON: each failed expectation with severity, unexpected row count and a few offending rows; where the staged data was kept.',
  validated_at timestamp(3) COMMENT 'When the validation finished (UTC).',
  table_name varchar COMMENT 'Validated table (partition).'
)
COMMENT 'One suite run on one partition: what the validation gate decided and why. A log (one file per run per table), not a published table; chart pass rates from it.'
WITH (
  external_location = '${warehouse}/validation_results',
  format = 'PARQUET',
  partitioned_by = ARRAY['table_name']
);
-- New partition folders are invisible to Trino until synced (run after every load).
CALL hive.system.sync_partition_metadata(schema_name => 'digestflow', table_name => 'validation_results', mode => 'FULL');
