"""``digestflow``: one command line for people, Airflow, docker-compose and tests alike."""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import json
import logging
import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from digestflow import params as P
from digestflow.pipeline import Stage, UserError
from digestflow.settings import Settings
from digestflow.stages import STAGES

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

DATE = click.DateTime(formats=["%Y-%m-%d"])


def _date_range(date: Any, start: Any, end: Any, default_today: bool = False) -> tuple[dt.date, dt.date]:
    if date is not None:
        if start is not None or end is not None:
            raise click.UsageError("give either --date or --start/--end, not both")
        return date.date(), date.date()
    if start is None and end is None:
        if default_today:
            today = dt.datetime.now(dt.UTC).date()
            return today, today
        raise click.UsageError("give --date D or --start D --end D")
    if start is None or end is None:
        raise click.UsageError("--start and --end go together")
    if end < start:
        raise click.UsageError(f"--end {end.date()} is before --start {start.date()}")
    return start.date(), end.date()


def _apply(fn: Callable[..., Any], options: list[Callable[..., Any]]) -> Callable[..., Any]:
    for option in reversed(options):
        fn = option(fn)
    return fn


DATE_OPTIONS = [
    click.option("--date", "date", type=DATE, help="One digest date (YYYY-MM-DD)."),
    click.option("--start", type=DATE, help="First date of a range (with --end)."),
    click.option("--end", type=DATE, help="Last date of a range, inclusive."),
]
AS_OF_OPTIONS = [
    click.option("--as-of", "as_of", type=DATE, required=True, help="Run date: the last day of every target window."),
]
COMMON_OPTIONS = [
    click.option("--landing", help="Landing folder with digest files [DIGESTFLOW_LANDING, data/landing]."),
    click.option("--warehouse", help="Warehouse root [DIGESTFLOW_WAREHOUSE, data/warehouse]."),
    click.option("--master", help="Spark master, e.g. local[2] or spark://host:7077 [SPARK_MASTER, local[*]]."),
    click.option(
        "--no-validate", is_flag=True, default=False, help="Skip the validation gate (not for production)."
    ),
]


def range_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    """--date / --start / --end, plus the settings every Spark command shares."""
    return _apply(fn, DATE_OPTIONS + COMMON_OPTIONS)


def param_options(cls: type | None) -> list[Callable[..., Any]]:
    """One click option per parameter of ``cls`` that declares a flag (help shows its env var and default)."""
    if cls is None:
        return []
    options = []
    for info in P.infos(cls):
        if not info.flag:
            continue
        default = info.show(info.default) if info.default is not None else ""
        kind = info.parse if info.parse in (int, float) else str
        options.append(click.option(
            info.flag, info.name, multiple=info.multiple, type=kind,
            help=f"{info.help} [{info.env}, {default}]" if info.env else info.help,
        ))
    return options


def _settings(landing: str | None, warehouse: str | None, master: str | None, no_validate: bool) -> Settings:
    try:
        settings_ = Settings.from_env()
    except P.ParamError as exc:
        raise click.UsageError(str(exc)) from None
    return settings_.replace(
        landing=landing, warehouse=warehouse, spark_master=master, validate=False if no_validate else None
    )


