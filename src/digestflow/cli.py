"""``digestflow``: one command line for people, Airflow, docker-compose and tests alike."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from digestflow.settings import Settings

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


def range_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    """--date / --start / --end, plus the settings every Spark command shares."""
    options = [
        click.option("--date", "date", type=DATE, help="One digest date (YYYY-MM-DD)."),
        click.option("--start", type=DATE, help="First date of a range (with --end)."),
        click.option("--end", type=DATE, help="Last date of a range, inclusive."),
        click.option("--landing", help="Landing folder with digest files [DIGESTFLOW_LANDING, data/landing]."),
        click.option("--warehouse", help="Warehouse root [DIGESTFLOW_WAREHOUSE, data/warehouse]."),
        click.option("--master", help="Spark master, e.g. local[2] or spark://host:7077 [SPARK_MASTER, local[*]]."),
        click.option(
            "--no-validate", is_flag=True, default=False, help="Skip the validation gate (not for production)."
        ),
    ]
    for option in reversed(options):
        fn = option(fn)
    return fn


def _settings(landing: str | None, warehouse: str | None, master: str | None, no_validate: bool) -> Settings:
    return Settings().replace(
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
    """Show the effective settings and the environment variable behind each."""
    current = Settings()
    for name, env in Settings.ENV_VARS.items():
        click.echo(f"{name:20} {getattr(current, name)!s:30} ${env}")


@main.command()
def warmup() -> None:
    """Build the JVM class-data-sharing archive that makes local Spark start ~2x faster (run once)."""
    from digestflow.spark import warm_up

    click.echo(f"CDS archive: {warm_up(Settings())}")


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
def _spark(settings_: Settings, days: int | None = None) -> Iterator[SparkSession]:
    """This command's SparkSession: its own application (stopped at the end), or, inside a stage server
    (``digestflow serve``), the server's warm one, which must run the master the settings ask for."""
    from digestflow.server import shared_session

    shared = shared_session()
    if shared is not None:
        if shared.sparkContext.master != settings_.spark_master:
            raise click.ClickException(
                f"the stage server runs {shared.sparkContext.master}, this command wants {settings_.spark_master}"
            )
        shared.conf.set("spark.sql.shuffle.partitions", str(settings_.shuffle_partitions))
        yield shared
        return
    from digestflow.spark import build_session

    spark = build_session(settings_, days=days)
    try:
        yield spark
    finally:
        spark.stop()


def _run(stage_names: list[str], date: Any, start: Any, end: Any, settings_: Settings) -> None:
    from digestflow.pipeline import GateFailed, RunContext, run_stages

    first, last = _date_range(date, start, end)
    with _spark(settings_, days=(last - first).days + 1) as spark:
        ctx = RunContext(spark=spark, settings=settings_, start=first, end=last)
        try:
            # A stage bar on stderr (shows the running stage on a terminal; only the label when piped).
            with click.progressbar(
                stage_names, label="stages", file=sys.stderr, item_show_func=lambda name: name or "",
            ) as stages:
                reports = run_stages(ctx, stages)
        except GateFailed as exc:
            for report in ctx.reports:
                click.echo(report.summary())
            _echo_data_docs(settings_)
            raise click.ClickException(f"validation gate blocked publishing:\n{exc}") from exc
    # The row counts once, as the last lines (an Airflow task log ends with them).
    click.echo(f"run {ctx.run_id}: warehouse {Path(settings_.warehouse).absolute()}")
    _echo_data_docs(settings_)
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
    from digestflow.pipeline import available_stages

    _run(available_stages(), date, start, end, _settings(landing, warehouse, master, no_validate))


def _stage_command(name: str, help_text: str) -> None:
    @range_options
    def command(date: Any, start: Any, end: Any, landing: Any, warehouse: Any, master: Any, no_validate: bool) -> None:
        _run([name], date, start, end, _settings(landing, warehouse, master, no_validate))

    command.__doc__ = help_text
    main.command(name=name)(command)


_stage_command("ingest", "Parse landing files into papers and rejects (validated, then published).")
_stage_command("marts", "Rebuild the dashboard marts (daily_summary, trend_mart, erank_mart) for the dates.")
_stage_command("terms", "Extract candidate terms (1-3-grams per paper) of the dates' papers into paper_terms.")


