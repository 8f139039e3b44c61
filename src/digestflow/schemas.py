"""Table schemas, read once from ``schemas/<table>.json`` and turned into Spark, Arrow and DuckDB types.

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

    def ddl(self) -> str:
        """Spark SQL DDL string: ``name TYPE, …`` (for ``spark.read.schema`` and mapInArrow outputs)."""
        return ", ".join(f"`{c.name}` {c.type}" for c in self.columns)


def _spark_type(name: str) -> Any:
    from pyspark.sql import types as T

    if name.startswith("array<") and name.endswith(">"):
        return T.ArrayType(_spark_type(name[6:-1]), containsNull=False)
    simple = {
        "string": T.StringType(),
        "int": T.IntegerType(),
        "long": T.LongType(),
        "double": T.DoubleType(),
        "float": T.FloatType(),
        "boolean": T.BooleanType(),
        "date": T.DateType(),
        "timestamp": T.TimestampType(),
    }
    return simple[name]


def _arrow_type(name: str) -> Any:
    import pyarrow as pa

    if name.startswith("array<") and name.endswith(">"):
        return pa.list_(pa.field("element", _arrow_type(name[6:-1]), nullable=False))
    simple = {
        "string": pa.string(),
        "int": pa.int32(),
        "long": pa.int64(),
        "double": pa.float64(),
        "float": pa.float32(),
        "boolean": pa.bool_(),
        "date": pa.date32(),
        "timestamp": pa.timestamp("us", tz="UTC"),
    }
    return simple[name]


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
