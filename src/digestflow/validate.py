"""The validation gate: Great Expectations suites run on staged Spark data, in one batch per run.

A suite has two halves. The **structural** half (columns present, Spark types, non-null columns) is
generated from ``schemas/<table>.json``, so it is never written twice. The **semantic** half lives in
``expectations/<table>.json`` in GE's own suite format; each expectation carries GE's ``severity``:
``critical`` blocks the partition, ``warning`` is recorded and the partition publishes. Rules that need
more than one row (``position`` contiguous within a digest, ``paper_id`` unique within a digest) are
written against *derived columns* (Spark SQL window expressions declared in the suite's meta), so every
rule is a row-level rule whose offending rows carry their partition.

Why batch: GE's fixed cost per validation run (metric graph, a few Spark jobs per expectation) is paid
once for all partitions of a run. Small staged tables (row counts from the Parquet footers, up to
``PANDAS_MAX_ROWS``) are validated in-process by GE's pandas engine instead, which costs tens of
milliseconds per expectation instead of Spark jobs; the verdicts are the same (tests compare both
engines on planted faults). :func:`validate_frame` reads the whole staged table of the run, runs
the suite once (``BOOLEAN_ONLY``: only the bundled unexpected counts are computed); only when something
fails does it re-run the failing expectations with ``COMPLETE`` results and
``unexpected_index_column_names`` = partition + row-id columns, which names the bad partitions and gives
a few offending rows. Good partitions publish; bad ones stay in ``_staging/<run_id>/`` for inspection.
Table-level failures (a missing column, a wrong type) cannot be pinned to a partition and block all of
the run's partitions of that table.

Every audit appends one ``validation_results`` row per (suite, partition) and adds one GE result to the
Data Docs under ``<warehouse>/_data_docs/``, named by the digestflow run id (GE run name), the table
(data asset) and the partitions (batch id); the pages work offline (:mod:`digestflow.datadocs`). A run
can build the pages and the index once at its end (:func:`defer_docs`, :func:`build_docs`).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import itertools
import json
import logging
import os
import threading
import time
import urllib.parse
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from digestflow import schemas, storage
from digestflow.resources import resource_dir

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

    from digestflow.pipeline import RunContext
    from digestflow.storage import Staged

log = logging.getLogger("digestflow.validate")

SEVERITIES = ("critical", "warning")
UNPARTITIONED = "(unpartitioned)"
DOCS_DIR = "_data_docs"
#: Validation results the Data Docs index lists (newest first; ~15 days of a daily deployment's ~13
#: results a day, ~20 full runs of ten tables). Every stage command renders the index again, and GE's
#: view renders each listed result: ~0.2 s a build at 200, ~0.55 s at 500 (BENCHMARKS.md, session 36).
#: Older pages stay on disk, and the ``validation_results`` table keeps the whole history.
INDEX_LIMIT = 200
#: Offending rows kept per failed expectation and partition (in messages and details_json).
SAMPLE_ROWS = 3

ENGINES = ("spark", "pandas")
#: Staged tables up to this many rows (summed from the Parquet footers) are validated in-process by GE's
#: pandas engine: its cost is tens of milliseconds per expectation, where the Spark engine pays Spark
#: jobs whatever the row count. Larger tables stay on Spark (and off the driver's memory).
PANDAS_MAX_ROWS = 50_000

# ------------------------------------------------------------------------------------------ suites


@dataclass(frozen=True)
class SuiteSpec:
    """Everything needed to validate one table: GE expectation configs plus how to prepare the frame."""

    table: str
    expectations: tuple[dict[str, Any], ...]  # ExpectationConfiguration dicts, structural ones first
    derived_columns: Mapping[str, str]  # helper column → Spark SQL expression (window functions allowed)
    row_id_columns: tuple[str, ...]  # what identifies an offending row for a person
    partition_by: tuple[str, ...]
    engine: str = "spark"  # which GE execution engine the structural type names are written for

    @property
    def name(self) -> str:
        return self.table

    @property
    def one_pass(self) -> bool:
        """Only schema-level rules and not-null checks: GE's Spark engine answers these from the frame's
        schema plus one aggregate over its rows (the not-null counts of every column in one select)."""
        return not self.derived_columns and all(e["type"] in ONE_PASS_RULES for e in self.expectations)


#: Expectation types GE's Spark engine answers without reading rows (schema) or in one shared aggregate.
ONE_PASS_RULES = frozenset({
    "expect_table_columns_to_match_set", "expect_column_values_to_be_of_type", "expect_column_values_to_not_be_null",
})


def type_name(schema_type: str, engine: str = "spark") -> str:
    """The type name GE checks a column of ``schema_type`` against on ``engine`` (from the one column-type
    map, :data:`digestflow.schemas.TYPES`)."""
    if engine not in ENGINES:
        raise ValueError(f"unknown GE engine {engine!r}")
    return schemas.type_name(schema_type, "spark" if engine == "spark" else "ge_pandas")


def spark_type_name(schema_type: str) -> str:
    return type_name(schema_type, "spark")


def structural_expectations(
    schema: schemas.TableSchema, derived: Sequence[str] = (), engine: str = "spark"
) -> list[dict[str, Any]]:
    """Columns, types and nullability of ``schema`` as GE expectation configs (all critical).

    Derived helper columns are added to the expected column set because they are part of the validated
    frame; they never reach a table.
    """
    origin = {"origin": f"schemas/{schema.table}.json"}
    out: list[dict[str, Any]] = [
        {
            "type": "expect_table_columns_to_match_set",
            "kwargs": {"column_set": [*schema.names, *derived], "exact_match": True},
            "severity": "critical",
            "meta": origin,
        }
    ]
    for col in schema.columns:
        out.append(
            {
                "type": "expect_column_values_to_be_of_type",
                "kwargs": {"column": col.name, "type_": type_name(col.type, engine)},
                "severity": "critical",
                "meta": origin,
            }
        )
    for col in schema.columns:
        if not col.nullable:
            out.append(
                {
                    "type": "expect_column_values_to_not_be_null",
                    "kwargs": {"column": col.name},
                    "severity": "critical",
                    "meta": origin,
                }
            )
    return out


def load_suite(table: str, engine: str = "spark") -> SuiteSpec:
    """The suite of ``table``: generated structural rules + ``expectations/<table>.json`` (if present),
    the type rules written for GE's ``engine`` ("spark" or "pandas")."""
    schema = schemas.load(table)
    path = resource_dir("expectations") / f"{table}.json"
    raw: dict[str, Any] = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
    ours = raw.get("meta", {}).get("digestflow", {})
    derived = dict(ours.get("derived_columns", {}))
    semantic = list(raw.get("expectations", []))
    for exp in semantic:
        severity = exp.get("severity")
        if severity not in SEVERITIES:
            raise ValueError(
                f"{path}: expectation {exp.get('type')} has severity {severity!r}; give one of {SEVERITIES}"
            )
    row_id = tuple(ours.get("row_id_columns") or (*schema.partition_by, *schema.key))
    missing = [c for c in row_id if c not in schema.names]
    if missing:
        raise ValueError(f"{path}: row_id_columns {missing} are not columns of {table}")
    return SuiteSpec(
        table=table,
        expectations=tuple(structural_expectations(schema, list(derived), engine) + semantic),
        derived_columns=derived,
        row_id_columns=row_id,
        partition_by=schema.partition_by,
        engine=engine,
    )


