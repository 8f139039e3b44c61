"""The papers behind a trend (trend_papers) and one term per concept (acronym merge, cut fragments).

The corpus is generated here: ``digestflow.generate`` background papers plus sentences written for this
test, with the ground truth of which paper carries what kept beside it:

- a sharp riser written in three spellings ("sparse spline adapter", "Sparse-Spline Adapters",
  "sparse spline adapters");
- a flat phrase ("ridge lattice kernels", 20% of the papers every day) that, in the target week only,
  half of its papers write as "aligning ridge lattice kernels": the trigram "aligning ridge lattice" rises
  but is a cut window of a longer phrase (the real case was "aligning large language" beside
  "large language models");
- word decoys in the target week: papers with "sparse" or "adapter" alone, never the phrase;
- a concept introduced with its acronym ("holonomic field encoders (HFEs)") and then used in both
  forms, some papers with the phrase only, some with "HFE" only;
- a control riser ("tidal graph sampler") with fewer target papers than the concept's two forms
  together, more than either form alone, and the same baseline.

Every check compares with the generator's truth or with hand-made counts, never with values computed by
the code under test.
"""

from __future__ import annotations

import datetime as dt
import random
import re

import numpy as np
import pandas as pd
import pytest

from digestflow.trends import TermCounts, cut_fragments

START = dt.date(2025, 1, 6)  # a Monday
N_DAYS = 70
AS_OF = START + dt.timedelta(days=N_DAYS - 1)
TARGET_START = AS_OF - dt.timedelta(days=6)

RISER = "sparse spline adapter"
RISER_FORMS = ("sparse spline adapter", "Sparse-Spline Adapters", "sparse spline adapters")
FLAT = "ridge lattice kernels"  # never written in the singular, so no plural fold
FRAGMENT = "aligning ridge lattice"
CONCEPT = "holonomic field encoder"
ACRONYM = "HFE"
CONTROL = "tidal graph sampler"
WORD_DECOYS = ("Sparse updates help here.", "Each adapter stays small.")

TEMPLATES = (
    "Our study relies on {p} throughout.",
    "We revisit {p} in a controlled setting.",
    "A strong ablation isolates {p} as the main factor.",
    "Results hinge on {p} at every scale.",
)
# How the concept's papers write it: defined (both forms), phrase only, acronym only.
DEFINE = "We introduce holonomic field encoders (HFEs) for this setting."
PHRASE_ONLY = "A holonomic field encoder replaces the usual pooling."
ACRONYM_ONLY = "The HFE replaces the usual pooling."
# Target week: 4 + 9 + 9 = 22 concept papers (13 per form alone); control 18. Baseline: 2 + 2 + 2 = 6, control 6.
CONCEPT_TARGET = {"define": 4, "phrase": 9, "acronym": 9}
CONCEPT_BASELINE = {"define": 2, "phrase": 2, "acronym": 2}
CONTROL_TARGET, CONTROL_BASELINE = 18, 6


def _norm(text: str) -> str:
    return " ".join(re.sub(r"(?<=[a-z])-(?=[a-z])", " ", text.lower()).split())


def carries_riser(title: str, abstract: str) -> bool:
    """The riser in one of its surface forms (hyphen, case, plural), as a whole phrase."""
    return re.search(r"\bsparse spline adapters?\b", _norm(f"{title} . {abstract}")) is not None


