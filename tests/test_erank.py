"""erank: set building, both Spark routes against hand values and an independent numpy SVD, degenerate
sets, the external-file CLI, the stage end to end (re-runs identical, bounded ownership), and the Gram
route on 2M rows with bounded driver memory."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import math

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from digestflow import schemas
from digestflow.erank import (
    SET_COLS,
    ErankConfig,
    calendar_read_dates,
    erank_stats,
    exact_route,
    external_stats,
    first_per_paper,
    gram_partitions,
    owned_periods,
    set_candidates,
    set_sizes,
    term_members,
)

ROWS_DDL = (
    "set_kind string, set_key string, model string, period string, set_start date, set_end date, "
    "row_key string, vector array<double>"
)
COMPARED = ("erank", "erank_rv", "stable_rank", "participation_ratio", "alpha", "mean_cosine", "top1_share")


# ------------------------------------------------------------------------------ independent reference


def reference(X: np.ndarray, eps: float = 1e-7) -> dict[str, float]:
    """docs/design.md#effective-rank written out again from numpy.linalg.svd/eigvalsh, sharing no code
    with the package."""
    n, d = X.shape
    s = np.linalg.svd(X, compute_uv=False)
    p = s / s.sum()
    pe = p + eps
    lam = np.linalg.eigvalsh(np.cov(X, rowvar=False)) if n > 1 else np.zeros(d)
    lam = np.sort(np.clip(np.atleast_1d(lam), 0, None))[::-1]
    units = [x / np.linalg.norm(x) for x in X if np.linalg.norm(x) > 0]
    cos = [units[i] @ units[j] for i in range(len(units)) for j in range(len(units)) if i != j]
    fit = lam[: min(n - 1, d)]
    fit = fit[fit > 1e-12 * lam[0]]
    k = np.arange(1, fit.size + 1)
    slope = np.polyfit(np.log(k), np.log(fit), 1)[0] if fit.size >= 2 else None
    return {
        "erank": math.exp(-sum(q * math.log(q) for q in pe)),
        "erank_rv": math.exp(-sum(q * math.log(q) for q in p if q > 0)),
        "stable_rank": float((s**2).sum() / s[0] ** 2),
        "participation_ratio": float(lam.sum() ** 2 / (lam**2).sum()),
        "alpha": None if slope is None else -float(slope),
        "mean_cosine": float(np.mean(cos)),
        "top1_share": float(s[0] / s.sum()),
    }


def set_frame(spark, sets: dict[str, np.ndarray | list]):
    rows = []
    for key, X in sets.items():
        for i, x in enumerate(X):
            vec = None if x is None else [float(v) for v in x]
            rows.append(("external", key, "m", "external", None, None, f"{i:06d}", vec))
    return spark.createDataFrame(rows, ROWS_DDL)


def by_key(df) -> dict[str, dict]:
    return {r["set_key"]: r.asDict() for r in df.collect()}


def orthogonal(d: int, seed: int) -> np.ndarray:
    q, _ = np.linalg.qr(np.random.default_rng(seed).normal(size=(d, d)))
    return q


def with_singular_values(s: list[float], n: int, d: int, seed: int) -> np.ndarray:
    """An n×d matrix whose nonzero singular values are exactly s (random orthogonal frames)."""
    U, V = orthogonal(n, seed)[:, : len(s)], orthogonal(d, seed + 1)[:, : len(s)]
    return U @ np.diag(s) @ V.T


# ------------------------------------------------------------------------------------- both routes


@pytest.fixture(scope="module")
def measured(spark):
    """One frame of many sets, measured once by each route (threshold above/below every set)."""
    rng = np.random.default_rng(5)
    base = rng.normal(size=(12, 20)) + 0.3
    sets = {
        "identity4": np.eye(4),
        "rank1": np.outer(rng.normal(size=9), rng.normal(size=6)),
        "sv321": with_singular_values([3, 2, 1], 5, 7, 1),
        "sv31": with_singular_values([3, 1], 4, 3, 2),
        "wide": rng.normal(size=(6, 15)),  # n < d
        "square": rng.normal(size=(10, 10)),  # n = d
        "tall": rng.normal(size=(40, 8)) @ np.diag(np.linspace(3, 0.2, 8)) + 1.0,  # n > d, off-centre
        "base": base,
        "scaled": 7.5 * base,
        "rotated": base @ orthogonal(20, 9),
        "duplicated": np.vstack([base, base]),
        "one_row": rng.normal(size=(1, 5)),
        "zeros": np.zeros((4, 3)),
        "nan_row": np.vstack([rng.normal(size=(3, 4)), [np.nan, 1, 2, 3]]),
        "null_vector": [[1.0, 2.0], None, [3.0, 1.0]],
        "ragged": [[1.0, 2.0], [1.0, 2.0, 3.0], [0.5, 0.5]],
    }
    frame = set_frame(spark, sets).cache()
    exact = by_key(erank_stats(frame, ErankConfig(gram_threshold=10**9)))
    gram = by_key(erank_stats(frame, ErankConfig(gram_threshold=0)))
    frame.unpersist()
    return sets, exact, gram


def test_routes_are_the_ones_asked_for(measured) -> None:
    sets, exact, gram = measured
    assert set(exact) == set(gram) == set(sets)
    assert {r["route"] for r in exact.values()} == {"exact"}
    assert {r["route"] for r in gram.values()} == {"gram"}


def test_hand_values_from_design(measured) -> None:
    _, exact, gram = measured
    for rows, tol in ((exact, 1e-9), (gram, 1e-6)):  # gram: rank-deficient sets carry ~1e-8 noise values
        assert rows["identity4"]["erank_rv"] == pytest.approx(4, abs=tol)
        assert rows["rank1"]["erank_rv"] == pytest.approx(1, abs=tol)
        assert rows["sv321"]["erank_rv"] == pytest.approx(2.749459274, abs=max(tol, 1e-9))
        assert rows["sv321"]["stable_rank"] == pytest.approx(14 / 9, abs=tol)
        assert rows["sv31"]["erank_rv"] == pytest.approx(1.754765351, abs=max(tol, 1e-9))
        # RankMe's eps only nudges: identity → 4.0000006, rank-1 → 1.00000x.
        assert rows["identity4"]["erank"] == pytest.approx(4, abs=1e-5)
        assert rows["rank1"]["erank"] == pytest.approx(1, abs=1e-4)


def test_invariances(measured) -> None:
    sets, exact, gram = measured
    for rows in (exact, gram):
        ref = rows["base"]["erank"]
        assert rows["scaled"]["erank"] == pytest.approx(ref, abs=1e-9)
        assert rows["rotated"]["erank"] == pytest.approx(ref, abs=1e-9)
        # Duplicating rows keeps the nonzero spectrum (up to a common factor) but raises min(n, d) from 12
        # to 20: RankMe's eps then adds 8 × eps·ln(1/eps), so the eps = 0 value is the invariant one. The
        # Gram route sees those 8 zero singular values as ~1e-8·s1 rounding noise (its documented limit).
        tol = 1e-9 if rows is exact else 1e-5
        assert rows["duplicated"]["erank_rv"] == pytest.approx(rows["base"]["erank_rv"], abs=tol)
        for key, X in sets.items():
            r = rows[key]
            if r["erank"] is not None:
                n, d = np.asarray(X).shape
                assert r["erank_rv"] <= min(n, d) + 1e-9, key


def test_both_routes_match_an_independent_numpy_svd(measured) -> None:
    sets, exact, gram = measured
    for key in ("wide", "square", "tall", "base", "sv321", "identity4", "rank1", "duplicated"):
        X = np.asarray(sets[key], dtype=np.float64)
        ref = reference(X)
        full_rank = np.linalg.matrix_rank(X) == min(X.shape)
        for rows in (exact, gram):
            # Gram route on rank-deficient sets: zero singular values come back as ~1e-8·s1 noise.
            tol = 1e-9 if full_rank or rows is exact else 1e-5
            for stat in COMPARED:
                got, want = rows[key][stat], ref[stat]
                if want is None:  # alpha of a rank-1 set: no two eigenvalues to fit
                    assert got is None, (key, stat, rows[key]["route"])
                else:
                    assert got == pytest.approx(want, rel=tol, abs=tol), (key, stat, rows[key]["route"])
            assert rows[key]["n"] == X.shape[0]
            assert rows[key]["d"] == X.shape[1]
    # Full-rank float64 sets: the two routes agree to 1e-9 on every statistic, erank_at_n included.
    assert exact["wide"]["erank_at_n"] is None  # n = 6 < m = 8
    for key in ("wide", "square", "tall", "base", "scaled", "rotated"):
        for stat in (*COMPARED, "erank_at_n", "erank_ci_low", "erank_ci_high", "numerical_rank"):
            if exact[key][stat] is None:
                assert gram[key][stat] is None, (key, stat)
            else:
                assert gram[key][stat] == pytest.approx(exact[key][stat], rel=1e-9, abs=1e-9), (key, stat)


def test_exact_route_cuts_sets_across_arrow_batches_and_orders_rows_by_key(spark, measured) -> None:
    """The exact route reads sets as runs of sorted rows: with 3-row Arrow batches (every set of more
    than 3 rows cut across batches, several sets sharing one) and the input rows reversed, every set
    gets exactly the row the module fixture measured with whole sets in one batch, bit for bit."""
    sets, exact, _ = measured
    # Rows in descending row_key order in every input partition (a sort before the route's shuffle would be
    # optimised away), so only the route's own sort can put them back in row_key order.
    frame = spark.createDataFrame(sorted(set_frame(spark, sets).collect(), key=lambda r: r["row_key"], reverse=True),
                                  ROWS_DDL)
    before = spark.conf.get("spark.sql.execution.arrow.maxRecordsPerBatch")
    spark.conf.set("spark.sql.execution.arrow.maxRecordsPerBatch", "3")
    try:
        cut = by_key(erank_stats(frame, ErankConfig(gram_threshold=10**9)))
    finally:
        spark.conf.set("spark.sql.execution.arrow.maxRecordsPerBatch", before)
    assert set(cut) == set(sets)
    for key, row in cut.items():
        same = {k: v for k, v in row.items() if not (isinstance(v, float) and math.isnan(v))}
        want = {k: v for k, v in exact[key].items() if not (isinstance(v, float) and math.isnan(v))}
        assert same == want, key


def test_degenerate_sets_are_null_with_a_reason_not_a_crash(measured) -> None:
    _, exact, gram = measured
    expected = {
        "one_row": ("n<2", 0),
        "zeros": ("zero_matrix", 0),
        "nan_row": ("nonfinite_rows", 1),
        "null_vector": ("nonfinite_rows", 1),
        "ragged": ("ragged_vectors", 0),
    }
    for rows in (exact, gram):
        for key, (reason, nonfinite) in expected.items():
            r = rows[key]
            assert r["null_reason"] == reason, (key, r["route"])
            assert r["n_nonfinite_rows"] == nonfinite
            assert all(r[s] is None for s in (*COMPARED, "erank_at_n", "numerical_rank")), key
        assert rows["nan_row"]["n"] == 4  # the NaN row is counted, not dropped
        assert rows["base"]["null_reason"] is None


def test_erank_at_n_is_size_matched_and_the_same_from_a_sampled_pool(spark) -> None:
    """Isotropic sets of very different n: raw erank grows with n, erank_at_n does not; a pool smaller
    than the set gives the same value by both routes."""
    rng = np.random.default_rng(11)
    sets = {"small": rng.normal(size=(12, 32)), "large": rng.normal(size=(300, 32))}
    frame = set_frame(spark, sets).cache()
    cfg = ErankConfig(at_n_m=8, pool_rows=50)
    exact = by_key(erank_stats(frame, cfg))
    gram = by_key(erank_stats(frame, ErankConfig(at_n_m=8, pool_rows=50, gram_threshold=0)))
    frame.unpersist()
    assert exact["large"]["erank"] - exact["small"]["erank"] > 10
    assert abs(exact["large"]["erank_at_n"] - exact["small"]["erank_at_n"]) < 0.15
    for key in sets:
        assert exact[key]["erank_ci_low"] < exact[key]["erank_at_n"] < exact[key]["erank_ci_high"] <= 8 + 1e-6
        assert gram[key]["erank_at_n"] == pytest.approx(exact[key]["erank_at_n"], abs=1e-9)


# ------------------------------------------------------------------------------------ set building


def test_owned_periods_and_read_window_cover_weeks_across_month_ends() -> None:
    # 2025-04-02 is a Wednesday; its week starts Monday 2025-03-31, so March is recomputed too.
    assert owned_periods([dt.date(2025, 4, 2)]) == ["2025-03", "2025-04"]
    assert owned_periods([dt.date(2025, 4, 9)]) == ["2025-04"]
    days = calendar_read_dates(["2025-03"])
    assert days[0] == dt.date(2025, 3, 1)
    assert days[-1] == dt.date(2025, 4, 6)
    assert len(days) == 37


def embeddings_frame(spark, rows):
    schema = schemas.load("embeddings")
    return spark.createDataFrame(
        [(pid, [float(v) for v in vec], len(vec), "m", day) for pid, vec, day in rows], schema.spark()
    )


def test_calendar_sets_days_weeks_months_with_cross_day_duplicates(spark) -> None:
    d = dt.date
    rows = [
        ("p1", [1, 0], d(2025, 3, 30)),  # Sunday: week of Mon 2025-03-24
        ("p2", [0, 1], d(2025, 3, 31)),  # Monday: week of 2025-03-31
        ("p3", [1, 1], d(2025, 4, 1)),
        ("p2", [0, 1], d(2025, 4, 2)),  # p2 again, two days later: once in the week, once per month
        ("p4", [2, 1], d(2025, 4, 8)),
    ]
    sets = first_per_paper(set_candidates(embeddings_frame(spark, rows), ["2025-03"])).collect()
    got: dict[tuple[str, str], list[str]] = {}
    for r in sets:
        got.setdefault((r["set_kind"], r["set_key"]), []).append(r["row_key"])
        assert r["period"] == "2025-03"
    assert {k: sorted(v) for k, v in got.items()} == {
        ("day", "2025-03-30"): ["p1"],
        ("day", "2025-03-31"): ["p2"],
        ("week", "2025-03-24"): ["p1"],
        ("week", "2025-03-31"): ["p2", "p3"],  # the week starting in March, p2 counted once
        ("month", "2025-03"): ["p1", "p2"],
    }
    week = next(r for r in sets if r["set_kind"] == "week" and r["set_key"] == "2025-03-31")
    assert (week["set_start"], week["set_end"]) == (d(2025, 3, 31), d(2025, 4, 6))


def test_term_sets_from_hand_made_paper_terms_and_trends(spark) -> None:
    d = dt.date
    emb = embeddings_frame(
        spark,
        [("a", [1, 0], d(2025, 3, 1)), ("b", [0, 1], d(2025, 3, 20)), ("c", [1, 1], d(2025, 3, 27)),
         ("e", [2, 0], d(2025, 3, 28))],
    )
    paper_terms = spark.createDataFrame(
        [("a", "lora", d(2025, 3, 1)), ("b", "lora", d(2025, 3, 20)), ("c", "lora", d(2025, 3, 27)),
         ("c", "agents", d(2025, 3, 27)), ("e", "agents", d(2025, 3, 28)), ("e", "diffusion", d(2025, 3, 28))],
        "paper_id string, term string, digest_date date",
    )
    trends = spark.createDataFrame(
        [("lora", "28d", d(2025, 3, 1), 1, d(2025, 3, 28)), ("agents", "28d", d(2025, 3, 1), 2, d(2025, 3, 28)),
         ("diffusion", "28d", d(2025, 3, 1), 3, d(2025, 3, 28)),  # below the top-2 cut
         ("lora", "7d", d(2025, 3, 22), 1, d(2025, 3, 28))],  # other window: ignored
        "term string, window string, target_start date, rank_rising int, as_of date",
    )
    members = term_members(paper_terms, trends, top=2, window="28d")
    rows = first_per_paper(set_candidates(emb, [], members)).collect()
    got: dict[str, list[str]] = {}
    for r in rows:
        got.setdefault(r["set_key"], []).append(r["row_key"])
        assert (r["set_kind"], r["period"], r["set_start"], r["set_end"]) == (
            "term", "2025-03-28", d(2025, 3, 1), d(2025, 3, 28)
        )
    assert {k: sorted(v) for k, v in got.items()} == {"lora": ["a", "b", "c"], "agents": ["c", "e"]}


def test_exact_route_keeps_the_earliest_day_of_a_paper_from_candidate_rows(spark) -> None:
    """The stage hands the exact route candidate rows (a paper once per day of a set, set_candidates) and
    the workers keep each paper's earliest day. Papers listed on several days of one week carry a
    different vector each day; with 2-row Arrow batches the repeats of a paper straddle batch ends. Every
    set's statistics equal the independent reference on the vectors picked by hand (earliest day, rows
    in paper order), and equal the route fed first_per_paper's rows."""
    d = dt.date
    rows = [
        ("p1", [1, 0, 0], d(2025, 3, 31)),
        ("p1", [5, 5, 5], d(2025, 4, 1)),  # p1 again: the week and month keep 2025-03-31's vector
        ("p1", [0, 9, 1], d(2025, 4, 3)),
        ("p2", [0, 1, 0], d(2025, 4, 2)),
        ("p3", [1, 1, 2], d(2025, 4, 1)),
        ("p3", [7, 0, 0], d(2025, 4, 4)),
        ("p4", [2, 0, 1], d(2025, 4, 4)),
    ]
    emb = embeddings_frame(spark, rows[::-1])  # later days first: only the route's sort by day puts them back
    paper_terms = spark.createDataFrame(
        [("p1", "lora", d(2025, 4, 1)), ("p1", "lora", d(2025, 4, 3)), ("p3", "lora", d(2025, 4, 4)),
         ("p4", "lora", d(2025, 4, 4)), ("p2", "moe", d(2025, 4, 2))],
        "paper_id string, term string, digest_date date",
    )
    trends = spark.createDataFrame([("lora", "28d", d(2025, 3, 8), 1, d(2025, 4, 4))],
                                   "term string, window string, target_start date, rank_rising int, as_of date")
    members = term_members(paper_terms, trends, top=1, window="28d")
    candidates = set_candidates(emb, ["2025-03", "2025-04"], members)
    config = ErankConfig(at_n_m=2, at_n_b=20, gram_threshold=10**9)
    before = spark.conf.get("spark.sql.execution.arrow.maxRecordsPerBatch")
    spark.conf.set("spark.sql.execution.arrow.maxRecordsPerBatch", "2")
    try:
        got = {(r["set_kind"], r["set_key"]): r.asDict() for r in exact_route(candidates, config).collect()}
    finally:
        spark.conf.set("spark.sql.execution.arrow.maxRecordsPerBatch", before)
    vec = {(pid, day): np.array(v, dtype=float) for pid, v, day in rows}
    want = {  # by hand: each paper's earliest day inside the set, rows in paper order
        ("week", "2025-03-31"): [vec["p1", d(2025, 3, 31)], vec["p2", d(2025, 4, 2)], vec["p3", d(2025, 4, 1)],
                                 vec["p4", d(2025, 4, 4)]],
        ("month", "2025-04"): [vec["p1", d(2025, 4, 1)], vec["p2", d(2025, 4, 2)], vec["p3", d(2025, 4, 1)],
                               vec["p4", d(2025, 4, 4)]],
        ("day", "2025-04-01"): [vec["p1", d(2025, 4, 1)], vec["p3", d(2025, 4, 1)]],
        ("day", "2025-04-04"): [vec["p3", d(2025, 4, 4)], vec["p4", d(2025, 4, 4)]],
        ("term", "lora"): [vec["p1", d(2025, 4, 1)], vec["p3", d(2025, 4, 4)], vec["p4", d(2025, 4, 4)]],
    }
    for key, X in want.items():
        assert got[key]["n"] == len(X), key
        ref = reference(np.vstack(X))
        for stat in ("erank", "stable_rank", "top1_share"):
            assert got[key][stat] == pytest.approx(ref[stat], rel=1e-9), (key, stat)
    assert got["month", "2025-03"]["n"] == got["day", "2025-03-31"]["n"] == 1  # p1 only
    assert {k for k in got if k[0] == "day"} == {("day", day) for day in
                                                 ("2025-03-31", "2025-04-01", "2025-04-02", "2025-04-03", "2025-04-04")}
    assert len(got) == 5 + 2 + 1 + 1  # five days, two months, one week (a week's period is its Monday's month)
    assert (got["week", "2025-03-31"]["period"], got["term", "lora"]["period"]) == ("2025-03", "2025-04-04")
    deduped = {(r["set_kind"], r["set_key"]): r.asDict() for r in exact_route(first_per_paper(candidates), config).collect()}
    assert deduped == got
    # Route picking counts papers, not candidate rows; the sets above the threshold (the week and April,
    # 4 papers each) take the Gram route through first_per_paper and agree with the exact route.
    sizes = set_sizes(candidates)
    assert {(k[0], k[1]): n for k, n in sizes.items()} == {key: row["n"] for key, row in got.items()}
    mixed = {(r["set_kind"], r["set_key"]): r.asDict()
             for r in erank_stats(candidates, ErankConfig(at_n_m=2, at_n_b=20, gram_threshold=3), sizes).collect()}
    assert {k for k, r in mixed.items() if r["route"] == "gram"} == {("week", "2025-03-31"), ("month", "2025-04")}
    for key, row in mixed.items():
        assert row["n"] == got[key]["n"], key
        for stat in ("erank", "stable_rank", "top1_share"):
            want_stat = got[key][stat]
            assert row[stat] == (None if want_stat is None else pytest.approx(want_stat, rel=1e-9)), (key, stat)


