"""Table schemas, read once from ``schemas/<table>.json``, and the one map of their column types to Spark,
Arrow, DuckDB, Trino and Spark SQL names.

The JSON file is the single source of truth: readers, writers, test frames and the structural
expectations all come from :func:`load`.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from typing import Any

from digestflow.resources import resource_dir


@dataclass(frozen=True)
class Column:
    name: str
    type: str
    nullable: bool
    description: str = ""
    volatile: bool = False


@dataclass(frozen=True)
class TableSchema:
    table: str
    description: str
    columns: tuple[Column, ...]
    partition_by: tuple[str, ...]
    key: tuple[str, ...]

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.columns]

    @property
    def data_columns(self) -> list[str]:
        """Columns that must be identical across re-runs (all but provenance such as ``ingested_at``)."""
        return [c.name for c in self.columns if not c.volatile]

    def column(self, name: str) -> Column:
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(f"{self.table} has no column {name!r}")

    def spark(self) -> Any:
        """pyspark ``StructType`` (imported lazily so that the parser and DAGs never import Spark)."""
        from pyspark.sql import types as T

        return T.StructType([T.StructField(c.name, _spark_type(c.type), c.nullable) for c in self.columns])

    def arrow(self) -> Any:
        import pyarrow as pa

        return pa.schema([pa.field(c.name, _arrow_type(c.type), c.nullable) for c in self.columns])

    def frame(self, spark: Any, rows: Any) -> Any:
        """pandas ``rows`` → a Spark DataFrame with exactly this table's columns and types, through Arrow
        (NaN → NULL). For results computed on the driver (trend scores, evidence) that a stage publishes."""
        import pyarrow as pa

        arrow = pa.Table.from_pandas(rows[self.names], schema=self.arrow(), preserve_index=False)
        return spark.createDataFrame(arrow, schema=self.spark())

    def ddl(self) -> str:
        """Spark SQL DDL string: ``name TYPE, …`` (for ``spark.read.schema`` and mapInArrow outputs)."""
        return ", ".join(f"`{c.name}` {c.type}" for c in self.columns)


@dataclass(frozen=True)
class TypeNames:
    """One schema type under every name the project needs (the one column-type map)."""

    spark: str  # pyspark.sql.types class (also what GE's type expectation compares with)
    arrow: str  # pyarrow factory
    duckdb: str
    trino: str
    spark_sql: str
    # What GE's expect_column_values_to_be_of_type compares with on its pandas engine: a numpy dtype name
    # (the gate makes ints, floats and booleans pandas' nullable dtypes, whose scalar type is numpy's), or
    # for object columns the Python class of every value (``date``: datetime.date; arrays: lists).
    ge_pandas: str


#: Schema type → its names in Spark, Arrow, DuckDB, Trino, Spark SQL DDL and GE's pandas engine.
#: ``array<T>`` is built from T.
TYPES: dict[str, TypeNames] = {
    "string": TypeNames("StringType", "string", "VARCHAR", "varchar", "STRING", "str"),
    "int": TypeNames("IntegerType", "int32", "INTEGER", "integer", "INT", "int32"),
    "long": TypeNames("LongType", "int64", "BIGINT", "bigint", "BIGINT", "int64"),
    "double": TypeNames("DoubleType", "float64", "DOUBLE", "double", "DOUBLE", "float64"),
    "float": TypeNames("FloatType", "float32", "FLOAT", "real", "FLOAT", "float32"),
    "boolean": TypeNames("BooleanType", "bool_", "BOOLEAN", "boolean", "BOOLEAN", "bool"),
    "date": TypeNames("DateType", "date32", "DATE", "date", "DATE", "date"),
    # Trino's Hive connector has no zoned timestamp for Parquet; values are UTC.
    "timestamp": TypeNames("TimestampType", "timestamp", "TIMESTAMPTZ", "timestamp(3)", "TIMESTAMP", "Timestamp"),
}
_ARRAY = {"duckdb": "{}[]", "trino": "array({})", "spark_sql": "ARRAY<{}>", "spark": "ArrayType", "ge_pandas": "list"}


def _element(name: str) -> str | None:
    return name[6:-1] if name.startswith("array<") and name.endswith(">") else None


def type_name(name: str, engine: str) -> str:
    """The name of schema type ``name`` in ``engine`` (``duckdb``, ``trino``, ``spark_sql``, ``spark``,
    ``ge_pandas``)."""
    element = _element(name)
    if element is not None:
        return _ARRAY[engine] if engine in ("spark", "ge_pandas") else _ARRAY[engine].format(type_name(element, engine))
    return getattr(TYPES[name], engine)


def _spark_type(name: str) -> Any:
    from pyspark.sql import types as T

    element = _element(name)
    if element is not None:
        return T.ArrayType(_spark_type(element), containsNull=False)
    return getattr(T, TYPES[name].spark)()


def _arrow_type(name: str) -> Any:
    import pyarrow as pa

    element = _element(name)
    if element is not None:
        return pa.list_(pa.field("element", _arrow_type(element), nullable=False))
    if name == "timestamp":
        return pa.timestamp("us", tz="UTC")
    return getattr(pa, TYPES[name].arrow)()


@functools.cache
def load(table: str) -> TableSchema:
    """The schema of ``table`` from ``schemas/<table>.json``."""
    path = resource_dir("schemas") / f"{table}.json"
    raw = json.loads(path.read_text(encoding="utf-8"))
    return TableSchema(
        table=raw["table"],
        description=raw.get("description", ""),
        columns=tuple(Column(**c) for c in raw["columns"]),
        partition_by=tuple(raw.get("partition_by", ())),
        key=tuple(raw.get("key", ())),
    )


def tables() -> list[str]:
    """Every table that has a schema file, sorted."""
    return sorted(p.stem for p in resource_dir("schemas").glob("*.json"))
