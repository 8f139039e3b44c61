"""The per-term series of :func:`digestflow.trends.term_series`, from one partition of its shuffle by family.

Plain numpy and pyarrow (no Spark, no scipy), since every Python worker imports it. A partition holds
whole term *families* (:func:`family_of`: every term with its plural and singular forms, and the
families an acronym merge joins), so the plural folds are decided inside it (:func:`plural_folds`,
over the partition's own vocabulary, which holds every candidate singular of its terms), the rows are
mapped to their canonical terms (:func:`canonical_forms`), and Arrow's hash aggregations do the
per-paper dedupe, the per-day and per-term sums and the display form in one pass over the partition's
rows (docs/trends.md, "Spark side").
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

__all__ = [
    "PLURAL_EXCEPTIONS",
    "SERIES_SCHEMA",
    "canonical_forms",
    "canonical_rows",
    "family_of",
    "plural_folds",
    "series_batches",
    "series_table",
    "singular_candidates",
]

# Plural-looking words that are not plurals of a word that also occurs (docs/findings.md: lemmatisers turn
# "whereas" into "wherea"; the corpus check catches most, these are the ones whose "singular" is itself
# a common word with another meaning).
_EXCEPTIONS = """
    news dynamics physics mathematics statistics robotics graphics economics analytics semantics
    linguistics kinematics ethics series species means thanks lens bias gas alias atlas canvas corpus
"""
PLURAL_EXCEPTIONS: frozenset[str] = frozenset(_EXCEPTIONS.split())
_SIBILANT_ES = ("ches", "shes", "xes", "sses", "zes")


def singular_candidates(term: str) -> list[str]:
    """Singulars to try for the term's last word, most specific rule first (docs/trends.md):

    1. consonant + "ies" → "y" ("studies" → "study");
    2. "ches", "shes", "xes", "sses", "zes" → without "es" ("patches" → "patch");
    3. "s" after anything but s, i, u, an apostrophe or a digit → without "s" ("models" → "model");

    each only for a last word longer than three characters and not in :data:`PLURAL_EXCEPTIONS`. A term
    is words joined by one space (schemas/paper_terms.json): its last word is what follows the last
    space, and only that word changes. Suffix and character tests, no regular expressions (the test
    checks them against the rules written as regular expressions).
    """
    if not term.endswith("s"):  # every rule removes an "s": most terms stop here
        return []
    cut = term.rfind(" ") + 1
    head, last = term[:cut], term[cut:]
    if len(last) <= 3 or last in PLURAL_EXCEPTIONS:
        return []
    out = []
    if last.endswith("ies") and last[-4] not in "aeiou":
        out.append(head + last[:-3] + "y")
    if last.endswith(_SIBILANT_ES):
        out.append(head + last[:-2])
    before = last[-2]
    if before not in "siu'" and not "0" <= before <= "9":
        out.append(head + last[:-1])
    return out


def _as_array(terms: Iterable[str] | pa.Array | pa.ChunkedArray) -> pa.Array | pa.ChunkedArray:
    return terms if isinstance(terms, (pa.Array, pa.ChunkedArray)) else pa.array(sorted(set(terms)), pa.string())


def plural_folds(terms: Iterable[str] | pa.Array | pa.ChunkedArray) -> dict[str, str]:
    """``{plural: singular}`` for each of ``terms`` whose last word is a plural of a word that is also
    among ``terms``: its first candidate (:func:`singular_candidates`) found there. Only the head (last)
    word folds, and only into a singular that occurs ("models" → "model" if "model" occurs; "whereas"
    never becomes "wherea"). Only terms ending in "s" have candidates, and Arrow looks them all up at
    once, so a worker's Python touches a fraction of its terms."""
    vocabulary = _as_array(terms)
    plurals = pc.filter(vocabulary, pc.ends_with(vocabulary, "s")).to_pylist()
    pairs = [(term, candidate) for term in plurals for candidate in singular_candidates(term)]
    if not pairs:
        return {}
    found = pc.is_in(pa.array([c for _, c in pairs], pa.string()), value_set=vocabulary).to_pylist()
    out: dict[str, str] = {}
    for (term, candidate), occurs in zip(pairs, found, strict=True):
        if occurs and term not in out:  # candidates come most specific first
            out[term] = candidate
    return out


