"""The stage harness: what a stage is, the run context, and the write → audit → publish steps.

A stage is one :class:`Stage` declaration (in ``digestflow/stages/<name>.py``): its name, the tables it
reads and which of their partitions (relative to the run's dates), the tables it writes, its typed
parameter class, its doc, and its ``run`` function. Everything else is derived from the declarations in
:data:`digestflow.stages.STAGES`: the run order (:func:`run_order`, topological), the CLI subcommands,
the Airflow tasks, edges and Assets, the stage server's command list, the job entry point.

Before a stage runs, :func:`check_inputs` looks at the partitions it declares it reads and stops with one
line naming the missing table, the dates and the command that makes them. The validation gate is
injected (:attr:`RunContext.gate`): this module does not import it.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol

from digestflow import storage
from digestflow.settings import Settings

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame, SparkSession

log = logging.getLogger("digestflow")


class GateFailed(RuntimeError):
    """Raised after publishing what passed, when a critical expectation blocked some partitions."""


class UserError(Exception):
    """An expected mistake of the user's (missing inputs, missing folder, empty range): one line, no
    traceback. The CLI prints ``Error: <message>`` and exits 1."""


class InputsMissing(UserError):
    """A stage's declared inputs are not published for the dates it needs."""

    def __init__(self, message: str, table: str) -> None:
        super().__init__(message)
        self.table = table


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
        if self.details.get("skipped"):
            text += f"; skipped: {self.details['skipped']}"
        return text + (f"; BLOCKED {len(self.blocked)}" if self.blocked else "")


class Gate(Protocol):
    """The validation gate as the harness sees it (``digestflow.validate`` provides one)."""

    def audit(self, ctx: RunContext, staged: storage.Staged) -> Any: ...  # -> object with .passed, .messages

    def warm(self) -> None: ...  # load slow imports now (called on the run's warm-up thread)

    def begin(self, ctx: RunContext) -> None: ...  # a run starts: reports may be collected for its end

    def finish(self, ctx: RunContext) -> None: ...  # the run ended (also on failure): write its reports


# ------------------------------------------------------------------------------------ declarations

DatesFn = Callable[["RunContext", Any], list[dt.date]]


def run_dates(ctx: RunContext, _params: Any = None) -> list[dt.date]:
    return ctx.dates


def as_of_date(ctx: RunContext, _params: Any = None) -> list[dt.date]:
    return [ctx.end]


@dataclass(frozen=True)
class Read:
    """One input of a stage: a table and the dates of it the stage reads.

    ``need`` says what must be published before the stage may start:

    * ``"every"``: at least one partition, and every date in ``dates`` that has a published ``papers``
      partition (a digest) must have one (per-paper tables derived from papers: paper_terms, embeddings);
    * ``"any"``: at least one partition among ``dates``;
    * ``"optional"``: nothing (the stage copes without it, e.g. term sets without keyword_trends).

    ``handoff``: this read may be served from the run's hand-off (the table kept in Spark's cache since
    the stage that published it). ``False`` for a window of a large table (paper_terms' lookback): a
    pruned read of the window's Parquet files is cheaper than caching every row of the run for it
    (BENCHMARKS.md, session 20). A table is kept only if a later read of this run allows it.
    """

    table: str
    dates: DatesFn = run_dates
    scope: str = "the run's dates"  # how ``dates`` reads, for docs and --help
    need: Literal["every", "any", "optional"] = "any"
    column: str = "digest_date"
    handoff: bool = True


@dataclass(frozen=True)
class Stage:
    """The one declaration of a stage."""

    name: str
    doc: str  # first line: the CLI command's one-line help; the rest: docs and Airflow task docs
    reads: tuple[Read, ...]
    writes: tuple[str, ...]
    run: Callable[[RunContext, Any], StageReport]
    params: type | None = None  # a frozen dataclass of digestflow.params.param fields
    # "range": --date D / --start A --end B; "as_of": --as-of D (the run's last date, e.g. trends)
    dates: Literal["range", "as_of"] = "range"
    # checks beyond tables (the landing folder): (ctx, params) -> None, raising UserError; no Spark needed
    extra_inputs: Callable[[RunContext, Any], None] | None = None
    cli: Any = None  # optional digestflow.stages.StageCli: extra options/modes of its command
    # What the stage loads on first use that costs seconds in a fresh process (modules, lexicons): no
    # Spark, no tables. A run calls it on a background thread while earlier stages wait on the JVM.
    warm: Callable[[], None] | None = None
    # Its JVM work grows with the input enough that the full JIT (C2) pays for its compile time above
    # spark.C1_ONLY_MAX_BYTES of landing files (terms; BENCHMARKS.md). A run without such a stage keeps
    # C1 whatever its size: ingest alone at 100x spent 11 CPU-s in C2's compiler threads for nothing.
    full_jit: bool = False

    @property
    def summary(self) -> str:
        """The doc's first paragraph on one line (the command's short help)."""
        first = self.doc.strip().split("\n\n", 1)[0]
        return " ".join(line.strip() for line in first.splitlines())

    @property
    def module(self) -> str:
        return self.run.__module__


