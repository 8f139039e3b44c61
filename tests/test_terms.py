"""Term extraction: each normalisation rule of docs/trends.md §1 / docs/findings.md "Normalisation traps"
on hand-written sentences whose expected terms are spelled out here, plus the stage's per-date independence.
"""

from __future__ import annotations

import datetime as dt

import pytest

from digestflow import schemas
from digestflow.terms import STOPWORDS, extract_terms

D1 = dt.date(2025, 3, 10)
D2 = dt.date(2025, 3, 11)

# (paper_id, title, abstract): every sentence aims at one rule; expectations below are by hand.
PAPERS = [
    (
        "lora",
        "Low-Rank Adaptation (LoRA) for LLMs",
        "We study low rank adaptation of large language models. LoRAs and LLMs are cheap. "
        "KMeans clustering helps. Code: https://github.com/some-lab/low-rank-kit and www.example.org/page.",
    ),
    (
        "stop",
        "The Effect of Rank on Retrieval",
        "We measure the effect of rank on retrieval quality. State-of-the-art systems exist, e.g. three "
        "of them, with 12.5% gains and 43times speed in $O(n \\log n)$ time.",
    ),
    (
        "names",
        "GPT-4 versus Qwen2.5",
        "GPT-4 and Qwen2.5 use 4-bit weights; the model's accuracy rises (a lot) in mixture of experts models.",
    ),
]


@pytest.fixture(scope="module")
def terms(spark):
    rows = [(pid, title, abstract, D1) for pid, title, abstract in PAPERS]
    papers = spark.createDataFrame(rows, "paper_id string, title string, abstract string, digest_date date")
    out = extract_terms(papers)
    assert set(out.columns) == set(schemas.load("paper_terms").names)
    return {(r.paper_id, r.term): r for r in out.collect()}


def _terms_of(terms, paper):
    return {t for (p, t) in terms if p == paper}


def test_hyphenated_compounds_and_spaced_forms_are_one_term(terms):
    lora = _terms_of(terms, "lora")
    assert {"low rank", "low rank adaptation", "rank adaptation"} <= lora
    row = terms[("lora", "low rank adaptation")]
    assert row.tf == 2  # "Low-Rank Adaptation" in the title + "low rank adaptation" in the abstract
    assert row.in_title
    assert row.n_tokens == 3


def test_acronym_plurals_fold_but_kmeans_stays(terms):
    lora = _terms_of(terms, "lora")
    assert terms[("lora", "lora")].tf == 2  # LoRA (title) + LoRAs (abstract); the URL one is gone
    assert terms[("lora", "llm")].tf == 2  # LLMs in the title and in the abstract
    assert "loras" not in lora
    assert "llms" not in lora
    assert "kmeans" in lora
    assert "kmean" not in lora
    assert terms[("lora", "lora")].surface == "LoRA"


def test_no_ngram_crosses_a_parenthesis_or_sentence(terms):
    lora = _terms_of(terms, "lora")
    assert "adaptation lora" not in lora
    assert "lora llm" not in lora  # "(LoRA) for LLMs": bracket boundary, and "for" is a stopword
    assert "models lora" not in lora  # "...language models. LoRAs and..."
    assert "cheap kmeans" not in lora


def test_urls_are_removed_before_tokenising(terms):
    lora = _terms_of(terms, "lora")
    assert not any(w in t.split() for t in lora for w in ("github", "com", "https", "www", "org", "kit"))


def test_ngrams_formed_before_stopword_edges_are_dropped(terms):
    stop = _terms_of(terms, "stop")
    # Removing stopwords first would invent these:
    assert "effect rank" not in stop
    assert "rank retrieval" not in stop
    assert "state art" not in stop
    # Formed first, kept because the stopword sits inside:
    assert {"effect of rank", "rank on retrieval"} <= stop
    # Dropped because an edge is a stopword or a number:
    for term in stop:
        words = term.split()
        assert words[0] not in STOPWORDS
        assert words[-1] not in STOPWORDS
    assert not any(t.split()[0] in {"three", "12.5", "43times"} for t in stop)
    assert not any(t.split()[-1] in {"three", "12.5", "43times"} for t in stop)
    assert "log" not in stop  # LaTeX command, not a word


def test_title_terms_are_flagged_and_case_is_folded(terms):
    stop = _terms_of(terms, "stop")
    assert terms[("stop", "retrieval")].in_title
    assert terms[("stop", "retrieval")].tf == 2
    assert not terms[("stop", "quality")].in_title
    assert all(t == t.lower() for t in stop)