def build_corpus(seed: int = 23):
    from digestflow.generate import generate_corpus

    rng = random.Random(seed)
    digests = {
        d.digest_date: [list(p) for p in d.papers]
        for d in generate_corpus(N_DAYS, start=START, seed=seed, plants=[])
    }
    truth: dict[str, set[tuple[dt.date, str]]] = {"riser": set(), "concept": set(), "acronym_only": set()}
    truth["decoy"] = set()
    used: set[tuple[dt.date, int]] = set()

    def free(days: list[dt.date]) -> tuple[dt.date, int]:
        """A paper of ``days`` that carries no planted sentence yet."""
        left = [(d, i) for d in days for i in range(len(digests[d])) if (d, i) not in used]
        assert left, "corpus too small for the planted papers"
        day, idx = rng.choice(left)
        used.add((day, idx))
        return day, idx

    def add(day: dt.date, idx: int, sentence: str) -> None:
        paper = digests[day][idx]
        parts = paper[1].split(". ")
        at = rng.randrange(1, len(parts)) if len(parts) > 1 else 1
        paper[1] = ". ".join([*parts[:at], sentence.rstrip("."), *parts[at:]]) if at < len(parts) else (
            paper[1] + " " + sentence
        )

    days = sorted(digests)
    target = [d for d in days if d >= TARGET_START]
    baseline = [d for d in days if d < TARGET_START]
    # The riser: ~30% of the target week's papers, 2% before; a random spelling each time.
    for day in days:
        share = 0.30 if day >= TARGET_START else 0.02
        for idx in range(len(digests[day])):
            if (day, idx) not in used and rng.random() < share:
                used.add((day, idx))
                form = rng.choice(RISER_FORMS)
                add(day, idx, rng.choice(TEMPLATES).format(p=form))
                truth["riser"].add((day, digests[day][idx][0]))
    # The flat phrase may share a paper with another plant: its words are none of theirs.
    for day in days:
        for idx in rng.sample(range(len(digests[day])), round(0.2 * len(digests[day]))):
            aligning = day >= TARGET_START and rng.random() < 0.5
            add(day, idx, "We study aligning ridge lattice kernels here." if aligning else "Ridge lattice kernels help.")
    for sentence in WORD_DECOYS:
        for _ in range(6):
            day, idx = free(target)
            add(day, idx, sentence)
            truth["decoy"].add((day, digests[day][idx][0]))
    for pool, plan in ((target, CONCEPT_TARGET), (baseline, CONCEPT_BASELINE)):
        for kind, n in plan.items():
            for _ in range(n):
                day, idx = free(pool)
                add(day, idx, {"define": DEFINE, "phrase": PHRASE_ONLY, "acronym": ACRONYM_ONLY}[kind])
                truth["concept"].add((day, digests[day][idx][0]))
                if kind == "acronym":
                    truth["acronym_only"].add((day, digests[day][idx][0]))
    for pool, n in ((target, CONTROL_TARGET), (baseline, CONTROL_BASELINE)):
        for _ in range(n):
            day, idx = free(pool)
            add(day, idx, rng.choice(TEMPLATES).format(p=CONTROL))
    return digests, truth


@pytest.fixture(scope="module")
def evidence_run(spark, tmp_path_factory):
    """Ingest, terms, trends (default windows and baseline) and marts over the planted corpus, once."""
    from digestflow.generate import render_digest
    from digestflow.runner import make_context
    from digestflow.runner import run as run_stages
    from digestflow.settings import Settings

    digests, truth = build_corpus()
    root = tmp_path_factory.mktemp("evidence")
    landing = root / "landing"
    landing.mkdir()
    for day, papers in digests.items():
        (landing / f"{day.isoformat()}.txt").write_text(render_digest(day, [tuple(p) for p in papers]), "utf-8")
    settings = Settings.from_env().replace(landing=str(landing), warehouse=str(root / "wh"), validate=True)
    ctx = make_context(spark=spark, settings=settings, start=START, end=AS_OF, today=dt.date(2025, 12, 31))
    run_stages(ctx, ["ingest", "terms", "trends"])
    return {
        "ctx": ctx,
        "digests": digests,
        "truth": truth,
        "trends": ctx.read("keyword_trends").toPandas(),
        "evidence": ctx.read("trend_papers").toPandas(),
        "root": root,
    }


def _abstract(run, day: dt.date, title: str) -> str:
    return next(a for t, a in run["digests"][day] if t == title)


def _week(run) -> pd.DataFrame:
    trends = run["trends"]
    return trends[trends["window"] == "7d"].set_index("term")


