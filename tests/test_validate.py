"""The validation gate with real Great Expectations on real Spark frames: block, publish, record."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from cdp import DevTools
from digestflow import schemas, storage, validate
from digestflow.generate import generate_corpus
from digestflow.parsing import REJECT_REASONS, parse_digest
from digestflow.pipeline import StageReport
from digestflow.resources import resource_dir
from digestflow.runner import make_context
from digestflow.settings import Settings

REPO = Path(__file__).resolve().parents[1]
ARTIFACTS = REPO / "test-artifacts"
DAYS = [dt.date(2025, 3, 3) + dt.timedelta(days=i) for i in range(5)]  # Mon..Fri: every day has papers
INGESTED_AT = dt.datetime(2025, 3, 8, tzinfo=dt.UTC)


def file_hashes(folder: Path) -> dict[str, str]:
    """sha256 of every file under a published partition: byte identity, not just equal rows."""
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.rglob("*")) if p.is_file()}


def result_rows(warehouse: Path, table: str, run_id: str) -> dict[str, dict]:
    folder = warehouse / "validation_results" / f"table_name={table}"
    rows = [r for f in sorted(folder.glob("*.parquet")) for r in pq.read_table(f).to_pylist() if r["run_id"] == run_id]
    return {r["partition"]: r for r in rows}


# ------------------------------------------------------------------------------- suites (no Spark)


@pytest.mark.parametrize("table", ["papers", "rejects"])
def test_structural_rules_are_generated_from_the_schema_file(table: str) -> None:
    raw = json.loads((resource_dir("schemas") / f"{table}.json").read_text())
    spec = validate.load_suite(table)
    types = {e["kwargs"]["column"]: e["kwargs"]["type_"] for e in spec.expectations if e["type"] == "expect_column_values_to_be_of_type"}
    not_null = {e["kwargs"]["column"] for e in spec.expectations if e["type"] == "expect_column_values_to_not_be_null"}
    assert set(types) == {c["name"] for c in raw["columns"]}
    assert not_null == {c["name"] for c in raw["columns"] if not c["nullable"]}
    assert types["digest_date"] == "DateType"
    (column_set,) = [e["kwargs"]["column_set"] for e in spec.expectations if e["type"] == "expect_table_columns_to_match_set"]
    assert set(column_set) == {c["name"] for c in raw["columns"]} | set(spec.derived_columns)


def test_suite_files_hold_only_semantic_rules_with_a_severity() -> None:
    files = sorted(resource_dir("expectations").glob("*.json"))
    assert {f.stem for f in files} >= {"papers", "rejects"}
    for f in files:
        assert f.stem in schemas.tables(), f"{f.name} has no schema file"
        raw = json.loads(f.read_text())
        for exp in raw["expectations"]:
            assert exp["severity"] in validate.SEVERITIES, (f.name, exp["type"])
            assert exp["type"] not in {"expect_column_values_to_be_of_type", "expect_column_values_to_not_be_null",
                                       "expect_table_columns_to_match_set"}, f"{f.name} repeats a structural rule"
            assert exp.get("meta", {}).get("why"), f"{f.name}: {exp['type']} does not say why"


def test_every_suite_builds_real_ge_expectations(spark) -> None:
    # GE's Spark data source would create a default SparkSession if ours did not exist yet.
    gx = validate.gx_context()
    for f in sorted(resource_dir("expectations").glob("*.json")):
        spec = validate.load_suite(f.stem)
        suite = gx.suite(spec, name=f"check-{f.stem}")
        assert len(suite.expectations) == len(spec.expectations)
        severities = {str(getattr(e.severity, "value", e.severity)) for e in suite.expectations}
        assert severities <= set(validate.SEVERITIES)


def test_suites_equal_those_built_with_add_expectation(spark) -> None:
    """The suites are built through the constructor (fast); GE's own add_expectation, one at a time, gives
    the same expectations in the same order for every table and engine."""
    from great_expectations.expectations.expectation_configuration import ExpectationConfiguration

    gx = validate.gx_context()
    for table in sorted(schemas.tables()):
        for engine in ("pandas", "spark"):
            spec = validate.load_suite(table, engine)
            reference = gx.gx.ExpectationSuite(name=f"reference-{table}-{engine}")
            for exp in spec.expectations:
                reference.add_expectation(ExpectationConfiguration(
                    type=exp["type"], kwargs=dict(exp["kwargs"]), meta=dict(exp.get("meta") or {}),
                    severity=exp.get("severity", "critical"),
                ).to_domain_obj())
            built = gx.suite(spec, name=f"built-{table}-{engine}")
            assert [e.configuration.to_json_dict() for e in built.expectations] == [
                e.configuration.to_json_dict() for e in reference.expectations
            ], (table, engine)


def test_written_schema_is_what_spark_reads(spark, tmp_path) -> None:
    """The gate's footer shortcut gives exactly Spark's inferred schema, for every table's declared types
    (non-null fields, arrays, dates, timestamps) written by Spark, and for a file pyarrow wrote."""
    import pyarrow as pa

    for table in sorted(schemas.tables()):
        schema = schemas.load(table)
        folder = tmp_path / table
        spark.createDataFrame([], schema.spark()).coalesce(1).write.parquet(storage.uri(folder))
        (written,) = sorted(folder.glob("*.parquet"))
        assert validate.SPARK_ROW_METADATA in (pq.read_schema(written).metadata or {}), table
        assert validate.written_schema(spark, written) == spark.read.parquet(storage.uri(written)).schema, table
    foreign = tmp_path / "foreign.parquet"
    pq.write_table(pa.table({"a": pa.array([1], pa.int32()), "b": pa.array([["x"]], pa.list_(pa.string()))}), foreign)
    assert validate.written_schema(spark, foreign) == spark.read.parquet(storage.uri(foreign)).schema


def test_reject_reasons_come_from_the_parser_not_a_copy() -> None:
    raw = (resource_dir("expectations") / "rejects.json").read_text()
    assert "title_without_abstract" not in raw
    params = validate.suite_parameters(DAYS[0], DAYS[-1], DAYS[-1])
    assert set(params["reject_reasons"]) == set(REJECT_REASONS)


# ---------------------------------------------------------------------------- gate on Spark frames


def paper_rows() -> list[dict]:
    """Synthetic digests parsed by the real parser: the clean ground truth."""
    rows = []
    for digest in generate_corpus(len(DAYS), start=DAYS[0], seed=11):
        result = parse_digest(digest.text, source=digest.file_name, run_date=DAYS[-1], latest_date=DAYS[-1])
        assert not result.rejects
        rows += [{**p, "ingested_at": INGESTED_AT} for p in result.papers]
    return rows


def reject_row(day: dt.date, reason: str) -> dict:
    return {
        "source_file": f"{day}.txt", "digest_id": "0" * 16, "line_start": 9, "line_end": 9, "raw_text": "Orphan line",
        "reason": reason, "detail": "a title line not followed by an abstract line", "date_rule": "file_name",
        "ingested_at": INGESTED_AT, "parser_version": "1.0.0", "digest_date": day,
    }


def publish(spark, warehouse: Path, table: str, rows: list[dict], start: dt.date, end: dt.date):
    """The real write → audit → publish path of a stage, for the run [start, end] owning all of DAYS."""
    settings = Settings.from_env().replace(warehouse=str(warehouse), validate=True)
    ctx = make_context(spark=spark, settings=settings, start=start, end=end, today=DAYS[-1])
    df = spark.createDataFrame(rows, schemas.load(table).spark())
    report = StageReport("test")
    report.details["published"] = ctx.publish(table, df, storage.date_partitions(DAYS), report)
    return ctx, report


@pytest.fixture(scope="module")
def gate(spark, tmp_path_factory):
    """Run 1 publishes five clean days; run 2 (ending on day 4) brings corrupted versions of them.

    Run 2: day 1 has an empty title, day 2 a duplicated position, day 3 a too-short abstract (warning
    only), day 4 is clean, day 5 lies after the run's end date. Rejects: day 2 carries an unknown reason.
    """
    warehouse = tmp_path_factory.mktemp("gate") / "wh"
    clean = paper_rows()
    ctx1, report1 = publish(spark, warehouse, "papers", clean, DAYS[0], DAYS[-1])
    ctx1r, report1r = publish(spark, warehouse, "rejects", [reject_row(d, "title_without_abstract") for d in DAYS], DAYS[0], DAYS[-1])
    before = {d: file_hashes(warehouse / "papers" / f"digest_date={d}") for d in DAYS}
    before_rejects = file_hashes(warehouse / "rejects" / f"digest_date={DAYS[1]}")

    bad = [dict(r) for r in clean]
    first = {d: [r for r in bad if r["digest_date"] == d] for d in DAYS}
    first[DAYS[0]][1]["title"] = ""
    first[DAYS[1]][2]["position"] = 1
    short = first[DAYS[2]][0]
    short["abstract"] = "We study a small thing and report one number, which is good news for everyone."
    short["n_words"] = len(short["abstract"].split())
    ctx2, report2 = publish(spark, warehouse, "papers", bad, DAYS[0], DAYS[3])
    rejects2 = [reject_row(d, "not_a_reason" if d == DAYS[1] else "title_without_abstract") for d in DAYS[:4]]
    ctx2r, report2r = publish(spark, warehouse, "rejects", rejects2, DAYS[0], DAYS[3])
    return {
        "warehouse": warehouse, "clean": clean, "short": short, "before": before, "before_rejects": before_rejects,
        "run1": (ctx1, report1, ctx1r, report1r), "run2": (ctx2, report2, ctx2r, report2r),
    }


@pytest.mark.slow
def test_clean_partitions_publish_and_are_recorded(gate) -> None:
    warehouse = gate["warehouse"]
    ctx1, report1, ctx1r, report1r = gate["run1"]
    assert report1.blocked == []
    assert report1r.blocked == []
    assert report1.partitions == len(DAYS)
    assert report1.details["published"].rows == len(gate["clean"])  # from the footers: every row published
    rows = result_rows(warehouse, "papers", ctx1.run_id)
    assert sorted(rows) == [f"digest_date={d}" for d in DAYS]
    expected_counts = {d: sum(1 for r in gate["clean"] if r["digest_date"] == d) for d in DAYS}
    for d in DAYS:
        row = rows[f"digest_date={d}"]
        assert row["success"]
        assert not row["blocked"]
        assert row["failed"] == 0
        assert row["rows"] == expected_counts[d]
        assert row["evaluated"] == len(validate.load_suite("papers").expectations)
    assert all(r["success"] for r in result_rows(warehouse, "rejects", ctx1r.run_id).values())


@pytest.mark.slow
def test_corrupt_partitions_are_blocked_and_published_ones_stay_byte_identical(gate) -> None:
    warehouse = gate["warehouse"]
    ctx2, report2, *_ = gate["run2"]
    for d in (DAYS[0], DAYS[1], DAYS[4]):
        assert file_hashes(warehouse / "papers" / f"digest_date={d}") == gate["before"][d], d
        kept = warehouse / "_staging" / ctx2.run_id / "papers" / f"digest_date={d}"
        assert any(kept.glob("*.parquet")), f"blocked staged data for {d} was not kept at {kept}"
    assert report2.partitions == 2  # days 3 and 4 published
    assert report2.details["published"].rows == sum(1 for r in gate["clean"] if r["digest_date"] in DAYS[2:4])
    assert len(report2.blocked) == 3
    text = "\n".join(report2.blocked)
    assert f"papers digest_date={DAYS[0]}" in text
    assert "title" in text
    assert "title=''" in text
    assert f"papers digest_date={DAYS[1]}" in text
    assert "expect_column_pair_values_to_be_equal(position" in text
    assert f"papers digest_date={DAYS[4]}" in text
    assert "expect_column_values_to_be_between(digest_date)" in text
    assert str(warehouse / "_staging" / ctx2.run_id / "papers") in text

    rows = result_rows(warehouse, "papers", ctx2.run_id)
    why = {p: {f["expectation"] + ":" + f["column"] for f in json.loads(r["details_json"])["failures"]} for p, r in rows.items()}
    assert rows[f"digest_date={DAYS[0]}"]["blocked"]
    assert why[f"digest_date={DAYS[0]}"] == {"expect_column_values_to_match_regex:title", "expect_column_value_lengths_to_be_between:title"}
    assert why[f"digest_date={DAYS[1]}"] == {"expect_column_pair_values_to_be_equal:position, __position_expected"}
    assert why[f"digest_date={DAYS[4]}"] == {"expect_column_values_to_be_between:digest_date"}
    assert rows[f"digest_date={DAYS[4]}"]["failed_critical"] == 1
    day5 = json.loads(rows[f"digest_date={DAYS[4]}"]["details_json"])
    assert day5["failures"][0]["unexpected"] == sum(1 for r in gate["clean"] if r["digest_date"] == DAYS[4])
    assert day5["staged_at"].endswith(f"papers/digest_date={DAYS[4]}")
    assert rows[f"digest_date={DAYS[3]}"]["success"]


@pytest.mark.slow
def test_warning_failure_publishes_and_is_recorded(gate) -> None:
    warehouse = gate["warehouse"]
    ctx2, *_ = gate["run2"]
    published = pq.read_table(warehouse / "papers" / f"digest_date={DAYS[2]}").to_pylist()
    assert gate["short"]["abstract"] in {r["abstract"] for r in published}
    row = result_rows(warehouse, "papers", ctx2.run_id)[f"digest_date={DAYS[2]}"]
    assert not row["success"]
    assert not row["blocked"]
    assert row["failed"] == 1
    assert row["failed_critical"] == 0
    (failure,) = json.loads(row["details_json"])["failures"]
    assert failure["severity"] == "warning"
    assert failure["column"] == "abstract"
    assert failure["unexpected"] == 1
    assert failure["examples"][0]["position"] == 0


@pytest.mark.slow
def test_unknown_reject_reason_blocks_only_its_partition(gate) -> None:
    warehouse = gate["warehouse"]
    _, _, ctx2r, report2r = gate["run2"]
    assert file_hashes(warehouse / "rejects" / f"digest_date={DAYS[1]}") == gate["before_rejects"]
    assert len(report2r.blocked) == 1
    assert "not_a_reason" in report2r.blocked[0]
    assert f"rejects digest_date={DAYS[1]}" in report2r.blocked[0]
    rows = result_rows(warehouse, "rejects", ctx2r.run_id)
    assert [p for p, r in rows.items() if r["blocked"]] == [f"digest_date={DAYS[1]}"]
    assert report2r.partitions == 3


@pytest.mark.slow
def test_data_docs_are_built_under_the_warehouse(gate) -> None:
    docs = gate["warehouse"] / "_data_docs"
    assert (docs / "index.html").is_file()
    pages = list((docs / "validations").rglob("*.html"))
    assert len(pages) >= 4  # papers and rejects, two runs each
    texts = [p.read_text() for p in pages]
    assert any("must match this regular expression" in t for t in texts)
    assert any("Failed" in t for t in texts)  # run 2's page shows its failures


@pytest.mark.slow
def test_validate_command_reaudits_published_data_and_exits_nonzero(gate, tmp_path) -> None:
    """Damage a published partition behind the pipeline's back; ``digestflow validate`` must catch it."""
    warehouse = tmp_path / "wh"
    import shutil

    shutil.copytree(gate["warehouse"] / "papers", warehouse / "papers")
    target = warehouse / "papers" / f"digest_date={DAYS[3]}"
    (path,) = target.glob("*.parquet")
    table = pq.read_table(path)
    n_words = table.column("n_words").to_pylist()
    n_words[0] = 0
    import pyarrow as pa

    pq.write_table(table.set_column(table.schema.get_field_index("n_words"), "n_words", pa.array(n_words, pa.int32())), path)
    env = {**os.environ, "SPARK_MASTER": "local[1]", "DIGESTFLOW_SHUFFLE_PARTITIONS": "2"}
    proc = subprocess.run(
        [sys.executable, "-m", "digestflow.cli", "validate", "--table", "papers", "--start", str(DAYS[0]),
         "--end", str(DAYS[3]), "--warehouse", str(warehouse)],
        capture_output=True, text=True, env=env, timeout=900, check=False,
    )
    assert proc.returncode == 1, proc.stdout + proc.stderr
    out = proc.stdout + proc.stderr
    assert f"papers digest_date={DAYS[3]}" in out
    assert "n_words" in out
    assert str(warehouse / "_data_docs" / "index.html") in out
    rows = pq.read_table(warehouse / "validation_results").to_pylist()
    assert sorted(r["partition"] for r in rows) == [f"digest_date={d}" for d in DAYS[:4]]
    assert [r["partition"] for r in rows if r["blocked"]] == [f"digest_date={DAYS[3]}"]


