"""The per-term series of :func:`digestflow.trends.term_series`, from one partition of its shuffle by term.

Plain numpy and pyarrow (no Spark, no scipy), since every Python worker imports it: Arrow's hash
aggregations do the per-paper dedupe, the per-day and per-term sums and the display form in one pass
over the partition's rows (docs/trends.md, "Spark side").
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

__all__ = ["SERIES_SCHEMA", "series_batches", "series_table"]

#: The output of :func:`series_table`, hence of ``term_series`` (its Spark schema is derived from this).
SERIES_SCHEMA = pa.schema([
    ("term", pa.string()), ("display_form", pa.string()), ("n_tokens", pa.int32()), ("df_all", pa.int64()),
    ("df_own_all", pa.int64()), ("tf_all", pa.int64()), ("days", pa.list_(pa.date32())),
    ("dfs", pa.list_(pa.int64())),
])


def series_batches(batches: Iterable[pa.RecordBatch], min_df: int) -> Iterator[pa.RecordBatch]:
    """mapInArrow body: one partition of the term shuffle (every row of its terms) → its series rows."""
    batches = [b for b in batches if b.num_rows]
    if batches:
        yield from series_table(pa.Table.from_batches(batches), min_df).to_batches()


def _run_starts(*keys: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """Offsets where a run of equal rows starts in ``keys`` (sorted), with the length appended."""
    n = len(keys[0])
    change = np.zeros(max(n - 1, 0), dtype=bool)
    for key in keys:
        key = key.combine_chunks() if isinstance(key, pa.ChunkedArray) else key
        if n > 1:
            change |= pc.not_equal(key.slice(1), key.slice(0, n - 1)).to_numpy(zero_copy_only=False)
    return np.concatenate([[0], np.flatnonzero(change) + 1, [n]]).astype(np.int64)


def series_table(rows: pa.Table, min_df: int) -> pa.Table:
    """:func:`digestflow.trends.term_series` for ``rows`` that hold every row of their terms (one partition
    of the term shuffle): columns term, digest_date, paper_id, tf, surface, n_tokens, is_alias of
    :func:`digestflow.trends.canonical_terms`. Display form: the most frequent surface (rows counted) among the term's own
    forms, ties to the larger string (Spark's ``max_by(surface, (n, surface))``), with the most frequent
    merged acronym appended in brackets; a term seen only through an acronym has no display form and
    is left out. n_tokens: the most among its own forms."""
    per_paper = rows.group_by(["term", "digest_date", "paper_id"], use_threads=False).aggregate(
        [("tf", "sum"), ("is_alias", "all")]
    )
    per_paper = per_paper.append_column("own", pc.cast(pc.invert(per_paper["is_alias_all"]), pa.int64()))
    per_day = per_paper.group_by(["term", "digest_date"], use_threads=False).aggregate(
        [("paper_id", "count"), ("tf_sum", "sum"), ("own", "sum")]
    ).sort_by([("term", "ascending"), ("digest_date", "ascending")])
    starts = _run_starts(per_day["term"])
    heads = starts[:-1]
    df = per_day["paper_id_count"].to_numpy().astype(np.int64)

    def total(column: str) -> np.ndarray:
        values = per_day[column].to_numpy().astype(np.int64)
        return np.add.reduceat(values, heads) if len(heads) else np.zeros(0, np.int64)

    offsets = pa.array(starts, pa.int32())
    per_term = pa.table({
        "term": per_day["term"].combine_chunks().take(pa.array(heads)),
        "df_all": total("paper_id_count"),
        "df_own_all": total("own_sum"),
        "tf_all": total("tf_sum_sum"),
        "days": pa.ListArray.from_arrays(offsets, per_day["digest_date"].combine_chunks()),
        "dfs": pa.ListArray.from_arrays(offsets, pa.array(df, pa.int64())),
    })
    per_term = per_term.filter(pc.greater_equal(per_term["df_all"], min_df))

    surfaces = rows.group_by(["term", "is_alias", "surface"], use_threads=False).aggregate(
        [("paper_id", "count"), ("n_tokens", "max")]
    )
    tokens = surfaces.group_by(["term", "is_alias"], use_threads=False).aggregate([("n_tokens_max", "max")])
    ranked = surfaces.sort_by(
        [("term", "ascending"), ("is_alias", "ascending"), ("paper_id_count", "descending"), ("surface", "descending")]
    )
    best = ranked.take(pa.array(_run_starts(ranked["term"], ranked["is_alias"])[:-1]))
    best = best.select(["term", "is_alias", "surface"]).join(tokens, ["term", "is_alias"])
    own = best.filter(pc.invert(best["is_alias"])).select(["term", "surface", "n_tokens_max_max"])
    alias = best.filter(best["is_alias"]).select(["term", "surface"]).rename_columns(["term", "alias"])
    display = own.join(alias, "term", join_type="left outer")
    shown = pc.if_else(
        pc.is_null(display["alias"]),
        display["surface"],
        pc.binary_join_element_wise(display["surface"], " (", display["alias"], ")", ""),
    )
    # Table.join cannot carry list columns: join term → row of per_term, then take those rows.
    index = pa.table({"term": per_term["term"], "row": pa.array(np.arange(per_term.num_rows), pa.int64())})
    matched = index.join(
        pa.table({"term": display["term"], "display_form": shown, "n_tokens": display["n_tokens_max_max"]}),
        "term", join_type="inner",
    )
    out = per_term.take(matched["row"]).drop_columns(["term"])
    for name in ("term", "display_form", "n_tokens"):
        out = out.append_column(name, matched[name])
    return out.select(SERIES_SCHEMA.names).cast(SERIES_SCHEMA)
