-- Spark SQL: validation_results. Generated from schemas/validation_results.json; do not edit by hand.
-- spark-sql --hivevar warehouse=/abs/warehouse -f sql/spark/validation_results.sql
CREATE TABLE IF NOT EXISTS digestflow.validation_results (
  run_id STRING COMMENT 'Run id of the pipeline run (or of the `digestflow validate` call).',
  partition STRING COMMENT 'Hive partition path of the validated partition, e.g. ''digest_date=2025-03-12'' (''(unpartitioned)'' for a table without partitions).',
  suite STRING COMMENT 'Expectation suite name (the table name: generated structural rules + expectations/<table>.json).',
  success BOOLEAN COMMENT 'Every expectation passed on this partition, warnings included.',
  blocked BOOLEAN COMMENT 'A critical expectation failed: the partition was not published (the previous version stays).',
  evaluated INT COMMENT 'Expectations evaluated on the partition.',
  failed INT COMMENT 'Expectations that failed on the partition (critical and warning).',
  failed_critical INT COMMENT 'Failed expectations of severity critical.',
  rows BIGINT COMMENT 'Rows of the partition that were validated.',
  details_json STRING COMMENT 'JSON: each failed expectation with severity, unexpected row count and a few offending rows; where the staged data was kept.',
  validated_at TIMESTAMP COMMENT 'When the validation finished (UTC).',
  table_name STRING COMMENT 'Validated table (partition).'
)
USING parquet
PARTITIONED BY (table_name)
LOCATION '${warehouse}/validation_results'
COMMENT 'One suite run on one partition: what the validation gate decided and why. A log (one file per run per table), not a published table; chart pass rates from it.';
-- Register partition folders written since the last repair.
MSCK REPAIR TABLE digestflow.validation_results;
