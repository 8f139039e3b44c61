"""SQL access: DuckDB views (typed, read-only, sandboxed), rendered DDL, and every README example query.

The README examples run against the session's pipeline warehouse and are checked against numbers
computed here from the generated digests themselves, never by the same SQL.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections import defaultdict
from pathlib import Path

import duckdb
import pytest
from click.testing import CliRunner

from digestflow import schemas, sql
from digestflow.cli import main
from digestflow.resources import resource_dir

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def small_warehouse(tmp_path_factory) -> Path:
    """Two papers partitions and one run_metrics file, written with pyarrow from the schema (no Spark)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    root = tmp_path_factory.mktemp("wh")
    schema = schemas.load("papers").arrow()
    data_fields = [f for f in schema if f.name != "digest_date"]
    for day, n in ((dt.date(2025, 3, 12), 3), (dt.date(2025, 3, 13), 2)):
        rows = [
            {"paper_id": f"p{day.day}{i}", "digest_id": "d", "source_file": f"{day}.txt", "position": i,
             "line_start": 1, "line_end": 2, "title": f"T{i}", "abstract": "A b c", "abstract_truncated": False,
             "n_words": 3, "urls": [], "date_rule": "file_name", "ingested_at": dt.datetime(2025, 3, 14, tzinfo=dt.UTC),
             "parser_version": "1"}
            for i in range(n)
        ]
        folder = root / "papers" / f"digest_date={day}"
        folder.mkdir(parents=True)
        pq.write_table(pa.Table.from_pylist(rows, schema=pa.schema(data_fields)), folder / "part-0.parquet")
        (folder / ".part-0.parquet.crc").write_bytes(b"junk: readers must ignore side files")
    (root.parent / "outside.csv").write_text("a,b\n1,2\n")
    return root


# ----------------------------------------------------------------------------------- normal reads


def test_views_read_partitions_with_typed_columns(small_warehouse):
    cols, rows = sql.query(str(small_warehouse), """
        SELECT digest_date, typeof(digest_date), count(*) FROM papers GROUP BY ALL ORDER BY 1""")
    assert cols == ["digest_date", "typeof(digest_date)", "count_star()"]
    assert rows == [(dt.date(2025, 3, 12), "DATE", 3), (dt.date(2025, 3, 13), "DATE", 2)]


def test_a_table_without_data_is_an_empty_typed_view(small_warehouse):
    _, rows = sql.query(str(small_warehouse), "SELECT count(*), typeof(any_value(digest_date)) FROM daily_summary")
    assert rows == [(0, "DATE")]
    _, described = sql.query(str(small_warehouse), "DESCRIBE daily_summary")
    assert [r[0] for r in described] == schemas.load("daily_summary").names


def test_temp_objects_and_keywords_inside_strings_are_allowed(small_warehouse):
    _, rows = sql.query(
        str(small_warehouse),
        "CREATE TEMP VIEW recent AS SELECT * FROM papers WHERE digest_date > DATE '2025-03-12'; "
        "SELECT count(*), 'copy attach install' FROM recent -- COPY in a comment is data too",
    )
    assert rows == [(2, "copy attach install")]


# ----------------------------------------------------------------------------------- refusals


@pytest.mark.parametrize(
    "statement",
    [
        "COPY (SELECT 1) TO '{wh}/papers/evil.parquet'",
        "COPY (SELECT 1) TO '/tmp/digestflow-evil.csv'",
        "ATTACH '{wh}/evil.duckdb' AS evil",
        "INSTALL httpfs",
        "LOAD httpfs",
        "CREATE TABLE t AS SELECT 1",
        "CREATE VIEW v AS SELECT 1",
        "INSERT INTO papers SELECT * FROM papers",
        "SET enable_external_access = true",
        "PRAGMA enable_profiling",
        "EXPORT DATABASE '{wh}/export'",
        "SELECT 1; COPY (SELECT 1) TO '{wh}/papers/evil.csv'",
    ],
)
def test_writes_and_escapes_are_refused_before_running(small_warehouse, statement):
    before = sorted(p.relative_to(small_warehouse) for p in small_warehouse.rglob("*"))
    with pytest.raises(sql.QueryRefused, match="read-only"):
        sql.query(str(small_warehouse), statement.format(wh=small_warehouse))
    assert sorted(p.relative_to(small_warehouse) for p in small_warehouse.rglob("*")) == before
    assert not Path("/tmp/digestflow-evil.csv").exists()


