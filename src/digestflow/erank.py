"""Embedding sets and their effective-rank statistics in Spark: set building and the two routes.

A *set row* is one vector in one set: the columns :data:`SET_COLS` name the set, ``row_key`` names the
row inside it (paper_id, or the row number of an external file), ``vector`` is the embedding. Sets are
built from ``embeddings`` (and, for term sets, ``paper_terms`` + ``keyword_trends``) by pure
DataFrame transforms; :func:`erank_stats` then measures every set by one of two routes:

* **exact** — sets of at most ``gram_threshold`` rows: partitioned by set and sorted by (set,
  ``row_key``) (so the float64 SVD sees the same matrix on every run), each set measured from Arrow in
  ``mapInArrow`` by :func:`digestflow.metrics.spectrum.spectrum_stats`.
* **gram** — larger sets: ``mapInArrow`` folds each partition's rows into one float64
  :class:`~digestflow.metrics.spectrum.GramAccumulator` per set (n, Σx, XᵀX, Σ unit rows), a keyed
  ``applyInPandas`` sums the partial states per set (the reduce of a treeAggregate, so no single
  process ever holds more than one set's d×d partials), and the d×d eigendecomposition (negatives
  clipped) finishes there. Only O(d²) per set crosses the network, never the rows.

Both routes give the same statistics to ~1e-9 on float64 data (tests/test_erank.py), and the same
``erank_at_n``: it is computed on the set's *pool*, the ``pool_rows`` rows with the smallest seeded
hash of their row_key (a uniform sample without replacement that needs no shuffle: every partition
keeps its own bottom-k and the reduce keeps the bottom-k of those), which is the whole set when
n ≤ pool_rows.

Picking the route needs set sizes: one small ``groupBy().count()`` action over the set columns only.
"""

from __future__ import annotations

import calendar
import datetime as dt
import hashlib
import os
import zlib
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from digestflow.metrics.spectrum import GramAccumulator, erank_at_n, spectrum_stats
from digestflow.stages.erank import ErankConfig

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa
    from pyspark.sql import DataFrame

#: Columns that identify one embedding set (set_start/set_end ride along: constant within a set).
SET_COLS = ["set_kind", "set_key", "model", "period", "set_start", "set_end"]
SET_ROW_DDL = (
    "set_kind string, set_key string, model string, period string, set_start date, set_end date, "
    "row_key string, vector array<float>"
)
CALENDAR_KINDS = ("day", "week", "month")


# ------------------------------------------------------------------------------------ set planning


def week_start(day: dt.date) -> dt.date:
    """Sets are keyed by the week's Monday, never by week number (docs/findings.md "Week keys")."""
    return day - dt.timedelta(days=day.weekday())


def month_bounds(period: str) -> tuple[dt.date, dt.date]:
    year, month = (int(p) for p in period.split("-"))
    return dt.date(year, month, 1), dt.date(year, month, calendar.monthrange(year, month)[1])


def owned_periods(dates: Iterable[dt.date]) -> list[str]:
    """Calendar-set periods (months, 'YYYY-MM') a run over ``dates`` recomputes.

    A day belongs to its month; a week to the month of its Monday. A run touching date D changes the
    day set D, the week set of D and the month set of D, so it owns month(D) and month(Monday of D)
    and recomputes every calendar set of those months from published embeddings.
    """
    out = set()
    for d in dates:
        out.add(d.strftime("%Y-%m"))
        out.add(week_start(d).strftime("%Y-%m"))
    return sorted(out)


def calendar_read_dates(periods: Iterable[str]) -> list[dt.date]:
    """Embedding dates needed to recompute every calendar set of ``periods``: each month plus the six
    days after it (a week starting on the month's last days runs into the next month)."""
    days: set[dt.date] = set()
    for period in periods:
        first, last = month_bounds(period)
        span = (last - first).days + 7
        days.update(first + dt.timedelta(days=i) for i in range(span))
    return sorted(days)


def term_read_dates(as_of_dates: Iterable[dt.date], window_days: int) -> list[dt.date]:
    days: set[dt.date] = set()
    for a in as_of_dates:
        days.update(a - dt.timedelta(days=i) for i in range(window_days))
    return sorted(days)


# ------------------------------------------------------------------------------------ set building


#: The columns that place one (paper_id, digest_date) in one set (:func:`term_members`), and the Spark
#: type of a row's list of such sets in :func:`set_candidates`.
MEMBER_COLS = ["set_kind", "set_key", "period", "set_start", "set_end"]
SETS_TYPE = "array<struct<set_kind:string,set_key:string,period:string,set_start:date,set_end:date>>"