def _setup_logging(verbose: bool) -> None:
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    logging.getLogger("digestflow").setLevel(logging.INFO)
    for noisy in ("py4j", "great_expectations", "pyspark"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.option("-v", "--verbose", is_flag=True, help="Log more.")
@click.version_option(package_name="digestflow")
def main(verbose: bool) -> None:
    """digestflow: paper digests → validated Parquet tables, keyword trends and effective-rank statistics.

    \b
    Typical use:
      digestflow run --landing data/landing --warehouse data/warehouse --start 2025-01-01 --end 2025-03-31
      digestflow sql "SELECT digest_date, count(*) FROM papers GROUP BY 1 ORDER BY 1"
    Settings come from DIGESTFLOW_* environment variables (see `digestflow settings`); flags override.
    """
    _setup_logging(verbose)


@main.command()
def settings() -> None:
    """Show the effective settings and stage parameters, and the environment variable behind each."""
    try:
        rows = [("", *r) for r in Settings.from_env().describe()]
        for stage in STAGES.values():
            if stage.params is not None:
                rows += [(stage.name, *r) for r in P.describe(P.load(stage.params, os.environ))]
    except P.ParamError as exc:
        raise click.UsageError(str(exc)) from None
    for stage, name, value, env in rows:
        label = f"{stage}.{name}" if stage else name
        click.echo(f"{label:28} {value:30} ${env}" if env else f"{label:28} {value}")


@main.command()
def warmup() -> None:
    """Build the JVM class-data-sharing archive that makes local Spark start ~2x faster (run once)."""
    from digestflow.spark import warm_up

    click.echo(f"CDS archive: {warm_up(Settings.from_env())}")


@main.command()
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--date", "run_date", type=DATE, help="Run date: gives the year when the file name has none.")
def parse(file: Path, run_date: Any) -> None:
    """Parse one digest FILE: papers as JSON lines on stdout, rejects as JSON lines on stderr.

    Exits 0 even when blocks were rejected; exits 2 when the file cannot be read.
    """
    from digestflow.parsing import parse_digest

    try:
        data = file.read_bytes()
    except OSError as exc:
        raise click.ClickException(f"cannot read {file}: {exc.strerror or exc}") from exc
    today = dt.datetime.now(dt.UTC).date()
    result = parse_digest(
        data, source=file.name, run_date=run_date.date() if run_date else today, latest_date=today
    )
    for paper in result.papers:
        click.echo(json.dumps(paper, default=str, ensure_ascii=False))
    for reject in result.rejects:
        click.echo(json.dumps(reject, default=str, ensure_ascii=False), err=True)
    if result.rejects:
        click.echo(
            f"{file}: {len(result.papers)} papers, {len(result.rejects)} rejected blocks (reasons above)",
            err=True,
        )


@contextlib.contextmanager
def _spark(settings_: Settings, days: int | None = None, input_bytes: int | None = None) -> Iterator[SparkSession]:
    """This command's SparkSession (see :func:`digestflow.session.spark_session`)."""
    from digestflow.session import spark_session

    try:
        with spark_session(settings_, days=days, input_bytes=input_bytes) as spark:
            yield spark
    except UserError as exc:
        raise click.ClickException(str(exc)) from None


def _load_params(stage: Stage, flags: dict[str, Any]) -> Any:
    if stage.params is None:
        return None
    try:
        return P.load(stage.params, os.environ, **flags)
    except P.ParamError as exc:
        raise click.UsageError(str(exc)) from None


def _run(stages: list[Stage], first: dt.date, last: dt.date, settings_: Settings,
         params: dict[str, Any] | None = None) -> None:
    """Run ``stages`` over [first, last] in one Spark application; user errors end as ``Error: …``."""
    from digestflow.pipeline import GateFailed, RunContext, check_inputs, producers
    from digestflow.runner import make_context, run

    params = {s.name: params.get(s.name) if params else None for s in stages}
    for stage in stages:
        if params[stage.name] is None:
            params[stage.name] = _load_params(stage, {})
    # Inputs this run does not make itself are checked before Spark starts.
    made_by = producers(STAGES.values())
    in_run = {t for s in stages for t in s.writes}
    probe = RunContext(spark=None, settings=settings_, start=first, end=last)  # type: ignore[arg-type]
    try:
        for stage in stages:
            outside = dataclasses.replace(stage, reads=tuple(r for r in stage.reads if r.table not in in_run))
            check_inputs(probe, outside, params[stage.name], made_by)
    except UserError as exc:
        raise click.ClickException(str(exc)) from None
    from digestflow.landing import landing_bytes

    # The size of the dates' landing files picks the JIT mode (spark.jvm_options), when a stage of the
    # run wants the full JIT for big inputs; else size 0 keeps C1.
    size = landing_bytes(settings_.landing, first, last) if any(s.full_jit for s in stages) else 0
    with _spark(settings_, days=(last - first).days + 1, input_bytes=size) as spark:
        ctx = make_context(spark, settings_, first, last, params=params)
        try:
            run(ctx, [s.name for s in stages], on_report=_progress)
        except GateFailed as exc:
            _echo_data_docs(settings_)
            _echo_counts(ctx.reports)
            raise click.ClickException(f"validation gate blocked publishing:\n{exc}") from exc
        except UserError as exc:
            _echo_counts(ctx.reports)
            raise click.ClickException(str(exc)) from None
    click.echo(f"run {ctx.run_id}: warehouse {Path(settings_.warehouse).absolute()}")
    _echo_data_docs(settings_)
    _echo_counts(ctx.reports)  # the row counts once, as the last lines (an Airflow task log ends with them)


def _progress(report: Any) -> None:
    """A stage finished: one progress line on stderr (its row counts come once, at the end)."""
    click.echo(f"[{report.stage} done in {report.seconds:.1f}s]", err=True)


def _echo_counts(reports: list[Any]) -> None:
    for report in reports:
        click.echo(report.summary())


def _echo_data_docs(settings_: Settings) -> None:
    """Where the validation gate's Data Docs are (only when the gate ran in this process)."""
    if settings_.validate and "digestflow.validate" in sys.modules:
        from digestflow.validate import docs_dir

        index = docs_dir(settings_.warehouse) / "index.html"
        if index.is_file():
            click.echo(f"data docs: {index}")


@main.command()
@range_options
def run(date: Any, start: Any, end: Any, landing: Any, warehouse: Any, master: Any, no_validate: bool) -> None:
    """Every stage, in order, in one Spark application (ingest → … → marts)."""
    first, last = _date_range(date, start, end)
    _run(list(STAGES.values()), first, last, _settings(landing, warehouse, master, no_validate))


def stage_command(stage: Stage) -> click.Command:
    """``digestflow <stage>``, built from the stage's declaration: its dates (a range, or --as-of), the
    shared settings options, one option per parameter flag, and the stage's own extra options."""
    param_names = [i.name for i in P.infos(stage.params)] if stage.params else []
    extra = stage.cli.extra if stage.cli else ()

    def command(**kwargs: Any) -> None:
        settings_ = _settings(kwargs.pop("landing"), kwargs.pop("warehouse"), kwargs.pop("master"),
                              kwargs.pop("no_validate"))
        if stage.dates == "as_of":
            as_of = kwargs.pop("as_of")
            first = last = as_of.date()
            given = (first, last)
        else:
            date, start, end = kwargs.pop("date"), kwargs.pop("start"), kwargs.pop("end")
            given = (None if date is None and start is None else (date or start).date(),
                     None if date is None and end is None else (date or end).date())
            first = last = None
        flags = {n: kwargs.pop(n) for n in param_names if n in kwargs}
        flags = {k: v for k, v in flags.items() if v is not None and v != ()}
        extras = {n: kwargs.pop(n) for n in extra}
        params = _load_params(stage, flags)
        if stage.cli and stage.cli.before is not None:
            try:
                if stage.cli.before(settings_, params, flags, start=given[0], end=given[1], **extras):
                    return
            except UserError as exc:
                raise click.ClickException(str(exc)) from None
        if stage.dates != "as_of":
            first, last = _date_range(date, start, end)
        _run([stage], first, last, settings_, {stage.name: params})
        if stage.cli and stage.cli.after is not None:
            try:
                stage.cli.after(settings_, params, flags, start=first, end=last, **extras)
            except UserError as exc:
                raise click.ClickException(str(exc)) from None

    options = (AS_OF_OPTIONS if stage.dates == "as_of" else DATE_OPTIONS)
    options = options + param_options(stage.params) + list(stage.cli.options if stage.cli else ()) + COMMON_OPTIONS
    command.__doc__ = stage.doc
    return click.command(name=stage.name, help=_help(stage))(_apply(command, options))


def _help(stage: Stage) -> str:
    reads = ", ".join(f"{r.table} ({r.scope})" for r in stage.reads if r.need != "optional") or "landing files"
    return f"{stage.summary}\n\nReads {reads}; writes {', '.join(stage.writes)}."


for _stage in STAGES.values():
    main.add_command(stage_command(_stage))


@main.command()
@click.option("--table", required=True, help="Table to re-audit, e.g. papers (its suite has the same name).")
@click.option("--date", "date", type=DATE, help="One digest date (YYYY-MM-DD).")
@click.option("--start", type=DATE, help="First date of a range (with --end).")
@click.option("--end", type=DATE, help="Last date of a range, inclusive; also the suite's run_end.")
@click.option("--warehouse", help="Warehouse root [DIGESTFLOW_WAREHOUSE, data/warehouse].")
@click.option("--master", help="Spark master [SPARK_MASTER, local[*]].")
def validate(table: str, date: Any, start: Any, end: Any, warehouse: Any, master: Any) -> None:
    """Re-audit published partitions of TABLE with its suite (one GE run for all of them).

    Writes validation_results rows and Data Docs; exits 1 when a critical expectation fails (warnings
    are printed, exit 0). Publishing is untouched: this reads what readers see now.
    """
    from digestflow import schemas
    from digestflow import validate as gate

    if table not in schemas.tables():
        raise click.UsageError(f"unknown table {table!r}; known: {', '.join(schemas.tables())}")
    first, last = _date_range(date, start, end)
    settings_ = Settings.from_env().replace(warehouse=warehouse, spark_master=master)
    with _spark(settings_) as spark:
        outcome = gate.validate_published(spark, settings_.warehouse, table, first, last)
    for part in outcome.partitions:
        state = "BLOCKED" if part.blocked else ("warning" if part.failures else "ok")
        click.echo(f"{table} {part.label}: {state} ({part.rows} rows, {len(part.failures)} failed)")
    for part in outcome.warned:
        click.echo(f"{table} {part.label}: warnings: " + "; ".join(f.describe() for f in part.failures))
    if not outcome.partitions:
        click.echo(f"{table}: no published data for {first}..{last}")
    if outcome.docs_index is not None:
        click.echo(f"data docs: {outcome.docs_index}")
    if outcome.blocked:
        messages = "\n".join(gate.block_message(table, p, None) for p in outcome.blocked)
        raise click.ClickException(f"{len(outcome.blocked)} partition(s) fail critical expectations:\n{messages}")


@main.command()
@click.argument("query")
@click.option("--warehouse", help="Warehouse root [DIGESTFLOW_WAREHOUSE].")
@click.option("--format", "fmt", type=click.Choice(["table", "csv", "json"]), default="table", show_default=True)
def sql(query: str, warehouse: str | None, fmt: str) -> None:
    """Run a read-only SQL QUERY with DuckDB over views of every table in the warehouse."""
    from digestflow import sql as sqlmod

    settings_ = Settings.from_env().replace(warehouse=warehouse)
    import duckdb

    try:
        columns, rows = sqlmod.query(settings_.warehouse, query)
    except (sqlmod.QueryRefused, sqlmod.OutdatedLayout, duckdb.Error) as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(sqlmod.render(columns, rows, fmt), nl=False)


@main.command()
@click.option("--engine", type=click.Choice(["duckdb", "trino", "spark"]), default="trino", show_default=True)
@click.option("--warehouse", help="Substitute ${warehouse} with this location (e.g. s3a://bucket/warehouse).")
@click.option("--write", is_flag=True, help="Regenerate every file under sql/ from schemas/ (all engines).")
def ddl(engine: str, warehouse: str | None, write: bool) -> None:
    """Print the SQL that points an engine at the warehouse (rendered from schemas/, as in sql/)."""
    from digestflow import sql as sqlmod

    if write:
        for path in sqlmod.write_rendered():
            click.echo(f"wrote {path}")
        return
    files = sqlmod.rendered_files()
    text = "\n".join(files[k] for k in sorted(files) if k.startswith(f"{engine}/"))
    click.echo(sqlmod.substitute(text, warehouse) if warehouse else text, nl=False)


@main.command()
@click.option("--warehouse", help="Warehouse root [DIGESTFLOW_WAREHOUSE].")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), required=True, help="HTML file to write.")
@click.option("--serve", is_flag=True, help="Then serve it on http://127.0.0.1:PORT/ until Ctrl-C.")
@click.option("--port", type=int, default=8050, show_default=True)
def dashboard(warehouse: str | None, out: Path, serve: bool, port: int) -> None:
    """Write one self-contained HTML page of interactive plots, read from the marts only."""
    from digestflow import dashboard as dash
    from digestflow import sql as sqlmod

    settings_ = Settings.from_env().replace(warehouse=warehouse)
    try:
        page = dash.write_dashboard(settings_.warehouse, out)
    except sqlmod.OutdatedLayout as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"dashboard: {page.absolute()}")
    if serve:
        server = dash.make_server(page, port)
        click.echo(f"serving on http://127.0.0.1:{server.server_address[1]}/ (Ctrl-C stops)")
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            pass
        finally:
            server.server_close()