def test_version_numbers_stay_inside_names(terms):
    names = _terms_of(terms, "names")
    assert {"gpt-4", "qwen2.5", "4-bit weights", "mixture of experts"} <= names
    assert terms[("names", "gpt-4")].tf == 2
    assert terms[("names", "gpt-4")].surface == "GPT-4"
    assert "model accuracy" in names  # possessive dropped
    assert "accuracy rises" in names
    assert "rises a lot" not in names  # parenthesis boundary
    # Head-noun plural folding needs the corpus: it is the trends stage's job, not done here.
    assert "models" in names


@pytest.mark.slow
def test_stage_partition_of_a_day_does_not_depend_on_other_days(spark, tmp_path):
    """terms over [D1, D2] and terms over D2 alone give the same D2 partition (incremental runs)."""
    from digestflow.generate import render_digest
    from digestflow.runner import make_context
    from digestflow.runner import run as run_stages
    from digestflow.settings import Settings

    landing = tmp_path / "landing"
    landing.mkdir()
    for day, papers in ((D1, PAPERS[:2]), (D2, PAPERS[1:])):
        text = render_digest(day, [(title, abstract) for _, title, abstract in papers])
        (landing / f"{day.isoformat()}.txt").write_text(text, encoding="utf-8")
    settings = Settings.from_env().replace(landing=str(landing), warehouse=str(tmp_path / "wh"), validate=False)

    run_stages(make_context(spark=spark, settings=settings, start=D1, end=D2), ["ingest", "terms"])
    cols = [c for c in schemas.load("paper_terms").data_columns if c != "digest_date"]
    both = make_context(spark=spark, settings=settings, start=D1, end=D2).read("paper_terms").toPandas()
    run_stages(make_context(spark=spark, settings=settings, start=D2, end=D2), ["terms"])
    again = make_context(spark=spark, settings=settings, start=D1, end=D2).read("paper_terms").toPandas()

    def day(frame, d):
        part = frame[frame["digest_date"] == d][cols]
        return part.sort_values(["paper_id", "term"]).reset_index(drop=True)

    d2 = day(both, D2)
    assert d2["paper_id"].nunique() == 2  # both of D2's papers have terms in its partition
    assert {"effect of rank", "mixture of experts"} <= set(d2["term"])
    assert day(both, D2).equals(day(again, D2))
    assert day(both, D1).equals(day(again, D1))  # the D2 run left D1 alone
    # The same paper on two days yields the same terms on both days.
    shared = both[both["term"] == "effect of rank"]
    assert sorted(shared["digest_date"]) == [D1, D2]


def _batches(rows, size):
    """Arrow batches of ``size`` rows of (digest_date, paper_id, title, abstract), as Spark hands them over."""
    import pyarrow as pa

    table = pa.table({
        "digest_date": pa.array([r[0] for r in rows], pa.date32()),
        "paper_id": [r[1] for r in rows], "title": [r[2] for r in rows], "abstract": [r[3] for r in rows],
    })
    return iter(table.to_batches(max_chunksize=size))


_ROW = ("digest_date", "paper_id", "term", "n_tokens", "tf", "in_title", "surface")


def _rows_of(batches):
    """Output rows as (digest_date, paper_id, term, n_tokens, tf, in_title, surface) tuples, sorted."""
    cols = [b.to_pydict() for b in batches]
    return sorted(r for c in cols for r in zip(*(c[k] for k in _ROW), strict=True))


def test_a_paper_listed_twice_is_one_document_even_across_arrow_batches():
    """The executors' function sees a paper's rows in two batches (batch size 1): still one row per
    term, its occurrences added up (hand count: 'graph neural networks' once in each listing)."""
    from digestflow.terms import _extract_batches

    rows = [(D1, "p1", "Graph Neural Networks", "We study graph neural networks."),
            (D1, "p1", "Graph Neural Networks", "Nothing else here."),
            (D1, "p2", "Sparse Attention", "Sparse attention is cheap.")]
    got = _rows_of(_extract_batches(_batches(rows, 1)))
    by_key = {(r[0], r[1], r[2]): r for r in got}
    assert len(by_key) == len(got), "a (date, paper, term) key appears twice"
    # title twice (in_title) + abstract once
    assert by_key[(D1, "p1", "graph neural networks")][3:] == (3, 3, True, "Graph Neural Networks")
    assert by_key[(D1, "p2", "sparse attention")][3:] == (2, 2, True, "Sparse attention")
    assert _rows_of(_extract_batches(_batches(rows, 10))) == got  # batch size changes nothing


def test_output_batches_are_bounded_and_change_nothing(monkeypatch):
    from digestflow import terms

    rows = [(D1, pid, title, abstract) for pid, title, abstract in PAPERS]
    whole = list(terms._extract_batches(_batches(rows, 100)))
    monkeypatch.setattr(terms, "BATCH_ROWS", 5)
    small = list(terms._extract_batches(_batches(rows, 100)))
    assert len(whole) == 1
    assert len(small) == len(PAPERS)
    assert _rows_of(small) == _rows_of(whole)