def term_members(paper_terms: DataFrame, keyword_trends: DataFrame, *, top: int, window: str) -> DataFrame:
    """Which (paper_id, digest_date) belong to which top-term set: a few hundred rows, ``paper_id``,
    ``digest_date`` and :data:`MEMBER_COLS`.

    One set per top rising term per as_of: the terms with ``rank_rising`` ≤ ``top`` in ``window`` (e.g.
    '28d') of keyword_trends; the set is every paper whose paper_terms row carries exactly that term
    between the window's target_start and as_of. ``period`` = as_of, so a run owns the term sets of its
    own dates.
    """
    from pyspark.sql import functions as F

    tops = keyword_trends.where((F.col("window") == window) & (F.col("rank_rising") <= top)).select(
        "as_of", "term", "target_start"
    )
    # The top terms are a few rows: broadcast them and keep only their mentions.
    return (
        paper_terms.select("paper_id", "term", "digest_date")
        .join(F.broadcast(tops), "term")
        .where((F.col("digest_date") >= F.col("target_start")) & (F.col("digest_date") <= F.col("as_of")))
        .select(
            "paper_id",
            "digest_date",
            F.lit("term").alias("set_kind"),
            F.col("term").alias("set_key"),
            F.date_format("as_of", "yyyy-MM-dd").alias("period"),
            F.col("target_start").alias("set_start"),
            F.col("as_of").alias("set_end"),
        )
        .distinct()
    )


def set_candidates(embeddings: DataFrame, periods: Sequence[str], members: DataFrame | None = None) -> DataFrame:
    """Every embedding row once per set it belongs to: the day, week (Monday key) and month sets whose
    period is listed, and the sets of ``members`` (:func:`term_members`). Columns: the set columns,
    ``row_key`` (the paper_id), ``digest_date`` and ``vector``. A paper appearing on two days of a week
    (or month, or term window) counts once in it: its earliest day's vector.

    A paper listed on several days of a set has a row per day here; :func:`first_per_paper` (or the
    exact route's workers) keeps its earliest day. One scan of ``embeddings``: each row's sets are an
    array of structs, exploded; the members (small) are grouped per paper and day and broadcast.
    """
    from pyspark.sql import functions as F

    from digestflow.pipeline import in_list

    date = F.col("digest_date")
    monday = F.date_sub(date, F.pmod(F.dayofweek(date) + 5, 7))
    kinds = {
        "day": (F.date_format(date, "yyyy-MM-dd"), F.date_format(date, "yyyy-MM"), date, date),
        "week": (F.date_format(monday, "yyyy-MM-dd"), F.date_format(monday, "yyyy-MM"), monday, F.date_add(monday, 6)),
        "month": (F.date_format(date, "yyyy-MM"), F.date_format(date, "yyyy-MM"), F.trunc(date, "month"),
                  F.last_day(date)),
    }
    structs = [
        F.struct(F.lit(kind).alias("set_kind"), key.alias("set_key"), period.alias("period"),
                 start.alias("set_start"), end.alias("set_end"))
        for kind, (key, period, start, end) in kinds.items()
    ]
    sets = F.array(*structs)
    source = embeddings
    if members is not None:
        grouped = members.groupBy("paper_id", "digest_date").agg(
            F.collect_list(F.struct(*MEMBER_COLS)).alias("_member_sets")
        )
        source = embeddings.join(F.broadcast(grouped), ["paper_id", "digest_date"], "left")
        sets = F.concat(sets, F.coalesce(F.col("_member_sets"), F.array().cast(SETS_TYPE)))
    return (
        source.select("model", "paper_id", "digest_date", "vector", F.explode(sets).alias("_set"))
        .select(
            F.col("_set.set_kind").alias("set_kind"),
            F.col("_set.set_key").alias("set_key"),
            "model",
            F.col("_set.period").alias("period"),
            F.col("_set.set_start").alias("set_start"),
            F.col("_set.set_end").alias("set_end"),
            F.col("paper_id").alias("row_key"),
            "digest_date",
            "vector",
        )
        .where((F.col("set_kind") == "term") | in_list("period", list(periods)))
    )


def first_per_paper(candidates: DataFrame) -> DataFrame:
    """Set rows (SET_ROW_DDL) from candidate rows: one row per paper per set, its earliest day's vector.

    A Spark aggregate that carries every vector through a shuffle; the exact route makes the same cut
    in its Python workers instead, on rows it sorts anyway (:func:`exact_route`), so a run uses this
    only for the sets that take the Gram route (:func:`erank_stats`)."""
    from pyspark.sql import functions as F

    firsts = candidates.groupBy(*SET_COLS, "row_key").agg(F.min_by("vector", "digest_date").alias("vector"))
    return firsts.select(*SET_COLS, "row_key", "vector")


# ------------------------------------------------------------------------------------------ routes