# -------------------------------------------------------------------------------------- external CLI


def test_external_cli_table_json_and_out_file(tmp_path) -> None:
    from digestflow.cli import main

    rng = np.random.default_rng(3)
    X = rng.normal(size=(45, 6))
    groups = ["a"] * 20 + ["b"] * 24 + ["c"]
    path = tmp_path / "sets.parquet"
    pq.write_table(pa.table({"grp": groups, "emb": pa.array(list(X), type=pa.list_(pa.float64()))}), path)
    runner = CliRunner()
    result = runner.invoke(main, ["erank", "--input", str(path), "--set-col", "grp", "--vector-col", "emb",
                                  "--format", "json", "--out", str(tmp_path / "out.parquet")])
    assert result.exit_code == 0, result.output
    objs = [json.loads(line) for line in result.stdout.splitlines()]
    assert [o["set_key"] for o in objs] == ["a", "b", "c"]
    assert set(objs[0]) == set(schemas.load("erank_stats").names)
    assert objs[0]["erank"] == pytest.approx(reference(X[:20])["erank"], abs=1e-9)
    assert objs[1]["participation_ratio"] == pytest.approx(reference(X[20:44])["participation_ratio"], abs=1e-9)
    assert objs[2]["null_reason"] == "n<2"
    written = pq.read_table(tmp_path / "out.parquet")
    assert written.schema.names == schemas.load("erank_stats").names
    assert written.num_rows == 3

    np.save(tmp_path / "one.npy", X)
    table = runner.invoke(main, ["erank", "--input", str(tmp_path / "one.npy")])
    assert table.exit_code == 0
    assert "one" in table.stdout
    assert "exact" in table.stdout
    gram = external_stats(tmp_path / "one.npy", ErankConfig(gram_threshold=10))[0]
    assert gram["route"] == "gram"
    assert gram["erank"] == pytest.approx(reference(X)["erank"], abs=1e-9)
    bad = runner.invoke(main, ["erank", "--input", str(path)])
    assert bad.exit_code != 0
    assert "no vector column 'vector'" in bad.output