@pytest.mark.parametrize(
    "statement",
    [
        "SELECT * FROM read_csv('/etc/passwd')",
        "SELECT * FROM read_text('/etc/hostname')",
        "SELECT * FROM read_csv('{wh}/../outside.csv')",
        "SELECT * FROM read_parquet('/usr/**/*.parquet')",
        "SELECT * FROM glob('/etc/*')",
    ],
)
def test_reading_outside_the_warehouse_fails_in_the_engine(small_warehouse, statement):
    """These are SELECTs, so the statement check lets them through: DuckDB's sandbox must stop them."""
    assert (small_warehouse.parent / "outside.csv").is_file()
    with pytest.raises(duckdb.PermissionException):
        sql.query(str(small_warehouse), statement.format(wh=small_warehouse))


def test_engine_layer_alone_blocks_writes_outside_temp_and_config_changes(small_warehouse):
    """Bypass the statement check: the read-only catalog and the locked sandbox still hold."""
    with sql.connect(str(small_warehouse)) as wh:
        con = wh.con
        with pytest.raises(duckdb.Error, match="read-only"):
            con.execute("CREATE TABLE t AS SELECT 1")
        with pytest.raises(duckdb.Error, match="read-only"):
            con.execute("CREATE VIEW v AS SELECT 1")
        with pytest.raises(duckdb.PermissionException):
            con.execute("ATTACH '/tmp/digestflow-evil.duckdb' AS evil")
        with pytest.raises(duckdb.PermissionException):
            con.execute("INSTALL httpfs")
        with pytest.raises(duckdb.Error, match="locked"):
            con.execute("SET enable_external_access = true")
        with pytest.raises(duckdb.Error, match="locked"):
            con.execute("SET allowed_directories = ['/']")
        con.execute("CREATE TEMP TABLE scratch AS SELECT count(*) AS n FROM papers")
        assert con.execute("SELECT n FROM scratch").fetchall() == [(5,)]
    assert not Path("/tmp/digestflow-evil.duckdb").exists()


def test_cli_formats_and_refusal(small_warehouse):
    runner = CliRunner()
    q = "SELECT digest_date, count(*) AS n FROM papers GROUP BY 1 ORDER BY 1"
    out = runner.invoke(main, ["sql", "--warehouse", str(small_warehouse), "--format", "json", q])
    assert out.exit_code == 0, out.output
    assert json.loads(out.output) == [{"digest_date": "2025-03-12", "n": 3}, {"digest_date": "2025-03-13", "n": 2}]
    out = runner.invoke(main, ["sql", "--warehouse", str(small_warehouse), "--format", "csv", q])
    assert out.output.splitlines() == ["digest_date,n", "2025-03-12,3", "2025-03-13,2"]
    out = runner.invoke(main, ["sql", "--warehouse", str(small_warehouse), "COPY papers TO 'x.csv'"])
    assert out.exit_code == 1
    assert "refused a COPY statement" in out.output


# ----------------------------------------------------------------------------------- rendered DDL


def test_checked_in_sql_matches_the_schemas():
    """sql/ is rendered from schemas/: regenerate with `digestflow ddl --write` after a schema change."""
    root = resource_dir("sql")
    stale = [rel for rel, text in sql.rendered_files().items()
             if not (root / rel).is_file() or (root / rel).read_text(encoding="utf-8") != text]
    assert not stale, f"stale or missing under sql/: {stale}; run `digestflow ddl --write`"