def erank_stats(
    set_rows: DataFrame, config: ErankConfig, sizes: dict[tuple[Any, ...], int] | None = None, exact: bool = False
) -> DataFrame:
    """Statistics of every set in ``set_rows`` (SET_ROW_DDL columns, or candidate rows with
    ``digest_date``, :func:`set_candidates`): erank_stats rows minus ``computed_at``. Sets above
    ``config.gram_threshold`` rows take the Gram route, the rest the exact route. ``sizes`` (set tuple →
    rows, from :func:`set_sizes`) saves the count when already known; ``exact``: the caller knows that no
    set is above the threshold (e.g. ``set_rows`` has no more rows than that), so every set takes the
    exact route without counting. Candidate rows reach the exact route as they are (its workers keep a
    paper's earliest day) and the Gram route through :func:`first_per_paper`: only the big sets' vectors
    go through that aggregate.
    """
    from pyspark.sql import functions as F

    if exact:
        return exact_route(set_rows, config)
    if sizes is None:
        sizes = set_sizes(set_rows)
    big = [key for key, n in sizes.items() if n > config.gram_threshold]
    if not big:
        return exact_route(set_rows, config)
    big_rows = sum(sizes[key] for key in big)
    if len(big) == len(sizes):
        return gram_route(_one_per_paper(set_rows), config, big_rows)
    spark = set_rows.sparkSession
    big_df = spark.createDataFrame(big, ", ".join(SET_ROW_DDL.split(", ")[: len(SET_COLS)])).toDF(
        *[f"_big_{c}" for c in SET_COLS]
    )
    # Null-safe: external sets have NULL set_start/set_end, and NULL = NULL is not true in a join.
    on = [set_rows[c].eqNullSafe(big_df[f"_big_{c}"]) for c in SET_COLS]
    in_big = set_rows.join(F.broadcast(big_df), on, "left_semi")
    small_rows = set_rows.join(F.broadcast(big_df), on, "left_anti")
    return exact_route(small_rows, config).unionByName(gram_route(_one_per_paper(in_big), config, big_rows))


def _one_per_paper(set_rows: DataFrame) -> DataFrame:
    """Set rows as they are, candidate rows (with ``digest_date``) through :func:`first_per_paper`."""
    return first_per_paper(set_rows) if "digest_date" in set_rows.columns else set_rows


def set_sizes(set_rows: DataFrame) -> dict[tuple[Any, ...], int]:
    """Rows per set: the one Spark action route picking needs (reads the set columns only; of candidate
    rows, the distinct papers per set, which is what the set will hold)."""
    if "digest_date" in set_rows.columns:
        counted = set_rows.select(*SET_COLS, "row_key").distinct().groupBy(*SET_COLS).count()
    else:
        counted = set_rows.groupBy(*SET_COLS).count()
    return {tuple(r[c] for c in SET_COLS): int(r["count"]) for r in counted.collect()}


def stats_ddl() -> str:
    from digestflow import schemas

    return ", ".join(f"`{c.name}` {c.type}" for c in schemas.load("erank_stats").columns if c.name != "computed_at")


def exact_route(set_rows: DataFrame, config: ErankConfig) -> DataFrame:
    """Exact float64 SVD per set (each set must fit one Python worker): the rows are hash-partitioned by
    set and sorted by (set, row_key), so each set is one contiguous run of a partition, which
    ``mapInArrow`` (:func:`_exact_sets`) measures straight from Arrow.

    Not ``groupBy(set).applyInPandas``: that builds one pandas frame per set (the vectors as a column of
    numpy arrays) and costs more than the SVDs on the dev corpus's 651 small calendar sets (6.8 s warm
    against 3.4 s, identical rows; BENCHMARKS.md, session 25).

    Candidate rows (with ``digest_date``, :func:`set_candidates`) may hold a paper on several days of a
    set: they are sorted by (set, row_key, digest_date) and the workers keep the first row of each
    row_key, which is the row :func:`first_per_paper` keeps, without an aggregate that shuffles every
    vector once more before this route's own shuffle (BENCHMARKS.md, session 33).
    """
    order = [*SET_COLS, "row_key", *(["digest_date"] if "digest_date" in set_rows.columns else [])]
    return (
        set_rows.repartition(*SET_COLS)
        .sortWithinPartitions(*order)
        .mapInArrow(lambda batches: _exact_sets(batches, config), stats_ddl())
    )