@main.command()
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=Path("dist"), show_default=True,
              help="Folder for the zip.")
def bundle(out: Path) -> None:
    """Zip the library for Spark executors and print its path: spark-submit --py-files "$(digestflow bundle)"."""
    from digestflow.bundle import build_library_zip

    click.echo(build_library_zip(out))


@main.command("generate-sample")
@click.option("--days", type=int, default=60, show_default=True, help="Calendar days to generate.")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), required=True, help="Folder to write.")
@click.option("--start", type=DATE, default="2025-01-06", show_default=True, help="First calendar day.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--scale", type=float, default=1.0, show_default=True, help="Multiply papers per day.")
def generate_sample(days: int, out: Path, start: Any, seed: int, scale: float) -> None:
    """Write deterministic synthetic digests (the exact format, with planted trends) into OUT."""
    from digestflow.generate import generate_corpus, write_corpus

    paths = write_corpus(generate_corpus(days, start=start.date(), seed=seed, scale=scale), out)
    click.echo(f"wrote {len(paths)} digests to {out}")


@main.command()
@click.option("--days", type=int, default=84, show_default=True, help="Calendar days of synthetic digests.")
@click.option("--root", type=click.Path(file_okay=False, path_type=Path), default=Path("data/demo"), show_default=True)
@click.option("--master", help="Spark master [SPARK_MASTER, local[*]].")
def demo(days: int, root: Path, master: str | None) -> None:
    """Generate a synthetic landing folder, run every stage on it, show where the results are."""
    from digestflow.generate import generate_corpus, write_corpus

    digests = generate_corpus(days)
    landing, warehouse = root / "landing", root / "warehouse"
    write_corpus(digests, landing)
    first = min(d.digest_date for d in digests)
    last = max(d.digest_date for d in digests)
    click.echo(f"generated {len(digests)} synthetic digests in {landing}")
    settings_ = Settings.from_env().replace(landing=str(landing), warehouse=str(warehouse), spark_master=master)
    _run(list(STAGES.values()), first, last, settings_)
    from digestflow import sql as sqlmod

    example = "SELECT digest_date, count(*) AS papers FROM papers GROUP BY 1 ORDER BY 1 DESC LIMIT 5"
    columns, rows = sqlmod.query(str(warehouse), example)
    click.echo(f"\ntables under {warehouse.absolute()}:")
    for table in sorted(p.name for p in warehouse.iterdir() if p.is_dir() and not p.name.startswith("_")):
        click.echo(f"  {table:20} {warehouse.absolute() / table}")
    click.echo(f'\nexample: digestflow sql --warehouse {warehouse} "{example}"')
    click.echo(sqlmod.render(columns, rows, "table"), nl=False)