def suite_parameters(start: dt.date, end: dt.date, today: dt.date) -> dict[str, Any]:
    """Values for ``{"$PARAMETER": …}`` in the suites: run dates and code-owned sets (never copied)."""
    from digestflow.parsing import REJECT_REASONS

    return {
        "run_start": start,
        "run_end": end,
        "today": today,
        "reject_reasons": sorted(REJECT_REASONS),
    }


def prepare(df: DataFrame, spec: SuiteSpec) -> DataFrame:
    """``df`` plus the suite's derived helper columns (pure: DataFrame in, DataFrame out)."""
    from pyspark.sql import functions as F

    if not spec.derived_columns:
        return df
    return df.withColumns({name: F.expr(expr) for name, expr in spec.derived_columns.items()})


# --------------------------------------------------------------------------------------- GE context


class _Gx:
    """One ephemeral GE context per process (import 2.5–5 s, context ~0.3 s): built once, reused.

    Suites are built once per (table, engine) and validated with ``Batch.validate``; results and suites
    are then kept in filesystem stores under each warehouse's Data Docs folder, which is what the index
    lists: every run's results, from every process, not only this one's (an in-memory store would also
    make GE delete the pages of earlier processes at each index build).
    """

    def __init__(self) -> None:
        os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
        import great_expectations as gx

        from digestflow import gx_speedups

        gx_speedups.apply()
        self.gx = gx
        self.context = gx.get_context(mode="ephemeral")
        self.context.variables.progress_bars = _progress_bars_off()
        self.sources = {
            "spark": self.context.data_sources.add_spark("digestflow", persist=False),
            "pandas": self.context.data_sources.add_pandas("digestflow-pandas"),
        }
        self._batch_definitions: dict[tuple[str, str], Any] = {}
        self._suites: dict[tuple[str, str], Any] = {}
        self._sites: dict[str, _Site] = {}
        self.lock = threading.Lock()

    def batch_definition(self, table: str, engine: str = "spark") -> Any:
        key = (table, engine)
        if key not in self._batch_definitions:
            asset = self.sources[engine].add_dataframe_asset(table)
            self._batch_definitions[key] = asset.add_batch_definition_whole_dataframe("staged")
        return self._batch_definitions[key]

    def suite(self, spec: SuiteSpec, name: str | None = None) -> Any:
        if name is not None:
            return self.suite_of(name, spec.expectations)
        key = (spec.table, spec.engine)
        if key not in self._suites:
            self._suites[key] = self.suite_of(spec.name, spec.expectations)
        return self._suites[key]

    def suite_of(self, name: str, expectations: Sequence[Mapping[str, Any]]) -> Any:
        from great_expectations.expectations.expectation_configuration import ExpectationConfiguration

        # Passed to the constructor, which keeps each as it is: add_expectation would compare every new
        # expectation with all earlier ones through pydantic dicts (0.65 s for a run's ten suites), and
        # add_expectation_configuration would even merge two of the same type on the same column (two
        # length ranges of different severity). Exact repeats, which add_expectation drops, are dropped here.
        built, seen = [], set()
        for exp in expectations:
            identity = json.dumps([exp["type"], exp["kwargs"], exp.get("severity", "critical")], sort_keys=True,
                                  default=str)
            if identity in seen:
                continue
            seen.add(identity)
            config = ExpectationConfiguration(
                type=exp["type"],
                kwargs=dict(exp["kwargs"]),
                meta=dict(exp.get("meta") or {}),
                severity=exp.get("severity", "critical"),
            )
            built.append(config.to_domain_obj())
        return self.gx.ExpectationSuite(name=name, expectations=built)

    def site(self, docs_dir: Path) -> _Site:
        """The Data Docs site of one folder, with its result and suite stores (several per process in tests)."""
        key = str(docs_dir.absolute())
        if key not in self._sites:
            self._sites[key] = _Site(self, Path(key), f"site{len(self._sites)}")
        return self._sites[key]


def _result_summary(value: Any) -> Any:
    """A stored validation result as a *summary*, for the Data Docs index.

    GE's index builder reads every listed result back to show its outcome and batch: through GE's own
    deserialiser (marshmallow) that is ~3.5 ms a result, 0.35-0.6 s for 169 results here, three quarters
    of a build (BENCHMARKS.md, session 34), paid by every stage command (in the stage server by every
    Airflow task) and up to ``INDEX_LIMIT`` times. The summary is the JSON parsed by the standard library
    (~0.1 ms) into a result with the same ``success``, ``statistics``, ``meta`` and suite name and no
    per-expectation results, which is all the index shows (tests/test_validate.py compares the page with
    GE's own build). The index reads the results through a second store on the same folder whose
    deserialiser is this (:class:`_Site`); pages go through GE's own.
    """
    from great_expectations.core.expectation_validation_result import ExpectationSuiteValidationResult

    data = json.loads(value) if isinstance(value, (str, bytes)) else value
    return ExpectationSuiteValidationResult(
        success=data.get("success"), results=[], suite_name=data.get("suite_name"),
        suite_parameters=data.get("suite_parameters"), statistics=data.get("statistics"), meta=data.get("meta"),
    )