def _exact_sets(batches: Iterator[pa.RecordBatch], config: ErankConfig, flush: int = 256) -> Iterator[pa.RecordBatch]:
    """mapInArrow body of :func:`exact_route`: rows sorted by (set, row_key), so a set ends where the set
    columns change (possibly in a later batch); each finished set becomes one :func:`measure_exact` row."""
    import pyarrow as pa

    from digestflow import schemas

    out_schema = pa.schema([f.with_nullable(True) for f in schemas.load("erank_stats").arrow() if f.name != "computed_at"])
    current: tuple[Any, ...] | None = None
    keys: list[str] = []
    chunks: list[pa.Array] = []
    rows: list[dict[str, Any]] = []

    def measure() -> None:
        X, d, ragged = arrow_matrix(pa.concat_arrays(chunks))
        set_id = dict(zip(SET_COLS, current, strict=True))
        rows.append(measure_exact(set_id, np.asarray(X, dtype=np.float64), d, ragged, keys, config))

    for batch in batches:
        ids = list(zip(*(batch.column(c).to_pylist() for c in SET_COLS), strict=True))
        row_keys, vectors = batch.column("row_key").to_pylist(), batch.column("vector")
        start = 0
        for i in range(1, len(ids) + 1):
            if i < len(ids) and ids[i] == ids[start]:
                continue
            if ids[start] != current:  # a new set begins: the previous one is complete
                if current is not None:
                    measure()
                current, keys, chunks = ids[start], [], []
            # The rows of one row_key are adjacent (sorted by row_key, then day): keep the first of
            # each, also when a batch begins with more rows of the key the previous batch ended with.
            run_keys = row_keys[start:i]
            last = keys[-1] if keys else None
            firsts = []
            for j, key in enumerate(run_keys):
                if key != last:
                    firsts.append(j)
                    last = key
            if len(firsts) == len(run_keys):
                keys.extend(run_keys)
                chunks.append(vectors.slice(start, i - start))
            elif firsts:
                keys.extend(run_keys[j] for j in firsts)
                chunks.append(vectors.slice(start, i - start).take(firsts))
            start = i
        if len(rows) >= flush:
            yield pa.RecordBatch.from_pylist(rows, schema=out_schema)
            rows.clear()
    if current is not None:
        measure()
    if rows:
        yield pa.RecordBatch.from_pylist(rows, schema=out_schema)


def measure_exact(
    set_id: dict[str, Any], X: np.ndarray, d: int, ragged: bool, keys: list[str], config: ErankConfig
) -> dict[str, Any]:
    """One erank_stats row by exact SVD of X (rows already in row_key order)."""
    if ragged:
        return _stats_row(set_id, _ragged_stats(len(keys), d), (None, None, None), "exact", config)
    stats = spectrum_stats(X, eps=config.eps)
    if len(keys) <= config.pool_rows:
        pool = X
    else:
        pool = X[np.sort(_bottom_k(row_hashes(keys, config.seed), keys, config.pool_rows))]
    at_n = _at_n(pool, set_id, config) if stats["n_nonfinite_rows"] == 0 else (None, None, None)
    return _stats_row(set_id, stats, at_n, "exact", config)


def gram_route(set_rows: DataFrame, config: ErankConfig, rows: int | None = None) -> DataFrame:
    """Per-set float64 accumulation of n, Σx, XᵀX (+ pool), reduced by set, then a d×d eigensolve.

    The rows are first coalesced (a no-op when there are fewer partitions) to one partition per core,
    or one per ``config.gram_partition_rows`` of the ``rows`` the route will see if that is more (so a
    cluster whose dynamic allocation starts small still spreads a huge set). Each partition ships a
    d×d Gram and a full pool per set it holds and starts its pool from empty, so file-split-sized
    partitions (12 for a 1.5 GB file) cost more than they spread. Measured on 1M × 384: 12.2–15.9 s
    with 12 partitions, 10.4–10.7 s with 2 (BENCHMARKS.md).
    """
    target = gram_partitions(set_rows.sparkSession.sparkContext.defaultParallelism, rows, config)
    set_rows = set_rows.coalesce(target)
    partials = set_rows.mapInArrow(lambda it: _gram_partials(it, config), PARTIAL_DDL)
    return partials.groupBy(*SET_COLS).applyInPandas(lambda pdf: _gram_reduce(pdf, config), stats_ddl())


