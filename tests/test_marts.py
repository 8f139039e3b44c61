"""Marts: hand-computed daily_summary / trend_mart / erank_mart rows, and the stage against the generator."""

from __future__ import annotations

import datetime as dt
import re
from collections import defaultdict

import pytest

from digestflow import schemas
from digestflow.marts import select_erank_series, select_trend_lists, summarize_days

D0, D1, D2, D3 = (dt.date(2025, 3, 9) + dt.timedelta(days=i) for i in range(4))
T = dt.datetime(2025, 3, 12, 8, tzinfo=dt.UTC)

PAPER_COLS = "paper_id string, digest_id string, digest_date date, n_words int, urls array<string>, abstract_truncated boolean"
REJECT_COLS = "digest_id string, digest_date date, reason string"
VALIDATION_COLS = "table_name string, partition string, suite string, success boolean, validated_at timestamp, run_id string"


def _full(spark, table, rows):
    """Rows given as dicts with only the columns a test cares about; the rest are filled per type."""
    schema = schemas.load(table)
    fill = {"string": "x", "int": 0, "long": 0, "double": 0.0, "boolean": False, "date": D0, "timestamp": T}
    full = [
        {c.name: r.get(c.name, None if c.nullable else fill.get(c.type, [])) for c in schema.columns} for r in rows
    ]
    return spark.createDataFrame(full, schema.spark())


def test_summarize_days_counts_new_repeated_code_and_validation(spark):
    papers = spark.createDataFrame(
        [
            ("B", "d0", D0, 80, [], False),  # before the run: makes B a repeat on D1
            ("A", "d1", D1, 100, ["https://github.com/x/y"], False),
            ("B", "d1", D1, 200, ["https://b.github.io/page"], False),  # a project page is not code
            ("A", "d2", D2, 100, [], False),
            ("C", "d2", D2, 50, ["http://gitlab.com/u/r", "https://github.com/z/w"], True),
            ("C", "d2b", D2, 50, ["https://www.github.com/z/w"], False),  # same paper, second digest
        ],
        PAPER_COLS,
    )
    rejects = spark.createDataFrame([("d1", D1, "r"), ("d3", D3, "r"), ("d3", D3, "r"), ("d0", D0, "r")], REJECT_COLS)
    validations = spark.createDataFrame(
        [
            ("papers", "digest_date=2025-03-10", "papers", False, T - dt.timedelta(hours=2), "r1"),
            ("papers", "digest_date=2025-03-10", "papers", True, T, "r2"),  # re-ingested: the latest counts
            ("papers", "digest_date=2025-03-12", "papers", True, T - dt.timedelta(hours=2), "r1"),
            ("papers", "digest_date=2025-03-12", "papers", False, T, "r2"),
            ("rejects", "digest_date=2025-03-12", "rejects", True, T, "r2"),
            ("daily_summary", "digest_date=2025-03-11", "daily_summary", False, T, "r2"),  # not an ingest table
            ("papers", "digest_date=2025-03-09", "papers", False, T, "r2"),  # outside the run
        ],
        VALIDATION_COLS,
    )
    out = summarize_days(papers, rejects, validations, D1, D3)
    assert out.columns == schemas.load("daily_summary").names
    got = {r["digest_date"]: r.asDict() for r in out.collect()}
    assert sorted(got) == [D1, D2, D3]

    def row(digests, papers_, new, repeated, rejects_, words, truncated, code, suites, failed, success, day):
        return dict(
            n_digests=digests, n_papers=papers_, n_new_papers=new, n_repeated_papers=repeated, n_rejects=rejects_,
            mean_abstract_words=words, share_truncated=truncated, share_with_code=code,
            validation_suites=suites, validation_failed=failed, validation_success=success, digest_date=day,
            month="2025-03",
        )

    assert got[D1] == row(1, 2, 1, 1, 1, 150.0, 0.0, 0.5, 1, 0, True, D1)
    assert got[D2] == pytest.approx(row(2, 3, 1, 1, 0, 200 / 3, 1 / 3, 2 / 3, 0, 0, None, D2))
    assert got[D3] == row(1, 0, 0, 0, 2, None, None, None, 2, 1, False, D3)


def _trend(term, **kw):
    base = {"term": term, "display_form": term.title(), "window": "7d", "as_of": D3, "logodds_z": 0.0,
            "df_target": 1, "first_seen": D0, "is_new": False}
    return base | kw