def family_of(term: str) -> str:
    """The term's family: the term without its trailing "s" and "e" characters, then without its trailing
    "i" and "y" characters. A term and each of its :func:`singular_candidates` share a family (the rules
    only swap "s", "es" or "ies" at the end for nothing or "y"), so a shuffle by family puts a plural and
    its singular in one partition; unrelated terms may share one too, which costs nothing. Spark computes
    the same key, :func:`digestflow.trends.family_key` (the test compares them)."""
    return term.rstrip("se").rstrip("iy")


def canonical_forms(
    terms: Iterable[str] | pa.Array | pa.ChunkedArray, aliases: Mapping[str, str]
) -> dict[str, tuple[str, bool]]:
    """``{term: (canonical term, is_alias)}`` for those of ``terms`` (whole families) that are not
    their own canonical term or come through an acronym; every other term maps to itself. The plural
    fold first (:func:`plural_folds` among ``terms``), then the acronym merge (``aliases``: folded
    acronym → folded expansion, :func:`digestflow.trends.acronym_aliases`); ``is_alias`` marks the rows
    a merged acronym brings (they do not count as the term's own papers)."""
    vocabulary = _as_array(terms)
    folds = plural_folds(vocabulary)
    out = {term: (aliases.get(folded, folded), folded in aliases) for term, folded in folds.items()}
    if aliases:
        named = pc.filter(vocabulary, pc.is_in(vocabulary, value_set=pa.array(list(aliases), pa.string())))
        out.update({term: (aliases[term], True) for term in named.to_pylist() if term not in folds})
    return out


#: The output of :func:`series_table`, hence of ``term_series`` (its Spark schema is derived from this).
SERIES_SCHEMA = pa.schema([
    ("term", pa.string()), ("display_form", pa.string()), ("n_tokens", pa.int32()), ("df_all", pa.int64()),
    ("df_own_all", pa.int64()), ("tf_all", pa.int64()), ("days", pa.list_(pa.date32())),
    ("dfs", pa.list_(pa.int64())),
])


def series_batches(
    batches: Iterable[pa.RecordBatch], min_df: int, aliases: Mapping[str, str]
) -> Iterator[pa.RecordBatch]:
    """mapInArrow body: one partition of the shuffle by family (every row of its families: columns term,
    digest_date, paper_id, tf, surface, n_tokens) → its series rows, each row counted under its
    canonical term (:func:`canonical_forms`)."""
    batches = [b for b in batches if b.num_rows]
    if batches:
        yield from series_table(canonical_rows(pa.Table.from_batches(batches), aliases), min_df).to_batches()


def canonical_rows(rows: pa.Table, aliases: Mapping[str, str]) -> pa.Table:
    """``rows`` (whole families) with ``term`` replaced by its canonical term and ``is_alias`` appended
    (:func:`canonical_forms`)."""
    changed = canonical_forms(pc.unique(rows["term"]), aliases)
    if not changed:
        return rows.append_column("is_alias", pa.array(np.zeros(rows.num_rows, dtype=bool)))
    index = pc.index_in(rows["term"], value_set=pa.array(list(changed), pa.string()))
    canon = pc.take(pa.array([c for c, _ in changed.values()], pa.string()), index)
    alias = pc.take(pa.array([a for _, a in changed.values()], pa.bool_()), index)
    out = rows.set_column(rows.schema.get_field_index("term"), "term", pc.coalesce(canon, rows["term"]))
    return out.append_column("is_alias", pc.fill_null(alias, False))


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
    of the shuffle by family): columns term (canonical), digest_date, paper_id, tf, surface, n_tokens,
    is_alias of :func:`canonical_rows`. Display form: the most frequent surface (rows counted) among the term's own
    forms, ties to the larger string (Spark's ``max_by(surface, (n, surface))``), with the most frequent
    merged acronym appended in brackets; a term seen only through an acronym has no display form and
    is left out. n_tokens: the most among its own forms.

    A term with fewer than ``min_df`` rows has fewer than ``min_df`` papers, so its rows are dropped
    first (the result is the same; about half the rows of a lookback go)."""
    counts = pc.value_counts(rows["term"])
    frequent = pc.filter(counts.field("values"), pc.greater_equal(counts.field("counts"), min_df))
    rows = rows.filter(pc.is_in(rows["term"], value_set=frequent))
    if not rows.num_rows:
        return SERIES_SCHEMA.empty_table()
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