# ------------------------------------------------------------------------------------ stage end to end


def table_rows(warehouse, table: str) -> dict[str, str]:
    """Non-volatile rows per partition folder, hashed, read back with pyarrow."""
    schema = schemas.load(table)
    cols = [c for c in schema.data_columns if c not in schema.partition_by]
    out = {}
    for f in sorted((warehouse / table).glob("**/*.parquet")):
        rel = str(f.parent.relative_to(warehouse / table))
        rows = [json.dumps(r, sort_keys=True, default=str) for r in pq.read_table(f, columns=cols).to_pylist()]
        out[rel] = hashlib.sha256("\n".join(sorted(rows)).encode()).hexdigest()
    return out


@pytest.mark.slow
def test_stage_end_to_end_reruns_identical_and_owns_only_its_periods(spark, tmp_path) -> None:
    from digestflow.generate import generate_corpus, write_corpus
    from digestflow.runner import make_context
    from digestflow.runner import run as run_stages
    from digestflow.settings import Settings

    landing, warehouse = tmp_path / "landing", tmp_path / "wh"
    start, end = dt.date(2025, 3, 27), dt.date(2025, 4, 9)
    digests = generate_corpus(14, start=start, seed=3)
    write_corpus(digests, landing)
    settings = Settings.from_env().replace(landing=str(landing), warehouse=str(warehouse), validate=False)

    def run(stages, first, last):
        run_stages(make_context(spark=spark, settings=settings, start=first, end=last), stages)

    run(["ingest", "embed", "erank"], start, end)
    first = table_rows(warehouse, "erank_stats")
    assert set(first) == {f"set_kind={k}/period={p}" for k in ("day", "week", "month") for p in ("2025-03", "2025-04")}

    stats = pq.read_table(warehouse / "erank_stats").to_pylist()
    days = {r["set_key"]: r for r in stats if r["set_kind"] == "day"}
    per_day = {dg.digest_date.isoformat(): len({p[0] for p in dg.papers}) for dg in digests}
    assert {k: r["n"] for k, r in days.items()} == {k: v for k, v in per_day.items() if v}
    # One day set against numpy on the published vectors.
    key = "2025-04-01"
    emb = pq.read_table(warehouse / "embeddings" / "model=hashing" / f"digest_date={key}").to_pylist()
    X = np.array([r["vector"] for r in sorted(emb, key=lambda r: r["paper_id"])], dtype=np.float64)
    ref = reference(X)
    for stat in COMPARED:
        assert days[key][stat] == pytest.approx(ref[stat], rel=1e-9, abs=1e-9), stat
    assert days[key]["d"] == 256
    assert days[key]["route"] == "exact"

    # Re-running one April date recomputes the periods it owns (March: its week starts 03-31) from the
    # published embeddings: every partition, in both months, is identical afterwards.
    run(["erank"], dt.date(2025, 4, 2), dt.date(2025, 4, 2))
    assert table_rows(warehouse, "erank_stats") == first

    # More embedding rows read than the threshold: the stage counts the sets and sends the ones above it
    # (the months, more papers than any day) to the Gram route, the rest (the days) to the exact route.
    threshold = max(per_day.values())
    assert sum(per_day.values()) > threshold  # the footer bound cannot rule the Gram route out
    ctx = make_context(spark=spark, settings=settings, start=start, end=end,
                       params={"erank": ErankConfig(gram_threshold=threshold)})
    (report,) = run_stages(ctx, ["erank"])
    assert report.details["gram_sets"] == sum(1 for r in stats if r["n"] > threshold) > 0
    routes = {(r["set_kind"], r["set_key"]): (r["route"], r["n"]) for r in pq.read_table(warehouse / "erank_stats").to_pylist()}
    assert routes == {(r["set_kind"], r["set_key"]): ("gram" if r["n"] > threshold else "exact", r["n"]) for r in stats}