def gram_partitions(cores: int, rows: int | None, config: ErankConfig) -> int:
    """Partitions for the Gram route: one per core, more when ``rows`` exceed cores × gram_partition_rows."""
    by_rows = -(-rows // config.gram_partition_rows) if rows else 0
    return max(1, cores, by_rows)


PARTIAL_DDL = (
    "set_kind string, set_key string, model string, period string, set_start date, set_end date, "
    "d int, ragged boolean, n long, n_nonfinite_rows long, n_nonzero_rows long, "
    "sum_x binary, gram binary, sum_unit binary, pool_keys array<string>, pool_hashes array<long>, pool_x binary"
)


@dataclass
class _Partial:
    """One set's running state inside one partition (or the merge of several)."""

    d: int
    acc: GramAccumulator
    ragged: bool = False
    pool_keys: list[str] | None = None
    pool_hashes: np.ndarray | None = None
    pool_x: np.ndarray | None = None

    def add(self, X: np.ndarray, keys: list[str], hashes: np.ndarray, pool_rows: int) -> None:
        self.acc.add(X)
        self.offer(keys, hashes, X, pool_rows)

    def offer(self, keys: list[str], hashes: np.ndarray, X: np.ndarray, pool_rows: int) -> None:
        """Keep the pool_rows rows with the smallest (hash, key) among the pool and the offered rows."""
        if self.pool_keys is not None and len(self.pool_keys) >= pool_rows:
            # A full pool only admits rows hashing at or below its current maximum: no copy of the rest.
            admit = np.flatnonzero(hashes <= self.pool_hashes.max())
            if admit.size == 0:
                return
            keys, hashes, X = [keys[i] for i in admit], hashes[admit], np.asarray(X)[admit]
        if self.pool_keys is not None:
            keys = self.pool_keys + list(keys)
            hashes = np.concatenate([self.pool_hashes, hashes])
            X = np.concatenate([self.pool_x, np.asarray(X, dtype=np.float64)])
        keep = _bottom_k(hashes, keys, pool_rows)
        self.pool_keys = [keys[i] for i in keep]
        self.pool_hashes = hashes[keep]
        self.pool_x = np.asarray(X, dtype=np.float64)[keep]


def _gram_partials(batches: Iterator[pa.RecordBatch], config: ErankConfig) -> Iterator[pa.RecordBatch]:
    import pyarrow as pa

    states: dict[tuple[Any, ...], _Partial] = {}
    for batch in batches:
        if batch.num_rows == 0:
            continue
        ids = batch.select(SET_COLS).to_pandas()
        groups = ids.groupby(SET_COLS, sort=False, dropna=False).indices
        keys_all = batch.column("row_key").to_pylist()
        vectors = batch.column("vector")
        for index in groups.values():
            # The set's identity from Arrow (pandas would turn NULL dates into NaN/NaT).
            set_id = tuple(batch.column(c)[int(index[0])].as_py() for c in SET_COLS)
            if index[-1] - index[0] + 1 == len(index):  # contiguous rows (groupby indices are sorted): no copy
                rows = vectors.slice(int(index[0]), len(index))
            else:
                rows = vectors.take(pa.array(index))
            X, d, ragged = arrow_matrix(rows)
            _add_rows(states, set_id, X, d, ragged, [keys_all[i] for i in index], config)
    for set_id, state in states.items():
        yield _partial_batch(set_id, state)


def _partial_batch(set_id: tuple[Any, ...], state: _Partial) -> pa.RecordBatch:
    import pyarrow as pa

    arrays = state.acc.to_arrays()
    pool_x = state.pool_x if state.pool_x is not None else np.zeros((0, state.d))
    row = dict(zip(SET_COLS, set_id, strict=True))
    row.update(
        d=state.d,
        ragged=state.ragged,
        n=int(arrays["n"]),
        n_nonfinite_rows=int(arrays["n_nonfinite_rows"]),
        n_nonzero_rows=int(arrays["n_nonzero_rows"]),
        sum_x=arrays["sum_x"].tobytes(),
        gram=arrays["gram"].tobytes(),
        sum_unit=arrays["sum_unit"].tobytes(),
        pool_keys=state.pool_keys or [],
        pool_hashes=[int(h) for h in (state.pool_hashes if state.pool_hashes is not None else [])],
        pool_x=np.ascontiguousarray(pool_x, dtype=np.float64).tobytes(),
    )
    return pa.RecordBatch.from_pylist([row], schema=_partial_schema())


def _partial_schema() -> pa.Schema:
    import pyarrow as pa

    return pa.schema(
        [
            ("set_kind", pa.string()), ("set_key", pa.string()), ("model", pa.string()),
            ("period", pa.string()), ("set_start", pa.date32()), ("set_end", pa.date32()),
            ("d", pa.int32()), ("ragged", pa.bool_()), ("n", pa.int64()),
            ("n_nonfinite_rows", pa.int64()), ("n_nonzero_rows", pa.int64()),
            ("sum_x", pa.binary()), ("gram", pa.binary()), ("sum_unit", pa.binary()),
            ("pool_keys", pa.list_(pa.string())), ("pool_hashes", pa.list_(pa.int64())), ("pool_x", pa.binary()),
        ]
    )


def _gram_reduce(pdf: pd.DataFrame, config: ErankConfig) -> pd.DataFrame:
    """Merge one set's partial states (any order gives the same sums up to rounding) and finish."""
    import pandas as pd

    set_id = {c: pdf[c].iloc[0] for c in SET_COLS}
    dims = set(pdf["d"].astype(int))
    n = int(pdf["n"].sum())
    if len(dims) > 1 or bool(pdf["ragged"].any()):
        return pd.DataFrame([_stats_row(set_id, _ragged_stats(n, max(dims)), (None,) * 3, "gram", config)])
    d = dims.pop()
    # Sum in a fixed order (by the partial's content) so re-runs give bit-identical float64 sums.
    pdf = pdf.assign(_order=[zlib.crc32(g) for g in pdf["gram"]]).sort_values("_order", kind="stable")
    state = _Partial(d=d, acc=GramAccumulator(d))
    for part in pdf.itertuples(index=False):
        state.acc.merge(
            GramAccumulator.from_arrays(
                {
                    "n": part.n,
                    "n_nonfinite_rows": part.n_nonfinite_rows,
                    "n_nonzero_rows": part.n_nonzero_rows,
                    "sum_x": np.frombuffer(part.sum_x, dtype=np.float64),
                    "gram": np.frombuffer(part.gram, dtype=np.float64).reshape(d, d),
                    "sum_unit": np.frombuffer(part.sum_unit, dtype=np.float64),
                }
            )
        )
        keys = list(part.pool_keys)
        if keys:
            pool = np.frombuffer(part.pool_x, dtype=np.float64).reshape(len(keys), d)
            state.offer(keys, np.asarray(part.pool_hashes, dtype=np.int64), pool, config.pool_rows)
    return pd.DataFrame([measure_gram(set_id, state, config)])


def measure_gram(set_id: dict[str, Any], state: _Partial, config: ErankConfig) -> dict[str, Any]:
    """One erank_stats row from a set's merged float64 state: d×d eigendecomposition + pool erank_at_n."""
    if state.ragged:
        return _stats_row(set_id, _ragged_stats(state.acc.n, state.d), (None, None, None), "gram", config)
    stats = state.acc.stats(config.eps)
    at_n: tuple[Any, Any, Any] = (None, None, None)
    if state.pool_keys and stats["n_nonfinite_rows"] == 0:
        # The pool in row_key order: the same matrix the exact route subsamples.
        order = sorted(range(len(state.pool_keys)), key=state.pool_keys.__getitem__)
        at_n = _at_n(state.pool_x[order], set_id, config)
    return _stats_row(set_id, stats, at_n, "gram", config)


# ---------------------------------------------------------------------------------- external sets


EXTERNAL_BATCH_ROWS = 65_536


def external_stats(
    path: str | os.PathLike[str],
    config: ErankConfig,
    *,
    set_col: str | None = None,
    vector_col: str = "vector",
) -> list[dict[str, Any]]:
    """erank_stats rows (set_kind 'external') for the sets of a ``.parquet`` or ``.npy`` file, locally.

    No Spark: a file people point the CLI at is measured in this process, streaming the Parquet file
    in batches, with the same two routes as the pipeline (sets above ``gram_threshold`` rows are
    accumulated batch by batch, so memory stays O(d²) per large set). Parquet: ``set_col`` names the
    set of each row (``set`` by default; without such a column the whole file is one set named after
    the file). ``.npy``: one 2-D array, one set. Row keys are row numbers, so rows are measured in file
    order.
    """
    from pathlib import Path

    path = Path(path)
    if path.suffix == ".npy":
        return [_external_npy(path, config)]
    if path.suffix != ".parquet":
        raise ValueError(f"{path}: expected a .parquet or .npy file")
    import pyarrow.parquet as pq

    pf = pq.ParquetFile(path)
    names = pf.schema_arrow.names
    if vector_col not in names:
        raise ValueError(f"{path}: no vector column {vector_col!r}; columns are {names} (use --vector-col)")
    if set_col is not None and set_col not in names:
        raise ValueError(f"{path}: no set column {set_col!r}; columns are {names} (use --set-col)")
    column = set_col if set_col is not None else ("set" if "set" in names else None)

    def set_keys(batch: pa.RecordBatch) -> list[str]:
        if column is None:
            return [path.stem] * batch.num_rows
        return ["" if v is None else str(v) for v in batch.column(column).to_pylist()]

    sizes: dict[str, int] = {}
    if column is not None:
        for batch in pf.iter_batches(batch_size=EXTERNAL_BATCH_ROWS, columns=[column]):
            for key in set_keys(batch):
                sizes[key] = sizes.get(key, 0) + 1
    else:
        sizes[path.stem] = pf.metadata.num_rows

    small: dict[str, list[Any]] = {k: [] for k, n in sizes.items() if n <= config.gram_threshold}
    small_keys: dict[str, list[str]] = {k: [] for k in small}
    big: dict[str, _Partial] = {}
    row = 0
    columns = [vector_col] + ([column] if column is not None else [])
    for batch in pf.iter_batches(batch_size=EXTERNAL_BATCH_ROWS, columns=columns):
        keys = set_keys(batch)
        rows = np.arange(row, row + batch.num_rows)
        row += batch.num_rows
        by_set: dict[str, list[int]] = {}
        for i, key in enumerate(keys):
            by_set.setdefault(key, []).append(i)
        for key, index in by_set.items():
            vectors = batch.column(vector_col).take(index)
            if key in small:
                small[key].extend(vectors.to_pylist())
                small_keys[key].extend(_row_key(r) for r in rows[index])
                continue
            X, d, ragged = arrow_matrix(vectors)
            _add_rows(big, key, X, d, ragged, [_row_key(r) for r in rows[index]], config)
    out = []
    for key in sorted(sizes):
        set_id = _external_id(key)
        if key in small:
            X, d, ragged = stack_vectors(small[key])
            out.append(measure_exact(set_id, X, d, ragged, small_keys[key], config))
        else:
            out.append(measure_gram(set_id, big[key], config))
    return out


def _external_npy(path: Any, config: ErankConfig) -> dict[str, Any]:
    data = np.load(path, mmap_mode="r", allow_pickle=False)
    if data.ndim != 2:
        raise ValueError(f"{path}: expected a 2-D array (rows × dim), got shape {data.shape}")
    n, d = data.shape
    set_id = _external_id(path.stem)
    if n <= config.gram_threshold:
        return measure_exact(set_id, np.asarray(data, dtype=np.float64), d, False, [_row_key(i) for i in range(n)], config)
    states: dict[str, _Partial] = {}
    for start in range(0, n, EXTERNAL_BATCH_ROWS):
        block = np.asarray(data[start : start + EXTERNAL_BATCH_ROWS])
        keys = [_row_key(i) for i in range(start, start + block.shape[0])]
        _add_rows(states, path.stem, block, d, False, keys, config)
    return measure_gram(set_id, states[path.stem], config)


def _add_rows(
    states: dict[Any, _Partial], key: Any, X: np.ndarray, d: int, ragged: bool, keys: list[str], config: ErankConfig
) -> None:
    """Fold rows of one set into its running state (ragged rows only count: the set will be NULL)."""
    state = states.get(key)
    if state is None:
        state = states[key] = _Partial(d=d, acc=GramAccumulator(max(d, 0)))
    if ragged or d != state.d or state.ragged:
        state.ragged = True
        state.acc.n += len(keys)
        return
    state.add(X, keys, row_hashes(keys, config.seed), config.pool_rows)


def _row_key(i: int) -> str:
    """Row number as a key that sorts like the number (file order)."""
    return f"{int(i):015d}"


def _external_id(key: str) -> dict[str, Any]:
    return {"set_kind": "external", "set_key": key, "model": "external", "period": "external",
            "set_start": None, "set_end": None}


TABLE_COLUMNS = (
    ("set_key", "{}"), ("model", "{}"), ("n", "{}"), ("d", "{}"), ("erank", "{:.4f}"), ("erank_rv", "{:.4f}"),
    ("erank_at_n", "{:.3f}"), ("erank_ci_low", "{:.3f}"), ("erank_ci_high", "{:.3f}"),
    ("stable_rank", "{:.3f}"), ("participation_ratio", "{:.3f}"), ("numerical_rank", "{}"),
    ("alpha", "{:.3f}"), ("mean_cosine", "{:.4f}"), ("top1_share", "{:.4f}"), ("route", "{}"),
    ("null_reason", "{}"),
)


def render_stats(rows: Sequence[dict[str, Any]], fmt: str) -> str:
    """``table``: aligned columns for people; ``json``: one object per set, erank_stats column names."""
    import json

    from digestflow import schemas

    if fmt == "json":
        names = schemas.load("erank_stats").names
        return "".join(json.dumps({k: row.get(k) for k in names}, default=str) + "\n" for row in rows)
    header = [name for name, _ in TABLE_COLUMNS]
    body = [
        ["" if row.get(name) is None else spec.format(row[name]) for name, spec in TABLE_COLUMNS] for row in rows
    ]
    widths = [max(len(h), *(len(r[i]) for r in body)) if body else len(h) for i, h in enumerate(header)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True))]
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in body]
    return "\n".join(line.rstrip() for line in lines) + "\n"