# ----------------------------------------------------------------------------------------- real data


@pytest.mark.realdata
@pytest.mark.slow
def test_all_real_dev_days_pass_the_gate(spark, shared_data, tmp_path) -> None:
    """Ingest every real dev digest with the gate on: nothing blocked, no warning, counts = manifest."""
    from collections import Counter

    from digestflow.runner import run as run_stages

    manifest = [json.loads(line) for line in (shared_data / "hf-daily.manifest.jsonl").read_text().splitlines()]
    per_day = Counter(m["date"] for m in manifest)
    settings = Settings.from_env().replace(landing=str(shared_data / "hf-daily"), warehouse=str(tmp_path / "wh"), validate=True)
    start, end = dt.date.fromisoformat(min(per_day)), dt.date.fromisoformat(max(per_day))
    ctx = make_context(spark=spark, settings=settings, start=start, end=end)
    run_stages(ctx, ["ingest"])  # raises GateFailed if any partition was blocked
    rows = result_rows(tmp_path / "wh", "papers", ctx.run_id)
    assert len(rows) == len(per_day) == 521
    assert [p for p, r in rows.items() if not r["success"]] == []
    assert {p.removeprefix("digest_date="): r["rows"] for p, r in rows.items()} == dict(per_day)


def test_ge_warm_up_failure_is_retried_and_raised_by_the_gate(monkeypatch) -> None:
    """The background import must not hide a broken GE install: the run's warm-up thread ends quietly
    (and goes on to the stages' warm-ups), and the gate's own call (the next `gx_context()`) tries again
    and raises the real error."""
    import threading

    from digestflow.pipeline import Stage, StageReport, warm_in_background
    from digestflow.runner import GreatExpectationsGate

    calls = []

    class Broken:
        def __init__(self) -> None:
            calls.append(threading.current_thread().name)
            raise ImportError("great_expectations is broken")

    monkeypatch.setattr(validate, "_GX", None)
    monkeypatch.setattr(validate, "_Gx", Broken)
    escaped = []
    monkeypatch.setattr(threading, "excepthook", lambda args: escaped.append(args.exc_value))
    later = Stage("later", "later", (), (), run=lambda ctx, p: StageReport("later"),
                  warm=lambda: calls.append("stage warmed"))
    thread = warm_in_background([later], GreatExpectationsGate())
    assert thread is not None
    thread.join(30)
    assert not thread.is_alive()
    assert not escaped
    assert calls == ["digestflow-warmup", "stage warmed"]
    with pytest.raises(ImportError, match="broken"):
        validate.gx_context()
    assert calls == ["digestflow-warmup", "stage warmed", "MainThread"]


