"""Keyword trends from ``paper_terms``: rising, falling, bursting and new terms at one run date.

The split follows the data size (docs/trends.md):

- **Spark** (:func:`lookback_forms`, :func:`term_series`, :func:`daily_volume`) reads the lookback's
  ``paper_terms`` rows (hundreds of thousands) once, in partitions of whole term families: each Python
  worker folds plural head nouns and merged acronyms, deduplicates per paper and reduces its rows to
  one row per term with its daily document frequencies, keeping only terms above a support floor.
  That is a few thousand rows: small enough for the driver.
- **numpy** (:func:`score_trends`) turns that terms × days matrix into statistics with
  :mod:`digestflow.metrics.trendstats`: termhood filter, Monroe et al. log-odds z per window, Kleinberg
  bursts, Mann–Kendall/Sen, first-seen/new, nested-phrase suppression, ranks, weekly sparkline stats.

Mann–Kendall and Sen's slope are evaluated for thousands of terms at once here
(:func:`mann_kendall_rows`, :func:`sen_slope_rows`): the same formulas as
:func:`~digestflow.metrics.trendstats.mann_kendall` and :func:`~digestflow.metrics.trendstats.sen_slope`
(tests check equality term by term), vectorised over terms because the per-term calls cost ~1 ms each.
"""

from __future__ import annotations

import datetime as dt
import functools
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, NamedTuple

import numpy as np
import pandas as pd
from scipy.stats import norm

from digestflow.metrics import trendstats as ts
from digestflow.metrics.termseries import (
    PLURAL_EXCEPTIONS,
    SERIES_SCHEMA,
    family_of,
    plural_folds,
    series_batches,
    singular_candidates,
)
from digestflow.params import parse_days
from digestflow.stages.trends import TrendParams

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame

__all__ = [
    "PLURAL_EXCEPTIONS",
    "Forms",
    "TermCounts",
    "TrendParams",
    "acronym_aliases",
    "cut_fragments",
    "daily_volume",
    "families_of",
    "family_key",
    "family_roots",
    "general_frequency",
    "has_term_shape",
    "lookback_forms",
    "mann_kendall_rows",
    "parse_days",
    "plural_folds",
    "score_trends",
    "sen_slope_rows",
    "series_partitions",
    "singular_candidates",
    "term_series",
    "termhood",
    "with_family",
    "word_classes",
]


def _words(text: str) -> list[str]:
    return text.split()


# The boilerplate of scientific abstracts: verbs, adjectives, adverbs and paper-talk nouns that say how
# a paper argues, not what it is about. Weirdness cannot catch them (they are rare in general English,
# so "demonstrate" scores ~80), and on the real digests they were the top fallers ("demonstrate",
# "enhance", "integrates", "Extensive experiments"). Hand-written in the spirit of the Academic Word
# List (Coxhead 2000); a term whose first or last word is one of these fails termhood.
STYLE_WORDS: frozenset[str] = frozenset(
    _words(
        """
    achieve achieves achieved achieving achievement demonstrate demonstrates demonstrated demonstrating
    enhance enhances enhanced enhancing enhancement enable enables enabled enabling integrate integrates
    integrated integrating propose proposes proposed proposing present presents presented introduce
    introduces introduced introducing leverage leverages leveraging leveraged outperform outperforms
    outperformed outperforming surpass surpasses surpassing improve improves improved improving
    improvement improvements utilize utilizes utilizing facilitate facilitates address addresses
    addressing exhibit exhibits exhibiting rely relies relying remain remains remaining reveal reveals
    highlight highlights underscore underscores evaluate evaluated evaluates evaluating validate
    validated conduct conducted show shows showing shown observe observed yield yields yielding
    significant significantly substantial substantially notable notably remarkable remarkably impressive
    superior comprehensive extensive extensively novel robust robustness effective effectively
    efficient efficiently crucial various diverse existing prior previous recent recently
    current currently promising competitive strong stronger strongest inherent inherently
    often primarily mainly largely typically commonly widely increasingly particularly especially
    furthermore moreover additionally consequently overall finally poorly
    limitation limitations challenge challenges baseline baselines experiment experiments result
    results performance method methods approach approaches framework frameworks paper work study
    studies finding findings insight insights contribution contributions capability capabilities
    high-quality large-scale real-world state-of-the-art sota fine-grained challenging scalable reusable
    future generating hoc
    """
    )
)
# Two-word style modifiers (after hyphen splitting): a term made of exactly one of these fails too.
STYLE_PHRASES: frozenset[str] = frozenset(
    {
        "high quality",
        "large scale",
        "real world",
        "state of the art",
        "fine grained",
        "high fidelity",
        "multi step",
    }
)

# ------------------------------------------------------------------------------------- Spark side


def family_key(term: Column) -> Column:
    """:func:`~digestflow.metrics.termseries.family_of` as a Spark column: the term without its trailing
    "s"/"e" characters, then without its trailing "i"/"y" characters (``rtrim`` with a set of characters).
    A term and its singular candidates share it, so a shuffle by it puts them in one partition."""
    from pyspark.sql import functions as F

    return F.rtrim(F.rtrim(term, F.lit("se")), F.lit("iy"))


class Forms(NamedTuple):
    """What the trends stage decides over a lookback before counting (:func:`lookback_forms`)."""

    aliases: dict[str, str]  # folded acronym → folded expansion (acronym merges)
    rows: int  # paper_terms rows of the lookback (they size the shuffle, :func:`series_partitions`)