def write_stats_file(rows: Sequence[dict[str, Any]], path: str | os.PathLike[str]) -> None:
    """Write erank_stats rows (partition columns included) to one Parquet file with the table's types."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from digestflow import schemas

    schema = schemas.load("erank_stats").arrow()
    now = dt.datetime.now(dt.UTC)
    table = pa.Table.from_pylist([{**row, "computed_at": row.get("computed_at", now)} for row in rows], schema=schema)
    pq.write_table(table, path, compression="zstd")


# ----------------------------------------------------------------------------------------- helpers


def stack_vectors(vectors: Sequence[Any]) -> tuple[np.ndarray, int, bool]:
    """Rows → (float64 matrix, d, ragged). A null vector (or null element) becomes a NaN row, so the
    set is reported as having nonfinite rows instead of losing the row; different lengths → ragged."""
    lengths = [len(v) for v in vectors if v is not None]
    d = max(lengths, default=0)
    if any(length != d for length in lengths):
        return np.zeros((0, d)), d, True
    X = np.full((len(vectors), d), np.nan)
    for i, v in enumerate(vectors):
        if v is not None:
            try:
                X[i] = np.asarray(v, dtype=np.float64)
            except (TypeError, ValueError):  # a null element inside the vector
                X[i] = [np.nan if x is None else x for x in v]
    return X, d, False


def arrow_matrix(vectors: pa.Array) -> tuple[np.ndarray, int, bool]:
    """A list<float|double> Arrow column → (matrix, d, ragged) without a per-row Python loop when every
    row has the same length and no nulls (the common case); otherwise via :func:`stack_vectors`."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if isinstance(vectors, pa.ChunkedArray):
        vectors = vectors.combine_chunks()
    lengths = pc.list_value_length(vectors)
    if vectors.null_count == 0 and len(vectors) > 0:
        lo, hi = pc.min_max(lengths).values()
        if lo.as_py() == hi.as_py():
            d = int(lo.as_py())
            flat = vectors.flatten().to_numpy(zero_copy_only=False)
            return flat.reshape(len(vectors), d), d, False
    return stack_vectors(vectors.to_pylist())