def producers(stages: Iterable[Stage]) -> dict[str, str]:
    """table → the stage that writes it."""
    out: dict[str, str] = {}
    for s in stages:
        for t in s.writes:
            if t in out:
                raise ValueError(f"table {t!r} is written by both {out[t]!r} and {s.name!r}")
            out[t] = s.name
    return out


def upstream(stages: Sequence[Stage]) -> dict[str, list[str]]:
    """stage → the stages whose tables it reads (in declaration order)."""
    made_by = producers(stages)
    names = [s.name for s in stages]
    out = {}
    for s in stages:
        ups = {made_by[r.table] for r in s.reads if r.table in made_by and made_by[r.table] != s.name}
        out[s.name] = [n for n in names if n in ups]
    return out


def run_order(stages: Sequence[Stage]) -> list[str]:
    """A topological order of the stages (ties keep declaration order); a cycle is an error."""
    ups = upstream(stages)
    done: list[str] = []
    pending = [s.name for s in stages]
    while pending:
        ready = [n for n in pending if all(u in done for u in ups[n])]
        if not ready:
            raise ValueError(f"the stage graph has a cycle among {pending}")
        done.append(ready[0])
        pending.remove(ready[0])
    return done


# ------------------------------------------------------------------------------------ run context


@dataclass
class RunContext:
    """What every stage of one run shares: session, settings, the date range and the run's identity."""

    spark: SparkSession
    settings: Settings
    start: dt.date
    end: dt.date
    gate: Gate | None = None  # None: publish without validating (settings.validate must be False)
    params: Mapping[str, Any] = field(default_factory=dict)  # stage name → its parameter object
    run_id: str = field(default_factory=storage.new_run_id)
    today: dt.date = field(default_factory=lambda: dt.datetime.now(dt.UTC).date())
    started_at: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC))
    reports: list[StageReport] = field(default_factory=list)
    blocked_tables: set[str] = field(default_factory=set)  # tables the gate blocked partitions of
    # Hand-off: tables published earlier in this run, kept (persisted) with the partitions that passed,
    # so a later stage reads them from memory instead of re-reading hundreds of small Parquet files.
    handoff: set[str] = field(default_factory=set)  # tables to keep (run_stages: those a later stage reads)
    _kept: dict[str, tuple[DataFrame, set[str]]] = field(default_factory=dict)
    # Parts of one stage may publish from several threads (side_by_side) into one report.
    _report_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def dates(self) -> list[dt.date]:
        return [self.start + dt.timedelta(days=i) for i in range((self.end - self.start).days + 1)]

    @property
    def warehouse(self) -> str:
        return self.settings.warehouse

    def read(self, table: str, partitions: Sequence[storage.Partition] | None = None) -> DataFrame:
        """``table`` (all of it, or the listed partitions that exist), from this run's hand-off when this
        run published every partition asked for, else from the warehouse."""
        kept = self._kept.get(table)
        if kept is not None:
            df, published = kept
            if partitions is None:
                on_disk = {storage.partition_relpath(p) for p in storage.listed_partitions(self.warehouse, table)}
                if on_disk <= published:
                    return _only(df, table, storage.listed_partitions(self.warehouse, table))
            else:
                wanted = {storage.partition_relpath(p) for p in partitions}
                if wanted <= published:
                    existing = storage.existing_partitions(self.warehouse, table, partitions)
                    return _only(df, table, existing)
        return storage.read_table(self.spark, self.warehouse, table, partitions)

    def release(self, table: str) -> None:
        """Drop a table from the hand-off (no later stage reads it)."""
        kept = self._kept.pop(table, None)
        if kept is not None:
            kept[0].unpersist()

    def publish(
        self, table: str, df: DataFrame, owned: Sequence[storage.Partition], report: StageReport,
        clustered: bool = False,
    ) -> storage.PublishReport:
        """Stage ``df``, audit it with the table's suite (unless disabled), publish what passed.
        ``clustered``: every partition's rows are in one task of ``df`` already (:func:`storage.write_staged`)."""
        keep = table in self.handoff
        if keep:
            from pyspark import StorageLevel

            from digestflow import schemas

            self.release(table)
            df = df.select(*schemas.load(table).names).persist(StorageLevel.MEMORY_AND_DISK)
        staged = storage.write_staged(df, table, self.warehouse, self.run_id, owned, clustered)
        passing: Sequence[storage.Partition] | None = None
        if self.settings.validate:
            if self.gate is None:
                raise RuntimeError("settings.validate is on but the run context has no gate (runner.make_context)")
            verdict = self.gate.audit(self, staged)
            passing = verdict.passed
            with self._report_lock:
                report.blocked.extend(verdict.messages)
            if verdict.messages:
                self.blocked_tables.add(table)
        result = storage.publish(staged, self.warehouse, passing)
        with self._report_lock:
            report.partitions += result.published
        if keep:
            done = owned if passing is None else passing
            self._kept[table] = (df, {storage.partition_relpath(p) for p in done})
        return result

    def record(self, report: StageReport) -> None:
        self.reports.append(report)
        storage.write_log_rows(
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
        log.debug(report.summary())


def side_by_side(ctx: RunContext, *calls: Callable[[], Any]) -> list[Any]:
    """Inside a stage: call each of ``calls`` on its own thread, at most ``ctx.settings.concurrent_stages``
    at a time (one after another when that is 1), and return their results in order. For independent
    chains of small Spark jobs and publishes (the marts), which mostly wait on the driver; they may
    publish into the stage's one report (:meth:`RunContext.publish` updates it under a lock). All calls
    end before the first error is raised."""
    from concurrent.futures import ThreadPoolExecutor

    width = max(1, min(ctx.settings.concurrent_stages, len(calls)))
    with ThreadPoolExecutor(max_workers=width, thread_name_prefix="digestflow-part") as pool:
        futures = [pool.submit(call) for call in calls]
    return [f.result() for f in futures]


def _only(df: DataFrame, table: str, partitions: Sequence[storage.Partition]) -> DataFrame:
    """The rows of ``df`` in the listed partitions (of the table's partition columns)."""
    from functools import reduce

    from pyspark.sql import functions as F

    if not partitions:
        return df.limit(0)
    cols = list(partitions[0])
    if len(cols) == 1:
        return df.where(in_list(cols[0], [p[cols[0]] for p in partitions]))
    first, rest = cols[0], cols[1:]
    groups: dict[Any, list[storage.Partition]] = {}
    for p in partitions:
        groups.setdefault(tuple(p[c] for c in rest), []).append(p)
    conds = [
        reduce(lambda a, b: a & b, [F.col(c) == F.lit(v) for c, v in zip(rest, key, strict=True)])
        & in_list(first, [p[first] for p in group])
        for key, group in groups.items()
    ]
    return df.where(reduce(lambda a, b: a | b, conds))


def in_list(column: str, values: Sequence[Any]) -> Column:
    """``column IN (values)`` as one SQL expression: one py4j call, where ``Column.isin`` makes one per
    value (0.6–0.9 s for the 521 dates of the dev corpus, paid on the driver before each stage starts).
    For partition values and for the lists of terms and paper ids the stages filter by; values of other
    types than a date, an int or a string keep ``isin``. No values: no row matches (SQL has no empty
    ``IN ()``)."""
    from pyspark.sql import functions as F

    if not values:
        return F.lit(False)
    literals = [_sql_literal(v) for v in values]
    if None in literals:
        return F.col(column).isin(*values)
    name = "`" + column.replace("`", "``") + "`"
    return F.expr(f"{name} IN ({', '.join(literals)})")


def _sql_literal(value: Any) -> str | None:
    """A Spark SQL literal of a date, a string or an int (backslash escapes, as Spark SQL reads them), else
    None."""
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        return f"DATE'{value.isoformat()}'"
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if isinstance(value, str):
        return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"
    return None


# ------------------------------------------------------------------------------------ input checks


def published_dates(warehouse: str, table: str, column: str = "digest_date") -> set[dt.date]:
    """Dates with a published partition of ``table`` (any value of its other partition columns)."""
    root = storage.local_path(storage.table_dir(warehouse, table))
    found: set[dt.date] = set()
    if not root.is_dir():
        return found
    prefix = f"{column}="
    for folder in _partition_folders(root):
        if folder.name.startswith(prefix):
            try:
                found.add(dt.date.fromisoformat(folder.name[len(prefix):]))
            except ValueError:
                continue
    return found


def _partition_folders(root: Path) -> Iterable[Path]:
    for child in root.iterdir():
        if child.is_dir() and "=" in child.name:
            yield child
            yield from (g for g in child.iterdir() if g.is_dir() and "=" in g.name)


def span(dates: Sequence[dt.date]) -> str:
    first, last = min(dates), max(dates)
    return first.isoformat() if first == last else f"{first}..{last}"


def check_inputs(ctx: RunContext, stage: Stage, params: Any, made_by: Mapping[str, str]) -> None:
    """Raise :class:`InputsMissing` when a declared input is not published for the dates the stage needs."""
    if stage.extra_inputs is not None:
        stage.extra_inputs(ctx, params)
    papers: set[dt.date] | None = None
    for read in stage.reads:
        if read.need == "optional":
            continue
        dates = read.dates(ctx, params)
        if not dates:
            continue
        have = published_dates(ctx.warehouse, read.table, read.column) & set(dates)
        maker = made_by.get(read.table)
        how = f"digestflow {maker}" if maker else "the stage that writes it"
        if not have:  # "every" implies "any": a stage never runs on nothing
            raise InputsMissing(f"no {read.table} for {span(dates)}: run {how} first", read.table)
        if read.need == "every":
            if papers is None:
                papers = published_dates(ctx.warehouse, "papers")
            missing = sorted((papers & set(dates)) - have)
            if missing:
                what = span(missing) if len(missing) > 1 else missing[0].isoformat()
                raise InputsMissing(
                    f"no {read.table} for {len(missing)} digest date(s) in {span(dates)} ({what}): "
                    f"run {how} --start {missing[0]} --end {missing[-1]} first",
                    read.table,
                )


# ------------------------------------------------------------------------------------ running


def run_stages(
    ctx: RunContext,
    stages: Sequence[Stage],
    made_by: Mapping[str, str],
    on_report: Callable[[StageReport], None] | None = None,
) -> list[StageReport]:
    """Run the stages, each after the stages of this run whose tables it reads and after checking its
    inputs, independent ones side by side (:func:`_run_graph`); raise :class:`GateFailed` at the end if
    any gate blocked data.

    A stage whose inputs are missing only because the gate blocked them earlier in this run is skipped
    (the run then ends with :class:`GateFailed`); any other missing input raises :class:`InputsMissing`.
    ``made_by`` (table → stage) names the command that makes a missing table; ``on_report`` is called
    with each stage's report as soon as it is recorded (the CLI prints it)."""
    gate = ctx.gate if ctx.settings.validate else None
    if gate is not None:
        gate.begin(ctx)
    warm_in_background(stages, gate)
    # Keep a table in memory from the stage that writes it to the last stage of this run that reads it.
    if ctx.settings.handoff:
        ctx.handoff |= handoff_tables(stages)
    reports = []
    try:
        reports = _run_graph(ctx, stages, made_by, on_report)
    finally:
        for table in list(ctx._kept):
            ctx.release(table)
        if gate is not None:
            gate.finish(ctx)
    blocked = [m for r in reports for m in r.blocked]
    if blocked:
        raise GateFailed("\n".join(blocked))  # staging kept for inspection; `digestflow gc` removes it
    storage.clean_staging(ctx.warehouse, ctx.run_id)
    storage.compact_logs(ctx.warehouse)  # one merge per log partition every ~64 runs
    return reports


def warm_in_background(stages: Sequence[Stage], gate: Gate | None = None) -> threading.Thread | None:
    """Call the gate's ``warm`` and then each stage's, in stage order, on one daemon thread; None when
    there is nothing to warm.

    The driver spends most of a stage waiting on the JVM (py4j releases the GIL), so what the gate and
    later stages would load on first use (Great Expectations, ~4.5 s; trends: scipy, the word-frequency
    and word-class lexicons, ~2.5 s cold) is ready when they start. The gate comes first: it is needed at
    the end of the first stage. A failure here is only logged: the gate or stage loads the same things
    itself and raises where it belongs. Module imports and the lexicons' caches are safe to fill from two
    threads (the GE context is built under its own lock).
    """
    warms = [("the gate", gate.warm)] if gate is not None else []
    warms += [(f"stage {s.name}", s.warm) for s in stages if s.warm is not None]
    if not warms:
        return None

    def run() -> None:
        for name, warm in warms:
            try:
                warm()
            except Exception:
                log.debug("warming %s failed; it will load on first use", name, exc_info=True)

    thread = threading.Thread(target=run, name="digestflow-warmup", daemon=True)
    thread.start()
    return thread


def last_readers(stages: Sequence[Stage]) -> dict[str, int]:
    """table → index of the last stage in ``stages`` with a read of it that the hand-off may serve."""
    return {read.table: i for i, stage in enumerate(stages) for read in stage.reads if read.handoff}


def handoff_tables(stages: Sequence[Stage]) -> set[str]:
    """The tables a run of ``stages`` keeps in memory: written by one stage, read (hand-off allowed) by
    a later one."""
    last = last_readers(stages)
    return {t for i, s in enumerate(stages) for t in s.writes if last.get(t, -1) > i}


def _run_graph(
    ctx: RunContext,
    stages: Sequence[Stage],
    made_by: Mapping[str, str],
    on_report: Callable[[StageReport], None] | None,
) -> list[StageReport]:
    """Run each stage as soon as every stage of this run whose tables it reads has finished, at most
    ``ctx.settings.concurrent_stages`` at a time, each on its own thread (one Spark session: its
    scheduler takes jobs from several threads). Reports come back in ``stages``' order.

    With one stage at a time this is the old sequential run, in ``stages``' order. After a stage fails,
    none starts; the ones already running finish (their publishes are atomic), then the first failure
    is raised. Interrupted (Ctrl-C), the run cancels its Spark jobs and waits for its threads.
    """
    from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait

    ups = upstream(stages)
    # A kept table is released once every stage of this run that may read it from the hand-off is done.
    readers: dict[str, set[str]] = {}
    for stage in stages:
        for read in stage.reads:
            if read.handoff:
                readers.setdefault(read.table, set()).add(stage.name)
    width = max(1, ctx.settings.concurrent_stages)
    pending = list(stages)
    running: dict[Future[StageReport], Stage] = {}
    done: dict[str, StageReport] = {}
    failure: BaseException | None = None
    with ThreadPoolExecutor(max_workers=width, thread_name_prefix="digestflow-stage") as pool:
        try:
            while pending or running:
                while failure is None and len(running) < width:
                    ready = next((s for s in pending if all(u in done for u in ups[s.name])), None)
                    if ready is None:
                        break
                    pending.remove(ready)
                    running[pool.submit(_run_one, ctx, ready, made_by)] = ready
                if not running:
                    break
                finished, _ = wait(running, return_when=FIRST_COMPLETED)
                for future in sorted(finished, key=lambda f: stages.index(running[f])):
                    stage = running.pop(future)
                    try:
                        report = future.result()
                    except Exception as exc:  # raised below, after the running stages end
                        failure = failure or exc
                        continue
                    ctx.record(report)
                    done[stage.name] = report
                    if on_report is not None:
                        on_report(report)
                    for table in [t for t in ctx._kept if readers.get(t, set()) <= done.keys()]:
                        ctx.release(table)
        except BaseException:
            # Ctrl-C: cancel the running stages' jobs, and the next ones they start, until they end.
            while running and ctx.spark is not None and not all(f.done() for f in running):
                ctx.spark.sparkContext.cancelAllJobs()
                wait(running, timeout=0.25)
            raise
    if failure is not None:
        raise failure
    return [done[s.name] for s in stages if s.name in done]


def _run_one(ctx: RunContext, stage: Stage, made_by: Mapping[str, str]) -> StageReport:
    """Check one stage's inputs and run it (on a stage thread of :func:`_run_graph`); time it."""
    params = ctx.params.get(stage.name) or _default_params(stage)
    t0 = time.perf_counter()
    try:
        check_inputs(ctx, stage, params, made_by)
    except InputsMissing as exc:
        if exc.table not in ctx.blocked_tables:
            raise
        report = StageReport(stage.name, details={"skipped": str(exc)})
    else:
        report = stage.run(ctx, params)
    report.seconds = time.perf_counter() - t0
    return report


def _default_params(stage: Stage) -> Any:
    if stage.params is None:
        return None
    from digestflow.params import load

    return load(stage.params)