def test_rows_come_out_in_key_order():
    """Input sorted by (date, paper), as extract_terms hands it over: the output rows are in (date, paper,
    term) order, the order the staged write sorts by, so that sort passes over ordered rows. Terms of
    one paper would otherwise come out in the order they were first met ('sparse attention' before
    'attention' here)."""
    from digestflow.terms import _extract_batches

    rows = [(D1, "p1", "Sparse Attention", "Attention is all we study."),
            (D1, "p2", "Graph Neural Networks", "Zebra models and graph networks."),
            (D2, "p0", "Low-Rank Adaptation", "Adapters.")]
    for size in (1, 2, 10):
        keys = [k for b in _extract_batches(_batches(rows, size)) for k in
                zip(*(b.to_pydict()[c] for c in ("digest_date", "paper_id", "term")), strict=True)]
        assert keys == sorted(keys), f"batch size {size}: rows not in key order"
        assert keys.index((D1, "p1", "attention")) < keys.index((D1, "p1", "sparse attention"))


def test_java_white_space_and_word_rules_are_kept():
    """The rules were Java regexes: ``\\s`` is ASCII white space only, so a no-break space after a full
    stop is no sentence end (the two words still form a bigram), while a tab is; and ``\\b`` before a
    URL counts a letter as a word character, so 'seehttp://x.org' is no URL."""
    from digestflow.terms import paper_terms_of

    nbsp = paper_terms_of([("", "Dense retrieval.\u00a0Sparse models")])
    assert "retrieval sparse" in nbsp
    tab = paper_terms_of([("", "Dense retrieval.\tSparse models")])
    assert "retrieval sparse" not in tab
    assert "sparse models" in tab
    glued = paper_terms_of([("", "Try seehttp://example.org now")])
    assert "seehttp" in {t.split()[0] for t in glued}
    spaced = paper_terms_of([("", "Try see http://example.org now")])
    assert not any("example" in t for t in spaced)


@pytest.mark.slow
def test_stage_writes_one_file_per_date_without_a_shuffle(spark, tmp_path):
    """extract_terms keeps each date in one task, so the write that skips its shuffle still leaves one
    Parquet file per date partition (with 4 write tasks and 6 dates)."""
    from digestflow.generate import render_digest
    from digestflow.runner import make_context
    from digestflow.runner import run as run_stages
    from digestflow.settings import Settings

    landing = tmp_path / "landing"
    landing.mkdir()
    days = [D1 + dt.timedelta(days=i) for i in range(6)]
    for i, day in enumerate(days):
        papers = PAPERS[i % 3:] + PAPERS[: i % 3]
        text = render_digest(day, [(title, abstract) for _, title, abstract in papers])
        (landing / f"{day.isoformat()}.txt").write_text(text, encoding="utf-8")
    settings = Settings.from_env().replace(landing=str(landing), warehouse=str(tmp_path / "wh"), validate=False,
                                           shuffle_partitions=4)
    run_stages(make_context(spark=spark, settings=settings, start=days[0], end=days[-1]), ["ingest", "terms"])
    folders = sorted((tmp_path / "wh" / "paper_terms").glob("digest_date=*"))
    assert [f.name for f in folders] == [f"digest_date={d}" for d in days]
    assert [len(list(f.glob("*.parquet"))) for f in folders] == [1] * len(days)


def test_surfaces_keep_compound_hyphens_and_every_cleaning_rule_fires_in_any_case():
    """Surfaces by hand: a compound's hyphen joins its words in every n-gram it is inside, and the last
    token's marker hyphen goes; tab- and newline-edged segments cut tokens as spaces do. Each cleaning
    rule still fires on spellings beyond the obvious one (an upper-case WWW URL, a LaTeX command, a
    curly-quote possessive)."""
    from digestflow.terms import paper_terms_of

    got = paper_terms_of([("", "\tState-of-the-art low-rank adapters\n")])
    assert got["state"] == (1, False, "State")  # "State-": the marker hyphen is not shown
    assert got["art low rank"][2] == "art low-rank"
    assert got["low rank adapters"][2] == "low-rank adapters"
    assert got["low rank"][2] == "low-rank"
    assert set(got) == {"state", "art", "art low", "art low rank", "low", "low rank", "low rank adapters",
                        "rank", "rank adapters", "adapters"}  # "of", "the": stopword edges; 4-grams: none
    cleaned = paper_terms_of([("", "See WWW.Example.COM today. Sparse \\alpha retrieval wins. The model’s gains rise.")])
    assert not any("example" in t or t == "com" for t in cleaned)  # the URL went whole
    assert "sparse retrieval" in cleaned  # the LaTeX command went, and its word with it:
    assert not any("alpha" in t for t in cleaned)
    assert "model gains" in cleaned  # the curly-quote possessive went
