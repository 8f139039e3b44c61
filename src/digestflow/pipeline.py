"""The stage harness: one run context, and the write → audit → publish steps every stage shares.

A stage is a function ``(ctx) -> StageReport`` registered in :data:`STAGES`. It reads the partitions it
needs, calls pure transforms, and hands its output DataFrames to :meth:`RunContext.publish`, which
stages them, runs the validation gate, publishes what passed and records run metrics. ``digestflow
run`` calls the registered stages in order inside one Spark application.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from digestflow import io
from digestflow.settings import Settings

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

log = logging.getLogger("digestflow")


class GateFailed(RuntimeError):
    """Raised after publishing what passed, when a critical expectation blocked some partitions."""


@dataclass
class StageReport:
    stage: str
    rows_in: int = 0
    rows_out: int = 0
    rows_rejected: int = 0
    partitions: int = 0
    seconds: float = 0.0
    details: dict[str, Any] = field(default_factory=dict)
    blocked: list[str] = field(default_factory=list)  # human messages from the gate

    def summary(self) -> str:
        text = (
            f"{self.stage}: {self.rows_in} in, {self.rows_out} out, {self.rows_rejected} rejected, "
            f"{self.partitions} partitions, {self.seconds:.1f}s"
        )
        return text + (f"; BLOCKED {len(self.blocked)}" if self.blocked else "")


@dataclass
class RunContext:
    """What every stage of one run shares: session, settings, the date range and the run's identity."""

    spark: SparkSession
    settings: Settings
    start: dt.date
    end: dt.date
    run_id: str = field(default_factory=io.new_run_id)
    today: dt.date = field(default_factory=lambda: dt.datetime.now(dt.UTC).date())
    started_at: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC))
    reports: list[StageReport] = field(default_factory=list)

    @property
    def dates(self) -> list[dt.date]:
        return [self.start + dt.timedelta(days=i) for i in range((self.end - self.start).days + 1)]

    @property
    def warehouse(self) -> str:
        return self.settings.warehouse

    def read(self, table: str, partitions: Sequence[io.Partition] | None = None) -> DataFrame:
        return io.read_table(self.spark, self.warehouse, table, partitions)

    def publish(
        self, table: str, df: DataFrame, owned: Sequence[io.Partition], report: StageReport
    ) -> io.PublishReport:
        """Stage ``df``, audit it with the table's suite (unless disabled), publish what passed."""
        staged = io.write_staged(df, table, self.warehouse, self.run_id, owned)
        passing: Sequence[io.Partition] | None = None
        if self.settings.validate:
            from digestflow import validate

            verdict = validate.audit(self, staged)
            passing = verdict.passed
            report.blocked.extend(verdict.messages)
        result = io.publish(staged, self.warehouse, passing)
        report.partitions += result.published
        return result

    def record(self, report: StageReport) -> None:
        self.reports.append(report)
        io.write_log_rows(
            self.warehouse,
            "run_metrics",
            [
                {
                    "run_id": self.run_id,
                    "stage": report.stage,
                    "start_date": self.start,
                    "end_date": self.end,
                    "rows_in": report.rows_in,
                    "rows_out": report.rows_out,
                    "rows_rejected": report.rows_rejected,
                    "partitions": report.partitions,
                    "seconds": report.seconds,
                    "details_json": json.dumps(report.details, default=str, sort_keys=True),
                    "finished_at": dt.datetime.now(dt.UTC),
                }
            ],
            file_stem=self.run_id,
        )
        log.debug(report.summary())  # the CLI prints it, once, as the last lines of its output


StageFn = Callable[[RunContext], StageReport]
STAGES: dict[str, StageFn] = {}


def stage(name: str) -> Callable[[StageFn], StageFn]:
    """Register a stage under its one name (CLI subcommand, job file, Airflow task, table)."""

    def register(fn: StageFn) -> StageFn:
        def timed(ctx: RunContext) -> StageReport:
            t0 = time.perf_counter()
            report = fn(ctx)
            report.seconds = time.perf_counter() - t0
            ctx.record(report)
            return report

        timed.__doc__ = fn.__doc__
        STAGES[name] = timed
        return timed

    return register


def run_stages(ctx: RunContext, names: Iterable[str]) -> list[StageReport]:
    """Run the named stages in order; raise :class:`GateFailed` at the end if any gate blocked data.

    ``names`` may be any iterable (the CLI passes a progress bar over the stage names)."""
    _load_stage_modules()
    if ctx.settings.validate:
        from digestflow import validate

        validate.warm_in_background()
    reports = []
    for name in names:
        if name not in STAGES:
            raise KeyError(f"unknown stage {name!r}; known: {', '.join(STAGES)}")
        reports.append(STAGES[name](ctx))
    blocked = [m for r in reports for m in r.blocked]
    if blocked:
        raise GateFailed("\n".join(blocked))  # staging kept for inspection; `digestflow gc` removes it
    io.clean_staging(ctx.warehouse, ctx.run_id)
    return reports


#: Stage order of ``digestflow run``; modules register themselves with @stage on import.
RUN_ORDER = ["ingest", "terms", "embed", "trends", "erank", "marts"]


def _load_stage_modules() -> None:
    import importlib

    for module in ("digestflow.stages",):
        importlib.import_module(module)


def available_stages() -> list[str]:
    _load_stage_modules()
    return [s for s in RUN_ORDER if s in STAGES] + [s for s in STAGES if s not in RUN_ORDER]
