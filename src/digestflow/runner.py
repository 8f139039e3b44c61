"""Assembles a run: the stage declarations, the harness and the validation gate.

The CLI, the job entry point, the stage server and the tests build runs here, so that neither the harness
(:mod:`digestflow.pipeline`) nor the stages import the gate, and the gate imports neither.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

from digestflow import storage
from digestflow.pipeline import RunContext, StageReport, producers, run_stages
from digestflow.settings import Settings
from digestflow.stages import STAGES, ordered

if TYPE_CHECKING:
    from pyspark.sql import SparkSession


class GreatExpectationsGate:
    """The gate of :mod:`digestflow.validate`, imported when first used (GE takes seconds to import)."""

    def audit(self, ctx: RunContext, staged: storage.Staged) -> Any:
        from digestflow import validate

        return validate.audit(ctx, staged)

    def warm(self) -> None:
        """Import GE and build its context (seconds): the run calls this first on its warm-up thread."""
        from digestflow import validate

        validate.warm()

    def begin(self, ctx: RunContext) -> None:
        """Data Docs pages are collected during the run and built once at its end (one index build)."""
        from digestflow import validate

        validate.defer_docs(ctx)

    def finish(self, ctx: RunContext) -> None:
        from digestflow import validate

        validate.build_docs(ctx)


def make_context(
    spark: SparkSession,
    settings: Settings,
    start: dt.date,
    end: dt.date,
    params: Mapping[str, Any] | None = None,
    **kwargs: Any,
) -> RunContext:
    """A run context with the validation gate plugged in when the settings ask for it."""
    gate = GreatExpectationsGate() if settings.validate else None
    return RunContext(spark=spark, settings=settings, start=start, end=end, gate=gate, params=dict(params or {}),
                      **kwargs)


def run(
    ctx: RunContext,
    names: Iterable[str] | None = None,
    on_report: Callable[[StageReport], None] | None = None,
) -> list[StageReport]:
    """Run the named stages (default: all) in the declared graph's order."""
    wanted = list(names) if names is not None else None
    stages = [s for s in ordered() if wanted is None or s.name in wanted]
    if wanted is not None:
        unknown = set(wanted) - set(STAGES)
        if unknown:
            raise KeyError(f"unknown stage(s) {sorted(unknown)}; known: {', '.join(STAGES)}")
    return run_stages(ctx, stages, producers(STAGES.values()), on_report)