def test_every_table_has_a_typed_duckdb_view_and_ddl_with_partitions_last():
    views = sql.checked_in_views()
    for table in schemas.tables():
        schema = schemas.load(table)
        assert table in views
        for col in schema.partition_by:
            assert f"'{col}': {sql.duckdb_type(schema.column(col).type)}" in views[table]
        trino, spark_sql = sql.render_trino(table), sql.render_spark(table)
        columns = trino.split("\n)\n", 1)[0]  # the column list, before COMMENT/WITH (external_location = …)
        declared = re.findall(r"^  (\w+) ", columns, flags=re.MULTILINE)
        assert sorted(declared) == sorted(schema.names)
        assert declared[len(declared) - len(schema.partition_by):] == list(schema.partition_by) or not schema.partition_by
        assert ("sync_partition_metadata" in trino) == bool(schema.partition_by)
        assert ("MSCK REPAIR TABLE" in spark_sql) == bool(schema.partition_by)


@pytest.mark.slow
def test_spark_ddl_reads_the_same_rows_as_duckdb(pipeline_run, spark, tmp_path):
    """Run the checked-in Spark SQL files (CREATE TABLE … LOCATION + MSCK REPAIR) on the session."""
    root = resource_dir("sql") / "spark"
    spark.sql(f"CREATE DATABASE IF NOT EXISTS digestflow LOCATION '{tmp_path.as_uri()}'")
    try:
        for table in ("papers", "daily_summary", "trend_mart"):
            text = sql.substitute((root / f"{table}.sql").read_text(), "file://" + str(pipeline_run.warehouse))
            for statement in sql.split_statements(text):
                spark.sql(statement)
            ours = spark.sql(f"SELECT count(*) AS n, count(DISTINCT {schemas.load(table).partition_by[0]}) AS p "
                             f"FROM digestflow.{table}").first()
            theirs = sql.query(str(pipeline_run.warehouse),
                               f"SELECT count(*), count(DISTINCT {schemas.load(table).partition_by[0]}) FROM {table}")[1]
            assert (ours["n"], ours["p"]) == theirs[0]
            assert ours["n"] > 0
    finally:
        spark.sql("DROP DATABASE IF EXISTS digestflow CASCADE")


# ----------------------------------------------------------------------------------- README examples


def readme_examples() -> dict[str, str]:
    """``-- title`` → SQL, for every ```sql block of the README section "Query it with SQL"."""
    text = (REPO / "README.md").read_text(encoding="utf-8")
    section = text.split("## Query it with SQL", 1)[1].split("\n## ", 1)[0]
    examples = {}
    for block in re.findall(r"```sql\n(.*?)```", section, flags=re.DOTALL):
        title = block.splitlines()[0].removeprefix("--").strip()
        examples[title] = block
    return examples


def _week(day: dt.date) -> dt.date:
    return day - dt.timedelta(days=day.weekday())


def _phrase_papers(run, phrase: str, first: dt.date, last: dt.date) -> int:
    return sum(phrase in a.lower() for d in run.published if first <= d.digest_date <= last for _, a in d.papers)


def check_papers_per_day(run, rows):
    assert rows == [(d.digest_date, len(d.papers)) for d in sorted(run.published, key=lambda d: d.digest_date)][::-1][:14]


def check_repeats(run, rows):
    days_of: dict[str, list[dt.date]] = defaultdict(list)
    for d in run.published:
        for title, _ in d.papers:
            days_of[title].append(d.digest_date)
    expected = sorted((t, len(v), min(v), max(v)) for t, v in days_of.items() if len(v) > 1)
    assert expected, "no repeated papers in the corpus: the check proves nothing"
    assert sorted(rows) == expected


def check_new_vs_repeated(run, rows):
    seen: set[str] = set()
    expected = []
    for d in run.published:
        titles = {t for t, _ in d.papers}
        expected.append((_week(d.digest_date), len(titles - seen), len(titles & seen)))
        seen |= titles
    weekly = defaultdict(lambda: [0, 0])
    for week, new, rep in expected:
        weekly[week][0] += new
        weekly[week][1] += rep
    assert rows == [(w, new, rep) for w, (new, rep) in sorted(weekly.items())]