class _Site:
    """``<warehouse>/_data_docs``: GE's HTML site plus the stores it renders (``_gx/validations``,
    ``_gx/expectations``, JSON). Pages are built only for the results given to :meth:`build`; the index
    lists the newest ``INDEX_LIMIT`` results that have a page."""

    def __init__(self, gx: _Gx, folder: Path, name: str) -> None:
        from great_expectations.render.renderer.site_builder import SiteBuilder

        self.folder = folder
        results, suites, summaries = f"{name}_results", f"{name}_suites", f"{name}_summaries"
        for store, cls, sub in ((results, "ValidationResultsStore", "validations"),
                                (summaries, "ValidationResultsStore", "validations"),
                                (suites, "ExpectationsStore", "expectations")):
            gx.context.add_store(store, {
                "class_name": cls,
                "store_backend": {"class_name": "TupleFilesystemStoreBackend",
                                  "base_directory": str(folder / "_gx" / sub)},
            })
        self.results = gx.context.stores[results]
        gx.context.stores[summaries].deserialize = _result_summary  # the same files, read for the index
        self.suites = gx.context.stores[suites]
        self._stored: dict[str, Any] = {}  # suite name -> the suite object this process last stored
        self.builder = SiteBuilder(
            data_context=gx.context,
            site_name="digestflow warehouse",  # the index header: "Data Docs | digestflow warehouse"
            store_backend={"class_name": "TupleFilesystemStoreBackend", "base_directory": str(folder)},
            site_index_builder={"class_name": "DefaultSiteIndexBuilder", "validation_results_limit": INDEX_LIMIT},
            show_how_to_buttons=False,
            site_section_builders={
                "expectations": {"source_store_name": suites},
                "validations": {"source_store_name": results},
                "profiling": "None",
            },
        )
        # The index reads the listed results (GE's index builder names its store in ``source_stores``)
        # through the summaries store: it shows each result's outcome only (:func:`_result_summary`).
        self.builder.site_index_builder.source_stores["validations"] = summaries
        self.listed = _ResultKeys(folder / "_gx" / RESULT_KEYS)

    def add(self, spec: SuiteSpec, suite: Any, result: Any, run_name: str, run_time: dt.datetime,
            labels: Sequence[str]) -> list[Any]:
        """Name ``result`` by the digestflow run, the table and the partitions it covers; store it and
        its suite. Returns the identifiers of the pages to build."""
        from great_expectations.core.run_identifier import RunIdentifier
        from great_expectations.data_context.types.resource_identifiers import (
            ExpectationSuiteIdentifier,
            ValidationResultIdentifier,
        )

        run_id = RunIdentifier(run_name=run_name, run_time=run_time)
        result.meta["run_id"] = run_id
        batch_spec = dict(result.meta.get("batch_spec") or {})
        batch_spec["data_asset_name"] = spec.table
        result.meta["batch_spec"] = batch_spec
        result.meta["digestflow"] = {"run_id": run_name, "table": spec.table, "engine": spec.engine,
                                     "partitions": list(labels)}
        suite_key = ExpectationSuiteIdentifier(name=spec.name)
        key = ValidationResultIdentifier(
            expectation_suite_identifier=suite_key, run_id=run_id, batch_identifier=batch_label(labels)
        )
        # A suite is built once per process and table (``_Gx.suite``): written again only when it is
        # another object or its file has gone, not once per audited table (its JSON is most of the cost);
        # its page likewise rendered again only with it, or when the page has gone.
        kept = self._stored.get(spec.name) is suite and self.suites.has_key(suite_key)
        if not kept:
            self.suites.set(suite_key, suite)
            self._stored[spec.name] = suite
        self.results.set(key, result)
        self.listed.add(key, self._listing)
        return [key] if kept and self.page(suite_key).is_file() else [key, suite_key]

    def _listing(self) -> list[Any]:
        """Every stored result's key, as GE lists them (a walk of the store and a date parse per key)."""
        return list(self.results.list_keys())

    def _build_index(self) -> None:
        """GE's :meth:`DefaultSiteIndexBuilder.build` over the suites store (a handful of files, by name)
        and the key log's newest results, instead of walking every stored result and every page."""
        from collections import OrderedDict

        builder = self.builder.site_index_builder
        links: OrderedDict[str, Any] = OrderedDict()
        links["site_name"] = builder.site_name
        for suite in sorted(self.suites.list_keys(), key=lambda k: k.name):  # a handful; GE walks every page
            if self.page(suite).is_file():
                builder.add_resource_info_to_index_links_dict(links, expectation_suite_name=suite.name,
                                                              section_name="expectations")
        newest = list(itertools.islice((k for k in self.listed.newest(self._listing) if self._shown(k)), INDEX_LIMIT))
        builder._add_validations_to_index_links(links, newest)
        try:
            rendered = builder.renderer_class.render(links)
            html = builder.view_class.render(rendered, data_context_id=builder.data_context_id,
                                             show_how_to_buttons=builder.show_how_to_buttons)
        except Exception:  # GE logs its index's render errors and writes an empty page; so does this
            log.exception("the Data Docs index could not be rendered")
            html = ""
        builder.target_store.write_index_page(html)

    def _shown(self, key: Any) -> bool:
        """Whether GE's own index would list ``key``: its result and its page are both on disk (the
        stores' layout: the key's parts as folders, the batch id as the file name)."""
        rel = "/".join([*key.expectation_suite_identifier.name.split("."), *key.run_id.to_tuple(), key.batch_identifier])
        return os.path.isfile(f"{self.folder}/_gx/validations/{rel}.json") and os.path.isfile(
            f"{self.folder}/validations/{rel}.html")

    def page(self, key: Any) -> Path:
        url = self.builder.get_resource_url(key, only_if_exists=False)
        return Path(urllib.parse.unquote(url.removeprefix("file://")))

    def build(self, keys: Sequence[Any]) -> Path:
        """Render the pages of ``keys`` and the index, then point them at the vendored assets.

        GE's :meth:`SiteBuilder.build` lists every stored result four times per build (each section's
        source store, and the index's source and site stores; ~0.15 ms a key, most of it parsing the run
        time back with dateutil), so its cost grew with the warehouse's history: 0.3 s a build at 220
        results, 1.1 s at 2,200 — once per stage command (BENCHMARKS.md, session 36). Here each section
        renders the pages of ``keys`` only, and the index lists the stored suites and the newest
        ``INDEX_LIMIT`` results from the site's key log (:class:`_ResultKeys`); both through GE's own
        renderers and views (tests/test_validate.py compares the index with GE's own build)."""
        from digestflow import datadocs

        unique = list(dict.fromkeys(keys))
        for section in self.builder.site_section_builders.values():
            store = section.source_store
            own = [k for k in unique if isinstance(k, store.key_class)]
            section.source_store = _Listing(store, own)
            try:
                section.build(resource_identifiers=own)
            finally:
                section.source_store = store
        self.builder.target_store.copy_static_assets()
        self._build_index()
        index = self.folder / "index.html"
        if datadocs.install(self.folder):
            for page in [index, *(self.page(k) for k in unique)]:
                if page.is_file():
                    datadocs.localize(page, self.folder)
        return index


class _Listing:
    """A GE store as one section builder sees it: listing only the keys of this build."""

    def __init__(self, store: Any, keys: Sequence[Any]) -> None:
        self._store, self._keys = store, list(keys)

    def list_keys(self) -> list[Any]:
        return list(self._keys)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)


#: The site's key log under ``_data_docs/_gx/`` (:class:`_ResultKeys`).
RESULT_KEYS = "result_keys.tsv"


