"""Hand-off inside one run: a table a later stage reads is kept in Spark's cache from the stage that publishes
it, and the run's tables are the same with and without it (real Spark, synthetic digests)."""

from __future__ import annotations

import datetime as dt
import importlib.util
from pathlib import Path

import pytest

from digestflow import storage
from digestflow.generate import generate_corpus, write_corpus
from digestflow.runner import make_context, run
from digestflow.settings import Settings

REPO = Path(__file__).resolve().parents[1]
START = dt.date(2025, 1, 6)


def _compare():
    spec = importlib.util.spec_from_file_location("compare_warehouses", REPO / "scripts" / "compare_warehouses.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.compare


@pytest.fixture(scope="module")
def landing(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("handoff") / "landing"
    write_corpus(generate_corpus(21, start=START, seed=5), folder)
    return folder


def _settings(landing: Path, warehouse: Path, handoff: bool, concurrent_stages: int = 2) -> Settings:
    return Settings.from_env().replace(
        landing=str(landing), warehouse=str(warehouse), validate=True, handoff=handoff, spark_master="local[2]",
        concurrent_stages=concurrent_stages,
    )


def _in_memory(df) -> bool:
    return "InMemoryRelation" in df._jdf.queryExecution().optimizedPlan().toString()


def test_the_full_run_keeps_what_a_later_stage_reads_whole_not_paper_terms() -> None:
    """From the declarations of the six stages (by hand): papers (read by terms, embed, trends, marts),
    rejects (marts), embeddings (erank), keyword_trends (erank, marts), term_stats and erank_stats
    (marts) are kept; paper_terms is not, since its two readers (trends' lookback, erank's term
    windows) read a window of it from the warehouse; the marts are read by no later stage."""
    from digestflow.pipeline import handoff_tables
    from digestflow.stages import STAGES

    order = ["ingest", "terms", "embed", "trends", "erank", "marts"]
    assert handoff_tables([STAGES[n] for n in order]) == {
        "papers", "rejects", "embeddings", "keyword_trends", "term_stats", "erank_stats"}
    assert handoff_tables([STAGES[n] for n in ["terms", "trends"]]) == set()
    assert handoff_tables([STAGES[n] for n in ["ingest", "embed"]]) == {"papers"}


def test_tables_are_equal_with_and_without_the_handoff(spark, landing, tmp_path) -> None:
    """The plain run (every read from the warehouse, one stage at a time) and the default one (hand-off,
    independent stages side by side) publish the same tables."""
    end = START + dt.timedelta(days=20)
    for handoff in (False, True):
        wh = tmp_path / ("on" if handoff else "off")
        run(make_context(spark, _settings(landing, wh, handoff, 2 if handoff else 1), START, end))
    assert _compare()(tmp_path / "off", tmp_path / "on")
    assert any((tmp_path / "on" / "keyword_trends").rglob("*.parquet")), "nothing was compared"


def test_a_later_stage_reads_the_kept_table_and_it_is_released(spark, landing, tmp_path) -> None:
    from digestflow.stages import STAGES

    end = START + dt.timedelta(days=6)
    ctx = make_context(spark, _settings(landing, tmp_path / "wh", True), START, end)
    run(ctx, ["ingest"])  # nothing later in this run reads papers: not kept
    assert ctx.handoff == set()
    assert not _in_memory(ctx.read("papers", storage.date_partitions(ctx.dates)))

    seen = {}
    original = STAGES["terms"].run

    def spy(c, params):
        days = storage.date_partitions(c.dates)
        seen["papers"] = _in_memory(c.read("papers", days))
        seen["papers_count"] = c.read("papers", days).count()
        seen["outside"] = _in_memory(c.read("papers", storage.date_partitions([START - dt.timedelta(days=1)])))
        return original(c, params)

    import dataclasses

    import digestflow.stages as registry

    patched = dataclasses.replace(STAGES["terms"], run=spy)
    saved = dict(registry.STAGES)
    registry.STAGES["terms"] = patched
    try:
        ctx = make_context(spark, _settings(landing, tmp_path / "wh", True), START, end)
        run(ctx, ["ingest", "terms"])
    finally:
        registry.STAGES.clear()
        registry.STAGES.update(saved)
    assert ctx.handoff == {"papers"}
    assert seen["papers"] is True  # terms read ingest's output from memory
    assert seen["outside"] is False  # a partition this run did not publish comes from the warehouse
    on_disk = sum(1 for _ in (tmp_path / "wh" / "papers").rglob("*.parquet"))
    assert on_disk > 0
    assert seen["papers_count"] == ctx.read("papers", storage.date_partitions(ctx.dates)).count()
    assert ctx._kept == {}  # released when the run ended


def test_a_kept_frame_is_cut_to_the_listed_partitions_by_hand(spark):
    """``pipeline._only`` (the hand-off's partition filter, one SQL IN list): the rows of exactly the listed
    partitions, for dates, strings with a quote and a backslash, ints, and two partition columns."""
    from digestflow.pipeline import _only

    day = dt.date(2025, 3, 1)
    rows = [
        ("a", day, 1, "it's", "x"),
        ("b", day + dt.timedelta(days=1), 2, "back\\slash", "x"),
        ("c", day + dt.timedelta(days=2), 3, "plain", "y"),
        ("d", day + dt.timedelta(days=2), 4, "it's", "y"),
    ]
    df = spark.createDataFrame(rows, "id string, d date, n int, s string, k string")

    def ids(partitions):
        return sorted(r.id for r in _only(df, "t", partitions).collect())

    assert ids([{"d": day}, {"d": day + dt.timedelta(days=2)}]) == ["a", "c", "d"]
    assert ids([{"s": "it's"}]) == ["a", "d"]
    assert ids([{"s": "back\\slash"}, {"s": "nowhere"}]) == ["b"]
    assert ids([{"n": 2}, {"n": 4}]) == ["b", "d"]
    assert ids([{"k": "y", "d": day + dt.timedelta(days=2)}, {"k": "x", "d": day}]) == ["a", "c", "d"]
    assert ids([{"k": "x", "d": day + dt.timedelta(days=2)}]) == []
    assert ids([]) == []


def test_in_list_matches_exactly_its_values_and_an_empty_list_matches_nothing(spark):
    """``pipeline.in_list`` (one SQL IN expression) selects the rows ``Column.isin`` would: strings with
    quotes and backslashes, dates, ints; a float falls back to ``isin``; an empty list, which SQL cannot
    write as ``IN ()``, selects no row."""
    from digestflow.pipeline import in_list

    rows = [("a", "it's", dt.date(2025, 1, 1), 1, 0.5), ("b", "back\\slash", dt.date(2025, 1, 2), 2, 1.5),
            ("c", "plain", dt.date(2025, 1, 3), 3, 2.5)]
    df = spark.createDataFrame(rows, "id string, s string, d date, n int, f double")

    def ids(column, values):
        return sorted(r.id for r in df.where(in_list(column, values)).collect())

    assert ids("s", ["it's", "back\\slash", "absent"]) == ["a", "b"]
    assert ids("d", [dt.date(2025, 1, 3)]) == ["c"]
    assert ids("n", [1, 3]) == ["a", "c"]
    assert ids("f", [1.5]) == ["b"]
    assert ids("s", []) == []