def check_code_share(run, rows):
    weekly = defaultdict(lambda: [0, 0])
    for d in run.published:
        weekly[_week(d.digest_date)][0] += len(d.papers)
        weekly[_week(d.digest_date)][1] += sum("https://github.com/" in a for _, a in d.papers)
    expected = sorted(weekly.items())
    assert [(w, n) for w, n, _ in rows] == [(w, n) for w, (n, _) in expected]
    for (_, _, share), (_, (n, c)) in zip(rows, expected, strict=True):
        assert abs(share - c / n) <= 0.0005 + 1e-12  # rounded to 3 places


def check_failed_days(run, rows):
    assert [r[0] for r in rows] == [run.bad_date]
    assert rows[0][1] >= 1


def check_rejects(run, rows):
    assert rows == [(run.bad_date, "duplicate_in_digest", 1)]


def check_rising(run, rows):
    terms = [r[1] for r in rows]
    assert "spectral token routing" in terms[:3]
    row = rows[terms.index("spectral token routing")]
    assert row[3] == _phrase_papers(run, "spectral token routing", run.end - dt.timedelta(days=6), run.end)


def check_new_terms(run, rows):
    by_term = {r[0]: r for r in rows}
    assert "holographic state caching" in by_term
    first = min(d.digest_date for d in run.published for _, a in d.papers if "holographic state caching" in a.lower())
    assert by_term["holographic state caching"][1:] == (
        first, _phrase_papers(run, "holographic state caching", run.end - dt.timedelta(days=6), run.end)
    )


def check_riser_papers(run, rows):
    # trend_papers for the top riser: generated papers of the last 7 days whose text carries the phrase.
    assert {r[0] for r in rows} == {"spectral token routing"}
    assert [r[1] for r in rows] == list(range(1, len(rows) + 1))
    assert 3 <= len(rows) <= 5
    texts = {(d.digest_date, t): f"{t} {a}".lower() for d in run.published for t, a in d.papers}
    for _, _, day, title, _, occurrences in rows:
        assert run.end - dt.timedelta(days=6) <= day <= run.end
        assert texts[(day, title)].count("spectral token routing") == occurrences


def check_erank_weeks(run, rows):
    # A paper listed on two days of one week is one vector of that week's set (erank.set_candidates).
    per_week: dict[dt.date, set[str]] = defaultdict(set)
    for d in run.published:
        per_week[_week(d.digest_date)] |= {title for title, _ in d.papers}
    assert [(r[0], r[1]) for r in rows] == sorted((w, len(t)) for w, t in per_week.items())
    for _, _, at_n, low, high in rows:
        assert low <= at_n <= high


def check_stage_times(run, rows):
    from digestflow.stages import STAGES

    assert sorted(r[0] for r in rows) == sorted(STAGES)
    assert all(r[1] >= 1 for r in rows)


CHECKS = {
    "Papers per day, last 14 digest dates": check_papers_per_day,
    "Papers listed on more than one day": check_repeats,
    "New vs repeated papers per week": check_new_vs_repeated,
    "Share of papers with a code link, per week": check_code_share,
    "Days that failed validation": check_failed_days,
    "Rejected blocks by day and reason": check_rejects,
    "Top rising terms this week": check_rising,
    "New terms this week": check_new_terms,
    "The papers behind this week's top rising term": check_riser_papers,
    "erank per week with its 95% interval": check_erank_weeks,
    "How long each stage took": check_stage_times,
}


def test_readme_has_8_to_11_examples_each_checked():
    examples = readme_examples()
    assert 8 <= len(examples) <= 11
    assert set(examples) == set(CHECKS)


@pytest.mark.slow
@pytest.mark.parametrize("title", list(CHECKS))
def test_readme_example_answers(pipeline_run, title):
    _, rows = sql.query(str(pipeline_run.warehouse), readme_examples()[title])
    assert rows, f"{title!r} returned no rows"
    CHECKS[title](pipeline_run, [tuple(r) for r in rows])