@pytest.mark.slow
def test_riser_evidence_carries_the_phrase_inside_the_target_window(evidence_run):
    week = _week(evidence_run)
    assert week.loc[RISER, "rank_rising"] == 1
    rows = evidence_run["evidence"]
    riser = rows[(rows["window"] == "7d") & (rows["list"] == "rising") & (rows["term"] == RISER)]
    assert len(riser) >= 3
    assert sorted(riser["evidence_rank"]) == list(range(1, len(riser) + 1))
    assert (riser["rank"] == 1).all()
    for row in riser.itertuples():
        assert TARGET_START <= row.digest_date <= AS_OF, row
        assert carries_riser(row.title, _abstract(evidence_run, row.digest_date, row.title)), row.title
        assert (row.digest_date, row.title) in evidence_run["truth"]["riser"]
        assert row.tf >= 1


@pytest.mark.slow
def test_all_matching_papers_are_found_variants_included_word_decoys_excluded(evidence_run):
    """With no cap per term, the evidence of the riser is exactly the generator's riser papers of the week."""
    from digestflow.evidence import select_evidence
    from digestflow.trends import TrendParams, lookback_forms

    ctx = evidence_run["ctx"]
    days = TrendParams().lookback_days(AS_OF)
    from digestflow import storage

    paper_terms = ctx.read("paper_terms", storage.date_partitions(days))
    papers = ctx.read("papers", storage.date_partitions(days))
    aliases = lookback_forms(paper_terms, papers).aliases
    rows = select_evidence(paper_terms, papers, aliases, evidence_run["trends"], AS_OF, per_term=10_000).toPandas()
    riser = rows[(rows["window"] == "7d") & (rows["list"] == "rising") & (rows["term"] == RISER)]
    got = {(r.digest_date, r.title) for r in riser.itertuples()}
    expected = {(d, t) for d, t in evidence_run["truth"]["riser"] if d >= TARGET_START}
    assert got == expected
    variants = [r for r in riser.itertuples() if r.surface != RISER]
    assert variants, "no spelling variant among the matched papers"
    assert {s.lower().replace("-", " ") for s in riser["surface"]} == {"sparse spline adapter", "sparse spline adapters"}
    decoys = {(d, t) for d, t in evidence_run["truth"]["decoy"]} - evidence_run["truth"]["riser"]
    assert decoys
    assert not got & decoys
    # The merged concept's evidence: papers that use either form, the acronym-only ones included.
    concept = rows[(rows["window"] == "7d") & (rows["list"] == "rising") & (rows["term"] == CONCEPT)]
    got = {(r.digest_date, r.title) for r in concept.itertuples()}
    assert got == {(d, t) for d, t in evidence_run["truth"]["concept"] if d >= TARGET_START}
    assert got & evidence_run["truth"]["acronym_only"]
    assert ACRONYM in set(concept["surface"])


@pytest.mark.slow
def test_acronym_and_expansion_are_one_term_ranked_by_the_summed_papers(evidence_run):
    week = _week(evidence_run)
    truth = evidence_run["truth"]["concept"]
    row = week.loc[CONCEPT]
    assert (row["df_target"], row["df_baseline"]) == (
        sum(1 for d, _ in truth if d >= TARGET_START),
        sum(1 for d, _ in truth if d < TARGET_START),
    )
    assert (row["df_target"], row["df_baseline"]) == (22, 6)
    assert row["display_form"] == "holonomic field encoder (HFE)"
    assert "hfe" not in week.index
    # 22 vs 6 papers ranks above the control's 18 vs 6, below the 30%-share riser; either form alone
    # (13 vs 4) would not.
    assert week.loc[RISER, "rank_rising"] < row["rank_rising"] < week.loc[CONTROL, "rank_rising"]
    assert week.loc[CONTROL, "df_target"] == CONTROL_TARGET


