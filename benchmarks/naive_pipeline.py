"""The baseline for `digestflow run`: one Python process doing the same work without Spark.

    python benchmarks/naive_pipeline.py LANDING OUT

parse every digest (digestflow's pure parser) → papers/rejects Parquet partitioned by date (pyarrow,
zstd) → 1–3-gram document frequencies (scikit-learn CountVectorizer, min_df=2) → log-odds z of the last
7 days against the 26 weeks before (numpy) → hashed 256-d embeddings → erank statistics per day, ISO
week and month (numpy SVD) → a daily summary. It prints the seconds per step. It is what a competent
engineer would write in an afternoon; `digestflow run` is compared with it in BENCHMARKS.md, so it is
kept fast:

* embeddings: word 1–2-grams (English stop words removed) hashed straight into 256 signed buckets
  (``HashingVectorizer(n_features=256)``, L2-normalised). Feature hashing is itself a sparse random
  projection (one ±1 entry per n-gram), the same kind of work as digestflow's ``hashing`` embedder
  (2**18 buckets, then a 4-nonzero sparse projection to 256 d) without the intermediate matrix.
  The time is the text analysis; the projection costs nothing. (Before: 2**18 buckets times a dense
  2**18 × 256 Gaussian matrix, a 256 MB float32 array and 20+ s.)
* erank: the per-set SVDs (at most a few thousand × 256) run with BLAS on one thread
  (``threadpool_limits(1)``). Threads cost more than they save on matrices this small, and on a loaded
  machine OpenBLAS's spinning threads made the step 20× slower (116 s against 6 s at load 16). Spark's
  Python workers run the same way (PySpark sets OMP_NUM_THREADS to the task's cores, 1).
  ``erank_at_n`` uses B = 50 subsamples where digestflow uses 200: the script does less work there.
* trends: target/baseline counts are two sparse mat-vecs on the CSR document–term matrix.
"""

from __future__ import annotations

import datetime as dt
import sys
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq


def main(landing: Path, out: Path) -> dict[str, float]:
    from sklearn.feature_extraction.text import CountVectorizer, HashingVectorizer
    from threadpoolctl import threadpool_limits

    from digestflow import schemas
    from digestflow.metrics.spectrum import erank_at_n, spectrum_stats
    from digestflow.metrics.trendstats import log_odds_dirichlet, smoothed_shares
    from digestflow.parsing import parse_digest

    timings: dict[str, float] = {}
    t = time.perf_counter()

    def lap(name: str) -> None:
        nonlocal t
        now = time.perf_counter()
        timings[name] = now - t
        t = now

    now = dt.datetime.now(dt.UTC)
    papers, rejects = [], []
    for path in sorted(landing.glob("*.txt")):
        result = parse_digest(path.read_bytes(), source=path.name, latest_date=dt.date.today())
        papers += [{**p, "ingested_at": now} for p in result.papers]
        rejects += [{**r, "ingested_at": now, "parser_version": "naive"} for r in result.rejects]
    lap("parse")
    opts = ds.ParquetFileFormat().make_write_options(compression="zstd")
    for table, rows in (("papers", papers), ("rejects", rejects)):
        if rows:
            ds.write_dataset(
                pa.Table.from_pylist(rows, schema=schemas.load(table).arrow()), out / table, format="parquet",
                partitioning=["digest_date"], partitioning_flavor="hive", file_options=opts,
                existing_data_behavior="delete_matching",
            )
    lap("write papers")

    days = np.array([p["digest_date"] for p in papers])
    texts = [p["title"] + ". " + p["abstract"] for p in papers]
    vectorizer = CountVectorizer(ngram_range=(1, 3), stop_words="english", binary=True, min_df=2)
    doc_terms = vectorizer.fit_transform(texts)
    lap("terms")

    as_of = days.max()
    target = days > as_of - dt.timedelta(days=7)
    baseline = (days <= as_of - dt.timedelta(days=7)) & (days > as_of - dt.timedelta(days=7 + 26 * 7))
    y_t = doc_terms.T @ target.astype(np.int64)
    y_b = doc_terms.T @ baseline.astype(np.int64)
    _, z = log_odds_dirichlet(y_t, y_b, y_t.sum(), y_b.sum(), smoothed_shares(y_b))
    names = vectorizer.get_feature_names_out()
    order = np.argsort(-z)
    pq.write_table(
        pa.table({"term": names[order[:200]], "z": z[order[:200]]}), out / "keyword_trends.parquet"
    )
    lap("trends")

    hasher = HashingVectorizer(
        n_features=256, ngram_range=(1, 2), stop_words="english", alternate_sign=True, norm="l2", dtype=np.float32
    )
    vectors = hasher.transform(texts).toarray()
    lap("embed")

    sets: dict[tuple[str, str], list[int]] = defaultdict(list)
    for i, day in enumerate(days):
        sets[("day", day.isoformat())].append(i)
        sets[("week", (day - dt.timedelta(days=day.weekday())).isoformat())].append(i)
        sets[("month", day.strftime("%Y-%m"))].append(i)
    stats = []
    with threadpool_limits(1):
        for (kind, key), idx in sets.items():
            X = vectors[idx].astype(np.float64)
            row = spectrum_stats(X)
            row["erank_at_n"], row["erank_ci_low"], row["erank_ci_high"] = erank_at_n(X, 8, B=50)
            keep = ("n", "erank", "erank_at_n", "erank_ci_low", "erank_ci_high")
            stats.append({"set_kind": kind, "set_key": key, **{k: row[k] for k in keep}})
    pq.write_table(pa.Table.from_pylist(stats), out / "erank_stats.parquet")
    lap("erank")

    by_day: dict[dt.date, list[dict]] = defaultdict(list)
    for p in papers:
        by_day[p["digest_date"]].append(p)
    summary = [
        {"digest_date": d, "n_papers": len(ps), "mean_abstract_words": float(np.mean([p["n_words"] for p in ps])),
         "share_with_code": float(np.mean([any("github" in u for u in p["urls"]) for p in ps]))}
        for d, ps in sorted(by_day.items())
    ]
    pq.write_table(pa.Table.from_pylist(summary), out / "daily_summary.parquet")
    lap("marts")
    timings["total"] = sum(timings.values())
    return timings


if __name__ == "__main__":
    started = time.perf_counter()
    result = main(Path(sys.argv[1]), Path(sys.argv[2]))
    for step, secs in result.items():
        print(f"{step:14} {secs:8.2f} s")
    print(f"{'wall (w/ imports)':14} {time.perf_counter() - started:8.2f} s")