# ----------------------------------------------------------------------------- 2M rows, Gram route


@pytest.mark.slow
def test_gram_route_on_two_million_rows_with_bounded_driver_memory(spark) -> None:
    """Rows σ ⊙ h_(i mod 64) of a Sylvester Hadamard matrix: XᵀX = n·diag(σ²) exactly, the row mean is
    σ1·e1, every row has norm ‖σ‖ — so every statistic has a closed form. The rows (1 GB as float64)
    are generated inside Spark; the driver only ever sees per-set partial states."""
    import tracemalloc

    from pyspark.sql import functions as F
    from scipy.linalg import hadamard

    n, d = 2_000_000, 64
    sigma = np.linspace(2.0, 0.05, d)

    def rows(batches):
        H = hadamard(d).astype(np.float64)
        for batch in batches:
            ids = batch.column("id").to_numpy()
            X = H[ids % d] * sigma
            yield pa.RecordBatch.from_pydict(
                {"row_key": pa.array([f"{i:08d}" for i in ids]),
                 "vector": pa.ListArray.from_arrays(np.arange(0, (len(ids) + 1) * d, d, dtype=np.int32), X.ravel())}
            )

    frame = (
        spark.range(n, numPartitions=4)
        .mapInArrow(rows, "row_key string, vector array<double>")
        .select(F.lit("external").alias("set_kind"), F.lit("big").alias("set_key"), F.lit("m").alias("model"),
                F.lit("external").alias("period"), F.lit(None).cast("date").alias("set_start"),
                F.lit(None).cast("date").alias("set_end"), "row_key", "vector")
    )
    tracemalloc.start()
    (row,) = erank_stats(frame, ErankConfig(gram_threshold=100_000), sizes={("external", "big", "m", "external", None, None): n}).collect()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert peak < 64 * 2**20  # the rows alone are 1 GiB in float64

    p = sigma / sigma.sum()
    rest = sigma[1:] ** 2
    assert row["route"] == "gram"
    assert row["n"] == n
    assert row["d"] == d
    assert row["erank_rv"] == pytest.approx(math.exp(-(p * np.log(p)).sum()), abs=1e-9)
    assert row["stable_rank"] == pytest.approx((sigma**2).sum() / sigma[0] ** 2, abs=1e-9)
    assert row["top1_share"] == pytest.approx(sigma[0] / sigma.sum(), abs=1e-12)
    assert row["participation_ratio"] == pytest.approx(rest.sum() ** 2 / (rest**2).sum(), rel=1e-9)
    norm2 = (sigma**2).sum()
    assert row["mean_cosine"] == pytest.approx((n**2 * sigma[0] ** 2 / norm2 - n) / (n * (n - 1)), abs=1e-9)
    assert row["numerical_rank"] == d
    assert 1 < row["erank_at_n"] <= 8 + 1e-6
    assert row["null_reason"] is None