@pytest.mark.slow
def test_cut_fragment_takes_no_place(evidence_run):
    import dataclasses

    from digestflow import storage
    from digestflow.trends import TrendParams, daily_volume, lookback_forms, score_trends, term_series

    week = _week(evidence_run)
    assert FRAGMENT not in week.index, week.loc[FRAGMENT].to_dict()
    assert RISER in week[week["rank_rising"] <= 10].index
    # The same counts scored with the rule off: the fragment takes a top-10 place (the check can fail).
    ctx, params = evidence_run["ctx"], TrendParams()
    days = params.lookback_days(AS_OF)
    paper_terms = ctx.read("paper_terms", storage.date_partitions(days))
    papers = ctx.read("papers", storage.date_partitions(days))
    series = term_series(paper_terms, params.min_df, lookback_forms(paper_terms, papers).aliases).toPandas()
    counts = TermCounts.from_frames(series, daily_volume(papers).toPandas(), days)
    off = score_trends(counts, AS_OF, dataclasses.replace(params, fragment_min_share=2.0)).trends
    off = off[off["window"] == "7d"].set_index("term")
    row = off.loc[FRAGMENT]
    assert row["rank_rising"] <= 10 or row["is_new"], row[["logodds_z", "suppressed_by", "df_target"]].tolist()
    assert FLAT in week.index


@pytest.mark.slow
def test_trend_papers_covers_every_listed_term_and_reruns_identically(evidence_run):
    from digestflow import schemas
    from digestflow.evidence import listed_terms
    from digestflow.runner import run as run_stages

    rows = evidence_run["evidence"]
    listed = listed_terms(evidence_run["trends"])
    assert set(zip(rows["window"], rows["list"], rows["term"], strict=True)) == set(
        zip(listed["window"], listed["list"], listed["term"], strict=True)
    )
    assert rows.groupby(["window", "list", "term"]).size().max() <= 5
    falling = rows[rows["list"] == "falling"]
    for row in falling.itertuples():
        target_start = AS_OF - dt.timedelta(days=int(row.window.rstrip("d")) - 1)
        assert row.digest_date < target_start
    run_stages(evidence_run["ctx"], ["trends"])
    cols = schemas.load("trend_papers").data_columns
    keys = ["window", "list", "term", "evidence_rank"]
    again = evidence_run["ctx"].read("trend_papers").toPandas()[cols].sort_values(keys).reset_index(drop=True)
    pd.testing.assert_frame_equal(rows[cols].sort_values(keys).reset_index(drop=True), again)


# ------------------------------------------------------------------------------ pure parts (no Spark)


def _counts(terms: dict[str, int], own: dict[str, int] | None = None) -> TermCounts:
    names = sorted(terms)
    df = np.array([[terms[t]] for t in names], dtype=np.int64)
    return TermCounts(
        terms=names,
        display=names,
        n_tokens=np.array([len(t.split()) for t in names]),
        tf_all=df[:, 0],
        days=[AS_OF],
        df=df,
        n_papers=np.array([100]),
        n_words=10_000,
        df_own=None if own is None else np.array([own.get(t, terms[t]) for t in names]),
    )


def test_cut_fragments_by_hand():
    counts = _counts(
        {
            "large language model": 95,
            "large language": 100,  # followed by "model" in 95 of 100 papers
            "aligning large language": 4,  # a window across "aligning large language models"
            "vision language action": 20,  # two windows of "vision language action model"
            "language action model": 18,
            "language action": 21,
            "sparse attention": 30,
            "attention sink": 10,
            "attention": 60,  # "sparse attention" holds half of it: not a fragment
            # "natural language model" is a trigram, counted: that pair is the nested rule's to judge,
            # however often "language" is followed by "model"
            "natural language": 40,
            "language model": 300,
            "language": 320,
        }
    )
    keep = np.array([t not in ("large language", "language action", "attention", "language") for t in counts.terms])
    assert cut_fragments(counts, keep) == {
        "aligning large language": "large language model",
        "language action model": "vision language action",  # mutual: the one with more papers stays
    }
    # The own-form count decides: with most of "large language model"'s papers only from a merged acronym
    # (80 of 95), the phrase no longer owns "large language".
    counts = _counts({"large language model": 95, "large language": 100, "aligning large language": 4},
                     own={"large language model": 15})
    assert cut_fragments(counts, np.array([True, False, True])) == {}