def lookback_forms(
    paper_terms: DataFrame,
    papers: DataFrame | None = None,
    min_definitions: int = 2,
    min_definition_share: float = 2 / 3,
) -> Forms:
    """The lookback's acronym merges and its row count, in two small Spark jobs.

    An acronym defined in the lookback's papers ("Large Language Models (LLMs)", :mod:`digestflow.acronyms`)
    becomes the same term as its expansion when both occur in the lookback's paper_terms, at least
    ``min_definitions`` papers define it so and that expansion holds at least ``min_definition_share``
    of the acronym's definitions (an acronym with rival expansions, such as "SAM", stays its own term).
    Acronym and expansion are compared after their plural folds ("LLMs" → "LLM"), decided over the
    lookback's vocabulary: one aggregation over paper_terms counts its rows and collects which of the
    definitions' forms and of their singular candidates occur. The plural folds of every other term are
    decided inside :func:`term_series`, family by family, over the same vocabulary.
    """
    from pyspark.sql import functions as F

    from digestflow import acronyms

    pairs = pd.DataFrame(columns=["paper_id", "acronym", "expansion"])
    if papers is not None:
        rows = acronyms.definition_candidates(papers).collect()
        pairs = acronyms.definitions((r["paper_id"], r["preceding"], r["short"]) for r in rows)
    forms = set(pairs["acronym"]) | set(pairs["expansion"])
    wanted = sorted(forms | {c for f in forms for c in singular_candidates(f)})
    from digestflow.pipeline import in_list

    found = F.collect_set(F.when(in_list("term", wanted), F.col("term"))).alias("found")
    row = paper_terms.agg(F.count(F.lit(1)).alias("rows"), found).first()
    known = set(row["found"])
    aliases = acronym_aliases(pairs, known, min_definitions, min_definition_share)
    return Forms(aliases, int(row["rows"]))


def acronym_aliases(
    pairs: pd.DataFrame, known: set[str], min_definitions: int, min_definition_share: float
) -> dict[str, str]:
    """``{acronym: expansion}`` from the definitions ``pairs`` (``paper_id, acronym, expansion``,
    :func:`digestflow.acronyms.definitions`): both must be among ``known`` (the lookback's terms, at
    least those of the pairs and their singular candidates), both are folded to their singulars within
    ``known``, and an acronym merges into the expansion most papers give it when that is at least
    ``min_definitions`` papers and ``min_definition_share`` of the papers defining it. No chains: an
    expansion that is itself a merged acronym stays what it is."""
    pairs = pairs[pairs["acronym"].isin(known) & pairs["expansion"].isin(known)]
    if pairs.empty:
        return {}
    fold = plural_folds(known)
    pairs = pairs.assign(
        acronym=[fold.get(a, a) for a in pairs["acronym"]], expansion=[fold.get(e, e) for e in pairs["expansion"]]
    )
    pairs = pairs[pairs["acronym"] != pairs["expansion"]].drop_duplicates()
    # Per acronym the expansion most papers give (ties: the smaller string), against all its papers: two
    # group-bys over every pair at once (a loop over each acronym's group was ~0.15 s of a daily run).
    per = pairs.groupby(["acronym", "expansion"])["paper_id"].nunique().rename("n").reset_index()
    defined = pairs.groupby("acronym")["paper_id"].nunique()
    best = per.sort_values(["acronym", "n", "expansion"], ascending=[True, False, True]).drop_duplicates("acronym")
    best = best[(best["n"] >= min_definitions) & (best["n"] >= min_definition_share * best["acronym"].map(defined))]
    aliases = {str(a): str(e) for a, e in zip(best["acronym"], best["expansion"], strict=True)}
    return {a: e for a, e in aliases.items() if e not in aliases}


def family_roots(aliases: Mapping[str, str]) -> dict[str, str]:
    """``{family: root}`` for the families an acronym merge joins (:func:`family_key` of an acronym and of
    its expansion, joined transitively): every family maps to the smallest of its group, so all the rows
    of a merged term land in one partition. Families no merge touches are their own root (absent)."""
    parent: dict[str, str] = {}

    def find(key: str) -> str:
        while parent.get(key, key) != key:
            key = parent[key]
        return key

    for acronym, expansion in aliases.items():
        a, b = find(family_of(acronym)), find(family_of(expansion))
        if a != b:
            parent[max(a, b)] = min(a, b)
    keys = set(parent) | set(parent.values())
    return {key: find(key) for key in keys if find(key) != key}


def with_family(paper_terms: DataFrame, aliases: Mapping[str, str]) -> DataFrame:
    """paper_terms with a ``family`` column: :func:`family_key` of the term, joined families mapped to
    their root (:func:`family_roots`, a broadcast of a few rows)."""
    from pyspark.sql import functions as F

    key = family_key(F.col("term"))
    roots = family_roots(aliases)
    if not roots:
        return paper_terms.withColumn("family", key)
    import pyarrow as pa

    table = paper_terms.sparkSession.createDataFrame(
        pa.table({"_key": pa.array(list(roots), pa.string()), "_root": pa.array(list(roots.values()), pa.string())}),
        "_key string, _root string",
    )
    return (
        paper_terms.withColumn("_key", key)
        .join(F.broadcast(table), "_key", "left")
        .withColumn("family", F.coalesce("_root", "_key"))
        .drop("_key", "_root")
    )


def families_of(terms: Iterable[str], aliases: Mapping[str, str]) -> set[str]:
    """Every family (:func:`family_key`, before the roots) whose rows can count towards ``terms``: their
    own families and every family merged with one of them (:func:`family_roots`)."""
    roots = family_roots(aliases)
    wanted = {roots.get(family_of(t), family_of(t)) for t in terms}
    return wanted | {key for key, root in roots.items() if root in wanted}


