r"""Candidate terms per paper: one pure Python function per paper, run by Spark in the executors'
Python workers over Arrow batches (``mapInArrow``) (docs/findings.md "Normalisation traps").

:func:`extract_terms` turns ``papers`` rows into ``paper_terms`` rows; :func:`paper_terms_of` does it for
one paper's texts and is what the tests and the rules below speak about. The order of the steps is the
point:

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

Why Python and not Spark SQL expressions: the same rules as built-in expressions (regexp_replace,
split, higher-order ``transform``/``filter``/``slice``, two group-bys over the ~2M candidate rows) took
35 s + 9 s of Spark jobs for the 521 dev days (BENCHMARKS.md, session 17); this function takes 3.6 s
for their 8,507 papers in one process (4.5 s before session 30 made each token's pieces once and skipped
the substitutions a text cannot match; 0.77 CPU-ms per paper on the synthetic corpora in session 21),
and the stage runs it in every executor core at once. The rules were first written as Java regexes, and the
patterns below keep Java's meanings where Python's differ (``\s`` is ASCII white space, ``\b`` counts
letters, decimal digits and ``_`` as word characters, ``$`` also matches before a final line
terminator, ``(?i)`` folds ASCII only): the Python version gives the same 1,941,944 rows as the Spark
SQL one over the dev digests (EXCEPT ALL both ways, BENCHMARKS.md).

What is deliberately *not* done here: head-noun plural folding ("models" → "model" only if "model"
occurs) and the termhood filter both need corpus-wide counts. They run in the trends stage over the
windows it reads, so a date's ``paper_terms`` partition depends on that date's papers only and
re-running one day never changes another (docs/trends.md).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

import regex

if TYPE_CHECKING:
    import pyarrow as pa
    from pyspark.sql import DataFrame

__all__ = ["MAX_N", "NUMBER_WORDS", "STOPWORDS", "extract_terms", "paper_terms_of"]

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

# The patterns (the third-party ``regex`` module, for ``\p{L}``-style classes). Java's meanings, spelled
# out where Python's differ: the rules were first Java regexes, and the output must not change.
_WS = r" \t\n\x0b\f\r"  # Java's \s: ASCII white space only
_WORD = r"\p{L}\p{Nd}_"  # Java 17's \b: letters, decimal digits, underscore
_EOL = r"(?:\Z|\r\n\Z|[\n\r\u0085\u2028\u2029]\Z)"  # Java's $: the end, or before a final line terminator
URL_RE = regex.compile(rf"(?<![{_WORD}])(?:[hH][tT][tT][pP][sS]?://|[wW][wW][wW]\.)[^{_WS}]+")
LATEX_RE = regex.compile(r"\\[A-Za-z]+|[$\\{}^_~]")
POSSESSIVE_RE = regex.compile(rf"(?<=\p{{L}})['’]s(?![{_WORD}])")
# An acronym plural: capital first, another capital or digit right before a final lower-case "s"
# (LoRAs, LLMs, ViTs, GPUs; 3DGSs is not caught since it starts with a digit). "KMeans" has a
# lower-case "n" before its "s", "Transformers" an "r": both stay.
ACRONYM_PLURAL_RE = regex.compile(rf"(?<![{_WORD}])(\p{{Lu}}[\p{{L}}\p{{N}}]*[\p{{Lu}}\p{{N}}])s(?![{_WORD}])")
SEGMENT_RE = regex.compile(
    rf"[.!?]+(?=[{_WS}]|{_EOL})"  # sentence ends (not the dot inside 3.5 or e.g)
    r"|[,;:()\[\]\"“”‘’«»|/]"  # clause and bracket boundaries
    rf"|[{_WS}][-–—]+[{_WS}]|--+|[–—]"  # dashes used as punctuation
    rf"|[{_WS}]'|'[{_WS}]"  # quote marks
    r"|\x00"  # boundary left by a removed URL
)
# A hyphen between two letters joins a compound: keep it on the left word as a marker. A hyphen next
# to a digit is part of a name or a unit and stays inside the token ("GPT-4", "Llama-3", "4-bit").
COMPOUND_HYPHEN_RE = regex.compile(r"(?<=\p{L})-(?=\p{L})")
# Whatever is not a letter, digit, hyphen or apostrophe inside a word is noise; a dot stays only
# between digits ("Qwen2.5", "3.5").
NOISE_RE = regex.compile(
    rf"(?!(?<=\p{{N}})\.(?=\p{{N}}))[^\p{{L}}\p{{N}}{_WS}'-]"
    rf"|(?<![\p{{L}}\p{{N}}])['-]+|-+(?![\p{{L}}\p{{N}}{_WS}])|-+{_EOL}|'(?![\p{{L}}\p{{N}}])"
)
NUMBER_RE = regex.compile(rf"^\p{{N}}[\p{{N}}.,]*(?:%|x|k|m|b|bn|times|st|nd|rd|th|s)?{_EOL}")

_NOT_EDGE = STOPWORDS | NUMBER_WORDS
_edge_cache: dict[str, bool] = {}


def _is_edge(word: str) -> bool:
    """A folded word that may open or close a term: no stopword, number or single character."""
    ok = _edge_cache.get(word)
    if ok is None:
        ok = len(word) > 1 and word not in _NOT_EDGE and NUMBER_RE.search(word) is None
        if len(_edge_cache) < 1_000_000:
            _edge_cache[word] = ok
    return ok


def _clean_text(text: str) -> str:
    """URL → boundary, LaTeX and possessives out, acronym plurals folded, compound hyphens marked.

    Each substitution runs only when the text holds what every match of its pattern contains ("://",
    "w." or "W." for a URL, one of LaTeX's characters, an apostrophe before an "s", a hyphen): a
    substring test is a fraction of a regex scan, and most abstracts have no URL, LaTeX or possessive."""
    if "://" in text or "w." in text or "W." in text:
        text = URL_RE.sub("\x00", text)
    if any(c in text for c in "$\\{}^_~"):
        text = LATEX_RE.sub(" ", text)
    if "'s" in text or "’s" in text:
        text = POSSESSIVE_RE.sub("", text)
    text = ACRONYM_PLURAL_RE.sub(r"\1", text)
    return COMPOUND_HYPHEN_RE.sub("- ", text) if "-" in text else text


def _count_candidates(text: str, in_title: bool, found: dict[tuple[str, str], list[Any]]) -> None:
    """Add every 1..MAX_N-gram of ``text`` whose two edge words may be term edges to ``found``:
    (term, surface) → [occurrences, in a title]. Formed over the full token sequence of each segment,
    so a stopword inside a phrase stays ("mixture of experts").

    A surface is its tokens as written, joined by a space except after a compound's hyphen ("low-" +
    "rank" → "low-rank"), without the last token's marker hyphen; each token's two pieces (``glue``
    inside a surface, ``bare`` at its end) are made once, not once per n-gram."""
    get, noise, edge_of = found.get, NOISE_RE.sub, _edge_cache.get
    for segment in SEGMENT_RE.split(_clean_text(text)):
        # After the noise pass a segment holds letters, digits, ', -, dots between digits and ASCII
        # white space only, so str.split() cuts where a split on Java's \s+ did; it also drops the
        # empty tokens a leading or trailing tab or line break left, which are no term's edge.
        tokens = noise(" ", segment).split()
        bare = [t[:-1] if t.endswith("-") else t for t in tokens]
        glue = [t + " " if b is t else t for t, b in zip(tokens, bare, strict=True)]  # b is t: no hyphen cut
        words = [b.lower() for b in bare]
        edge = [edge_of(w) for w in words]
        if None in edge:
            edge = [_is_edge(w) if e is None else e for w, e in zip(words, edge, strict=True)]
        size = len(tokens)
        for i in range(size):
            if not edge[i]:
                continue
            keys = [(words[i], bare[i])]
            if i + 1 < size:
                if edge[i + 1]:
                    keys.append((words[i] + " " + words[i + 1], glue[i] + bare[i + 1]))
                if i + 2 < size and edge[i + 2]:  # MAX_N = 3: the three lengths written out
                    keys.append((words[i] + " " + words[i + 1] + " " + words[i + 2], glue[i] + glue[i + 1] + bare[i + 2]))
            for key in keys:
                seen = get(key)
                if seen is None:
                    found[key] = [1, in_title]
                else:
                    seen[0] += 1
                    if in_title:
                        seen[1] = True


def paper_terms_of(texts: Iterable[tuple[str, str]]) -> dict[str, tuple[int, bool, str]]:
    """One paper's terms from its ``(title, abstract)`` pairs (more than one when a paper is listed twice
    on a date: occurrences add up): term → (tf, in_title, surface). ``surface`` is the most frequent
    surface form, ties broken by the lexicographically larger one."""
    found: dict[tuple[str, str], list[Any]] = {}
    for title, abstract in texts:
        _count_candidates(title, True, found)
        _count_candidates(abstract, False, found)
    best: dict[str, list[Any]] = {}
    for (term, surface), (n, in_title) in found.items():
        b = best.get(term)
        if b is None:
            best[term] = [n, in_title, n, surface]
        else:
            b[0] += n
            b[1] = b[1] or in_title
            if (n, surface) > (b[2], b[3]):
                b[2], b[3] = n, surface
    return {term: (tf, in_title, surface) for term, (tf, in_title, _, surface) in best.items()}


#: Output rows per Arrow batch handed back to Spark (bounds a worker's memory whatever the input size).
BATCH_ROWS = 65_536


def _extract_batches(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    """mapInArrow body. Input rows arrive sorted by (digest_date, paper_id), so a paper's rows (a paper
    listed twice on a date) are adjacent, possibly across two batches: each paper is emitted when the
    next one starts."""
    import pyarrow as pa

    from digestflow import schemas

    schema = schemas.load("paper_terms").arrow()
    out: dict[str, list[Any]] = {c: [] for c in schema.names}
    current: tuple[Any, Any] | None = None
    texts: list[tuple[str, str]] = []

    def emit(key: tuple[Any, Any]) -> None:
        found = paper_terms_of(texts)
        # In key order (the input is sorted by date and paper): the staged write's sort by (digest_date,
        # paper_id, term) then passes over ordered rows (1.94 M rows of the dev days: write 5.9 -> 4.8 s
        # warm; the key is unique, so the files are the same as before, row for row).
        ordered = sorted(found)
        n = len(ordered)
        out["digest_date"].extend([key[0]] * n)
        out["paper_id"].extend([key[1]] * n)
        out["term"].extend(ordered)
        out["n_tokens"].extend([term.count(" ") + 1 for term in ordered])  # words are never empty or spaced
        if n:  # the three value columns in one transposition, not three appends per row
            tf, in_title, surface = zip(*map(found.__getitem__, ordered), strict=True)
            out["tf"].extend(tf)
            out["in_title"].extend(in_title)
            out["surface"].extend(surface)

    def flush() -> pa.RecordBatch:
        batch = pa.RecordBatch.from_pydict(out, schema=schema)
        for values in out.values():
            values.clear()
        return batch

    for batch in batches:
        cols = batch.to_pydict()
        for date, paper_id, title, abstract in zip(
            cols["digest_date"], cols["paper_id"], cols["title"], cols["abstract"], strict=True
        ):
            key = (date, paper_id)
            if key != current:
                if current is not None:
                    emit(current)
                    if len(out["term"]) >= BATCH_ROWS:
                        yield flush()
                current, texts = key, []
            texts.append((title or "", abstract or ""))
    if current is not None:
        emit(current)
    if out["term"]:
        yield flush()


def extract_terms(papers: DataFrame) -> DataFrame:
    """``papers`` (paper_id, title, abstract, digest_date) → ``paper_terms`` rows.

    One row per (digest_date, paper_id, term) with the raw occurrence count ``tf``, whether the term is
    in the title, and the paper's most frequent surface form. A paper listed twice on the same day is
    one document (its occurrences add up). Pure: the result depends only on the rows passed in. All
    rows of a date come out of one task (``write_staged(..., clustered=True)`` may skip its shuffle).
    """
    from digestflow import schemas
    from digestflow.storage import write_tasks

    # Cluster by date once, up front, on the small input (17k texts for the dev corpus), and sort each
    # task's rows by paper: every date's rows come out of one task, so the staged write needs no
    # shuffle of the ~2M output rows (the terms stage publishes with ``clustered=True``).
    clustered = (
        papers.select("digest_date", "paper_id", "title", "abstract")
        .repartition(write_tasks(papers), "digest_date")
        .sortWithinPartitions("digest_date", "paper_id")
    )
    return clustered.mapInArrow(_extract_batches, schemas.load("paper_terms").spark())