@main.command()
@click.option("--as-of", "as_of", type=DATE, required=True, help="Run date: the last day of every target window.")
@click.option("--window", "windows", multiple=True,
              help="Target window, e.g. 7d; repeat for more [DIGESTFLOW_TRENDS_WINDOWS, 7d,28d].")
@click.option("--baseline", help="Baseline before each target window, e.g. 26w [DIGESTFLOW_TRENDS_BASELINE, 26w].")
@click.option("--show", is_flag=True, help="Then print the top rising, falling and new terms.")
@click.option("--show-only", is_flag=True, help="Only print the published as_of partition (no Spark, no recompute).")
@click.option("--top", type=int, default=15, show_default=True, help="Rows per list with --show.")
@click.option("--landing", help="Landing folder [DIGESTFLOW_LANDING].")
@click.option("--warehouse", help="Warehouse root [DIGESTFLOW_WAREHOUSE, data/warehouse].")
@click.option("--master", help="Spark master [SPARK_MASTER, local[*]].")
@click.option("--no-validate", is_flag=True, default=False, help="Skip the validation gate (not for production).")
def trends(
    as_of: Any, windows: tuple[str, ...], baseline: str | None, show: bool, show_only: bool, top: int,
    landing: Any, warehouse: Any, master: Any, no_validate: bool,
) -> None:
    """Keyword trends at --as-of: reads only the lookback's paper_terms (longest window + baseline) and
    writes the as_of partition of keyword_trends and term_stats (method: docs/trends.md)."""

    from digestflow.trends import TrendParams, parse_days

    settings_ = _settings(landing, warehouse, master, no_validate)
    names = [w.strip() for text in windows for w in text.split(",") if w.strip()]
    try:
        for text in [*names, *([baseline] if baseline else [])]:
            parse_days(text)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from exc
    if not show_only:
        if names:
            os.environ["DIGESTFLOW_TRENDS_WINDOWS"] = ",".join(names)
        if baseline:
            os.environ["DIGESTFLOW_TRENDS_BASELINE"] = baseline
        TrendParams.from_env()  # fail before Spark starts
        _run(["trends"], as_of, None, None, settings_)
    if show or show_only:
        _show_trends(settings_, as_of.date(), names or None, top)


def _show_trends(settings_: Settings, as_of: dt.date, windows: list[str] | None, top: int) -> None:
    import pandas as pd

    from digestflow import io as dfio
    from digestflow.trends import render_trends

    folder = dfio.table_dir(settings_.warehouse, "keyword_trends") / f"as_of={as_of.isoformat()}"
    files = sorted(folder.glob("*.parquet"))
    if not files:
        raise click.ClickException(f"no keyword_trends for as_of {as_of} under {folder.parent} (run without --show-only)")
    frame = pd.concat([pd.read_parquet(f) for f in files], ignore_index=True)
    frame["as_of"] = as_of
    click.echo(render_trends(frame, top=top, windows=windows), nl=False)


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
    settings_ = Settings().replace(warehouse=warehouse, spark_master=master)
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
@range_options
@click.option("--model", help="Embedder: hashing (default, offline) or minilm (needs the neural extra) [DIGESTFLOW_EMBED_MODEL].")
def embed(
    date: Any, start: Any, end: Any, landing: Any, warehouse: Any, master: Any, no_validate: bool, model: str | None
) -> None:
    """Embed the papers of the dates into ``embeddings`` (one partition per model and date)."""
    settings_ = _settings(landing, warehouse, master, no_validate).replace(embed_model=model)
    _run(["embed"], date, start, end, settings_)


@main.command()
@range_options
@click.option("--input", "input_file", type=click.Path(dir_okay=False, exists=True, path_type=Path),
              help="Measure the sets of this .parquet (vector + set columns) or .npy file instead of the warehouse.")
