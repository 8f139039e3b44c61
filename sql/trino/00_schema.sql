-- Trino: the schema that holds the digestflow tables (Hive connector catalog `hive`).
CREATE SCHEMA IF NOT EXISTS hive.digestflow WITH (location = '${warehouse}');