def test_select_trend_lists_takes_top_n_and_attaches_sorted_sparklines(spark):
    trends = _full(spark, "keyword_trends", [
        _trend("r1", rank_rising=1, logodds_z=5.0),
        _trend("r2", rank_rising=2, logodds_z=4.0),
        _trend("r3", rank_rising=3, logodds_z=3.0),
        _trend("f1", rank_falling=1, logodds_z=-4.0),
        _trend("n1", is_new=True, df_target=5, logodds_z=1.0),
        _trend("n2", is_new=True, df_target=7, logodds_z=0.5),
        _trend("n3", is_new=True, df_target=5, logodds_z=2.0),
        _trend("r1", window="28d", rank_rising=1, logodds_z=2.0),
    ])
    w1, w2, w3 = D0, D0 + dt.timedelta(days=7), D0 + dt.timedelta(days=14)
    stats = _full(spark, "term_stats", [
        {"term": "r1", "as_of": D3, "period_start": w2, "share": 0.2},
        {"term": "r1", "as_of": D3, "period_start": w1, "share": 0.1},
        {"term": "r1", "as_of": D3, "period_start": w3, "share": None},  # week without papers: left out
        {"term": "r1", "as_of": D2, "period_start": w1, "share": 0.9},  # another run: must not leak in
    ])
    out = select_trend_lists(trends, stats, top_n=2)
    assert out.columns == schemas.load("trend_mart").names
    got = {(r["window"], r["list"], r["rank"]): (r["term"], r["spark_weeks"], r["spark_share"]) for r in out.collect()}
    assert got == {
        ("7d", "rising", 1): ("r1", [w1, w2], [0.1, 0.2]),
        ("7d", "rising", 2): ("r2", [], []),
        ("7d", "falling", 1): ("f1", [], []),
        ("7d", "new", 1): ("n2", [], []),
        ("7d", "new", 2): ("n3", [], []),  # df tie with n1 broken by the larger z
        ("28d", "rising", 1): ("r1", [w1, w2], [0.1, 0.2]),
    }


def test_select_erank_series_keeps_calendar_sets_only(spark):
    rows = [
        {"set_kind": "day", "period": "2025-03", "set_key": "2025-03-10", "set_start": D1, "set_end": D1, "n": 9,
         "erank": 7.5, "erank_at_n": 6.1, "erank_ci_low": 5.9, "erank_ci_high": 6.3, "erank_at_n_m": 8},
        {"set_kind": "week", "period": "2025-03", "set_key": "2025-03-10", "set_start": D1, "set_end": D1, "n": 40},
        {"set_kind": "term", "period": "2025-03-12", "set_key": "lora", "set_start": D1, "set_end": D3, "n": 12},
        {"set_kind": "external", "period": "external", "set_key": "f.npy", "n": 5},
    ]
    out = select_erank_series(_full(spark, "erank_stats", rows))
    assert out.columns == schemas.load("erank_mart").names
    got = sorted((r["set_kind"], r["n"], r["erank_at_n"]) for r in out.collect())
    assert got == [("day", 9, 6.1), ("week", 40, None)]


# ------------------------------------------------------------------------- the stage, on a real run


def _duckdb_rows(warehouse, query):
    from digestflow import sql

    return sql.query(str(warehouse), query)[1]


@pytest.mark.slow
def test_daily_summary_matches_the_generated_digests(pipeline_run):
    """Counts from the digests as written (not from papers): published days, repeats, code links, faults."""
    seen: set[str] = set()
    expected = {}
    for d in pipeline_run.published:
        titles = {t for t, _ in d.papers}
        new = len(titles - seen)
        code = sum("https://github.com/" in a for _, a in d.papers)
        words = sum(len(a.split()) for _, a in d.papers) / len(d.papers)
        expected[d.digest_date] = (len(d.papers), new, len(titles) - new, 0, round(code / len(d.papers), 9),
                                   round(words, 9), True)
        seen |= titles
    # The bad day: its papers were blocked, its repeated paper quarantined, its papers suite failed.
    expected[pipeline_run.bad_date] = (0, 0, 0, 1, None, None, False)
    rows = _duckdb_rows(pipeline_run.warehouse, """
        SELECT digest_date, n_papers, n_new_papers, n_repeated_papers, n_rejects, round(share_with_code, 9),
               round(mean_abstract_words, 9), validation_success
        FROM daily_summary ORDER BY digest_date""")
    assert {r[0]: tuple(r[1:]) for r in rows} == expected
    assert sum(e[2] for e in expected.values()) > 0, "the generator planted no repeats: the test proves nothing"


