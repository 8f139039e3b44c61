"""Embedding throughput per embedder: in one process and through Spark (embed_papers, local[2]).

    .venv/bin/python benchmarks/bench_embed.py [--minilm-rows 400] [--no-spark]

Texts are the real dev abstracts (../shared/data manifest) when present, else a synthetic corpus.
Prints abstracts/s; the in-process hashing figure is the baseline the Spark figure is compared with.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def load_texts() -> tuple[list[tuple[str, str]], str]:
    manifest = Path(os.environ.get("DIGESTFLOW_SHARED", REPO.parent / "shared")) / "data" / "hf-daily.manifest.jsonl"
    if manifest.is_file():
        rows = [json.loads(line) for line in manifest.open(encoding="utf-8")]
        return [(r["title"], r["abstract"]) for r in rows], "real dev abstracts"
    from digestflow.generate import generate_corpus

    papers = [p for d in generate_corpus(500, start=dt.date(2024, 1, 1)) for p in d.papers]
    return papers, "synthetic abstracts"


def timed(fn, *args):
    t0 = time.perf_counter()
    out = fn(*args)
    return out, time.perf_counter() - t0


def cpu_timed(fn, *args):
    """Wall and this process's CPU seconds: on a shared, loaded machine the CPU figure is the honest one."""
    c0, t0 = time.process_time(), time.perf_counter()
    fn(*args)
    return time.perf_counter() - t0, time.process_time() - c0


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--minilm-rows", type=int, default=400)
    parser.add_argument("--no-spark", action="store_true")
    args = parser.parse_args()

    from digestflow.embed import EMBEDDERS, get_embedder, paper_text

    pairs, source = load_texts()
    texts = [paper_text(t, a) for t, a in pairs]
    results = []
    _, build = timed(get_embedder, "hashing")
    secs, cpu = cpu_timed(get_embedder("hashing").embed, texts)
    results.append(("hashing", "1 process", len(texts), secs, f"{len(texts) / cpu:.0f}/CPU-s; build {build:.1f}s"))

    minilm_ok = True
    try:
        import sentence_transformers  # noqa: F401
    except ImportError:
        minilm_ok = False
    if minilm_ok and "minilm" in EMBEDDERS:
        import torch

        torch.set_num_threads(2)
        os.environ["DIGESTFLOW_TORCH_THREADS"] = "2"
        _, build = timed(get_embedder, "minilm")
        sub = texts[: args.minilm_rows]
        secs, cpu = cpu_timed(get_embedder("minilm").embed, sub)
        results.append(("minilm", "1 process, 2 torch threads", len(sub), secs, f"{len(sub) / cpu:.0f}/CPU-s; load {build:.1f}s"))

    if not args.no_spark:
        from digestflow.embed import embed_papers
        from digestflow.settings import Settings
        from digestflow.spark import build_session

        spark = build_session(Settings.from_env().replace(spark_master="local[2]", shuffle_partitions=2), "bench-embed")
        rows = [(f"p{i:06d}", t, a, 0, dt.date(2024, 1, 1) + dt.timedelta(days=i % 500)) for i, (t, a) in enumerate(pairs)]
        papers = spark.createDataFrame(rows, "paper_id string, title string, abstract string, position int, digest_date date")
        papers = papers.repartition(2).cache()
        papers.count()
        for model, n in (("hashing", len(rows)), ("minilm", args.minilm_rows)):
            if model == "minilm" and not minilm_ok:
                continue
            os.environ["DIGESTFLOW_TORCH_THREADS"] = "1"
            subset = papers if n == len(rows) else papers.limit(n).repartition(2)
            # First pass warms the Python workers (imports, model load); the second is timed.
            embed_papers(subset, model).write.format("noop").mode("overwrite").save()
            _, secs = timed(lambda s=subset, m=model: embed_papers(s, m).write.format("noop").mode("overwrite").save())
            results.append((model, "Spark local[2], warm workers", n, secs, "incl. dedupe shuffle"))
        spark.stop()

    print(f"texts: {source} ({len(texts)}), cores: {os.cpu_count()}, load avg: {os.getloadavg()[0]:.1f}")
    print(f"{'embedder':10} {'where':32} {'rows':>6} {'seconds':>8} {'abstracts/s':>12}  note")
    for model, where, n, secs, note in results:
        print(f"{model:10} {where:32} {n:6d} {secs:8.2f} {n / secs:12.0f}  {note}")


if __name__ == "__main__":
    main()