class _ResultKeys:
    """``_data_docs/_gx/result_keys.tsv``: one line per stored validation result (suite, run name, run
    time, batch id, tab-separated), appended as each result is stored, so that the index finds its
    newest results without listing the whole store.

    The log is written from the store's own listing when it is missing (a warehouse from before it, or
    after it was deleted: delete it to rebuild it; a result copied into the store by hand is listed
    only then), and cut to the newest ``2 * INDEX_LIMIT`` lines when it grows past ``4 * INDEX_LIMIT``.
    Writers hold an exclusive ``flock`` on ``result_keys.lock`` beside it (processes of several runs
    share a warehouse). Results of one run share its run time; among them the later-stored one is
    listed first (GE's own builder orders them by directory listing).
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.lock_path = path.with_suffix(".lock")

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        import fcntl

        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.lock_path, "a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)  # released when the file closes
            yield

    @staticmethod
    def _line(key: Any) -> str:
        run_name, run_time = key.run_id.to_tuple()
        return "\t".join([key.expectation_suite_identifier.name, run_name, run_time, key.batch_identifier]) + "\n"

    def _write(self, lines: Sequence[str]) -> None:
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        tmp.write_text("".join(lines))
        os.replace(tmp, self.path)

    def _rebuilt(self, listing: Any) -> bool:
        """With the lock held: write the log from ``listing()`` (every stored key) if it is missing;
        whether it did."""
        if self.path.is_file():
            return False
        self._write(self._ordered(self._line(k) for k in listing()))
        return True

    def add(self, key: Any, listing: Any) -> None:
        """Log ``key`` (already stored); ``listing()`` gives every stored key when the log is missing."""
        with self._locked():
            if not self._rebuilt(listing):  # a log written from the listing already holds ``key``
                with open(self.path, "a") as handle:
                    handle.write(self._line(key))

    @staticmethod
    def _run_time(line: str) -> str:
        return line.split("\t")[2]  # sortable as text: %Y%m%dT%H%M%S.%fZ

    @classmethod
    def _ordered(cls, lines: Iterable[str]) -> list[str]:
        """Oldest first by run time, stable."""
        return sorted(lines, key=cls._run_time)

    def newest(self, listing: Any) -> Iterator[Any]:
        """The logged keys, newest first; cuts the log to ``2 * INDEX_LIMIT`` lines once it holds more
        than ``4 * INDEX_LIMIT``."""
        from great_expectations.core.run_identifier import RunIdentifier
        from great_expectations.data_context.types.resource_identifiers import (
            ExpectationSuiteIdentifier,
            ValidationResultIdentifier,
        )

        if not self.path.is_file():
            with self._locked():
                self._rebuilt(listing)
        lines = self._read()
        if len(lines) > 4 * INDEX_LIMIT:
            with self._locked():
                lines = self._ordered(self._read())[-2 * INDEX_LIMIT:]
                self._write(lines)
        seen = set()
        for _, line in sorted(enumerate(lines), key=lambda pl: (self._run_time(pl[1]), pl[0]), reverse=True):
            if line in seen:
                continue
            seen.add(line)
            suite, run_name, run_time, batch = line.rstrip("\n").split("\t")
            when = dt.datetime.strptime(run_time, "%Y%m%dT%H%M%S.%fZ").replace(tzinfo=dt.UTC)
            yield ValidationResultIdentifier(
                expectation_suite_identifier=ExpectationSuiteIdentifier(name=suite),
                run_id=RunIdentifier(run_name=run_name, run_time=when),
                batch_identifier=batch,
            )

    def _read(self) -> list[str]:
        return [line for line in self.path.read_text().splitlines(keepends=True) if line.count("\t") == 3]


def batch_label(labels: Sequence[str]) -> str:
    """GE's batch identifier of one validation (also its page's file name, so no spaces or slashes): the
    partitions it covered, e.g. ``digest_date=2025-03-03`` or
    ``digest_date=2025-03-03..digest_date=2025-03-07_5_partitions``."""
    names = sorted(label.replace("/", ",") for label in labels)
    if not names:
        return "no_rows"
    if len(names) == 1:
        return names[0]
    return f"{names[0]}..{names[-1]}_{len(names)}_partitions"


def _progress_bars_off() -> Any:
    from great_expectations.data_context.types.base import ProgressBarsConfig

    return ProgressBarsConfig(globally=False, metric_calculations=False)


_GX: _Gx | None = None
_GX_LOCK = threading.Lock()


def gx_context() -> _Gx:
    """The process-wide GE context (lazy: importing GE costs seconds and ~300 MB)."""
    global _GX
    with _GX_LOCK:
        if _GX is None:
            _GX = _Gx()
        return _GX


def warm() -> None:
    """Import GE and build the context now (the run's warm-up thread calls this while the first stage's
    Spark job runs).

    ``import great_expectations`` takes ~4.5 s here, mostly pure Python; the driver spends the first
    stage waiting on the JVM, so the import overlaps it. The first gate then waits on ``_GX_LOCK`` for
    what is left. A failure raises to the caller (the warm-up thread only logs it), and the gate's own
    ``gx_context()`` call retries and raises in the stage that needs it.
    """
    gx_context()


# -------------------------------------------------------------------------------------- validation


@dataclass
class Failure:
    """One failed expectation, as it applies to one partition (or to the whole run: ``scope='run'``)."""

    expectation: str
    severity: str
    column: str
    unexpected: int | None  # offending rows in this partition; None for table-level expectations
    examples: list[dict[str, Any]] = field(default_factory=list)
    observed: Any = None
    scope: str = "partition"

    def describe(self) -> str:
        what = f"{self.expectation}({self.column})" if self.column else self.expectation
        if self.unexpected is not None:
            what += f": {self.unexpected} row{'s' if self.unexpected != 1 else ''}"
        elif self.observed is not None:
            what += f": observed {_short(self.observed, 200)}"
        if self.examples:
            what += "; e.g. " + " | ".join(_format_row(r) for r in self.examples)
        return what

    def as_json(self) -> dict[str, Any]:
        return {
            "expectation": self.expectation,
            "severity": self.severity,
            "column": self.column,
            "unexpected": self.unexpected,
            "examples": self.examples,
            "observed": self.observed,
            "scope": self.scope,
        }


@dataclass
class PartitionResult:
    partition: dict[str, Any]
    rows: int
    evaluated: int
    failures: list[Failure] = field(default_factory=list)

    @property
    def label(self) -> str:
        return storage.partition_relpath(self.partition) or UNPARTITIONED

    @property
    def success(self) -> bool:
        return not self.failures

    @property
    def critical(self) -> list[Failure]:
        return [f for f in self.failures if f.severity == "critical"]

    @property
    def blocked(self) -> bool:
        return bool(self.critical)


@dataclass
class Outcome:
    """What one validation run of one table found, per partition."""

    table: str
    suite: str
    partitions: list[PartitionResult]
    seconds: dict[str, float] = field(default_factory=dict)
    docs_index: Path | None = None
    engine: str = "spark"

    @property
    def blocked(self) -> list[PartitionResult]:
        return [p for p in self.partitions if p.blocked]

    @property
    def warned(self) -> list[PartitionResult]:
        return [p for p in self.partitions if p.failures and not p.blocked]


def read_frame(
    spark: SparkSession,
    root: Path,
    table: str,
    partition_filter: Any = None,
    folders: Sequence[Path] | None = None,
) -> DataFrame | None:
    """The Parquet data under ``root`` (or only its partition ``folders``), data columns typed *as written*.

    Forcing the declared schema on the data columns would make the type expectations vacuous, so their
    types come from a file footer. Partition columns have no type on disk (they are folder names): they
    get their declared type (Spark 4 refuses to read a folder whose value does not parse;
    :func:`read_arrow` reads it as NULL, which the not-null rule catches). Listing only the wanted
    folders matters: discovering 521 partitions costs more than validating one. ``None`` when there are
    no files.
    """
    paths = [f for f in folders if f.is_dir()] if folders is not None else ([root] if root.is_dir() else [])
    first = next((f for p in paths for f in p.rglob("*.parquet")), None)
    if first is None:
        return None
    from pyspark.sql import types as T

    schema = schemas.load(table)
    declared = schema.spark()
    written = written_schema(spark, first)
    fields = [f for f in written.fields if f.name not in schema.partition_by]
    fields += [declared[c] for c in schema.partition_by]
    reader = spark.read.schema(T.StructType(fields)).option("basePath", storage.uri(root))
    df = reader.parquet(*[storage.uri(p) for p in paths])
    return df if partition_filter is None else df.where(partition_filter)


#: Footer key under which Spark's Parquet writer stores the Spark schema of the file's rows.
SPARK_ROW_METADATA = b"org.apache.spark.sql.parquet.row.metadata"


def written_schema(spark: SparkSession, path: Path) -> Any:
    """The schema Spark infers for one Parquet file (``spark.read.parquet(path).schema``), without the
    footer-reading Spark job that inference runs for every call.

    A file Spark wrote holds its Spark schema in the footer (:data:`SPARK_ROW_METADATA`), and Spark's
    reader takes the schema from there; a file source makes every field nullable. Files without the
    key (written by other tools) go through Spark's own inference. tests/test_validate.py checks both
    against Spark's answer for every table.
    """
    import pyarrow.parquet as pq
    from pyspark.sql import types as T

    raw = (pq.read_schema(path).metadata or {}).get(SPARK_ROW_METADATA)
    if raw is None:
        return spark.read.parquet(storage.uri(path)).schema
    return T.StructType.fromJson(_as_nullable(json.loads(raw)))


def _as_nullable(node: Any) -> Any:
    """Spark's ``asNullable`` on a data type's JSON: every struct field nullable, every array element
    and map value too, recursively (field metadata left as it is)."""
    if not isinstance(node, dict):
        return node  # a primitive type name: "string", "date", …
    kind = node.get("type")
    if kind == "struct":
        return {**node, "fields": [{**f, "nullable": True, "type": _as_nullable(f["type"])} for f in node["fields"]]}
    if kind == "array":
        return {**node, "containsNull": True, "elementType": _as_nullable(node["elementType"])}
    if kind == "map":
        return {**node, "valueContainsNull": True, "keyType": _as_nullable(node["keyType"]),
                "valueType": _as_nullable(node["valueType"])}
    return node


def partition_counts(
    root: Path, table: str, folders: Sequence[Path] | None = None
) -> dict[str, tuple[dict[str, Any], int]]:
    """Rows per partition from the Parquet footers under ``root`` (or its partition ``folders``):
    label → (partition, rows). No Spark job, no data read: a footer holds its file's row count.

    Partition values are parsed from the folder names (Spark's escaping undone) into their declared
    types, so labels equal those of :func:`storage.partition_relpath` on the same values.
    """
    from urllib.parse import unquote

    import pyarrow.parquet as pq

    schema = schemas.load(table)
    paths = [f for f in folders if f.is_dir()] if folders is not None else ([root] if root.is_dir() else [])
    out: dict[str, tuple[dict[str, Any], int]] = {}
    for path in paths:
        for f in path.rglob("*.parquet"):
            part: dict[str, Any] = {}
            for piece in f.parent.relative_to(root).parts:
                col, _, raw = piece.partition("=")
                part[col] = _partition_value(schema.column(col).type, unquote(raw))
            label = storage.partition_relpath(part) or UNPARTITIONED
            rows = pq.read_metadata(f).num_rows
            out[label] = (part, out[label][1] + rows if label in out else rows)
    return out


def _partition_value(schema_type: str, raw: str) -> Any:
    if raw == "__HIVE_DEFAULT_PARTITION__":
        return None
    try:
        if schema_type == "date":
            return dt.date.fromisoformat(raw)
        if schema_type in ("int", "long"):
            return int(raw)
    except ValueError:
        return None  # Spark reads it as NULL too, and the not-null rule says so
    return raw


def read_arrow(root: Path, table: str) -> Any:
    """The Parquet data under ``root``, read in this process with pyarrow as :func:`read_frame` reads it
    with Spark: data columns typed *as written* (the first file's footer; every file is read with it),
    partition columns typed by the schema from the folder names (Spark's escaping undone,
    ``__HIVE_DEFAULT_PARTITION__`` and a value that does not parse become NULL, which the not-null rule
    catches). Files and folders whose name starts with ``_`` or ``.`` are skipped, as Spark skips them.
    ``None`` when there are no files.

    For the pandas engine (small tables): a Spark job that reads hundreds of one-partition files back and
    collects them costs seconds (papers of the 521 dev days: 1.7 s warm, 4.9 s first in a process),
    pyarrow 0.3 s (BENCHMARKS.md, session 25).
    """
    import pyarrow as pa
    import pyarrow.dataset as ds
    import pyarrow.parquet as pq

    if not root.is_dir():
        return None
    files = sorted(f for f in root.rglob("*.parquet")
                   if not any(part[0] in "._" for part in f.relative_to(root).parts))
    if not files:
        return None
    schema = schemas.load(table)
    cols = list(schema.partition_by)
    written = pq.read_schema(files[0])
    data_fields = [f for f in written.remove_metadata() if f.name not in cols]
    strings = pa.schema([pa.field(c, pa.string()) for c in cols])
    dataset = ds.dataset([str(f) for f in files], schema=pa.schema(data_fields + list(strings)), format="parquet",
                         partitioning=ds.partitioning(strings, flavor="hive") if cols else None,
                         partition_base_dir=str(root))
    data = dataset.to_table()
    declared = schema.arrow()
    for col in cols:  # the folder names as strings -> the declared type, one parse per distinct value
        kind = schema.column(col).type
        encoded = data.column(col).combine_chunks().dictionary_encode()
        values = pa.array([_partition_value(kind, v) for v in encoded.dictionary.to_pylist()],
                          type=declared.field(col).type)
        data = data.set_column(data.schema.get_field_index(col), col, values.take(encoded.indices))
    return data


def with_derived(data: Any, spec: SuiteSpec) -> Any:
    """``data`` (an Arrow table) plus the suite's derived helper columns, computed by DuckDB from the same
    Spark SQL the Spark engine runs (:func:`prepare`), translated by sqlglot (:func:`duckdb_expression`).
    The rows keep their order; the table's own columns are not touched (their types are what GE checks)."""
    if not spec.derived_columns:
        return data
    import pyarrow as pa

    order = "__digestflow_row"
    indexed = data.append_column(order, pa.array(range(data.num_rows), pa.int64()))
    select = ", ".join(f'{duckdb_expression(expr)} AS "{name}"' for name, expr in spec.derived_columns.items())
    # A cursor of one in-memory database per process: a new one (~16 ms) per audited table was a tenth
    # of a small table's audit; a cursor is its own connection, so audits on parallel threads each use one.
    with _duckdb().cursor() as con:
        con.register("staged", indexed)
        derived = con.sql(f'SELECT {select} FROM staged ORDER BY "{order}"').to_arrow_table()
    for name in spec.derived_columns:
        data = data.append_column(name, derived.column(name))
    return data


@functools.cache
def _duckdb() -> Any:
    """The process's in-memory DuckDB database for :func:`with_derived` (each call takes a cursor)."""
    import duckdb

    return duckdb.connect()


@functools.cache
def duckdb_expression(spark_sql: str) -> str:
    """A derived column's Spark SQL expression in DuckDB's dialect (sqlglot; tests/test_validate.py
    checks every suite's columns against Spark's own values)."""
    import sqlglot

    return sqlglot.transpile(spark_sql, read="spark", write="duckdb")[0]


def choose_engine(rows: int) -> str:
    """pandas for a small staged table (in-process, milliseconds per expectation), Spark otherwise."""
    return "pandas" if rows <= PANDAS_MAX_ROWS else "spark"


def _to_pandas(df: DataFrame) -> Any:
    """``df`` collected through Arrow into the pandas types the pandas suite names (see ``_TYPE_NAMES``):
    nullable Int32/Int64/Float32/Float64/boolean (no int → float on NULL), dates as ``datetime.date``,
    arrays as Python lists, strings as ``str``."""
    return arrow_to_pandas(df.toArrow())


def arrow_to_pandas(table: Any) -> Any:
    """An Arrow table in the pandas types the pandas suite names (see :func:`_to_pandas`)."""
    import pandas as pd
    import pyarrow as pa

    nullable = {pa.int32(): pd.Int32Dtype(), pa.int64(): pd.Int64Dtype(), pa.float32(): pd.Float32Dtype(),
                pa.float64(): pd.Float64Dtype(), pa.bool_(): pd.BooleanDtype()}
    frame = table.to_pandas(types_mapper=nullable.get, date_as_object=True)
    for name, typ in zip(table.column_names, table.schema.types, strict=True):
        if pa.types.is_list(typ) or pa.types.is_large_list(typ):
            frame[name] = pd.Series(table.column(name).to_pylist(), index=frame.index, dtype=object)
    return frame


@dataclass
class DocsTarget:
    """Where and under which name an outcome goes into Data Docs: the site folder and GE's RunIdentifier
    (run_name = the digestflow run id, run_time = when the run started)."""

    folder: Path
    run_name: str
    run_time: dt.datetime
    defer: bool = False  # collect the pages for one build at the end of the run (see :func:`build_docs`)


def validate_frame(
    df: DataFrame | Any | None,
    spec: SuiteSpec,
    parameters: Mapping[str, Any],
    *,
    docs_dir: Path | None = None,
    docs: DocsTarget | None = None,
    counts: Mapping[str, tuple[dict[str, Any], int]] | None = None,
) -> Outcome:
    """Run ``spec`` once over ``df`` (all partitions together) and attribute failures to partitions.

    ``spec.engine`` says where: "spark" runs GE's Spark engine on the prepared frame (persisted only
    when GE will scan it more than once, see ``SuiteSpec.one_pass``); "pandas" collects it (one Spark
    job) and runs GE in-process. For the pandas engine ``df`` may instead be an Arrow table
    (:func:`read_arrow`): its derived columns are then computed by DuckDB (:func:`with_derived`).
    ``counts`` (from :func:`partition_counts`) spares the Spark engine its counting job. ``docs`` (or the
    older ``docs_dir``) adds the result to Data Docs.
    """
    t0 = time.perf_counter()
    seconds: dict[str, float] = {}
    if df is None:
        return Outcome(spec.table, spec.name, [], seconds)
    if docs is None and docs_dir is not None:
        docs = DocsTarget(docs_dir, storage.new_run_id(), dt.datetime.now(dt.UTC))
    cols = list(spec.partition_by)
    import pyarrow as pa

    arrow = isinstance(df, pa.Table)  # from read_arrow (pandas engine only)
    if arrow and spec.engine != "pandas":
        raise ValueError(f"{spec.table}: an Arrow table is validated by the pandas engine only")
    prepared = df if arrow else prepare(df, spec)
    # The Spark engine caches the frame when GE will scan it more than once (the counting job below, or
    # semantic rules: one metric job each). A suite of structural rules over given counts is one pass,
    # and building the cache costs several passes: paper_terms of the 521 dev days 6.8 -> 1.8 s warm,
    # of the 10x corpus (17.6 M rows) 58.7 -> 7.9 s (BENCHMARKS.md, session 21).
    cache = spec.engine == "spark" and (counts is None or not spec.one_pass)
    if spec.engine == "pandas":
        frame: Any = arrow_to_pandas(with_derived(df, spec)) if arrow else _to_pandas(prepared)
    else:
        frame = prepared.persist() if cache else prepared
    try:
        if counts is None and spec.engine == "pandas":
            sizes = frame.groupby(cols, dropna=False).size() if cols else None
            counts = _counts_from(cols, [] if sizes is None else
                                  [(dict(zip(cols, k if isinstance(k, tuple) else (k,), strict=True)), int(n))
                                   for k, n in sizes.items()], len(frame))
        elif counts is None:
            # One job that also fills the cache: every GE metric after it reads memory, not Parquet.
            rows = prepared.groupBy(*cols).count().collect() if cols else None
            counts = _counts_from(cols, [] if rows is None else [({c: r[c] for c in cols}, r["count"]) for r in rows],
                                  None if cols else frame.count())
        results = {label: PartitionResult(part, n, len(spec.expectations)) for label, (part, n) in counts.items()}
        seconds["prepare"] = time.perf_counter() - t0
        if not results:
            return Outcome(spec.table, spec.name, [], seconds)

        t1 = time.perf_counter()
        gx = gx_context()
        with gx.lock:
            suite = gx.suite(spec)
            batch = gx.batch_definition(spec.table, spec.engine).get_batch(batch_parameters={"dataframe": frame})
            suite_result = batch.validate(suite, result_format="BOOLEAN_ONLY",
                                          expectation_parameters=dict(parameters))
            seconds["ge_run"] = time.perf_counter() - t1
            failed = [r for r in suite_result.results if not r.success]
            if failed:
                t2 = time.perf_counter()
                _attribute(gx, spec, frame, parameters, failed, results)
                seconds["attribute"] = time.perf_counter() - t2
            docs_index = None
            if docs is not None:
                t3 = time.perf_counter()
                site = gx.site(docs.folder)
                keys = site.add(spec, suite, suite_result, docs.run_name, docs.run_time, sorted(results))
                if docs.defer:
                    _PENDING.setdefault((str(docs.folder), docs.run_name), []).extend(keys)
                    docs_index = docs.folder / "index.html"
                else:
                    docs_index = site.build(keys)
                seconds["data_docs"] = time.perf_counter() - t3
    finally:
        if cache:
            frame.unpersist()
    seconds["total"] = time.perf_counter() - t0
    ordered = sorted(results.values(), key=lambda p: p.label)
    return Outcome(spec.table, spec.name, ordered, seconds, docs_index, spec.engine)


def _counts_from(
    cols: Sequence[str], groups: Sequence[tuple[dict[str, Any], int]], total: int | None
) -> dict[str, tuple[dict[str, Any], int]]:
    if not cols:
        return {UNPARTITIONED: ({}, int(total or 0))}
    return {storage.partition_relpath(part): (part, n) for part, n in groups}


#: Data Docs pages waiting for the end of their run: (site folder, run id) → GE resource identifiers.
_PENDING: dict[tuple[str, str], list[Any]] = {}
_DEFERRED: set[str] = set()


def defer_docs(ctx: RunContext) -> None:
    """From now on, the gate of ``ctx``'s run only stores its results; :func:`build_docs` renders them
    all (pages + one index) at the end of the run, instead of one index build per audited table."""
    _DEFERRED.add(ctx.run_id)


def build_docs(ctx: RunContext) -> Path | None:
    """Render the Data Docs pages ``ctx``'s run has collected, and the index once. Idempotent."""
    _DEFERRED.discard(ctx.run_id)
    folder = docs_dir(ctx.warehouse)
    keys = _PENDING.pop((str(folder.absolute()), ctx.run_id), [])
    if not keys:
        return None
    gx = gx_context()
    with gx.lock:
        return gx.site(folder).build(keys)


def _attribute(
    gx: _Gx,
    spec: SuiteSpec,
    df: DataFrame,
    parameters: Mapping[str, Any],
    failed: Sequence[Any],
    results: dict[str, PartitionResult],
) -> None:
    """Re-run only the failed expectations with row indexes, and hand each failure to its partitions."""
    # Fresh copies (GE refuses expectations that already belong to a suite); severity travels along.
    configs = [res.expectation_config for res in failed]
    suite = gx.suite_of(
        f"{spec.name}.failures",
        [{"type": c.type, "kwargs": {k: v for k, v in c.kwargs.items() if k != "batch_id"},
          "meta": c.meta, "severity": getattr(c.severity, "value", c.severity)} for c in configs],
    )
    index_cols = list(dict.fromkeys([*spec.partition_by, *spec.row_id_columns]))
    batch = gx.batch_definition(spec.table, spec.engine).get_batch(batch_parameters={"dataframe": df})
    detail = batch.validate(
        suite,
        result_format={
            "result_format": "COMPLETE",
            "unexpected_index_column_names": index_cols,
            "return_unexpected_index_query": False,
            "partial_unexpected_count": SAMPLE_ROWS,
        },
        expectation_parameters=dict(parameters),
    )
    for res in detail.results:
        if res.success:
            continue  # cannot happen on the same data; kept so a flaky rule never blocks silently
        config = res.expectation_config
        name, severity = config.type, str(getattr(config.severity, "value", config.severity))
        column = _columns_of(config.kwargs)
        body = res.result or {}
        index_list = body.get("unexpected_index_list")
        if index_list is None or not spec.partition_by:
            observed = body.get("observed_value")
            if res.exception_info and res.exception_info.get("raised_exception"):
                observed = res.exception_info.get("exception_message")
            for part in results.values():
                part.failures.append(
                    Failure(name, severity, column, body.get("unexpected_count"),
                            _examples(index_list or [], SAMPLE_ROWS), observed, scope="run")
                )
            continue
        by_partition: dict[str, list[dict[str, Any]]] = {}
        for row in index_list:
            key = storage.partition_relpath({c: row[c] for c in spec.partition_by})
            by_partition.setdefault(key, []).append(row)
        for key, rows in by_partition.items():
            if key in results:
                results[key].failures.append(
                    Failure(name, severity, column, len(rows), _examples(rows, SAMPLE_ROWS))
                )


def _columns_of(kwargs: Mapping[str, Any]) -> str:
    if "column" in kwargs:
        return str(kwargs["column"])
    if "column_A" in kwargs:
        return f"{kwargs['column_A']}, {kwargs['column_B']}"
    if "column_list" in kwargs:
        return ", ".join(kwargs["column_list"])
    return ""


def _examples(rows: Sequence[Mapping[str, Any]], n: int) -> list[dict[str, Any]]:
    return [{k: _jsonable(v) for k, v in row.items()} for row in list(rows)[:n]]


def _jsonable(value: Any) -> Any:
    if type(value).__module__ == "numpy" and hasattr(value, "item"):
        value = value.item()  # the pandas engine hands back numpy scalars
    elif type(value).__name__ == "NAType":
        value = None
    if isinstance(value, dt.date | dt.datetime):
        return value.isoformat()
    if isinstance(value, str):
        return _short(value, 120)
    if isinstance(value, int | float | bool) or value is None:
        return value
    return _short(str(value), 120)


def _short(value: Any, n: int) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return text if len(text) <= n else text[: n - 1] + "…"


def _format_row(row: Mapping[str, Any]) -> str:
    return " ".join(f"{k}={v!r}" if isinstance(v, str) else f"{k}={v}" for k, v in row.items())


# ------------------------------------------------------------------------------------ gate & results


@dataclass
class Verdict:
    """The gate's decision for one staged table: partitions that may publish, and why others may not."""

    passed: list[dict[str, Any]]
    messages: list[str] = field(default_factory=list)
    outcome: Outcome | None = None


def audit(ctx: RunContext, staged: Staged) -> Verdict:
    """Validate everything ``staged`` holds in one GE run; return the owned partitions that may publish.

    Called by :meth:`RunContext.publish` between the staged write and the swap. Blocked partitions stay
    under ``_staging/<run_id>/<table>/`` (never deleted here) and get a message naming the table, the
    partition, the failed critical expectations and a few offending rows.
    """
    counts = partition_counts(staged.path, staged.table)
    spec = load_suite(staged.table, choose_engine(sum(n for _, n in counts.values())))
    parameters = suite_parameters(ctx.start, ctx.end, ctx.today)
    # A small table goes to the pandas engine: read its files here, not through a Spark job.
    reader = read_arrow if spec.engine == "pandas" else functools.partial(read_frame, ctx.spark)
    df = reader(staged.path, staged.table)
    docs = DocsTarget(docs_dir(ctx.warehouse), ctx.run_id, _run_time(ctx), defer=ctx.run_id in _DEFERRED)
    outcome = validate_frame(df, spec, parameters, docs=docs, counts=counts)
    record(ctx.warehouse, ctx.run_id, outcome, staging=staged.path)
    blocked = {p.label for p in outcome.blocked}
    passed = [dict(p) for p in staged.partitions if (storage.partition_relpath(p) or UNPARTITIONED) not in blocked]
    messages = [block_message(outcome.table, p, staged.path) for p in outcome.blocked]
    _log_outcome(outcome)
    return Verdict(passed=passed, messages=messages, outcome=outcome)


def docs_dir(warehouse: str) -> Path:
    return storage.local_path(warehouse) / DOCS_DIR


def _run_time(ctx: Any) -> dt.datetime:
    started = getattr(ctx, "started_at", None)
    return started if isinstance(started, dt.datetime) else dt.datetime.now(dt.UTC)


def block_message(table: str, result: PartitionResult, staging: Path | None) -> str:
    """One paragraph for a person: what was blocked, which rules, which rows, where the data is."""
    lines = [
        f"{table} {result.label}: NOT PUBLISHED, {len(result.critical)} critical expectation(s) failed "
        f"on {result.rows} rows:"
    ]
    lines += [f"  - {f.describe()}" for f in result.critical]
    warnings = [f for f in result.failures if f.severity != "critical"]
    lines += [f"  - (warning) {f.describe()}" for f in warnings]
    if staging is not None:
        lines.append(f"  staged data kept at {staging / storage.partition_relpath(result.partition)}")
    return "\n".join(lines)


def _log_outcome(outcome: Outcome) -> None:
    timing = ", ".join(f"{k} {v:.1f}s" for k, v in outcome.seconds.items())
    log.info(
        "validated %s (GE %s engine): %d partitions, %d blocked, %d with warnings (%s)",
        outcome.table, outcome.engine, len(outcome.partitions), len(outcome.blocked), len(outcome.warned), timing,
    )
    for part in outcome.warned:
        log.warning("%s %s: published with warnings: %s", outcome.table, part.label,
                    "; ".join(f.describe() for f in part.failures))


def result_rows(run_id: str, outcome: Outcome, staging: Path | None = None) -> list[dict[str, Any]]:
    """``validation_results`` rows: one per (suite, partition)."""
    now = dt.datetime.now(dt.UTC)
    rows = []
    for part in outcome.partitions:
        details: dict[str, Any] = {"failures": [f.as_json() for f in part.failures]}
        if part.blocked and staging is not None:
            details["staged_at"] = str(staging / storage.partition_relpath(part.partition))
        if outcome.docs_index is not None:
            details["data_docs"] = str(outcome.docs_index)
        rows.append(
            {
                "run_id": run_id,
                "partition": part.label,
                "suite": outcome.suite,
                "success": part.success,
                "blocked": part.blocked,
                "evaluated": part.evaluated,
                "failed": len(part.failures),
                "failed_critical": len(part.critical),
                "rows": part.rows,
                "details_json": json.dumps(details, default=str, sort_keys=True, ensure_ascii=False),
                "validated_at": now,
                "table_name": outcome.table,
            }
        )
    return rows


def record(warehouse: str, run_id: str, outcome: Outcome, staging: Path | None = None) -> Path | None:
    """Write the outcome's rows to ``validation_results`` (one file per run and table, never rewritten)."""
    rows = result_rows(run_id, outcome, staging)
    if not rows:
        return None
    return storage.write_log_rows(warehouse, "validation_results", rows, file_stem=f"{run_id}-{outcome.suite}")


# ------------------------------------------------------------------------------- published re-audit


def validate_published(
    spark: SparkSession,
    warehouse: str,
    table: str,
    start: dt.date,
    end: dt.date,
    *,
    run_id: str | None = None,
    today: dt.date | None = None,
) -> Outcome:
    """Re-audit the published partitions of ``table`` whose date partition lies in [start, end].

    Used by ``digestflow validate``: the same suite and batch run as the gate, on what readers see now.
    A table whose partitions carry no date is validated whole. Writes ``validation_results`` rows.
    """
    from pyspark.sql import functions as F

    schema = schemas.load(table)
    root = storage.table_dir(warehouse, table)
    date_cols = [c for c in schema.partition_by if schema.column(c).type == "date"]
    condition = F.col(date_cols[0]).between(F.lit(start), F.lit(end)) if date_cols else None
    folders = None
    if date_cols and schema.partition_by[0] == date_cols[0]:
        days = [start + dt.timedelta(days=i) for i in range((end - start).days + 1)]
        folders = [root / storage.partition_relpath({date_cols[0]: d}) for d in days]
    counts = partition_counts(root, table, folders)
    if date_cols:  # the same partitions the filter keeps (a date that does not parse is NULL: dropped)
        counts = {k: v for k, v in counts.items()
                  if v[0].get(date_cols[0]) is not None and start <= v[0][date_cols[0]] <= end}
    spec = load_suite(table, choose_engine(sum(n for _, n in counts.values())))
    df = read_frame(spark, root, table, condition, folders)
    today = today or dt.datetime.now(dt.UTC).date()
    run_id = run_id or storage.new_run_id()
    docs = DocsTarget(docs_dir(warehouse), run_id, dt.datetime.now(dt.UTC))
    outcome = validate_frame(df, spec, suite_parameters(start, end, today), docs=docs, counts=counts)
    record(warehouse, run_id, outcome)
    _log_outcome(outcome)
    return outcome
