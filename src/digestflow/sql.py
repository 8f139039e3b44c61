"""SQL over the warehouse: DuckDB views for ``digestflow sql``, and DDL for Trino and Spark SQL.

Every engine reads the same Hive-partitioned Parquet folders. The SQL that points an engine at them is
rendered from ``schemas/<table>.json`` (the one source of truth) and checked in under ``sql/`` so that
people can use it without Python: ``sql/duckdb/views.sql``, ``sql/trino/<table>.sql`` and
``sql/spark/<table>.sql``, all with a ``${warehouse}`` placeholder (Spark SQL substitutes it natively
with ``--hivevar warehouse=…``). ``digestflow ddl --write`` regenerates them; a test fails on drift.

``digestflow sql`` is read-only, in two independent layers:

1. the statement check: DuckDB's own parser splits the text, and only SELECT / EXPLAIN / CREATE /
   DROP statements pass (COPY, ATTACH, INSTALL, LOAD, SET, PRAGMA, EXPORT, INSERT… are refused). The
   engine sandbox below cannot stop ``COPY … TO '<warehouse>/…'``, because reading the warehouse
   needs it in ``allowed_directories``, so this layer is what keeps the warehouse unwritten;
2. the engine sandbox: the views live in a database file opened ``read_only`` (so ``CREATE`` works only
   for TEMP objects), external access is off except for the warehouse folder (``read_csv('/etc/…')``,
   ``glob``, ``ATTACH``, ``INSTALL`` fail), and the configuration is locked so a query cannot undo it.
"""

from __future__ import annotations

import csv
import datetime as dt
import decimal
import io as _io
import json
import re
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from digestflow import schemas, storage
from digestflow.resources import resource_dir

PLACEHOLDER = "${warehouse}"
ALLOWED_STATEMENTS = frozenset({"SELECT", "EXPLAIN", "CREATE", "DROP"})

class QueryRefused(ValueError):
    """The query tried to write, attach, install or read outside the warehouse."""


class OutdatedLayout(ValueError):
    """A table's folders are in a partition layout this version no longer writes (the message says which
    command rewrites them)."""


#: Tables whose partitioning changed: table -> (the old partition column, the command that rewrites them).
RELAYOUT = {"daily_summary": ("digest_date", "digestflow marts --date D (any digest date)")}


def check_layout(root: Path, table: str) -> None:
    """Raise :class:`OutdatedLayout` when ``table`` still has folders of its old partition layout."""
    if table not in RELAYOUT:
        return
    old, command = RELAYOUT[table]
    stale = sorted((root / table).glob(f"{old}=*"))
    if stale:
        cols = ", ".join(schemas.load(table).partition_by)
        raise OutdatedLayout(
            f"{table} has {len(stale)} folders of its old layout (partitioned by {old}, e.g. {stale[0].name}); "
            f"this version partitions it by {cols}: run `{command}` once, which rebuilds it from the "
            "published tables and removes the old folders"
        )


def duckdb_type(name: str) -> str:
    return schemas.type_name(name, "duckdb")


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _columns_partition_last(schema: schemas.TableSchema) -> list[schemas.Column]:
    """Trino and Spark want partition columns last, in ``partitioned_by`` order."""
    data = [c for c in schema.columns if c.name not in schema.partition_by]
    return data + [schema.column(p) for p in schema.partition_by]


# ------------------------------------------------------------------------------------ rendered DDL


def render_duckdb_view(table: str) -> str:
    schema = schemas.load(table)
    if schema.partition_by:
        types = ", ".join(f"'{p}': {duckdb_type(schema.column(p).type)}" for p in schema.partition_by)
        options = f"hive_partitioning = true, hive_types = {{{types}}}, hive_types_autocast = false"
        glob = f"{PLACEHOLDER}/{table}/**/*.parquet"
    else:
        options = "hive_partitioning = false"
        glob = f"{PLACEHOLDER}/{table}/*.parquet"
    return (
        f"-- {schema.description}\n"
        f"CREATE OR REPLACE VIEW {table} AS\nSELECT * FROM read_parquet('{glob}',\n"
        f"    {options}, union_by_name = true);\n"
    )


def render_duckdb_views() -> str:
    header = (
        "-- DuckDB: one view per digestflow table over its Hive-partitioned Parquet, partition columns typed.\n"
        "-- Generated from schemas/*.json by `digestflow ddl --engine duckdb --write`; do not edit by hand.\n"
        "-- ${warehouse} is the warehouse root (an absolute path); `digestflow sql` substitutes it.\n"
    )
    return header + "".join("\n" + render_duckdb_view(t) for t in schemas.tables())


