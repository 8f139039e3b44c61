-- Spark SQL: the database that holds the digestflow tables.
CREATE DATABASE IF NOT EXISTS digestflow;