#: Rows of the shuffle one Python worker holds at a time (:func:`series_partitions`): ~80 bytes
#: each in Arrow, so ~160 MB per worker whatever the lookback's size.
SERIES_PARTITION_ROWS = 2_000_000


def series_partitions(rows: int, shuffle_partitions: int) -> int | None:
    """Partitions of :func:`term_series`' shuffle by family for ``rows`` input rows: None (the session's
    shuffle partitions, which adaptive execution may coalesce) unless each would hold more than
    :data:`SERIES_PARTITION_ROWS`; then enough that none does."""
    needed = -(-rows // SERIES_PARTITION_ROWS)
    return needed if needed > max(shuffle_partitions, 1) else None


def term_series(
    paper_terms: DataFrame,
    min_df: int,
    aliases: Mapping[str, str] | None = None,
    partitions: int | None = None,
) -> DataFrame:
    """Per canonical term with ≥ ``min_df`` papers: display form, totals and daily document frequency.

    Columns (:data:`digestflow.metrics.termseries.SERIES_SCHEMA`): term, display_form, n_tokens, df_all
    (papers), df_own_all (papers with a form that is not a merged acronym), tf_all (occurrences), days
    (dates with the term, ascending) and dfs (papers on each of those days). A paper is counted once per
    term and day even when several variants ("adapter", "adapters", "Adapter", or "LLM" and "large
    language models") fold into the term. Plural folds are found among the lookback's own terms;
    ``aliases`` are the acronym merges (:func:`lookback_forms`).

    One read of the lookback and one shuffle by family (:func:`with_family`; ``partitions`` of them,
    default the session's shuffle partitions): each partition holds whole families, so its Python worker
    decides the plural folds of its terms, maps every row to its canonical term and reduces the rows
    with Arrow's hash aggregations (:func:`digestflow.metrics.termseries.series_batches`): the folds,
    the per-paper dedupe, the per-day and per-term sums and the display form all come from that read.
    """
    aliases = dict(aliases or {})
    rows = with_family(paper_terms, aliases).select(
        "family", "term", "digest_date", "paper_id", "tf", "surface", "n_tokens"
    )
    shuffled = rows.repartition(partitions, "family") if partitions else rows.repartition("family")
    shuffled = shuffled.drop("family")
    # The body lives in a module of numpy and pyarrow only: each Python worker imports it in ~0.3 s,
    # where this module (scipy, the stage declarations) takes ~1.7 s.
    from pyspark.sql.pandas.types import from_arrow_schema

    return shuffled.mapInArrow(
        lambda batches: series_batches(batches, min_df, aliases), from_arrow_schema(SERIES_SCHEMA)
    )


def daily_volume(papers: DataFrame) -> DataFrame:
    """Papers and word tokens (title + abstract) per digest date: the denominators of every share."""
    from pyspark.sql import functions as F

    per_paper = papers.groupBy("digest_date", "paper_id").agg(
        F.max(F.col("n_words") + F.size(F.split(F.trim("title"), r"\s+"))).alias("words")
    )
    return per_paper.groupBy("digest_date").agg(
        F.count(F.lit(1)).alias("n_papers"), F.sum("words").alias("n_words")
    )


# ------------------------------------------------------------------------------------ driver side


@dataclass
class TermCounts:
    """The collected, small input of :func:`score_trends`: a terms × days matrix and its denominators."""

    terms: list[str]
    display: list[str]
    n_tokens: np.ndarray  # words per term
    tf_all: np.ndarray  # occurrences over the lookback (for termhood only)
    days: list[dt.date]  # every calendar day of the lookback, in order
    df: np.ndarray  # terms × days: papers mentioning the term that day
    n_papers: np.ndarray  # days: papers that day
    n_words: int  # word tokens over the lookback (termhood denominator)
    df_own: np.ndarray | None = None  # papers with a form of the term that is not a merged acronym

    @classmethod
    def from_frames(cls, series: pd.DataFrame, volume: pd.DataFrame, days: Sequence[dt.date]) -> TermCounts:
        """From :func:`term_series` and :func:`daily_volume` results collected with ``toPandas()``."""
        days = list(days)
        index = {d: i for i, d in enumerate(days)}
        series = series.sort_values("term", kind="stable").reset_index(drop=True)
        df = np.zeros((len(series), len(days)), dtype=np.int64)
        # One vectorised scatter of every (term, day, papers) triple: the per-element loop it replaces
        # took 0.3 s for the ~250,000 triples of the dev days' last lookback.
        lengths = np.fromiter((len(d) for d in series["days"]), dtype=np.int64, count=len(series))
        if lengths.sum() and days:
            rows = np.repeat(np.arange(len(series)), lengths)
            flat = np.concatenate([np.asarray(d, dtype=object) for d in series["days"]])
            counts = np.concatenate([np.asarray(c, dtype=np.int64) for c in series["dfs"]])
            found = pd.Index(list(index), dtype=object).get_indexer(flat)  # the dict's keys: unique
            cols = np.where(found >= 0, np.fromiter(index.values(), dtype=np.int64)[found], -1)
            for i in np.flatnonzero(cols < 0):  # another date type (datetime, Timestamp, text) or outside
                cols[i] = index.get(_as_date(flat[i]), -1)
            hit = cols >= 0
            np.add.at(df, (rows[hit], cols[hit]), counts[hit])
        n_papers = np.zeros(len(days), dtype=np.int64)
        n_words = 0
        for date, papers, words in zip(
            volume["digest_date"], volume["n_papers"], volume["n_words"], strict=True
        ):
            col = index.get(_as_date(date))
            if col is not None:
                n_papers[col] += int(papers)
                n_words += int(words)
        own = series["df_own_all"] if "df_own_all" in series else series.get("df_all")
        return cls(
            df_own=None if own is None else own.to_numpy(dtype=np.int64),
            terms=series["term"].tolist(),
            display=series["display_form"].tolist(),
            n_tokens=series["n_tokens"].to_numpy(dtype=np.int64),
            tf_all=series["tf_all"].to_numpy(dtype=np.int64),
            days=days,
            df=df,
            n_papers=n_papers,
            n_words=max(n_words, 1),
        )


def _as_date(value: object) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    return pd.Timestamp(value).date()


@functools.cache
def _frequency_table() -> dict[str, float]:
    """wordfreq's English table, built once per process (``get_frequency_dict`` builds a new dict of ~320k
    words at every call: ~0.07 s of every trends run in a stage server)."""
    import wordfreq

    return wordfreq.get_frequency_dict("en")


def general_frequency() -> Callable[[str], float]:
    """Word frequency in general English (``wordfreq``, offline data): plain words by dictionary lookup,
    anything wordfreq would tokenise (digits, hyphens) through ``word_frequency``."""
    import wordfreq

    table = _frequency_table()

    def freq(word: str) -> float:
        if word.isalpha():
            return float(table.get(word, 0.0))
        return float(wordfreq.word_frequency(word, "en"))

    return freq


def word_classes() -> Callable[[str], frozenset[str]]:
    """The open word classes a word can have in English (``lemminflect``'s lexicon, offline): a subset
    of NOUN, PROPN, VERB, ADJ, ADV, AUX; empty for a word the lexicon does not know (acronyms, jargon,
    "kv", "rollout", "flashattention").

    Memoised for the process (the lexicon does not change): termhood asks for the same words again and
    again ("model" in thousands of phrases), and each lexicon lookup deep-copies its answer (the 21,059
    terms of the dev days' last lookback: 28,773 lookups of 6,482 distinct words, 1.0 s of score_trends
    without the cache); a stage server's later trends runs find most words already there."""
    return _word_classes


@functools.cache
def _word_classes(word: str) -> frozenset[str]:
    import lemminflect

    return frozenset(lemminflect.getAllLemmas(word))


# Derivational endings of English adjectives and participles, applied only to words the lexicon does not
# know (it lists nouns such as "variable" and "objective" itself).
_ADJECTIVE_ENDINGS = ("able", "ible", "ive", "ous", "ful", "less", "ed")


def has_term_shape(words: Sequence[str], classes: Callable[[str], frozenset[str]]) -> bool:
    """Whether a phrase can be a technical term by its word classes: a noun phrase ending in a noun
    (Justeson & Katz 1995), with adjectives, nouns and participles in front.

    The head (last word) must be able to be a noun, a gerund ("reasoning", "pooling"), or unknown to the
    lexicon (acronyms and jargon are nouns in practice). Each other word must be able to be a noun or an
    adjective, a participle ("structured outputs", "pre trained models"), or unknown (function words such
    as "of" in "mixture of experts" are not in the open-class lexicon). So adverbs ("systematically"),
    base-form verbs ("mitigate") and bare adjectives or participles ("coherent", "iterative", "pre
    trained") fail: they describe how a paper argues or modify a term, they are not one.
    """
    *modifiers, head = words
    head_classes = classes(head)
    if head_classes and not (
        head_classes & {"NOUN", "PROPN"} or ("VERB" in head_classes and head.endswith("ing"))
    ):
        return False
    if not head_classes and head.endswith(_ADJECTIVE_ENDINGS):
        return False  # not in the lexicon, but built like an adjective: "plausible", "autoregressive"
    for word in modifiers:
        word_classes_ = classes(word)
        if word_classes_ and not (
            word_classes_ & {"NOUN", "PROPN", "ADJ"}
            or ("VERB" in word_classes_ and word.endswith(("ed", "ing", "en", "wn", "lt")))
        ):
            return False
    return True


def _plural_of(word: str) -> str:
    if word.endswith("y") and len(word) > 1 and word[-2] not in "aeiou":
        return word[:-1] + "ies"
    if word.endswith(("s", "x", "z", "ch", "sh")):
        return word + "es"
    return word + "s"


def termhood(
    counts: TermCounts,
    params: TrendParams,
    freq: Callable[[str], float] | None = None,
    classes: Callable[[str], frozenset[str]] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Per term: (passes, score). Unigram score = weirdness, multiword score = NPMI (docs/findings.md "Termhood").

    A term that is a style phrase, or starts or ends with a style word (:data:`STYLE_WORDS`), or does not
    have the shape of a term by its word classes (:func:`has_term_shape`), fails with score NaN whatever
    its statistics.

    Weirdness = (tf / corpus words) ÷ general-English frequency of the word and its plural (the term
    carries its folded plurals); out-of-vocabulary words pass (score = inf). NPMI of a multiword term =
    ln(p_ab / (p_a p_b)) / −ln p_ab over token probabilities, taking the weakest binary split into two
    scored parts ("low rank | adaptation", "low | rank adaptation"); a trigram whose middle word is a
    stopword ("mixture of experts") has no such split and is scored on its outer words.
    """
    freq = freq or general_frequency()
    classes = classes or word_classes()
    total = float(counts.n_words)
    tf = {t: float(c) for t, c in zip(counts.terms, counts.tf_all, strict=True)}
    passes = np.zeros(len(counts.terms), dtype=bool)
    score = np.zeros(len(counts.terms))
    for i, term in enumerate(counts.terms):
        words = term.split(" ")
        if (
            term in STYLE_PHRASES
            or words[0] in STYLE_WORDS
            or words[-1] in STYLE_WORDS
            or not has_term_shape(words, classes)
        ):
            score[i] = math.nan
            continue
        if len(words) == 1:
            general = freq(term) + freq(_plural_of(term))
            score[i] = math.inf if general <= 0 else (tf[term] / total) / general
            passes[i] = score[i] >= params.weirdness_min
            continue
        p_ab = tf[term] / total
        splits = [(" ".join(words[:k]), " ".join(words[k:])) for k in range(1, len(words))]
        scored = [(a, b) for a, b in splits if a in tf and b in tf]
        if not scored and len(words) == 3 and words[0] in tf and words[2] in tf:
            scored = [(words[0], words[2])]
        if not scored or p_ab >= 1.0:
            score[i] = math.nan
            continue
        score[i] = min(
            math.log(p_ab / ((tf[a] / total) * (tf[b] / total))) / -math.log(p_ab) for a, b in scored
        )
        passes[i] = score[i] >= params.npmi_min
    return passes, score


# ---------------------------------------------------------------------------- vectorised MK / Sen


def mann_kendall_rows(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mann–Kendall ``(z, p)`` for every row of ``x`` (no NaN), as :func:`trendstats.mann_kendall`.

    S accumulates sgn(x_j − x_k) lag by lag (n − 1 vector steps over all rows); the tie term
    Σ t(t−1)(2t+5) comes from run lengths of each sorted row. Rows with Var(S) = 0 (constant) or fewer
    than 3 columns give NaN.
    """
    x = np.asarray(x, dtype=float)
    rows, n = x.shape
    z = np.full(rows, np.nan)
    p = np.full(rows, np.nan)
    if n < 3 or rows == 0:
        return z, p
    s = np.zeros(rows)
    for lag in range(1, n):
        s += np.sign(x[:, lag:] - x[:, :-lag]).sum(axis=1)
    ordered = np.sort(x, axis=1)
    starts = np.ones_like(ordered, dtype=bool)
    starts[:, 1:] = ordered[:, 1:] != ordered[:, :-1]
    run_id = np.cumsum(starts, axis=1) - 1 + (np.arange(rows) * n)[:, None]
    t = np.bincount(run_id.ravel(), minlength=rows * n).astype(float)
    ties = (t * (t - 1) * (2 * t + 5)).reshape(rows, n).sum(axis=1)
    var_s = (n * (n - 1) * (2 * n + 5) - ties) / 18.0
    ok = var_s > 0
    root = np.sqrt(np.where(ok, var_s, 1.0))
    zz = np.where(s > 0, (s - 1) / root, np.where(s < 0, (s + 1) / root, 0.0))
    z[ok] = zz[ok]
    p[ok] = 2 * norm.sf(np.abs(zz[ok]))
    return z, p


def sen_slope_rows(x: np.ndarray, positions: np.ndarray, chunk_values: int = 4_000_000) -> np.ndarray:
    """Sen's slope of every row of ``x`` observed at ``positions`` (as :func:`trendstats.sen_slope`
    with NaN days keeping their places): median over j > k of (x_j − x_k)/(pos_j − pos_k)."""
    x = np.asarray(x, dtype=float)
    rows, n = x.shape
    out = np.full(rows, np.nan)
    if n < 2 or rows == 0:
        return out
    k, j = np.triu_indices(n, k=1)
    gaps = (np.asarray(positions, dtype=float)[j] - np.asarray(positions, dtype=float)[k])[None, :]
    step = max(1, chunk_values // k.size)
    for lo in range(0, rows, step):
        block = x[lo : lo + step]
        out[lo : lo + step] = np.median((block[:, j] - block[:, k]) / gaps, axis=1)
    return out


# ------------------------------------------------------------------------------------------ scoring


@dataclass
class TrendResult:
    """keyword_trends and term_stats rows (pandas, schema column order minus the partition column)."""

    trends: pd.DataFrame
    term_stats: pd.DataFrame
    details: dict[str, object] = field(default_factory=dict)


def score_trends(
    counts: TermCounts,
    as_of: dt.date,
    params: TrendParams | None = None,
    freq: Callable[[str], float] | None = None,
) -> TrendResult:
    """Every statistic of keyword_trends for each window, from the collected counts. Deterministic."""
    params = params or TrendParams()
    if counts.days and counts.days[-1] != as_of:
        raise ValueError(f"counts end on {counts.days[-1]}, not on as_of {as_of}")
    keep, _score = termhood(counts, params, freq)
    fragments = cut_fragments(counts, keep, params.fragment_min_share)
    keep = keep & np.array([t not in fragments for t in counts.terms], dtype=bool)
    terms = [t for t, k in zip(counts.terms, keep, strict=True) if k]
    display = [t for t, k in zip(counts.display, keep, strict=True) if k]
    n_tokens = counts.n_tokens[keep]
    df = counts.df[keep]
    days = counts.days
    n_papers = counts.n_papers
    n_days = len(days)

    seen = df > 0
    first_idx = np.where(seen.any(axis=1), seen.argmax(axis=1), n_days - 1)
    first_seen = [days[i] for i in first_idx]
    bursts = _bursts(df, n_papers, days, params)
    mk_z, mk_p, sen = _long_run(df, n_papers, params)

    frames = []
    for window in sorted(params.windows):
        frames.append(
            _score_window(
                window,
                terms,
                display,
                n_tokens,
                df,
                n_papers,
                days,
                as_of,
                params,
                first_seen,
                first_idx,
                bursts,
                mk_z,
                mk_p,
                sen,
            )
        )
    trends = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    trends = trends.sort_values(["window", "term"], kind="stable").reset_index(drop=True)
    stats = _term_stats(trends, terms, df, n_papers, days, params)
    details = {
        "terms_scored": len(terms),
        "terms_dropped_termhood": len(counts.terms) - len(terms) - len(fragments),
        "terms_dropped_fragment": len(fragments),
        "lookback_start": days[0] if days else None,
        "papers_in_lookback": int(n_papers.sum()),
    }
    return TrendResult(trends, stats, details)


def cut_fragments(counts: TermCounts, keep: np.ndarray, min_share: float = 0.8, max_n: int = 3) -> dict[str, str]:
    """Kept terms that are a longer phrase cut at the wrong place → the kept phrase they were cut from.

    "aligning large language" ends with "large language", and "large language" is nearly always
    followed by "models": the trigram is a window across "aligning large language models", not a
    term, and would otherwise take a list place beside "large language model". In general a kept term
    T whose end Q (a suffix, 1..n-1 words) is the start of another kept, longer phrase P = Q + R is cut
    when the papers with P's own forms are at least ``min_share`` of the papers with Q; mirrored for
    a T that starts with the end of a P = L + Q. The rule only judges overlaps whose joined phrase
    (W + Q + R) is longer than ``max_n`` words, so it is not itself a term whose count would answer the
    question directly: "natural language" beside "language model" joins into "natural language model",
    a trigram that is counted (and rare), so the nested-phrase rule judges that pair, not this one (on
    the dev days a one-word overlap dropped "natural language" because "language" is mostly followed by
    "model"). When T and P are fragments of each other (both windows of one 4-gram such as "vision
    language action model"), the one with more papers stays.
    """
    n = len(counts.terms)
    if n == 0:
        return {}
    df_all = counts.df.sum(axis=1)
    own = counts.df_own if counts.df_own is not None else df_all
    index = {t: i for i, t in enumerate(counts.terms)}
    kept = [t for t, k in zip(counts.terms, keep, strict=True) if k]
    starts: dict[str, list[str]] = {}
    ends: dict[str, list[str]] = {}
    for term in kept:
        words = term.split(" ")
        for k in range(1, len(words)):
            starts.setdefault(" ".join(words[:k]), []).append(term)
            ends.setdefault(" ".join(words[k:]), []).append(term)

    def owns(phrase: str, overlap: str) -> bool:
        q = index.get(overlap)
        return q is not None and df_all[q] > 0 and own[index[phrase]] >= min_share * df_all[q]

    def cuts(term: str) -> list[str]:
        words = term.split(" ")
        found = []
        for k in range(1, len(words)):
            suffix, prefix = " ".join(words[k:]), " ".join(words[:k])  # overlaps of len(words) - k, k words

            def joined_too_long(p: str, overlap: str) -> bool:
                return len(words) + len(p.split(" ")) - len(overlap.split(" ")) > max_n

            found += [p for p in starts.get(suffix, ()) if joined_too_long(p, suffix) and owns(p, suffix)]
            found += [p for p in ends.get(prefix, ()) if joined_too_long(p, prefix) and owns(p, prefix)]
        return [p for p in found if p != term and f" {p} " not in f" {term} " and f" {term} " not in f" {p} "]

    out: dict[str, str] = {}
    for term in kept:
        rivals = cuts(term)
        if not rivals:
            continue
        i = index[term]
        stronger = [p for p in rivals if (df_all[index[p]], p) > (df_all[i], term) or term not in cuts(p)]
        if stronger:
            out[term] = max(stronger, key=lambda p: (len(p.split(" ")), df_all[index[p]], p))  # longest, then commonest
    return out


def _bursts(
    df: np.ndarray, n_papers: np.ndarray, days: list[dt.date], params: TrendParams
) -> list[tuple[bool, dt.date | None]]:
    """Kleinberg state on the last day with papers, and the start of that burst.

    The automaton runs over days with papers (a weekend as_of would otherwise never be "in a burst":
    a day without papers is evidence of nothing). A term absent on the last day with papers cannot end
    in the burst state (staying costs more than dropping, and dropping is free), so only terms present
    that day are decoded; the others are (False, None) exactly, not approximately.
    """
    out: list[tuple[bool, dt.date | None]] = [(False, None)] * df.shape[0]
    active_days = np.flatnonzero(n_papers > 0)
    if active_days.size == 0:
        return out
    last = active_days[-1]
    dates = [days[i] for i in active_days]
    d = n_papers[active_days]
    for row in np.flatnonzero(df[:, last] > 0):
        states = ts.kleinberg_bursts(df[row, active_days], d, s=params.burst_s, gamma=params.burst_gamma)
        start = ts.current_burst_start(states, dates)
        out[row] = (start is not None, start)
    return out


def _long_run(
    df: np.ndarray, n_papers: np.ndarray, params: TrendParams
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mann–Kendall z, p and Sen's slope (share per calendar day) on daily shares, days with papers only;
    NaN for terms below the support floor or when there are too few days with papers."""
    rows = df.shape[0]
    z, p, sen = np.full(rows, np.nan), np.full(rows, np.nan), np.full(rows, np.nan)
    active = np.flatnonzero(n_papers > 0)
    if active.size < params.mk_min_points:
        return z, p, sen
    eligible = np.flatnonzero(df[:, active].sum(axis=1) >= params.mk_min_df)
    if eligible.size == 0:
        return z, p, sen
    shares = df[np.ix_(eligible, active)] / n_papers[active][None, :]
    z[eligible], p[eligible] = mann_kendall_rows(shares)
    sen[eligible] = sen_slope_rows(shares, active)
    return z, p, sen


def _score_window(
    window: int,
    terms: list[str],
    display: list[str],
    n_tokens: np.ndarray,
    df: np.ndarray,
    n_papers: np.ndarray,
    days: list[dt.date],
    as_of: dt.date,
    params: TrendParams,
    first_seen: list[dt.date],
    first_idx: np.ndarray,
    bursts: list[tuple[bool, dt.date | None]],
    mk_z: np.ndarray,
    mk_p: np.ndarray,
    sen: np.ndarray,
) -> pd.DataFrame:
    n_days = len(days)
    t0 = n_days - window
    b0 = t0 - params.baseline_days
    target_start, baseline_start = days[t0], days[b0]
    y_t = df[:, t0:].sum(axis=1).astype(float)
    y_b = df[:, b0:t0].sum(axis=1).astype(float)
    papers_t, papers_b = int(n_papers[t0:].sum()), int(n_papers[b0:t0].sum())
    listed = np.flatnonzero((y_t + y_b) > 0)
    y_t, y_b = y_t[listed], y_b[listed]
    names = [terms[i] for i in listed]

    # The multinomial totals are Σ df over the scored vocabulary (MCQ 2008): a volume change moves
    # every term's count and the total together, so a term with a flat share stays at δ ≈ 0.
    total_t, total_b = y_t.sum(), y_b.sum()
    if total_t > 0 and total_b > 0:
        prior = ts.smoothed_shares(y_b, params.prior_pseudocount)
        delta, z = ts.log_odds_dirichlet(y_t, y_b, total_t, total_b, prior, params.alpha0)
    else:
        delta, z = np.zeros(len(listed)), np.zeros(len(listed))

    share_t = y_t / papers_t if papers_t else np.full(len(listed), np.nan)
    share_b = y_b / papers_b if papers_b else np.full(len(listed), np.nan)
    suppressed = _suppression(names, z, y_t, y_b, papers_t, papers_b, params.nested_min_z)
    rank_rising = _ranks(names, -z, (z > 0) & np.array([n not in suppressed for n in names], dtype=bool))
    rank_falling = _ranks(names, z, (z < 0) & np.array([n not in suppressed for n in names], dtype=bool))
    is_new = (first_idx[listed] >= t0) & (y_b == 0) & (y_t >= params.new_min_df)
    # The new list gets the same nesting rule: "photonic gradient folding", not also "photonic gradient".
    fresh = np.flatnonzero(is_new)
    if fresh.size > 1 and papers_t:
        drop = ts.suppress_nested([names[i] for i in fresh], y_t[fresh], papers_t, np.zeros(fresh.size))
        is_new[[i for i in fresh if names[i] in drop]] = False

    return pd.DataFrame(
        {
            "term": names,
            "display_form": [display[i] for i in listed],
            "n_tokens": n_tokens[listed].astype(np.int32),
            "window": f"{window}d",
            "target_start": target_start,
            "baseline_start": baseline_start,
            "df_target": y_t.astype(np.int64),
            "df_baseline": y_b.astype(np.int64),
            "n_target": np.int64(papers_t),
            "n_baseline": np.int64(papers_b),
            "share_target": share_t,
            "share_baseline": share_b,
            "logodds_delta": delta,
            "logodds_z": z,
            "burst_active": [bursts[i][0] for i in listed],
            "burst_start": [bursts[i][1] for i in listed],
            "mk_z": mk_z[listed],
            "mk_p": mk_p[listed],
            "sen_slope": sen[listed],
            "first_seen": [first_seen[i] for i in listed],
            "is_new": is_new,
            "suppressed_by": [suppressed.get(n) for n in names],
            "rank_rising": rank_rising,
            "rank_falling": rank_falling,
            "as_of": as_of,
        }
    )


def _suppression(
    names: list[str],
    z: np.ndarray,
    y_t: np.ndarray,
    y_b: np.ndarray,
    papers_t: int,
    papers_b: int,
    min_z: float,
) -> dict[str, str]:
    """Term → the nested/containing phrase that carries its signal, separately for risers and fallers.

    :func:`trendstats.suppress_nested` decides which terms go (fallers with target and baseline swapped,
    so their excess is positive); the phrase named is the related, kept term with the largest |z|. Only
    terms with |z| ≥ ``min_z`` are judged: the rule is meant for candidate movers, and on flat terms
    its "minor variant" branch would hide a specific phrase ("tensor train adapter") behind a generic
    word ("adapter") that merely occurs more often.
    """
    out: dict[str, str] = {}
    if not papers_t or not papers_b:
        return out
    for direction in (1.0, -1.0):
        idx = np.flatnonzero(direction * z >= max(min_z, 1e-12))
        if idx.size < 2:
            continue
        cand = [names[i] for i in idx]
        if direction > 0:
            drop = ts.suppress_nested(cand, y_t[idx], papers_t, y_b[idx] / papers_b)
        else:
            drop = ts.suppress_nested(cand, y_b[idx], papers_b, y_t[idx] / papers_t)
        if not drop:
            continue
        strength = {names[i]: abs(float(z[i])) for i in idx}
        related = _related_phrases(cand)
        for term in sorted(drop):
            kept = [r for r in related.get(term, ()) if r not in drop] or list(related.get(term, ()))
            if kept:
                out[term] = max(kept, key=lambda r: (strength[r], r))
    return out


def _related_phrases(terms: list[str]) -> dict[str, set[str]]:
    """Word-boundary sub-/super-phrase pairs among ``terms``, both directions."""
    index = set(terms)
    related: dict[str, set[str]] = {}
    for term in terms:
        words = term.split(" ")
        for size in range(1, len(words)):
            for start in range(len(words) - size + 1):
                sub = " ".join(words[start : start + size])
                if sub in index:
                    related.setdefault(sub, set()).add(term)
                    related.setdefault(term, set()).add(sub)
    return related


def _ranks(names: list[str], key: np.ndarray, eligible: np.ndarray) -> list[int | None]:
    """1-based ranks by ``key`` ascending among eligible terms; ties broken by the term (stable)."""
    order = sorted(np.flatnonzero(eligible), key=lambda i: (float(key[i]), names[i]))
    ranks: list[int | None] = [None] * len(names)
    for r, i in enumerate(order, start=1):
        ranks[i] = r
    return ranks


def _term_stats(
    trends: pd.DataFrame,
    terms: list[str],
    df: np.ndarray,
    n_papers: np.ndarray,
    days: list[dt.date],
    params: TrendParams,
) -> pd.DataFrame:
    """Weekly (Monday-start) df / papers / share over the lookback for every listed term."""
    columns = ["term", "period_start", "period_days", "df", "n_papers", "share", "as_of"]
    if trends.empty:
        return pd.DataFrame(columns=columns)
    top = params.sparkline_top
    listed = trends[
        (pd.to_numeric(trends["rank_rising"]).fillna(top + 1) <= top)
        | (pd.to_numeric(trends["rank_falling"]).fillna(top + 1) <= top)
        | trends["is_new"]
        | trends["burst_active"]
    ]["term"]
    wanted = sorted(set(listed))
    if not wanted:
        return pd.DataFrame(columns=columns)
    row_of = {t: i for i, t in enumerate(terms)}
    rows = np.array([row_of[t] for t in wanted])
    week_start = [d - dt.timedelta(days=d.weekday()) for d in days]
    weeks = sorted(set(week_start))
    col_of = {w: i for i, w in enumerate(weeks)}
    member = np.zeros((len(days), len(weeks)))
    for i, w in enumerate(week_start):
        member[i, col_of[w]] = 1.0
    weekly_df = (df[rows] @ member).astype(np.int64)
    weekly_n = (n_papers @ member).astype(np.int64)
    period_days = member.sum(axis=0).astype(np.int32)
    as_of = trends["as_of"].iloc[0]
    with np.errstate(divide="ignore", invalid="ignore"):
        share = np.where(weekly_n > 0, weekly_df / np.maximum(weekly_n, 1), np.nan)
    return pd.DataFrame(
        {
            "term": np.repeat(wanted, len(weeks)),
            "period_start": weeks * len(wanted),
            "period_days": np.tile(period_days, len(wanted)),
            "df": weekly_df.ravel(),
            "n_papers": np.tile(weekly_n, len(wanted)),
            "share": share.ravel(),
            "as_of": as_of,
        }
    )


# ------------------------------------------------------------------------------------------ display


def render_trends(
    trends: pd.DataFrame,
    top: int = 15,
    windows: Sequence[str] | None = None,
    evidence: pd.DataFrame | None = None,
    titles: int = 3,
) -> str:
    """Plain-text tables of the top rising, falling and new terms per window of one as_of partition.

    With ``evidence`` (the partition's ``trend_papers`` rows), up to ``titles`` paper titles with their
    digest dates are printed under each term that has them (the top 10 of each list)."""
    if trends.empty:
        return "no keyword_trends rows\n"
    out: list[str] = []
    wanted = list(windows) if windows else sorted(set(trends["window"]), key=parse_days)
    papers_of: dict[tuple[str, str, str], list[tuple[object, str]]] = {}
    if evidence is not None and not evidence.empty:
        for ev in evidence.sort_values(["window", "list", "term", "evidence_rank"]).itertuples(index=False):
            papers_of.setdefault((ev.window, ev.list, ev.term), []).append((ev.digest_date, ev.title))
    for window in wanted:
        frame = trends[trends["window"] == window]
        if frame.empty:
            out.append(f"window {window}: no rows\n")
            continue
        first = frame.iloc[0]
        out.append(
            f"== window {window}: target {first['target_start']}..{first['as_of']} "
            f"({first['n_target']} papers) vs baseline {first['baseline_start']}.. ({first['n_baseline']} papers)"
        )
        lists = (
            ("rising", frame[frame["rank_rising"].notna()].sort_values("rank_rising")),
            ("falling", frame[frame["rank_falling"].notna()].sort_values("rank_falling")),
            (
                "new",
                frame[frame["is_new"]].sort_values(
                    ["df_target", "logodds_z", "term"], ascending=[False, False, True]
                ),
            ),
        )
        for name, rows in lists:
            out.append(f"-- {name}")
            out.append(f"{'#':>3}  {'term':<40} {'z':>7} {'share now':>10} {'before':>8} {'df':>5}  flags")
            for i, row in enumerate(rows.head(top).itertuples(index=False), start=1):
                flags = []
                if row.burst_active:
                    flags.append(f"burst since {row.burst_start}")
                if row.mk_p == row.mk_p and row.mk_p < 0.01:  # not NaN
                    flags.append(f"MK {'up' if row.mk_z > 0 else 'down'} p={row.mk_p:.1g}")
                if row.is_new and name != "new":
                    flags.append("new")
                out.append(
                    f"{i:>3}  {row.display_form[:40]:<40} {row.logodds_z:>7.2f} {_pct(row.share_target):>10} "
                    f"{_pct(row.share_baseline):>8} {row.df_target:>5}  {', '.join(flags)}"
                )
                for paper in papers_of.get((window, name, row.term), [])[:titles]:
                    out.append(f"       {paper[0]}  {paper[1]}")
            if rows.empty:
                out.append("     (none)")
        out.append("")
    return "\n".join(out) + "\n"


def _pct(value: float | None) -> str:
    if value is None or value != value:
        return "-"
    return f"{100 * value:.1f}%"
