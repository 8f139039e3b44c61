"""Acronym definitions in abstracts: "Large Language Models (LLMs)" → the pair (``llm``, ``large language models``).

The trends stage merges an acronym and its expansion into one term when the lookback's papers define
them as one (docs/trends.md, "One term per concept"). Two steps:

- **Spark** (:func:`definition_candidates`): every ``<words> (<ACRONYM>)`` in titles and abstracts, with
  the up to 10 words before the parenthesis, as rows (paper, acronym, preceding words). A few per paper.
  The pattern is written forward (:data:`DEFINITION_RE`) and run backward on the reversed text
  (:data:`REVERSED_DEFINITION_RE`), where it starts at a ")" instead of at every word.
- **Python** (:func:`long_form`): the expansion among the preceding words. First the words whose
  initials spell the acronym ("Proximal Policy Optimization (PPO)", "Mixture-of-Experts (MoE)" with
  or without its function words); failing that, the Schwartz & Hearst (2003) rule
  (:func:`best_long_form`): walking both strings from the end, every letter of the acronym must appear
  in order, and its first letter must start a word ("Low-Rank Adaptation (LoRA)"). Initials come first
  because Schwartz & Hearst take the shortest match, and the "p" inside "Optimization" gives "Policy
  Optimization" for PPO. Why written here rather than taken from a package: the only
  packaged implementation on PyPI (``abbreviations``, last released 2019) bundles its own sentence
  splitting and file handling around these dozen lines; the step itself is the published algorithm.

Forms are normalised as :mod:`digestflow.terms` normalises terms (case folded, a hyphen between letters a
word boundary, an acronym plural ``LLMs`` folded to ``LLM``), so a pair can be joined to ``paper_terms``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import TYPE_CHECKING

import pandas as pd

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

__all__ = [
    "DEFINITION_RE",
    "REVERSED_DEFINITION_RE",
    "best_long_form",
    "definition_candidates",
    "definitions",
    "initials_form",
    "long_form",
    "normalise",
]

#: Up to 10 words (no sentence or clause break) before a parenthesised acronym: a capital first, 2-10
#: letters/digits/hyphens with at least one more capital or digit ("LoRA", "LLMs", "GPT-4", "ViT").
#: Written for Java's engine, which tries the pattern at every position of every text. Two rewrites keep
#: the matches and make a failing position cheap: a start must not follow a letter or digit (a start
#: inside a word sees as many words before the "(" as the start of that word, which was tried first),
#: and the word part is possessive (``*+``, ``\s++``, ``{1,10}+``: what it could give back on
#: backtracking can never match what follows it). Candidates of the 521 dev days: the same 10,161 rows
#: in 2.9 s instead of 10.5 s (BENCHMARKS.md, session 17).
DEFINITION_RE = (
    r"(?<![\p{L}\p{N}])((?:[\p{L}\p{N}][\p{L}\p{N}'’-]*+\s++){1,10}+)\(\s*(\p{Lu}[\p{L}\p{N}-]{0,8}[\p{Lu}\p{N}][\p{L}\p{N}]{0,2})\s*\)"
)
#: :data:`DEFINITION_RE` for the reversed text: the acronym's closing bracket first, then the acronym
#: (its pattern reversed: a regular language reversed is regular), the opening bracket and the up to 10
#: words before it, nearest first. Java tries a pattern at every position; this one fails at once
#: wherever there is no ")", where the forward pattern walks up to ten words from every word start.
#: Group 1 is the acronym, group 2 the words (with their white space), both reversed. The same matches,
#: because the forward pattern's leftmost start is the earliest from which ten words or fewer reach the
#: "(": a unit of the reversed pattern is the longest run of word characters that ends (in the text's
#: order: starts) with a letter or digit not preceded by one, the chain of units goes on only across
#: white space, and ``{1,10}`` takes as many as it can (tests compare both on texts built for the edges).
REVERSED_DEFINITION_RE = (
    r"\)\s*([\p{L}\p{N}]{0,2}[\p{Lu}\p{N}][\p{L}\p{N}-]{0,8}\p{Lu})\s*\("
    r"((?:\s++[\p{L}\p{N}'’-]*[\p{L}\p{N}](?![\p{L}\p{N}])){1,10})"
)
_ACRONYM_PLURAL = re.compile(r"^([A-Z][^\W_]*[A-Z0-9])s$")  # terms.ACRONYM_PLURAL_RE on one word
_HYPHEN = re.compile(r"(?<=[^\W\d_])-(?=[^\W\d_])")


def fold_acronym(short: str) -> str:
    """``LLMs`` → ``LLM`` (an acronym plural: capital first, a capital or digit before the final s)."""
    match = _ACRONYM_PLURAL.match(short)
    return match.group(1) if match else short


def normalise(text: str) -> str:
    """A form as paper_terms spells terms: hyphens between letters split, case folded, one space."""
    return " ".join(_HYPHEN.sub(" ", text).lower().split())


def best_long_form(short: str, preceding: str) -> str | None:
    """Schwartz & Hearst (2003): the shortest end of ``preceding`` that spells ``short``, or None.

    Each letter or digit of the short form, from its last to its first, must occur in the long form in
    that order going backwards; the first letter must start a word. The long form may hold at most
    min(|short| + 5, 2 |short|) words, as in the paper.
    """
    words = preceding.split()
    limit = min(len(short) + 5, 2 * len(short))
    long = " ".join(words[-limit:])
    s, i = len(short) - 1, len(long) - 1
    while s >= 0:
        c = short[s].lower()
        if not c.isalnum():
            s -= 1
            continue
        while i >= 0 and (long[i].lower() != c or (s == 0 and i > 0 and long[i - 1].isalnum())):
            i -= 1
        if i < 0:
            return None
        i -= 1
        s -= 1
    start = long.rfind(" ", 0, i + 1) + 1
    out = long[start:]
    if len(normalise(out).split()) < 2 or normalise(short) in normalise(out).split():
        return None  # a one-word "expansion" or one containing the acronym itself is no definition
    return out


def initials_form(short: str, preceding: str) -> str | None:
    """The shortest end of ``preceding`` (normalised, ≥ 2 words, not starting with a stopword) whose
    word initials, with or without its stopwords, spell the letters of ``short``; else None."""
    from digestflow.terms import STOPWORDS

    letters = [c.lower() for c in short if c.isalpha()]
    words = normalise(preceding).split()
    if len(letters) < 2:
        return None
    for k in range(2, min(len(words), len(letters) + 3) + 1):
        tail = words[-k:]
        if tail[0] in STOPWORDS:
            continue
        for pick in (tail, [w for w in tail if w not in STOPWORDS]):
            if [w[0] for w in pick] == letters:
                return " ".join(tail)
    return None


def long_form(short: str, preceding: str) -> str | None:
    """The expansion of ``short`` among the words before it, normalised: by initials, else by
    Schwartz & Hearst; None when neither finds one."""
    found = initials_form(short, preceding)
    if found is None:
        found = best_long_form(short, preceding)
    return None if found is None else normalise(found)


def definition_candidates(papers: DataFrame) -> DataFrame:
    """``(paper_id, preceding, short)`` for every ``<words> (<ACRONYM>)`` in a title or abstract: the
    matches of :data:`DEFINITION_RE`, found with :data:`REVERSED_DEFINITION_RE` in the reversed text:
    the same 10,162 rows over the 8,507 real papers in 0.64 s instead of 1.8 s (BENCHMARKS.md, session 32)."""
    from pyspark.sql import functions as F

    reversed_text = F.reverse(F.concat_ws(" . ", "title", "abstract"))
    matches = papers.select(
        "paper_id", F.explode(F.regexp_extract_all(reversed_text, F.lit(REVERSED_DEFINITION_RE), 0)).alias("match")
    )
    return matches.select(
        "paper_id",
        F.reverse(F.regexp_extract("match", REVERSED_DEFINITION_RE, 2)).alias("preceding"),
        F.reverse(F.regexp_extract("match", REVERSED_DEFINITION_RE, 1)).alias("short"),
    ).distinct()


def definitions(rows: Iterable[tuple[str, str, str]]) -> pd.DataFrame:
    """``(paper_id, preceding, short)`` → ``(paper_id, acronym, expansion)`` in paper_terms' spelling,
    one row per paper and pair (Schwartz & Hearst on each candidate)."""
    out = set()
    for paper_id, preceding, short in rows:
        short = fold_acronym(short.strip())
        expansion = long_form(short, preceding)
        if expansion is not None and len(expansion.split()) >= 2:
            out.add((paper_id, normalise(short), expansion))
    return pd.DataFrame(sorted(out), columns=["paper_id", "acronym", "expansion"])