@pytest.mark.slow
def test_trend_mart_lists_the_planted_riser_and_new_phrase(pipeline_run):
    rows = _duckdb_rows(pipeline_run.warehouse, """
        SELECT list, rank, term, spark_share FROM trend_mart WHERE "window" = '7d' ORDER BY list, rank""")
    by_list = defaultdict(list)
    for lst, rank, term, spark in rows:
        by_list[lst].append((rank, term, spark))
    assert [r for r, _, _ in by_list["rising"]] == list(range(1, len(by_list["rising"]) + 1))
    assert "spectral token routing" in [t for _, t, _ in by_list["rising"][:3]]
    assert "holographic state caching" in [t for _, t, _ in by_list["new"]]
    riser = next(s for _, t, s in by_list["rising"] if t == "spectral token routing")
    assert len(riser) >= 3
    assert riser[-1] > riser[0], "the sparkline of a sharp riser ends higher than it starts"


@pytest.mark.slow
def test_erank_mart_week_sizes_match_the_published_papers(pipeline_run):
    # A paper listed on two days of one week counts once in that week's set (erank.set_candidates).
    titles: dict[dt.date, set[str]] = defaultdict(set)
    for d in pipeline_run.published:
        titles[d.digest_date - dt.timedelta(days=d.digest_date.weekday())] |= {t for t, _ in d.papers}
    per_week = {week: len(t) for week, t in titles.items()}
    assert sum(per_week.values()) < sum(len(d.papers) for d in pipeline_run.published), "no repeat inside a week"
    rows = _duckdb_rows(pipeline_run.warehouse, """
        SELECT set_start, n, erank_at_n, erank_ci_low, erank_ci_high FROM erank_mart
        WHERE set_kind = 'week' ORDER BY set_start""")
    assert {r[0]: r[1] for r in rows} == dict(per_week)
    for _, _, at_n, low, high in rows:
        assert low <= at_n <= high


@pytest.mark.slow
def test_marts_rerun_is_identical(pipeline_run, spark):
    """Re-running the marts stage over the same warehouse rewrites every mart with the same content."""
    from digestflow.runner import make_context
    from digestflow.runner import run as run_stages
    from digestflow.settings import Settings

    marts = ["daily_summary", "trend_mart", "erank_mart"]

    def snapshot():
        out = {}
        for table in marts:
            cols = ", ".join(f'"{c}"' for c in schemas.load(table).data_columns)
            out[table] = _duckdb_rows(pipeline_run.warehouse, f"SELECT {cols} FROM {table} ORDER BY ALL")
        return out

    def files():
        return sorted(p for t in marts for p in (pipeline_run.warehouse / t).glob("**/*.parquet"))

    before, before_files = snapshot(), files()
    assert all(before.values()), f"a mart is empty: {[t for t, v in before.items() if not v]}"
    settings = Settings.from_env().replace(
        landing=str(pipeline_run.landing), warehouse=str(pipeline_run.warehouse), spark_master="local[2]",
        shuffle_partitions=2,
    )
    ctx = make_context(spark=spark, settings=settings, start=pipeline_run.start, end=pipeline_run.end)
    run_stages(ctx, ["marts"])
    assert snapshot() == before
    assert files() != before_files or not before_files, "the re-run published nothing new"
    assert all(re.search(r"/part-[^/]*\.parquet$", str(p)) for p in files())