def test_schwartz_hearst_long_forms():
    from digestflow.acronyms import best_long_form, definitions, fold_acronym, long_form, normalise

    cases = {
        ("LLMs", "we study Large Language Models"): "Large Language Models",
        ("LoRA", "fine-tuning with Low-Rank Adaptation"): "Low-Rank Adaptation",
        ("MoE", "a sparse Mixture-of-Experts"): "Mixture-of-Experts",
        ("HFEs", "We introduce holonomic field encoders"): "holonomic field encoders",
        ("GPT-4", "the strongest model"): None,  # letters not spelled
        ("ML", "we use Machine"): None,  # a one-word "expansion"
    }
    for (short, preceding), expected in cases.items():
        assert best_long_form(fold_acronym(short), preceding) == expected, short
    # Initials first: Schwartz & Hearst alone take "Policy Optimization" (the "p" inside "Optimization").
    assert best_long_form("PPO", "we train with Proximal Policy Optimization") == "Policy Optimization"
    assert long_form("PPO", "we train with Proximal Policy Optimization") == "proximal policy optimization"
    assert long_form("MoE", "a sparse Mixture-of-Experts") == "mixture of experts"
    assert long_form("KV", "the key-value") == "key value"
    assert long_form("LoRA", "fine-tuning with Low-Rank Adaptation") == "low rank adaptation"
    assert long_form("ML", "we use Machine") is None
    assert fold_acronym("LLMs") == "LLM"
    assert fold_acronym("KMeans") == "KMeans"
    assert normalise("Low-Rank Adaptation") == "low rank adaptation"
    frame = definitions([("p1", "we study Large Language Models", "LLMs"), ("p2", "a model", "LLM")])
    assert frame.to_dict("records") == [{"paper_id": "p1", "acronym": "llm", "expansion": "large language models"}]


@pytest.mark.slow
def test_show_prints_three_titles_under_each_listed_term(evidence_run):
    from click.testing import CliRunner

    from digestflow.cli import main

    warehouse = evidence_run["ctx"].settings.warehouse
    result = CliRunner().invoke(
        main, ["trends", "--as-of", AS_OF.isoformat(), "--show-only", "--window", "7d", "--warehouse", warehouse]
    )
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    at = next(i for i, line in enumerate(lines) if re.match(r"\s+1\s+(Sparse-Spline Adapters|sparse spline adapters?)\s", line))
    under = []
    for line in lines[at + 1 :]:
        match = re.match(r"^ {7}(\d{4}-\d{2}-\d{2})  (.*)$", line)
        if not match:
            break
        under.append((dt.date.fromisoformat(match.group(1)), match.group(2)))
    assert len(under) == 3
    rows = evidence_run["evidence"]
    riser = rows[(rows["window"] == "7d") & (rows["list"] == "rising") & (rows["term"] == RISER)]
    expected = [(r.digest_date, r.title) for r in riser.sort_values("evidence_rank").head(3).itertuples()]
    assert under == expected
    for day, title in under:
        assert carries_riser(title, _abstract(evidence_run, day, title))


# The definition pattern as first written (no lookbehind, no possessive parts): the same matches by a
# simpler, slower route, to check the rewrite on texts built to hit its edges.
_FIRST_DEFINITION_RE = (
    r"((?:[\p{L}\p{N}][\p{L}\p{N}'’-]*\s+){1,10})\(\s*(\p{Lu}[\p{L}\p{N}-]{0,8}[\p{Lu}\p{N}][\p{L}\p{N}]{0,2})\s*\)"
)


def test_definition_candidates_by_hand_and_as_first_written(spark):

    from digestflow.acronyms import definition_candidates

    eleven = " ".join(f"w{i}" for i in range(1, 12))
    texts = {
        "plain": ("Large Language Models (LLMs) for code", "We use Low-Rank Adaptation ( LoRA ) here."),
        "eleven": ("", f"{eleven} (ABC) then"),  # 11 words: the match starts at the 2nd
        "hyphen": ("", "the x-ray Vision Transformer (ViT) and 'tis Big Model (BM)"),
        "glued": ("", "word(LLM) and Mixture of Experts(MoE) are not definitions"),
        "two": ("", "Key Value (KV) cache with Grouped Query (GQA) attention"),
    }
    rows = [(pid, title, abstract) for pid, (title, abstract) in texts.items()]
    papers = spark.createDataFrame(rows, "paper_id string, title string, abstract string")
    got = {tuple(r) for r in definition_candidates(papers).collect()}
    expected = {
        ("plain", "Large Language Models ", "LLMs"),
        ("plain", "We use Low-Rank Adaptation ", "LoRA"),  # a full stop is no word: the words start after it
        ("eleven", " ".join(f"w{i}" for i in range(2, 12)) + " ", "ABC"),
        ("hyphen", "the x-ray Vision Transformer ", "ViT"),
        ("hyphen", "tis Big Model ", "BM"),  # "'" starts no word: the words start inside "'tis"
        ("two", "Key Value ", "KV"),
        ("two", "cache with Grouped Query ", "GQA"),
    }
    assert got == expected
    assert _forward_matches(papers, _FIRST_DEFINITION_RE) == got