def render_trino(table: str, catalog: str = "hive", schema_name: str = "digestflow") -> str:
    schema = schemas.load(table)
    cols = ",\n".join(
        f"  {c.name} {schemas.type_name(c.type, 'trino')} COMMENT {_quote(c.description)}"
        for c in _columns_partition_last(schema)
    )
    props = [f"external_location = '{PLACEHOLDER}/{table}'", "format = 'PARQUET'"]
    if schema.partition_by:
        props.append("partitioned_by = ARRAY[" + ", ".join(f"'{p}'" for p in schema.partition_by) + "]")
    text = (
        f"-- Trino (Hive connector): {table}. Generated from schemas/{table}.json; do not edit by hand.\n"
        f"CREATE TABLE IF NOT EXISTS {catalog}.{schema_name}.{table} (\n{cols}\n)\n"
        f"COMMENT {_quote(schema.description)}\n"
        "WITH (\n  " + ",\n  ".join(props) + "\n);\n"
    )
    if schema.partition_by:
        text += (
            "-- New partition folders are invisible to Trino until synced (run after every load).\n"
            f"CALL {catalog}.system.sync_partition_metadata("
            f"schema_name => '{schema_name}', table_name => '{table}', mode => 'FULL');\n"
        )
    return text


def render_spark(table: str, database: str = "digestflow") -> str:
    schema = schemas.load(table)
    cols = ",\n".join(
        f"  {c.name} {schemas.type_name(c.type, 'spark_sql')} COMMENT {_quote(c.description)}"
        for c in _columns_partition_last(schema)
    )
    text = (
        f"-- Spark SQL: {table}. Generated from schemas/{table}.json; do not edit by hand.\n"
        f"-- spark-sql --hivevar warehouse=/abs/warehouse -f sql/spark/{table}.sql\n"
        f"CREATE TABLE IF NOT EXISTS {database}.{table} (\n{cols}\n)\nUSING parquet\n"
    )
    if schema.partition_by:
        text += "PARTITIONED BY (" + ", ".join(schema.partition_by) + ")\n"
    text += f"LOCATION '{PLACEHOLDER}/{table}'\nCOMMENT {_quote(schema.description)};\n"
    if schema.partition_by:
        text += f"-- Register partition folders written since the last repair.\nMSCK REPAIR TABLE {database}.{table};\n"
    return text


def rendered_files() -> dict[str, str]:
    """Every checked-in SQL file under ``sql/``, keyed by its path relative to ``sql/``."""
    files = {"duckdb/views.sql": render_duckdb_views()}
    files["trino/00_schema.sql"] = (
        "-- Trino: the schema that holds the digestflow tables (Hive connector catalog `hive`).\n"
        f"CREATE SCHEMA IF NOT EXISTS hive.digestflow WITH (location = '{PLACEHOLDER}');\n"
    )
    files["spark/00_database.sql"] = (
        "-- Spark SQL: the database that holds the digestflow tables.\n"
        "CREATE DATABASE IF NOT EXISTS digestflow;\n"
    )
    for table in schemas.tables():
        files[f"trino/{table}.sql"] = render_trino(table)
        files[f"spark/{table}.sql"] = render_spark(table)
    return files


def write_rendered(root: Path | None = None) -> list[Path]:
    """Regenerate ``sql/`` from the schema files; returns the paths written."""
    root = root or resource_dir("sql")
    written = []
    for rel, text in rendered_files().items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written


def substitute(text: str, warehouse: str) -> str:
    """Replace ``${warehouse}`` with a location, escaped for a single-quoted SQL string."""
    return text.replace(PLACEHOLDER, warehouse.rstrip("/").replace("'", "''"))


_SQL_TOKEN = re.compile(r"'(?:[^']|'')*'|--[^\n]*|;|[^';-]+|-")
_SQL_TOKEN_CODE = re.compile(r"^(?!\s*--)\s*\S", re.MULTILINE)  # a line that is not a comment


def split_statements(text: str) -> list[str]:
    """Split a SQL script on ``;`` outside single-quoted strings and ``--`` comments.

    For the Trino and Spark DDL files, which DuckDB's parser cannot read (``COMMENT`` clauses). Each
    statement keeps its leading comment lines; statements that are only comments are dropped.
    """
    statements, current = [], []
    for token in _SQL_TOKEN.findall(text):
        if token == ";":
            statements.append("".join(current).strip())
            current = []
        else:
            current.append(token)
    statements.append("".join(current).strip())
    return [s for s in statements if _SQL_TOKEN_CODE.search(s)]


# ------------------------------------------------------------------------------------ DuckDB views


_TEMP = re.compile(r"\s*CREATE\s+(?:OR\s+REPLACE\s+)?(?:TEMP|TEMPORARY)\b", re.IGNORECASE)
_VIEW_NAME = re.compile(r"CREATE\s+(?:OR\s+REPLACE\s+)?VIEW\s+(\w+)", re.IGNORECASE)


def checked_in_views() -> dict[str, str]:
    """``sql/duckdb/views.sql`` split into one statement per view, keyed by view name."""
    import duckdb

    path = resource_dir("sql") / "duckdb" / "views.sql"
    if not path.is_file():
        return {}
    views = {}
    for statement in duckdb.extract_statements(path.read_text(encoding="utf-8")):
        match = _VIEW_NAME.search(statement.query)
        if match:
            views[match.group(1)] = statement.query
    return views


