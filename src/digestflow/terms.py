"""Candidate terms per paper: Spark SQL only, no Python UDF (docs/findings.md "Normalisation traps").

:func:`extract_terms` turns ``papers`` rows into ``paper_terms`` rows. Every step is a built-in Spark
expression (regexp_replace, split, higher-order ``transform``/``slice``, explode, group-by), so the work
stays in the JVM and scales with the executors; a per-token Python UDF would cost more than everything
else in the stage together. The order of the steps is the point:

1. URLs are removed first (else "github com" becomes a term) and leave a boundary behind.
2. Raw LaTeX commands and ``$`` go; ``'s`` possessives go.
3. Acronym plurals are folded while the case still tells an acronym from a word: ``LoRAs`` → ``LoRA``,
   ``LLMs`` → ``LLM``, but ``KMeans`` (lower-case letter before the ``s``) and ``Transformers`` stay.
4. The text is cut into segments at sentence ends, commas, colons, semicolons, brackets, quotes and
   dashes: no n-gram crosses a sentence or parenthesis ("Low-Rank Adaptation (LoRA)" never yields
   "adaptation lora").
5. A hyphen inside a word becomes a word boundary that remembers the hyphen ("low-rank" → tokens
   ``low-``, ``rank``), so "low-rank", "low rank" and "Low-Rank" give one term while the surface form
   keeps the hyphen for display.
6. 1-3-grams are formed from the full token sequence, *then* dropped when they start or end with a
   stopword, a number or a one-character token. Removing stopwords first invents phrases ("effect of
   rank on retrieval" → "effect rank").
7. Case is folded for the term; the paper's most frequent surface form is kept beside it.

What is deliberately *not* done here: head-noun plural folding ("models" → "model" only if "model"
occurs) and the termhood filter both need corpus-wide counts. They run in the trends stage over the
windows it reads, so a date's ``paper_terms`` partition depends on that date's papers only and
re-running one day never changes another (docs/trends.md).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame

__all__ = ["MAX_N", "NUMBER_WORDS", "STOPWORDS", "extract_terms"]

MAX_N = 3


def _words(text: str) -> list[str]:
    return text.split()


# English function words (the classic NLTK/Spark list) plus words that only ever glue a phrase to its
# sentence in abstracts ("via", "using", "also"). A stopword may sit *inside* a term ("mixture of
# experts", "chain of thought"), never at its edge. Style words ("whether", "increasingly",
# "propose") are not listed: the termhood filter in the trends stage measures them instead.
STOPWORDS: frozenset[str] = frozenset(
    _words(
        """
    a about above after again against all am an and any are aren't as at be because been before being
    below between both but by can can't cannot could couldn't did didn't do does doesn't doing don't down
    during each few for from further had hadn't has hasn't have haven't having he he'd he'll he's her here
    here's hers herself him himself his how how's i i'd i'll i'm i've if in into is isn't it it's its itself
    let's me more most mustn't my myself no nor not of off on once only or other ought our ours ourselves
    out over own same shan't she she'd she'll she's should shouldn't so some such than that that's the
    their theirs them themselves then there there's these they they'd they'll they're they've this those
    through to too under until up very was wasn't we we'd we'll we're we've were weren't what what's when
    when's where where's which while who who's whom why why's with won't would wouldn't you you'd you'll
    you're you've your yours yourself yourselves
    via using use used uses also yet thus hence however therefore whereas although though within without
    across among upon onto toward towards per etc e.g i.e et al vs may might must will shall just
    """
    )
)

# Spelled-out numbers are numbers: "three benchmarks" must not become a term.
NUMBER_WORDS: frozenset[str] = frozenset(
    _words(
        """
    zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen twenty
    thirty forty fifty hundred hundreds thousand thousands million millions billion billions trillion
    first second third fourth fifth half twice double triple dozen dozens
    """
    )
)

# Java regexes (Spark's regexp_* functions). Kept here so tests can read the rules in one place.
URL_RE = r"(?i)\b(?:https?://|www\.)\S+"
LATEX_RE = r"\\[A-Za-z]+|[$\\{}^_~]"
POSSESSIVE_RE = r"(?<=\p{L})['’]s\b"
# An acronym plural: capital first, another capital or digit right before a final lower-case "s"
# (LoRAs, LLMs, ViTs, GPUs, 3DGSs is not caught since it starts with a digit). "KMeans" has a
# lower-case "n" before its "s", "Transformers" an "r": both stay.
ACRONYM_PLURAL_RE = r"\b(\p{Lu}[\p{L}\p{N}]*[\p{Lu}\p{N}])s\b"
SEGMENT_RE = (
    r"[.!?]+(?=\s|$)"  # sentence ends (not the dot inside 3.5 or e.g)
    r"|[,;:()\[\]\"“”‘’«»|/]"  # clause and bracket boundaries
    r"|\s[-–—]+\s|--+|[–—]"  # dashes used as punctuation
    r"|\s'|'\s"  # quote marks
    r"|\x00"  # boundary left by a removed URL
)
# A hyphen between two letters joins a compound: keep it on the left word as a marker. A hyphen next
# to a digit is part of a name or a unit and stays inside the token ("GPT-4", "Llama-3", "4-bit").
COMPOUND_HYPHEN_RE = r"(?<=\p{L})-(?=\p{L})"
# Whatever is not a letter, digit, hyphen or apostrophe inside a word is noise; a dot stays only
# between digits ("Qwen2.5", "3.5").
NOISE_RE = (
    r"(?!(?<=\p{N})\.(?=\p{N}))[^\p{L}\p{N}\s'-]"
    r"|(?<![\p{L}\p{N}])['-]+|-+(?![\p{L}\p{N}\s])|-+$|'(?![\p{L}\p{N}])"
)
NUMBER_RE = r"^\p{N}[\p{N}.,]*(?:%|x|k|m|b|bn|times|st|nd|rd|th|s)?$"


def extract_terms(papers: DataFrame) -> DataFrame:
    """``papers`` (paper_id, title, abstract, digest_date) → ``paper_terms`` rows.

    One row per (digest_date, paper_id, term) with the raw occurrence count ``tf``, whether the term is
    in the title, and the paper's most frequent surface form. A paper listed twice on the same day
    counts once. Pure: the result depends only on the rows passed in.
    """
    from pyspark.sql import functions as F

    # Cluster by date once, up front, on the small input (17k texts for the dev corpus): every later
    # grouping key starts with digest_date, and write_staged hash-partitions by digest_date into the same
    # number of partitions, so Spark plans no further shuffle of the ~2M candidate rows. One shuffle
    # instead of three: 9.0 → 7.2 s for the 521 dev days (BENCHMARKS.md, headline, session 15).
    from digestflow.storage import write_tasks

    papers = papers.repartition(write_tasks(papers), "digest_date")
    texts = papers.select(
        "digest_date",
        "paper_id",
        F.explode(
            F.array(
                F.struct(F.lit(True).alias("in_title"), F.col("title").alias("text")),
                F.struct(F.lit(False).alias("in_title"), F.col("abstract").alias("text")),
            )
        ).alias("part"),
    ).select("digest_date", "paper_id", "part.in_title", "part.text")

    segments = texts.select(
        "digest_date",
        "paper_id",
        "in_title",
        F.explode(F.split(_clean_text(F.col("text")), SEGMENT_RE)).alias("segment"),
    )
    tokens = segments.select(
        "digest_date",
        "paper_id",
        "in_title",
        F.split(F.trim(F.regexp_replace("segment", NOISE_RE, " ")), r"\s+").alias("tokens"),
    )
    # Per token, once: the case-folded word without its compound marker, and whether it may sit at the
    # edge of a term. N-grams are then index ranges filtered on their two edge flags, so the string
    # work per candidate is one join for the term and one for the surface form.
    words = tokens.select(
        "digest_date",
        "paper_id",
        "in_title",
        "tokens",
        F.transform("tokens", lambda t: F.lower(F.regexp_replace(t, "-$", ""))).alias("words"),
    ).select("*", F.transform("words", _is_content_word).alias("edge_ok"))

    grams = words.select(
        "digest_date",
        "paper_id",
        "in_title",
        F.explode(_ngrams(F.col("tokens"), F.col("words"), F.col("edge_ok"), MAX_N)).alias("gram"),
    )
    candidates = grams.select(
        "digest_date",
        "paper_id",
        "in_title",
        F.col("gram.term").alias("term"),
        F.regexp_replace(F.regexp_replace("gram.surface", "- ", "-"), "-$", "").alias("surface"),
    )

    per_surface = candidates.groupBy("digest_date", "paper_id", "term", "surface").agg(
        F.count(F.lit(1)).alias("n"), F.max("in_title").alias("in_title")
    )
    return per_surface.groupBy("digest_date", "paper_id", "term").agg(
        F.size(F.split("term", " ")).alias("n_tokens"),
        F.sum("n").cast("int").alias("tf"),
        F.max("in_title").alias("in_title"),
        F.max_by("surface", F.struct("n", "surface")).alias("surface"),
    )


def _clean_text(text: Column) -> Column:
    """URL → boundary, LaTeX and possessives out, acronym plurals folded, compound hyphens marked."""
    from pyspark.sql import functions as F

    out = F.regexp_replace(text, URL_RE, "\u0000")
    out = F.regexp_replace(out, LATEX_RE, " ")
    out = F.regexp_replace(out, POSSESSIVE_RE, "")
    out = F.regexp_replace(out, ACRONYM_PLURAL_RE, "$1")
    return F.regexp_replace(out, COMPOUND_HYPHEN_RE, "- ")


def _ngrams(tokens: Column, words: Column, edge_ok: Column, max_n: int) -> Column:
    """Every contiguous 1..max_n-gram whose first and last token may be a term edge, as
    struct<term, surface>, with higher-order functions (no UDF). Formed over the full token sequence,
    so a stopword inside a phrase stays ("mixture of experts")."""
    from pyspark.sql import functions as F

    size = F.size(tokens)

    # One-argument lambdas: pyspark's transform()/filter() read a second parameter as the element index.
    def edges_ok(n: int) -> Callable[[Column], Column]:
        return lambda i: F.element_at(edge_ok, i) & F.element_at(edge_ok, i + (n - 1))

    def gram(n: int) -> Callable[[Column], Column]:
        return lambda i: F.struct(
            F.array_join(F.slice(words, i, n), " ").alias("term"),
            F.array_join(F.slice(tokens, i, n), " ").alias("surface"),
        )

    per_n = [
        F.when(
            size >= n, F.transform(F.filter(F.sequence(F.lit(1), size - n + 1), edges_ok(n)), gram(n))
        ).otherwise(F.array().cast("array<struct<term:string,surface:string>>"))
        for n in range(1, max_n + 1)
    ]
    return F.flatten(F.array(*per_n))


def _is_content_word(token: Column) -> Column:
    """A folded word that may open or close a term: no stopword, number or single character."""
    from pyspark.sql import functions as F

    word = token  # already case-folded, compound marker stripped
    return (F.length(word) > 1) & ~word.isin(*sorted(STOPWORDS | NUMBER_WORDS)) & ~word.rlike(NUMBER_RE)