def _forward_matches(papers, pattern: str) -> set[tuple[str, str, str]]:
    """(paper_id, words, acronym) of a forward definition pattern over the texts, as Spark's Java regex
    finds them left to right: the oracle of the reversed pattern the stage runs."""
    from pyspark.sql import functions as F

    text = F.concat_ws(" . ", "title", "abstract")
    found = papers.select("paper_id", F.explode(F.regexp_extract_all(text, F.lit(pattern), 0)).alias("m"))
    found = found.select("paper_id", F.regexp_extract("m", pattern, 1), F.regexp_extract("m", pattern, 2))
    return {tuple(r) for r in found.distinct().collect()}


def test_reversed_definition_pattern_finds_what_the_forward_one_finds(spark):
    """definition_candidates (the reversed pattern on the reversed text) against the forward pattern, on
    texts built for the edges: word starts after an apostrophe or a hyphen, runs longer than ten words,
    brackets in brackets, white space of every kind, letters and digits of other scripts."""
    import itertools
    import random

    from digestflow.acronyms import DEFINITION_RE, definition_candidates

    pieces = ["w", "x-ray", "-based", "'tis", "’s", "models'", "2x", "日本語", "Ünï", "a.b", "(", ")", "((", "))",
              "(AB)", "( ViT )", "(LLMs)", "(GPT-4)", "(A)", "(ABCDEFGHIJKLM)", "(x2)", ",", ".", "\n", "\t",
              "  ", "Deep Net", "(DN)"]
    rng = random.Random(7)
    texts = [" ".join(rng.choice(pieces) for _ in range(rng.randint(1, 30))) for _ in range(400)]
    texts += [" ".join(f"w{i}" for i in range(n)) + f" (W{n})" for n in range(0, 14)]
    texts += ["".join(c) + " Big Model (BM)" for c in itertools.product(["", " ", "-", "'", "x", "(", ")"], repeat=2)]
    rows = [(f"made-up {i}", "", t) for i, t in enumerate(texts)]
    made_up = spark.createDataFrame(rows, "paper_id string, title string, abstract string")
    got = {tuple(r) for r in definition_candidates(made_up).collect()}
    assert got == _forward_matches(made_up, DEFINITION_RE)
    assert len(got) > 100  # the edges are hit, not only missed


@pytest.mark.realdata
def test_reversed_definition_pattern_on_the_real_papers(spark, shared_data):
    """The same comparison over the title and abstract of every paper of the 521 real digests (the
    manifest's ground truth)."""
    import json

    from digestflow.acronyms import DEFINITION_RE, definition_candidates

    with open(shared_data / "hf-daily.manifest.jsonl", encoding="utf-8") as lines:
        rows = [(f"{r['date']}/{r['id']}", r["title"], r["abstract"]) for r in map(json.loads, lines)]
    papers = spark.createDataFrame(rows, "paper_id string, title string, abstract string")
    got = {tuple(r) for r in definition_candidates(papers).collect()}
    assert got == _forward_matches(papers, DEFINITION_RE)
    assert len(got) > 5000