def test_set_cols_match_the_schema() -> None:
    names = schemas.load("erank_stats").names
    assert all(c in names for c in SET_COLS)
    assert schemas.load("erank_stats").partition_by == ("set_kind", "period")


def test_external_pool_sampling_agrees_between_routes_across_batches(tmp_path, monkeypatch) -> None:
    """Interleaved sets streamed in many small batches: the Gram route's running bottom-k pool (with its
    full-pool admission shortcut) keeps exactly the rows the exact route samples from."""
    import digestflow.erank as erank_module

    X = np.random.default_rng(0).normal(size=(600, 20))
    path = tmp_path / "sets.parquet"
    pq.write_table(pa.table({"set": np.tile(["a", "b"], 300), "vector": pa.array(list(X), type=pa.list_(pa.float64()))}), path)
    monkeypatch.setattr(erank_module, "EXTERNAL_BATCH_ROWS", 37)
    exact = external_stats(path, ErankConfig(pool_rows=50))
    gram = external_stats(path, ErankConfig(pool_rows=50, gram_threshold=100))
    assert [r["route"] for r in exact] == ["exact", "exact"]
    assert [r["route"] for r in gram] == ["gram", "gram"]
    for e, g in zip(exact, gram, strict=True):
        assert g["erank_at_n"] == e["erank_at_n"]
        assert g["erank"] == pytest.approx(reference(X[0::2] if e["set_key"] == "a" else X[1::2])["erank"], abs=1e-9)


def test_gram_route_partitions_one_per_core_or_per_row_budget(monkeypatch) -> None:
    config = ErankConfig()  # 500,000 rows a partition
    assert gram_partitions(2, 1_000_000, config) == 2  # the benchmark's 1M set on 2 cores
    assert gram_partitions(2, 1_000_001, config) == 3
    assert gram_partitions(2, 100_000_000, config) == 200  # a cluster starting with 2 cores
    assert gram_partitions(8, None, config) == 8
    assert gram_partitions(0, 0, config) == 1
    monkeypatch.setenv("DIGESTFLOW_ERANK_GRAM_PARTITION_ROWS", "100000")
    assert gram_partitions(2, 1_000_000, ErankConfig.from_env()) == 10