def row_hashes(keys: Sequence[str], seed: int) -> np.ndarray:
    """Seeded 63-bit hash of each row key (blake2b): the random order that picks a set's pool."""
    salt = seed.to_bytes(8, "little", signed=True)
    return np.fromiter(
        (int.from_bytes(hashlib.blake2b(k.encode(), digest_size=8, salt=salt).digest(), "little") >> 1 for k in keys),
        dtype=np.int64,
        count=len(keys),
    )


def _bottom_k(hashes: np.ndarray, keys: Sequence[str], k: int) -> np.ndarray:
    """Indices of the k smallest (hash, key) pairs, in that order (ties in hash broken by key)."""
    if len(keys) <= k:
        order = np.lexsort((np.asarray(keys, dtype=object), hashes)) if len(keys) else np.arange(0)
        return order
    candidates = np.argpartition(hashes, k - 1)[:k]
    cutoff = hashes[candidates].max()
    inside = np.flatnonzero(hashes <= cutoff)
    order = inside[np.lexsort((np.asarray([keys[i] for i in inside], dtype=object), hashes[inside]))]
    return order[:k]


def set_seed(set_id: dict[str, Any], seed: int) -> int:
    """Per-set subsampling seed: deterministic, independent of which other sets run alongside."""
    text = f"{set_id['set_kind']}\x1f{set_id['set_key']}\x1f{set_id['model']}\x1f{set_id['period']}"
    return (seed * 1_000_003 + zlib.crc32(text.encode())) % 2**32