def test_evidence_order_by_hand():
    """rank_evidence on hand-made hits: the date range, a paper once at its latest date, title before
    occurrences before date for rising, latest first for falling, paper_id on ties, at most per_term."""
    from digestflow.evidence import rank_evidence

    d = dt.date
    hits = pd.DataFrame(
        [  # term, digest_date, paper_id, tf, in_title, surface
            ("riser", d(2025, 3, 10), "p1", 1, True, "Riser"),
            ("riser", d(2025, 3, 11), "p2", 5, False, "riser"),
            ("riser", d(2025, 3, 12), "p3", 5, False, "riser"),
            ("riser", d(2025, 3, 12), "p4", 5, False, "riser"),  # ties p3 on everything but paper_id
            ("riser", d(2025, 3, 9), "p5", 9, True, "riser"),  # before the range: not listed
            ("riser", d(2025, 3, 10), "p6", 2, False, "riser"),  # listed twice: once, at its latest date
            ("riser", d(2025, 3, 12), "p6", 1, False, "riser"),
            ("faller", d(2025, 1, 5), "q1", 9, True, "faller"),
            ("faller", d(2025, 2, 1), "q2", 1, False, "faller"),
            ("faller", d(2025, 2, 20), "q3", 1, False, "faller"),
            ("faller", d(2025, 3, 12), "q4", 3, True, "faller"),  # inside the target window: not baseline
        ],
        columns=["term", "digest_date", "paper_id", "tf", "in_title", "surface"],
    )
    listed = pd.DataFrame(
        [
            ("7d", "rising", 1, "riser", "Riser", d(2025, 3, 10), d(2025, 3, 16)),
            ("7d", "falling", 1, "faller", "faller", d(2024, 9, 1), d(2025, 3, 9)),
        ],
        columns=["window", "list", "rank", "term", "display_form", "lo", "hi"],
    )
    got = rank_evidence(hits, listed, per_term=4)
    order = {t: list(zip(g["paper_id"], g["evidence_rank"], strict=True)) for t, g in got.groupby("term")}
    assert order["riser"] == [("p1", 1), ("p3", 2), ("p4", 3), ("p2", 4)]  # p6 (tf 1) is fifth: cut
    assert order["faller"] == [("q3", 1), ("q2", 2), ("q1", 3)]
    assert got.loc[got["paper_id"] == "q3", "display_form"].item() == "faller"
    assert rank_evidence(hits, listed, per_term=5).query("paper_id == 'p6'")["digest_date"].item() == d(2025, 3, 12)


def test_merge_hits_by_hand():
    """merge_hits: the forms of one term in one paper on one day become one hit with the occurrences
    summed, in_title if any form is in the title, and the surface of the form with most occurrences
    (ties: the larger surface); another day or paper stays its own hit (expected rows by hand)."""
    from digestflow.evidence import merge_hits

    d = dt.date
    rows = pd.DataFrame(
        [  # term, digest_date, paper_id, tf, in_title, surface (canonical term, one row per form)
            ("adapter", d(2025, 3, 10), "p1", 2, False, "adapters"),
            ("adapter", d(2025, 3, 10), "p1", 3, True, "Adapter"),
            ("adapter", d(2025, 3, 10), "p1", 1, False, "adapter"),
            ("adapter", d(2025, 3, 11), "p1", 1, False, "adapter"),  # another day: its own hit
            ("llm", d(2025, 3, 10), "p2", 2, False, "LLM"),  # a tie on tf: the larger surface, "LLMs"
            ("llm", d(2025, 3, 10), "p2", 2, False, "LLMs"),
            ("llm", d(2025, 3, 10), "p3", 4, False, "LLM"),
        ],
        columns=["term", "digest_date", "paper_id", "tf", "in_title", "surface"],
    ).astype({"tf": "int32"})
    got = merge_hits(rows)
    assert list(got.columns) == ["term", "digest_date", "paper_id", "tf", "in_title", "surface"]
    assert sorted(got.itertuples(index=False, name=None)) == [
        ("adapter", d(2025, 3, 10), "p1", 6, True, "Adapter"),
        ("adapter", d(2025, 3, 11), "p1", 1, False, "adapter"),
        ("llm", d(2025, 3, 10), "p2", 4, False, "LLMs"),
        ("llm", d(2025, 3, 10), "p3", 4, False, "LLM"),
    ]
    assert merge_hits(rows.iloc[:0]).empty