@click.option("--set-col", help="Set column of --input (default: 'set' if present, else one set per file).")
@click.option("--vector-col", default="vector", show_default=True, help="Vector column of --input.")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), help="Also write the rows to this .parquet file.")
@click.option("--at-n-m", type=int, help="Subsample size of erank_at_n [DIGESTFLOW_ERANK_AT_N_M, 8].")
@click.option("--gram-threshold", type=int, help="Sets above this many rows take the Gram route [20000].")
def erank(
    date: Any, start: Any, end: Any, landing: Any, warehouse: Any, master: Any, no_validate: bool,
    input_file: Path | None, set_col: str | None, vector_col: str, fmt: str, out: Path | None,
    at_n_m: int | None, gram_threshold: int | None,
) -> None:
    """Effective-rank statistics: of the day/week/month/term sets of the dates (→ erank_stats), or of
    the sets in one --input file (printed; --out writes them too)."""
    from digestflow.erank import ErankConfig

    overrides = {"at_n_m": at_n_m, "gram_threshold": gram_threshold}
    if input_file is None:
        for key, value in overrides.items():
            if value is not None:
                os.environ[f"DIGESTFLOW_ERANK_{key.upper()}"] = str(value)
        _run(["erank"], date, start, end, _settings(landing, warehouse, master, no_validate))
        return
    if date is not None or start is not None or end is not None:
        raise click.UsageError("--input measures a file: give no --date/--start/--end with it")
    from digestflow.erank import external_stats, render_stats, write_stats_file

    try:
        rows = external_stats(input_file, ErankConfig.from_env(**overrides), set_col=set_col, vector_col=vector_col)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(render_stats(rows, fmt), nl=False)
    if out is not None:
        write_stats_file(rows, out)
        click.echo(f"wrote {len(rows)} rows to {out}", err=True)


@main.command()
@click.argument("query")
@click.option("--warehouse", help="Warehouse root [DIGESTFLOW_WAREHOUSE].")
@click.option("--format", "fmt", type=click.Choice(["table", "csv", "json"]), default="table", show_default=True)
def sql(query: str, warehouse: str | None, fmt: str) -> None:
    """Run a read-only SQL QUERY with DuckDB over views of every table in the warehouse."""
    from digestflow import sql as sqlmod

    settings_ = Settings().replace(warehouse=warehouse)
    try:
        columns, rows = sqlmod.query(settings_.warehouse, query)
    except sqlmod.QueryRefused as exc:
        raise click.ClickException(str(exc)) from exc
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

    settings_ = Settings().replace(warehouse=warehouse)
    page = dash.write_dashboard(settings_.warehouse, out)
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
    from digestflow.pipeline import available_stages

    settings_ = Settings().replace(landing=str(landing), warehouse=str(warehouse), spark_master=master)
    _run(available_stages(), None, dt.datetime.combine(first, dt.time()), dt.datetime.combine(last, dt.time()), settings_)
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
    """Remove staging folders left behind by killed or blocked runs (never visible to readers)."""
    from digestflow import io as dfio

    settings_ = Settings().replace(warehouse=warehouse)
    removed = dfio.clean_stale_staging(settings_.warehouse, dt.timedelta(hours=older_than_hours))
    for path in removed:
        click.echo(f"removed {path}")
    click.echo(f"{len(removed)} stale staging folder(s) removed")


@main.command()
@click.option("--state", type=click.Path(dir_okay=False, path_type=Path), default=Path("data/stage-server.json"),
              show_default=True, help="File to write the address and token to (mode 0600); clients read it.")
@click.option("--port", type=int, default=0, show_default=True, help="TCP port on 127.0.0.1 (0: any free one).")
@click.option("--master", help="Spark master of the warm application [SPARK_MASTER, local[*]].")
def serve(state: Path, port: int, master: str | None) -> None:
    """Hold one warm Spark application and run the Spark commands of clients that set
    DIGESTFLOW_SERVER=<state file> (Airflow's tasks under `make airflow`). Stops on SIGTERM / Ctrl-C."""
    from digestflow.server import serve as run_server

    run_server(state, port, master)


def entry() -> None:
    """The ``digestflow`` console script: a Spark command goes to the stage server when
    ``DIGESTFLOW_SERVER`` names one that answers (see :mod:`digestflow.server`), else runs here."""
    argv = sys.argv[1:]
    if os.environ.get("DIGESTFLOW_SERVER"):
        from digestflow.server import delegate

        code = delegate(argv)
        if code is not None:
            sys.exit(code)
    main()


if __name__ == "__main__":
    entry()