def _at_n(pool: np.ndarray, set_id: dict[str, Any], config: ErankConfig) -> tuple[Any, Any, Any]:
    return erank_at_n(
        pool, config.at_n_m, B=config.at_n_b, seed=set_seed(set_id, config.seed), eps=config.eps, ci=config.ci
    )


def _ragged_stats(n: int, d: int) -> dict[str, Any]:
    from digestflow.metrics.spectrum import STAT_KEYS

    stats: dict[str, Any] = dict.fromkeys(STAT_KEYS)
    stats.update(n=n, d=d, n_nonfinite_rows=0, null_reason="ragged_vectors")
    return stats


def _stats_row(
    set_id: dict[str, Any], stats: dict[str, Any], at_n: tuple[Any, Any, Any], route: str, config: ErankConfig
) -> dict[str, Any]:
    mean, lo, hi = at_n
    row = {c: set_id[c] for c in SET_COLS}
    row.update({k: stats[k] for k in stats})
    row.update(
        erank_at_n=mean,
        erank_ci_low=lo,
        erank_ci_high=hi,
        erank_at_n_m=config.at_n_m,
        erank_at_n_b=config.at_n_b,
        route=route,
        eps=config.eps,
    )
    return row


__all__ = [
    "CALENDAR_KINDS",
    "SET_COLS",
    "ErankConfig",
    "calendar_read_dates",
    "erank_stats",
    "exact_route",
    "external_stats",
    "first_per_paper",
    "gram_route",
    "owned_periods",
    "render_stats",
    "set_candidates",
    "set_sizes",
    "term_members",
    "week_start",
    "write_stats_file",
]