@main.command()
@click.option("--warehouse", help="Warehouse root [DIGESTFLOW_WAREHOUSE].")
@click.option(
    "--older-than-hours", type=float, default=24.0, show_default=True,
    help="Only staging of runs started longer ago than this (keep it above your longest run).",
)
def gc(warehouse: str | None, older_than_hours: float) -> None:
    """Remove staging folders left behind by killed or blocked runs (never visible to readers), and
    merge each partition of the log tables (validation_results, run_metrics) into one file."""
    from digestflow import storage

    settings_ = Settings.from_env().replace(warehouse=warehouse)
    removed = storage.clean_stale_staging(settings_.warehouse, dt.timedelta(hours=older_than_hours))
    for path in removed:
        click.echo(f"removed {path}")
    click.echo(f"{len(removed)} stale staging folder(s) removed")
    for table in storage.LOG_TABLES:
        merged = storage.compact_log(settings_.warehouse, table, min_files=2)
        for c in merged:
            click.echo(f"compacted {table}/{c.partition}: {c.files} files, {c.rows} rows -> {c.merged}")
        click.echo(f"{table}: {len(merged)} partition(s) compacted")


@main.command()
@click.option("--state", type=click.Path(dir_okay=False, path_type=Path), default=Path("data/stage-server.json"),
              show_default=True, help="File to write the address and token to (mode 0600); clients read it.")
