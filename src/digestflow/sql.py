"""Read-only SQL over the warehouse with DuckDB: one view per table over its Hive-partitioned Parquet."""

from __future__ import annotations

import csv
import datetime as dt
import decimal
import io as _io
import json
import re
from typing import Any

from digestflow import io, schemas


class QueryRefused(ValueError):
    """The query tried to write, attach, install or read outside the warehouse."""


_FORBIDDEN = re.compile(
    r"\b(copy|attach|detach|install|load|export|import|pragma|set|reset|call|insert|update|delete|"
    r"create|drop|alter|checkpoint|vacuum)\b|\bread_\w+\s*\(|\bglob\s*\(",
    re.IGNORECASE,
)


def view_statements(warehouse: str) -> list[str]:
    """``CREATE VIEW`` for every table with a schema file and data on disk (typed partition columns)."""
    statements = []
    for table in schemas.tables():
        root = io.table_dir(warehouse, table)
        if not any(root.glob("**/*.parquet")):
            continue
        pattern = (root / "**" / "*.parquet").as_posix().replace("'", "''")
        statements.append(
            f"CREATE VIEW {table} AS SELECT * FROM read_parquet('{pattern}', "
            "hive_partitioning = true, union_by_name = true)"
        )
    return statements


def connect(warehouse: str) -> Any:
    """An in-memory DuckDB with the warehouse views, locked so queries cannot reach other files."""
    import duckdb

    con = duckdb.connect(":memory:")
    for statement in view_statements(warehouse):
        con.execute(statement)
    root = io.local_path(warehouse).as_posix()
    con.execute(f"SET allowed_directories = ['{root}']")
    con.execute("SET enable_external_access = false")
    con.execute("SET lock_configuration = true")
    return con


def check_query(query: str) -> None:
    # Keywords inside string literals or comments are data, not statements.
    stripped = re.sub(r"'(?:[^']|'')*'|--[^\n]*|/\*.*?\*/", " ", query, flags=re.DOTALL)
    match = _FORBIDDEN.search(stripped)
    if match:
        raise QueryRefused(
            f"digestflow sql is read-only over the warehouse views; refused {match.group(0).strip()!r}"
        )


def query(warehouse: str, sql_text: str) -> tuple[list[str], list[tuple[Any, ...]]]:
    check_query(sql_text)
    con = connect(warehouse)
    try:
        cursor = con.execute(sql_text)
        columns = [d[0] for d in cursor.description or []]
        return columns, cursor.fetchall()
    finally:
        con.close()


def _plain(value: Any) -> Any:
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return float(value)
    return value


def render(columns: list[str], rows: list[tuple[Any, ...]], fmt: str) -> str:
    if fmt == "json":
        return json.dumps([{c: _plain(v) for c, v in zip(columns, r, strict=True)} for r in rows], ensure_ascii=False) + "\n"
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