# ------------------------------------------------------------------------------ Data Docs, offline

CHROMIUM = os.environ.get("DIGESTFLOW_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"


def _offline_chromium(profile: Path) -> tuple[subprocess.Popen, str]:
    """Headless chromium with no network: every host name fails to resolve and every proxied request goes
    to a closed port. Only file:// URLs (and DevTools on 127.0.0.1) work."""
    proc = subprocess.Popen(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-dev-shm-usage",
         "--host-resolver-rules=MAP * ~NOTFOUND", "--proxy-server=http://127.0.0.1:9",
         f"--user-data-dir={profile}", "--remote-debugging-address=127.0.0.1", "--remote-debugging-port=0",
         "--window-size=1400,1000", "about:blank"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )
    assert proc.stderr is not None
    deadline, port = time.monotonic() + 120, None
    while port is None and time.monotonic() < deadline:
        line = proc.stderr.readline()
        if not line and proc.poll() is not None:
            raise RuntimeError(f"chromium exited with {proc.returncode}")
        match = re.search(r"DevTools listening on ws://127\.0\.0\.1:(\d+)/", line)
        port = int(match.group(1)) if match else None
    if port is None:
        proc.kill()
        raise RuntimeError("chromium did not open its DevTools port within 120 s")
    threading.Thread(target=proc.stderr.read, daemon=True).start()
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list") as response:
        targets = json.load(response)
    return proc, next(t["webSocketDebuggerUrl"] for t in targets if t["type"] == "page")


_INDEX_ROWS = """
(() => [...document.querySelectorAll('table.ge-index-page-validation-results-table tbody tr')].map(tr => ({
  cells: [...tr.querySelectorAll('td')].map(td => td.innerText.trim()),
  failed: !!tr.querySelector('.ge-failed-icon, .fa-times'),
  href: tr.getAttribute('data-href'),
})))()
"""
# Styles really applied: Bootstrap's grid (a col-N has a percent flex basis only with bootstrap.css) and
# Font Awesome's icon glyphs (a ::before content only with all.min.css), plus its font loaded.
_STYLED = """
(async () => {
  // load() resolves with the faces the page's CSS declares for that font once they are loaded (none
  // when all.min.css or its webfonts are missing); no waiting on lazy font loading.
  const faces = await document.fonts.load('900 16px "Font Awesome 6 Free"', '\uf00d').catch(() => []);
  const col = document.querySelector('[class*="col-"]');
  const icon = document.querySelector('.fas');
  return {
    bootstrap_grid: col ? getComputedStyle(col).flexBasis : null,
    fa_glyph: icon ? getComputedStyle(icon, '::before').content : null,
    fa_font: faces.length > 0 && faces.every(f => f.status === 'loaded'),
    jquery: typeof window.jQuery,
    bootstrap_table: typeof (window.jQuery && window.jQuery.fn.bootstrapTable),
  };
})()
"""
_NETWORK_IS_OFF = """
fetch('https://code.jquery.com/jquery-3.7.1.min.js', {mode: 'no-cors'}).then(() => 'online', () => 'offline')
"""


@pytest.mark.slow
@pytest.mark.browser
def test_data_docs_list_every_result_by_run_and_table_with_the_network_off(gate, tmp_path) -> None:
    """Open ``_data_docs/index.html`` in chromium without network: the result list is filled (that takes
    jQuery + bootstrap-table), each row names the digestflow run, the table and its partitions, styles
    apply, and a result page says which run and table it shows."""
    from digestflow import datadocs

    if not Path(CHROMIUM).exists():
        pytest.skip(f"chromium not found at {CHROMIUM} (make system-deps)")
    if datadocs.node_modules() is None:
        pytest.fail("Data Docs assets are not installed: run `make docs-assets` (npm ci in datadocs/)")
    docs = gate["warehouse"] / "_data_docs"
    pages = [docs / "index.html", *(docs / "validations").rglob("*.html"), *(docs / "expectations").rglob("*.html")]
    for page in pages:
        assert datadocs.remote_links(page) == [], page
        # every relative script, stylesheet, image and page link resolves to a file of the site
        links = re.findall(r"(?:src|href)=[\"']([^\"'#:]+?)(?:\?[^\"']*)?[\"']", page.read_text())
        missing = [link for link in links if not (page.parent / urllib.parse.unquote(link)).exists()]
        assert missing == [], (page, missing)
    ctx1, _, ctx1r, _ = gate["run1"]
    ctx2, _, ctx2r, _ = gate["run2"]
    span = f"digest_date={DAYS[0]}..digest_date={DAYS[4]}_5_partitions"
    expected = {  # (run, table, partitions) → failed?  from what the fixture published, not from the code
        (ctx1.run_id, "papers", span): False,
        (ctx1r.run_id, "rejects", span): False,
        (ctx2.run_id, "papers", span): True,
        (ctx2r.run_id, "rejects", f"digest_date={DAYS[0]}..digest_date={DAYS[3]}_4_partitions"): True,
    }

    proc, ws_url = _offline_chromium(tmp_path / "profile")
    devtools = DevTools(ws_url)
    try:
        for domain in ("Page", "Runtime", "Network"):
            devtools.call(f"{domain}.enable")
        devtools.load((docs / "index.html").as_uri())
        rows = devtools.evaluate(_INDEX_ROWS)
        index_styles = devtools.evaluate(_STYLED)
        index_failed = devtools.failed_loads()
        network = devtools.evaluate(_NETWORK_IS_OFF)
        shot = devtools.call("Page.captureScreenshot", format="png")
        ARTIFACTS.mkdir(exist_ok=True)
        (ARTIFACTS / "data_docs_index.png").write_bytes(base64.b64decode(shot["data"]))

        found = {}
        for row in rows:
            text = " | ".join(row["cells"])
            for run, table, partitions in expected:
                if run in text and table in text and partitions in text:
                    found[(run, table, partitions)] = (row["failed"], row["href"])
        page_href = found.get((ctx2.run_id, "papers", span), (None, None))[1]
        page_text = page_styles = page_failed = None
        if page_href:
            devtools.load((docs / urllib.parse.unquote(page_href)).as_uri())
            page_text = devtools.evaluate("document.body.textContent")  # the run info is in a collapsed panel
            page_styles = devtools.evaluate(_STYLED)
            page_failed = devtools.failed_loads()
    finally:
        devtools.close()
        proc.terminate()
        proc.wait(timeout=30)

    assert network == "offline", "the browser could reach a CDN: this test would not prove anything"
    assert len(rows) == len(expected), rows
    assert {k: v[0] for k, v in found.items()} == expected, rows
    assert index_failed == [], index_failed
    assert index_styles["bootstrap_grid"].endswith("%"), index_styles  # "auto" without bootstrap.css
    assert {k: index_styles[k] for k in ("fa_font", "jquery", "bootstrap_table")} == {
        "fa_font": True, "jquery": "function", "bootstrap_table": "function"}, index_styles
    assert index_styles["fa_glyph"] not in (None, "none", "normal", "")
    assert page_text is not None, f"no link to run 2's papers page in {rows}"
    assert re.search(rf"Run Name\s*{re.escape(ctx2.run_id)}", page_text), page_text[:2000]
    assert re.search(r"Data asset:\s+papers", page_text), page_text[:2000]
    assert "Failed" in page_text
    assert page_failed == [], page_failed
    assert page_styles["bootstrap_grid"].endswith("%"), page_styles
    assert page_styles["jquery"] == "function"


def test_vendored_assets_are_the_files_ge_pins() -> None:
    """Every script and stylesheet GE's templates load from a CDN has a local copy of the same version
    (package.json), and the two GE pins by Subresource Integrity hash to GE's sha384."""
    import great_expectations

    from digestflow import datadocs

    templates = Path(great_expectations.__file__).parent / "render" / "view" / "templates"
    text = "\n".join(p.read_text() for p in templates.glob("*.j2"))
    loaded = set(re.findall(r"<script[^>]+src=\"(https://[^\"]+)\"", text))
    loaded |= set(re.findall(r"<link[^>]+href=\"(https://[^\"]+)\"", text))
    assert loaded, "GE's templates moved: update digestflow.datadocs"
    assert loaded <= set(datadocs.CDN_ASSETS), loaded - set(datadocs.CDN_ASSETS)

    package = json.loads((REPO / "datadocs" / "package.json").read_text())["dependencies"]
    for url, rel in datadocs.CDN_ASSETS.items():
        name = rel.split("/dist/")[0].split("/build/")[0].split("/css/")[0]
        assert name in package, (url, name)
        if url.endswith(("@5", "@6")):  # jsdelivr's "latest of this major"
            assert package[name].split(".")[0] == url.rsplit("@", 1)[1], (url, package[name])
        elif name != "bootstrap-table" or "1.19.1" in url:  # GE also asks for 1.19.0's stylesheet
            assert package[name] in url, (url, package[name])

    folder = datadocs.node_modules()
    if folder is None:
        pytest.skip("Data Docs assets are not installed (make docs-assets)")
    pinned = re.findall(r"<script src=\"(https://[^\"]+)\" integrity=\"sha384-([^\"]+)\"", text)
    assert len(pinned) == 2
    for url, digest in pinned:
        data = (folder / datadocs.CDN_ASSETS[url]).read_bytes()
        assert base64.b64encode(hashlib.sha384(data).digest()).decode() == digest, url


# ---------------------------------------------------------------- the two GE engines, same verdicts


def _verdicts(outcome: validate.Outcome) -> dict[str, set[tuple]]:
    return {p.label: {(f.expectation, f.column, f.severity, f.unexpected) for f in p.failures} for p in outcome.partitions}


def test_the_ge_speedups_give_ges_own_values_for_every_expectation_of_every_suite(spark) -> None:
    """digestflow.gx_speedups replaces two of GE's Expectation methods and caches camel_to_snake: for every
    expectation of every table's suite (both engines) the replacements return what GE's own methods
    return, and the cached name conversion what GE's own function returns."""
    from great_expectations.expectations import expectation as ge_expectation

    from digestflow import gx_speedups

    gx = validate.gx_context()
    assert gx_speedups.apply(), "the pinned GE version is patched"
    expectations = [e for table in sorted(schemas.tables()) for engine in validate.ENGINES
                    for e in gx.suite(validate.load_suite(table, engine), name=f"speed-{table}-{engine}").expectations]
    names = sorted({type(e).__name__ for e in expectations})

    def values() -> list:
        return [(e._get_domain_kwargs(), e._get_success_kwargs(), e.configuration.to_json_dict()) for e in expectations] + [
            [ge_expectation.camel_to_snake(n) for n in names]]

    patched = values()
    gx_speedups.restore()
    try:
        assert ge_expectation.Expectation._get_success_kwargs is not gx_speedups._get_success_kwargs
        own = values()
    finally:
        gx_speedups.apply()
    assert len(expectations) > 100
    assert len(names) >= 9  # every kind the suites use
    assert patched == own


@pytest.mark.slow
def test_pandas_and_spark_engines_block_the_same_planted_rows(spark) -> None:
    """The same corrupted papers frame through GE's Spark and pandas engines: both find exactly what was
    planted (empty title on day 1, duplicated position on day 2, short abstract = warning on day 3, day 5
    after the run's end), with the same rows per partition."""
    rows = [dict(r) for r in paper_rows()]
    first = {d: [r for r in rows if r["digest_date"] == d] for d in DAYS}
    first[DAYS[0]][1]["title"] = ""
    first[DAYS[1]][2]["position"] = 1
    short = first[DAYS[2]][0]
    short["abstract"] = "We study a small thing and report one number, which is good news for everyone."
    short["n_words"] = len(short["abstract"].split())
    df = spark.createDataFrame(rows, schemas.load("papers").spark())
    params = validate.suite_parameters(DAYS[0], DAYS[3], DAYS[3])
    per_day = {d: len(first[d]) for d in DAYS}
    planted = {
        f"digest_date={DAYS[0]}": {("expect_column_values_to_match_regex", "title", "critical", 1),
                                   ("expect_column_value_lengths_to_be_between", "title", "critical", 1)},
        # positions 0,1,1,3,… against row numbers 0,1,2,3,…: one row is off
        f"digest_date={DAYS[1]}": {("expect_column_pair_values_to_be_equal", "position, __position_expected",
                                    "critical", 1)},
        f"digest_date={DAYS[2]}": {("expect_column_value_lengths_to_be_between", "abstract", "warning", 1)},
        f"digest_date={DAYS[3]}": set(),
        f"digest_date={DAYS[4]}": {("expect_column_values_to_be_between", "digest_date", "critical", per_day[DAYS[4]])},
    }
    outcomes = {engine: validate.validate_frame(df, validate.load_suite("papers", engine), params) for engine in validate.ENGINES}
    for engine, outcome in outcomes.items():
        assert outcome.engine == engine
        assert {p.label: p.rows for p in outcome.partitions} == {f"digest_date={d}": n for d, n in per_day.items()}
        assert _verdicts(outcome) == planted, engine
        assert [p.label for p in outcome.blocked] == [f"digest_date={d}" for d in (DAYS[0], DAYS[1], DAYS[4])]


@pytest.mark.slow
@pytest.mark.parametrize("engine", validate.ENGINES)
def test_a_column_written_with_the_wrong_type_blocks_every_partition(spark, engine) -> None:
    """n_words written as a 64-bit integer instead of int: a table-level failure on both engines."""
    from pyspark.sql import functions as F

    df = spark.createDataFrame(paper_rows(), schemas.load("papers").spark()).withColumn("n_words", F.col("n_words").cast("long"))
    outcome = validate.validate_frame(df, validate.load_suite("papers", engine), validate.suite_parameters(DAYS[0], DAYS[-1], DAYS[-1]))
    assert [p.label for p in outcome.blocked] == [f"digest_date={d}" for d in DAYS]
    for part in outcome.partitions:
        assert [(f.expectation, f.column, f.scope) for f in part.failures] == [("expect_column_values_to_be_of_type", "n_words", "run")]


def trend_rows(as_of: dt.date, n: int) -> list[dict]:
    """Hand-made keyword_trends rows that satisfy every rule: n terms in the 7d window."""
    target, baseline = as_of - dt.timedelta(days=6), as_of - dt.timedelta(days=34)
    return [
        {"term": f"term {i}", "display_form": f"Term {i}", "n_tokens": 2, "window": "7d", "target_start": target,
         "baseline_start": baseline, "df_target": 3 + i, "df_baseline": 2, "n_target": 100, "n_baseline": 400,
         "share_target": (3 + i) / 100, "share_baseline": 2 / 400, "logodds_delta": 1.0 + i, "logodds_z": 2.0 + i,
         "burst_active": False, "burst_start": None, "mk_z": None, "mk_p": None, "sen_slope": None,
         "first_seen": baseline, "is_new": False, "suppressed_by": None, "rank_rising": n - i, "rank_falling": None,
         "as_of": as_of}
        for i in range(n)
    ]


@pytest.mark.slow
@pytest.mark.parametrize("engine", validate.ENGINES)
def test_a_bad_partition_of_a_small_table_is_blocked_through_the_gate(spark, tmp_path, monkeypatch, caplog, engine) -> None:
    """keyword_trends through the real write → audit → publish path: a small table goes to GE's pandas
    engine (PANDAS_MAX_ROWS = 0 forces Spark). Day 2 has a share above 1 and a duplicated key: blocked;
    day 1 publishes byte for byte what was staged."""
    import logging

    if engine == "spark":
        monkeypatch.setattr(validate, "PANDAS_MAX_ROWS", 0)
    day1, day2 = DAYS[0], DAYS[1]
    good, bad = trend_rows(day1, 4), trend_rows(day2, 4)
    bad[1]["share_target"] = 1.5
    bad.append(dict(bad[0]))
    warehouse = tmp_path / "wh"
    settings = Settings.from_env().replace(warehouse=str(warehouse), validate=True)
    ctx = make_context(spark=spark, settings=settings, start=day1, end=day2, today=day2)
    report = StageReport("trends")
    df = spark.createDataFrame(good + bad, schemas.load("keyword_trends").spark())
    with caplog.at_level(logging.INFO, logger="digestflow.validate"):
        ctx.publish("keyword_trends", df, storage.date_partitions([day1, day2], "as_of"), report)
    assert f"validated keyword_trends (GE {engine} engine)" in caplog.text
    assert report.partitions == 1
    assert not (warehouse / "keyword_trends" / f"as_of={day2}").exists()
    published = pq.read_table(warehouse / "keyword_trends" / f"as_of={day1}").to_pylist()
    assert sorted(r["term"] for r in published) == [r["term"] for r in good]
    (message,) = report.blocked
    assert f"keyword_trends as_of={day2}: NOT PUBLISHED" in message
    assert "expect_column_values_to_be_between(share_target): 1 row" in message
    assert "expect_column_values_to_be_between(__key_count): 2 rows" in message
    rows = result_rows(warehouse, "keyword_trends", ctx.run_id)
    assert {p: r["blocked"] for p, r in rows.items()} == {f"as_of={day1}": False, f"as_of={day2}": True}
    assert rows[f"as_of={day2}"]["rows"] == 5


@pytest.mark.slow
def test_data_docs_keep_the_results_of_earlier_processes(spark, tmp_path, monkeypatch) -> None:
    """A second process (here: a fresh GE context) validating into the same warehouse lists the first
    one's result too, and its page stays on disk."""
    warehouse = tmp_path / "wh"
    settings = Settings.from_env().replace(warehouse=str(warehouse), validate=True)
    runs = []
    for day in DAYS[:2]:
        monkeypatch.setattr(validate, "_GX", None)
        ctx = make_context(spark=spark, settings=settings, start=day, end=day, today=day)
        df = spark.createDataFrame(trend_rows(day, 3), schemas.load("keyword_trends").spark())
        ctx.publish("keyword_trends", df, storage.date_partitions([day], "as_of"), StageReport("trends"))
        runs.append(ctx.run_id)
    docs = warehouse / "_data_docs"
    index = (docs / "index.html").read_text()
    for run_id, day in zip(runs, DAYS[:2], strict=True):
        assert run_id in index
        (page,) = (docs / "validations" / "keyword_trends" / run_id).rglob("*.html")
        assert page.name == f"as_of={day}.html"


@pytest.mark.slow
def test_a_suite_is_stored_once_per_process_and_again_when_its_file_is_gone(spark, tmp_path, monkeypatch) -> None:
    """Each audit stores its result; the suite (the same object all process long) is written and its page
    rendered on the first audit, neither again by the next, and again when the suite's file or its page
    was removed in between: the index and the suite's page always have it."""
    warehouse = tmp_path / "wh"
    settings = Settings.from_env().replace(warehouse=str(warehouse), validate=True)
    monkeypatch.setattr(validate, "_GX", None)
    docs = warehouse / "_data_docs"
    suite_file = docs / "_gx" / "expectations" / f"{validate.load_suite('keyword_trends', 'pandas').name}.json"
    stamps, page_stamps, suite_page = [], [], None
    for i, day in enumerate(DAYS[:4]):
        if i == 2:
            suite_file.unlink()
        if i == 3 and suite_page is not None:
            suite_page.unlink()
        ctx = make_context(spark=spark, settings=settings, start=day, end=day, today=day)
        df = spark.createDataFrame(trend_rows(day, 3), schemas.load("keyword_trends").spark())
        ctx.publish("keyword_trends", df, storage.date_partitions([day], "as_of"), StageReport("trends"))
        assert suite_file.is_file(), i
        stamps.append(suite_file.stat().st_mtime_ns)
        (suite_page,) = (docs / "expectations").rglob("*.html")
        page_stamps.append(suite_page.stat().st_mtime_ns)
        (page,) = (docs / "validations" / "keyword_trends" / ctx.run_id).rglob("*.html")
        assert page.name == f"as_of={day}.html"
        assert ctx.run_id in (docs / "index.html").read_text()
    assert stamps[1] == stamps[0]  # not rewritten by the second audit
    assert stamps[2] != stamps[1]  # written again once removed
    assert stamps[3] == stamps[2]
    assert page_stamps[1] == page_stamps[0]  # its page not rendered again either,
    assert page_stamps[2] != page_stamps[1]  # but with the suite stored again,
    assert page_stamps[3] != page_stamps[2]  # or once the page was removed
    assert json.loads(suite_file.read_text())["expectations"], "the stored suite has its expectations"
    assert list((docs / "expectations").rglob("*.html")), "the suite's page"


@pytest.mark.slow
def test_an_index_build_reads_summaries_and_equals_ges_own_build(spark, tmp_path, monkeypatch) -> None:
    """The Data Docs index reads each listed result as a summary (the standard library's JSON parser),
    not through GE's deserialiser: in one process an audit deserialises only its own result (for its
    page), a fresh process's index build none; and the index is byte for byte the one GE builds when it
    deserialises every result itself."""
    from great_expectations.data_context.store.validation_results_store import ValidationResultsStore

    loads = []
    deserialize = ValidationResultsStore.deserialize
    monkeypatch.setattr(ValidationResultsStore, "deserialize", lambda self, value: loads.append(1) or deserialize(self, value))
    warehouse = tmp_path / "wh"
    docs = warehouse / "_data_docs"
    settings = Settings.from_env().replace(warehouse=str(warehouse), validate=True)
    monkeypatch.setattr(validate, "_GX", None)
    for n, day in enumerate(DAYS[:3], start=1):
        loads.clear()
        ctx = make_context(spark=spark, settings=settings, start=day, end=day, today=day)
        df = spark.createDataFrame(trend_rows(day, 3), schemas.load("keyword_trends").spark())
        ctx.publish("keyword_trends", df, storage.date_partitions([day], "as_of"), StageReport("trends"))
        assert len(loads) == 1, (n, len(loads))  # its own page's; the index reads summaries
    index = docs / "index.html"
    ours = index.read_text()
    keys = validate.gx_context().site(docs).results.list_keys()
    assert len(keys) == 3
    assert all(key.run_id.run_name in ours for key in keys)

    monkeypatch.setattr(validate, "_GX", None)  # a fresh process: nothing in memory
    loads.clear()
    validate.gx_context().site(docs).build([keys[0]])
    assert len(loads) == 1  # the page asked for; the index's three results were summaries
    assert index.read_text() == ours

    monkeypatch.setattr(validate, "_GX", None)
    loads.clear()
    _ges_own_build(docs)  # every page and the index, each result deserialised
    assert len(loads) >= 3 + 3
    assert index.read_text() == ours


def _ges_own_build(docs: Path) -> None:
    """GE's own :meth:`SiteBuilder.build` of every page and the index (reading each result through GE's
    deserialiser, listing every store), then the index pointed at the vendored assets as digestflow does."""
    from digestflow import datadocs

    site = validate.gx_context().site(docs)
    site.builder.site_index_builder.source_stores["validations"] = site.results.store_name  # GE's own setting
    site.builder.build()
    if datadocs.install(docs):
        datadocs.localize(docs / "index.html", docs)


@pytest.mark.slow
def test_the_index_lists_the_newest_results_from_its_key_log_without_walking_the_store(spark, tmp_path, monkeypatch) -> None:
    """With room for three results, five runs' index lists the three newest runs; after the first audit
    no build walks the stored results or the pages (GE's own builder walks both, four times a build);
    the index equals GE's own build with the same limit, also after the key log was deleted (rebuilt from
    the store)."""
    from great_expectations.data_context.store.tuple_store_backend import TupleFilesystemStoreBackend

    walked = []
    list_keys = TupleFilesystemStoreBackend.list_keys
    monkeypatch.setattr(TupleFilesystemStoreBackend, "list_keys",
                        lambda self, prefix=(): walked.append((self.full_base_directory, prefix)) or list_keys(self, prefix))
    monkeypatch.setattr(validate, "INDEX_LIMIT", 3)
    monkeypatch.setattr(validate, "_GX", None)
    warehouse = tmp_path / "wh"
    docs = warehouse / "_data_docs"
    settings = Settings.from_env().replace(warehouse=str(warehouse), validate=True)
    runs = []
    for n, day in enumerate(DAYS, start=1):
        walked.clear()
        ctx = make_context(spark=spark, settings=settings, start=day, end=day, today=day)
        df = spark.createDataFrame(trend_rows(day, 3), schemas.load("keyword_trends").spark())
        ctx.publish("keyword_trends", df, storage.date_partitions([day], "as_of"), StageReport("trends"))
        runs.append(ctx.run_id)
        stores = {Path(base).relative_to(docs).as_posix() for base, _ in walked}
        if n > 1:  # the first audit writes the key log from the store's listing (one result)
            assert stores <= {"_gx/expectations"}, (n, walked)  # the suites only: a handful of files
    index = docs / "index.html"
    ours = index.read_text()
    assert [run in ours for run in runs] == [False, False, True, True, True]

    monkeypatch.setattr(validate, "_GX", None)
    _ges_own_build(docs)  # limited to the newest three too
    assert index.read_text() == ours

    (docs / "_gx" / validate.RESULT_KEYS).unlink()
    monkeypatch.setattr(validate, "_GX", None)
    validate.gx_context().site(docs).build([])
    assert (docs / "_gx" / validate.RESULT_KEYS).is_file()
    assert index.read_text() == ours


@pytest.mark.slow
def test_partition_counts_from_footers_match_the_rows_written(spark, tmp_path) -> None:
    """Rows per partition read from the Parquet footers of a real staged write, with partition values
    Spark has to escape in folder names ('/', ':', ' ', '='): the labels are those of the values."""
    models = {"org/model:v1 x": 3, "a=b": 2}
    rows = [{"paper_id": f"p{i}", "vector": [0.0, 1.0], "dim": 2, "model": m, "digest_date": d}
            for m, n in models.items() for d in DAYS[:2] for i in range(n + (d == DAYS[1]))]
    df = spark.createDataFrame(rows, schemas.load("embeddings").spark())
    owned = [{"model": m, "digest_date": d} for m in models for d in DAYS[:2]]
    staged = storage.write_staged(df, "embeddings", str(tmp_path / "wh"), "run1", owned)
    counts = validate.partition_counts(staged.path, "embeddings")
    expected = {storage.partition_relpath(p): n + (p["digest_date"] == DAYS[1]) for p in owned for m, n in models.items()
                if p["model"] == m}
    assert {label: n for label, (_, n) in counts.items()} == expected
    assert {label: part for label, (part, _) in counts.items()} == {storage.partition_relpath(p): p for p in owned}


@pytest.mark.slow
def test_without_the_vendored_assets_the_gate_still_runs_and_says_what_to_install(spark, tmp_path, monkeypatch, caplog) -> None:
    import logging

    from digestflow import datadocs

    monkeypatch.setattr(datadocs, "node_modules", lambda: None)
    monkeypatch.setattr(datadocs, "_warned", False)
    warehouse = tmp_path / "wh"
    settings = Settings.from_env().replace(warehouse=str(warehouse), validate=True)
    ctx = make_context(spark=spark, settings=settings, start=DAYS[0], end=DAYS[0], today=DAYS[0])
    df = spark.createDataFrame(trend_rows(DAYS[0], 3), schemas.load("keyword_trends").spark())
    report = StageReport("trends")
    with caplog.at_level(logging.WARNING, logger="digestflow.datadocs"):
        ctx.publish("keyword_trends", df, storage.date_partitions([DAYS[0]], "as_of"), report)
    assert report.partitions == 1
    assert "make docs-assets" in caplog.text
    index = warehouse / "_data_docs" / "index.html"
    assert "https://code.jquery.com/jquery-3.7.1.min.js" in datadocs.remote_links(index)
    assert not (warehouse / "_data_docs" / "static" / "vendor").exists()


def test_only_structural_suites_without_derived_columns_are_one_pass() -> None:
    """By hand from the suite files: paper_terms and embeddings carry only the generated schema rules
    (columns, types, not-null), papers and keyword_trends carry semantic rules and helper columns."""
    assert validate.load_suite("paper_terms", "spark").one_pass
    assert validate.load_suite("embeddings", "spark").one_pass
    assert not validate.load_suite("papers", "spark").one_pass
    assert not validate.load_suite("keyword_trends", "spark").one_pass


@pytest.mark.slow
def test_a_null_in_paper_terms_blocks_its_partition_without_caching_the_staged_rows(spark, tmp_path, monkeypatch) -> None:
    """paper_terms through the real write → audit → publish path on GE's Spark engine: the staged rows are
    scanned once, not cached (a one-pass suite over footer counts), and a NULL surface on day 2 still
    blocks day 2 alone while day 1 publishes."""
    from pyspark.sql import types as T
    from pyspark.sql.classic.dataframe import DataFrame

    monkeypatch.setattr(validate, "PANDAS_MAX_ROWS", 0)
    cached: list[list[str]] = []
    real_persist = DataFrame.persist

    def spy(self, *args, **kwargs):
        cached.append(self.columns)
        return real_persist(self, *args, **kwargs)

    monkeypatch.setattr(DataFrame, "persist", spy)
    day1, day2 = DAYS[0], DAYS[1]
    rows = [{"paper_id": f"2503.{i:05d}", "term": t, "n_tokens": t.count(" ") + 1, "tf": 1 + i, "in_title": i == 0,
             "surface": t.title(), "digest_date": d}
            for d in (day1, day2) for i in range(3) for t in ("low rank", "adapter")]
    rows[7]["surface"] = None  # day 2, second paper, "adapter"
    nullable = T.StructType([T.StructField(f.name, f.dataType, True) for f in schemas.load("paper_terms").spark().fields])
    warehouse = tmp_path / "wh"
    settings = Settings.from_env().replace(warehouse=str(warehouse), validate=True)
    ctx = make_context(spark=spark, settings=settings, start=day1, end=day2, today=day2)
    report = StageReport("terms")
    ctx.publish("paper_terms", spark.createDataFrame(rows, nullable), storage.date_partitions([day1, day2]), report)
    assert cached == []  # the gate read the staged files once, uncached
    assert report.partitions == 1
    assert not (warehouse / "paper_terms" / f"digest_date={day2}").exists()
    published = pq.read_table(warehouse / "paper_terms" / f"digest_date={day1}").to_pylist()
    assert len(published) == 6
    (message,) = report.blocked
    assert f"paper_terms digest_date={day2}: NOT PUBLISHED" in message
    assert "expect_column_values_to_not_be_null(surface): 1 row" in message


# ------------------------------------------------------------------ small tables read in this process


def _frames_equal(spark_frame, arrow_frame, derived) -> None:
    """Same columns in the same order, the same dtype for every table column (a derived helper column
    may differ in integer width: Spark's row_number/datediff are int, DuckDB's bigint), the same values
    row for row (both readers keep the files' order)."""
    assert list(arrow_frame.columns) == list(spark_frame.columns)
    for col in spark_frame.columns:
        if col in derived:
            assert str(arrow_frame[col].dtype).lower().rstrip("0123456789") == \
                str(spark_frame[col].dtype).lower().rstrip("0123456789"), col
        else:
            assert str(arrow_frame[col].dtype) == str(spark_frame[col].dtype), col
        assert arrow_frame[col].astype(object).map(repr).tolist() == spark_frame[col].astype(object).map(repr).tolist(), col


def _compare_readers(spark, root: Path, table: str) -> int:
    spec = validate.load_suite(table, "pandas")
    df = validate.read_frame(spark, root, table)
    if df is None:
        assert validate.read_arrow(root, table) is None
        return 0
    by_spark = validate._to_pandas(validate.prepare(df, spec))
    by_arrow = validate.arrow_to_pandas(validate.with_derived(validate.read_arrow(root, table), spec))
    key = [*spec.partition_by, *spec.row_id_columns]
    _frames_equal(by_spark.sort_values(key, kind="stable").reset_index(drop=True),
                  by_arrow.sort_values(key, kind="stable").reset_index(drop=True), set(spec.derived_columns))
    return len(by_spark)


@pytest.mark.slow
def test_small_tables_read_in_process_equal_what_spark_reads(spark, pipeline_run) -> None:
    """The pandas engine's in-process reader (pyarrow for the files, DuckDB for the derived columns that
    sqlglot translates from the suites' Spark SQL) against Spark's own reader and Spark's own values of
    those columns: every table of a real 35-day run, and the staged papers the gate blocked there."""
    warehouse = pipeline_run.warehouse
    seen = {}
    for table in schemas.tables():
        if (warehouse / table).is_dir() and table not in ("run_metrics", "validation_results"):
            seen[table] = _compare_readers(spark, warehouse / table, table)
    for staged in sorted(warehouse.glob("_staging/*/papers")):  # the blocked day, with its planted faults
        seen[f"staged {staged.parent.name}"] = _compare_readers(spark, staged, "papers")
    assert all(seen[t] > 0 for t in ("papers", "embeddings", "daily_summary", "erank_stats", "keyword_trends",
                                     "trend_papers", "trend_mart", "erank_mart")), seen
    assert any(k.startswith("staged ") and n > 0 for k, n in seen.items()), seen
    every_derived = {name for t in schemas.tables() for name in validate.load_suite(t).derived_columns}
    assert every_derived <= {name for t in seen if not t.startswith("staged")
                             for name in validate.load_suite(t).derived_columns}


@pytest.mark.slow
def test_in_process_reader_takes_partition_folders_as_spark_does(spark, tmp_path) -> None:
    """Folder names Spark writes and reads in its own way: a NULL partition value, an escaped character,
    side files and folders Spark skips; and a date folder that does not parse (Spark 4 refuses to read
    it; the in-process reader gives NULL, which the not-null rule blocks, as read_frame's docstring says)."""
    rows = [(f"{d:%m%d}-{i}", [float(i), 1.0, 0.5], 3, model, d)
            for model in ("hashing", "odd/name") for d in DAYS[:2] for i in range(3)]
    rows[0] = (*rows[0][:4], None)  # -> digest_date=__HIVE_DEFAULT_PARTITION__
    df = spark.createDataFrame(rows, "paper_id string, vector array<float>, dim int, model string, digest_date date")
    root = tmp_path / "embeddings"
    df.write.partitionBy("model", "digest_date").parquet(storage.uri(root))
    assert (root / "model=odd%2Fname").is_dir()
    assert (root / "model=hashing" / "digest_date=__HIVE_DEFAULT_PARTITION__").is_dir()
    good = root / "model=hashing" / f"digest_date={DAYS[1]}"
    (data_file,) = good.glob("[!.]*.parquet")
    shutil.copytree(good, root / "_temporary" / "model=hashing" / good.name)  # skipped
    shutil.copy(data_file, good / ".hidden.parquet")  # skipped
    assert _compare_readers(spark, root, "embeddings") == len(rows)
    shutil.copytree(good, root / "model=hashing" / "digest_date=not-a-date")  # 3 more rows, date NULL
    data = validate.read_arrow(root, "embeddings")
    assert data.num_rows == len(rows) + 3
    assert data.column("digest_date").null_count == 1 + 3
    assert sorted(set(data.column("model").to_pylist())) == ["hashing", "odd/name"]