def _empty_view(table: str) -> str:
    """A typed view with no rows, so a query on a table that has no data yet returns nothing, not an error."""
    cols = ", ".join(f"CAST(NULL AS {duckdb_type(c.type)}) AS {c.name}" for c in schemas.load(table).columns)
    return f"CREATE OR REPLACE VIEW {table} AS SELECT {cols} WHERE false"


def view_statements(warehouse: str) -> list[str]:
    """One ``CREATE VIEW`` per table: from views.sql when its folder holds Parquet, else an empty typed view.

    A table with a schema file but no entry in views.sql (a table added since the file was rendered)
    gets a view rendered from its schema on the fly, so ``digestflow sql`` never lags behind.
    """
    root = storage.local_path(warehouse)
    checked_in = checked_in_views()
    known = set(schemas.tables())
    statements = []
    for table in sorted(known | set(checked_in)):
        has_data = any((root / table).glob("**/*.parquet"))
        if has_data:
            check_layout(root, table)
            text = checked_in.get(table) or render_duckdb_view(table)
            statements.append(substitute(text, root.as_posix()))
        elif table in known:
            statements.append(_empty_view(table))
    return statements


class ReadOnlyWarehouse:
    """A DuckDB connection over the warehouse views, read-only and sandboxed (see the module docstring)."""

    def __init__(self, warehouse: str) -> None:
        import duckdb

        root = storage.local_path(warehouse)
        self._tmp = Path(tempfile.mkdtemp(prefix="digestflow-sql-"))
        catalog = self._tmp / "views.duckdb"
        with duckdb.connect(str(catalog)) as build:
            for statement in view_statements(warehouse):
                build.execute(statement)
        self.con = duckdb.connect(str(catalog), read_only=True)
        self.con.execute(f"SET temp_directory = {_quote(str(self._tmp))}")
        self.con.execute(f"SET allowed_directories = [{_quote(root.as_posix() + '/')}]")
        self.con.execute("SET enable_external_access = false")
        self.con.execute("SET lock_configuration = true")

    def execute(self, sql_text: str) -> tuple[list[str], list[tuple[Any, ...]]]:
        """Check ``sql_text`` (every statement), run it, return the last statement's columns and rows."""
        check_query(sql_text)
        cursor = self.con.execute(sql_text)
        return [d[0] for d in cursor.description or []], cursor.fetchall()

    def close(self) -> None:
        self.con.close()
        shutil.rmtree(self._tmp, ignore_errors=True)

    def __enter__(self) -> ReadOnlyWarehouse:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@contextmanager
def connect(warehouse: str) -> Iterator[ReadOnlyWarehouse]:
    """``with sql.connect(warehouse) as wh: wh.execute("SELECT …")``."""
    wh = ReadOnlyWarehouse(warehouse)
    try:
        yield wh
    finally:
        wh.close()


def check_query(query: str) -> None:
    """Refuse any statement that is not a read (DuckDB's parser decides what each statement is)."""
    import duckdb

    try:
        statements = duckdb.extract_statements(query)
    except duckdb.ParserException:
        return  # let execution report the syntax error with DuckDB's own message and caret
    for statement in statements:
        kind = statement.type.name
        if kind not in ALLOWED_STATEMENTS or (kind == "CREATE" and not _TEMP.match(statement.query)):
            first = statement.query.strip().split(None, 1)[0] if statement.query.strip() else kind
            raise QueryRefused(
                f"digestflow sql is read-only over the warehouse views; refused a {kind} statement "
                f"({first!r}). Allowed: {', '.join(sorted(ALLOWED_STATEMENTS))} (CREATE only for TEMP objects)."
            )


def query(warehouse: str, sql_text: str) -> tuple[list[str], list[tuple[Any, ...]]]:
    with connect(warehouse) as wh:
        return wh.execute(sql_text)


# ---------------------------------------------------------------------------------------- rendering


def _plain(value: Any) -> Any:
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return float(value)
    return value


def render(columns: list[str], rows: list[tuple[Any, ...]], fmt: str) -> str:
    """Rows as an aligned text table, CSV or a JSON array of objects."""
    if fmt == "json":
        records = [{c: _plain(v) for c, v in zip(columns, r, strict=True)} for r in rows]
        return json.dumps(records, ensure_ascii=False, default=str) + "\n"
    if fmt == "csv":
        buffer = _io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(columns)
        writer.writerows([[_plain(v) for v in r] for r in rows])
        return buffer.getvalue()
    cells = [[str(_plain(v)) if v is not None else "NULL" for v in r] for r in rows]
    widths = [max([len(c)] + [len(r[i]) for r in cells]) for i, c in enumerate(columns)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True))]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)) for r in cells]
    lines.append(f"({len(rows)} rows)")
    return "\n".join(lines) + "\n"