@pytest.mark.slow
def test_daily_summary_is_one_partition_per_month_and_a_one_day_run_rebuilds_its_month(pipeline_run, spark):
    """daily_summary keeps one folder per month holding every digest date of that month (the dates come
    from the generated digests); a marts run for one date rewrites its whole month with the same rows and
    leaves the other months' files alone."""
    import pyarrow.parquet as pq

    from digestflow.runner import make_context
    from digestflow.runner import run as run_stages
    from digestflow.settings import Settings

    root = pipeline_run.warehouse / "daily_summary"
    by_month: dict[str, set[dt.date]] = defaultdict(set)
    for d in pipeline_run.digests:
        by_month[d.digest_date.strftime("%Y-%m")].add(d.digest_date)
    assert len(by_month) >= 2, "the corpus spans one month: the test proves nothing"

    def folder_dates() -> dict[str, set[dt.date]]:
        return {f.name: set(pq.read_table(f).column("digest_date").to_pylist()) for f in sorted(root.iterdir())}

    def files() -> dict[str, list[str]]:
        return {f.name: sorted(p.name for p in f.glob("*.parquet")) for f in sorted(root.iterdir())}

    assert folder_dates() == {f"month={m}": dates for m, dates in by_month.items()}
    cols = ", ".join(f'"{c}"' for c in schemas.load("daily_summary").data_columns)
    before, before_files = _duckdb_rows(pipeline_run.warehouse, f"SELECT {cols} FROM daily_summary ORDER BY ALL"), files()

    first_month = sorted(by_month)[0]
    published = sorted(d for d in by_month[first_month] if d != pipeline_run.bad_date)  # the bad day has no papers
    day = published[len(published) // 2]  # a date inside the month
    settings = Settings.from_env().replace(
        landing=str(pipeline_run.landing), warehouse=str(pipeline_run.warehouse), spark_master="local[2]",
        shuffle_partitions=2,
    )
    run_stages(make_context(spark=spark, settings=settings, start=day, end=day), ["marts"])

    assert _duckdb_rows(pipeline_run.warehouse, f"SELECT {cols} FROM daily_summary ORDER BY ALL") == before
    assert folder_dates() == {f"month={m}": dates for m, dates in by_month.items()}
    after_files = files()
    assert after_files[f"month={first_month}"] != before_files[f"month={first_month}"], "its month was not rewritten"
    assert {m: f for m, f in after_files.items() if m != f"month={first_month}"} == {
        m: f for m, f in before_files.items() if m != f"month={first_month}"
    }


@pytest.mark.slow
def test_a_warehouse_in_the_per_date_layout_moves_to_months_on_its_next_marts_run(pipeline_run, spark, tmp_path):
    """A warehouse written before daily_summary was partitioned by month (one digest_date=… folder per
    date, no month column): the next marts run, even for one date, rebuilds every month those folders
    cover and removes them, so no date is listed twice and no date is lost."""
    import shutil
    import subprocess
    import sys

    import duckdb
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    from digestflow.runner import make_context
    from digestflow.runner import run as run_stages
    from digestflow.settings import Settings

    warehouse = tmp_path / "warehouse"
    shutil.copytree(pipeline_run.warehouse, warehouse, ignore=shutil.ignore_patterns("_data_docs", "_staging"))
    root = warehouse / "daily_summary"
    current = pq.read_table(root).drop_columns(["month"])  # the folders' month column comes back from hive
    shutil.rmtree(root)
    dates = sorted(set(current.column("digest_date").to_pylist()))
    for day in dates:  # the old layout: the date is the folder, not a column
        folder = root / f"digest_date={day}"
        folder.mkdir(parents=True)
        rows = current.filter(pc.equal(current["digest_date"], pa.scalar(day)))
        pq.write_table(rows.drop_columns(["digest_date"]), folder / "part-0.parquet")
    cols = [c for c in schemas.load("daily_summary").names if c != "month"]
    listed = ", ".join(f'"{c}"' for c in cols)
    old_rows = duckdb.sql(f"SELECT {listed} FROM read_parquet('{root}/**/*.parquet', hive_partitioning = true) "
                          "ORDER BY ALL").fetchall()
    assert len(old_rows) == len(dates) == len({d.digest_date for d in pipeline_run.digests})

    # Until then, a query says what is wrong and which command mends it (no traceback, no double rows).
    sql_cli = subprocess.run([sys.executable, "-m", "digestflow.cli", "sql", "SELECT count(*) FROM papers",
                              "--warehouse", str(warehouse)], capture_output=True, text=True, timeout=120)
    assert sql_cli.returncode == 1
    assert "Traceback" not in sql_cli.stderr
    assert "daily_summary has" in sql_cli.stderr
    assert "digestflow marts --date" in sql_cli.stderr

    day = dates[-1]
    settings = Settings.from_env().replace(landing=str(pipeline_run.landing), warehouse=str(warehouse),
                                           spark_master="local[2]", shuffle_partitions=2)
    run_stages(make_context(spark=spark, settings=settings, start=day, end=day), ["marts"])

    assert not list(root.glob("digest_date=*")), "old-layout folders left beside the monthly ones"
    assert sorted(f.name for f in root.iterdir()) == sorted({f"month={d:%Y-%m}" for d in dates})
    assert _duckdb_rows(warehouse, f"SELECT {listed} FROM daily_summary ORDER BY ALL") == old_rows