@click.option("--port", type=int, default=0, show_default=True, help="TCP port on 127.0.0.1 (0: any free one).")
@click.option("--master", help="Spark master of the warm application [SPARK_MASTER, local[*]].")
def serve(state: Path, port: int, master: str | None) -> None:
    """Hold one warm Spark application and run the Spark commands of clients that set
    DIGESTFLOW_SERVER=<state file> (Airflow's tasks under `make airflow`). Stops on SIGTERM / Ctrl-C."""
    from digestflow.server import serve as run_server

    run_server(state, port, master, dispatch=run_command)


def run_command(argv: list[str]) -> int:
    """Run one ``digestflow`` command line in this process; its exit code as the shell would see it
    (the stage server's dispatch)."""
    import traceback

    try:
        main.main(args=argv, prog_name="digestflow", standalone_mode=False)
        return 0
    except click.exceptions.Exit as exc:
        return int(exc.exit_code)
    except click.ClickException as exc:
        exc.show()
        return int(exc.exit_code)
    except click.exceptions.Abort:
        print("Aborted!", file=sys.stderr)
        return 1
    except SystemExit as exc:  # sys.exit(None) is success, sys.exit("message") a failure
        return 0 if exc.code is None else exc.code if isinstance(exc.code, int) else 1
    except Exception:
        traceback.print_exc()
        return 1


def entry() -> None:
    """``python -m digestflow.cli``: the console script's path (:func:`digestflow.client.entry`)."""
    from digestflow.client import entry as client_entry

    client_entry()


if __name__ == "__main__":
    entry()
