"""Airflow for real: ``dag.test`` of digest_daily, a running scheduler with CLI and REST backfills, and
a headless chromium that logs into the UI and sees the successful runs.

Everything runs against one throw-away deployment built by :mod:`digestflow.airflow_local` (the code
behind ``make airflow``) in a tmp AIRFLOW_HOME, SQLite, components bound to 127.0.0.1 on a free port.
The module fixture stops every component it started, even when a test fails. Ground truth comes from
the synthetic corpus (papers per date, which dates have no digest), never from the pipeline itself.

Dates (synthetic digests on weekdays only, none on weekends):
  Thu 2025-03-13  dag.test
  Fri 14 – Sun 16 backfill through the CLI      → one run with data, two weekend runs SKIPPED
  Sat 22 – Mon 24 backfill through the REST API → two weekend runs SKIPPED, one run with data
"""

from __future__ import annotations

import base64
import datetime as dt
import itertools
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from digestflow.airflow_local import LocalAirflow, free_port

pytestmark = [pytest.mark.airflow, pytest.mark.slow, pytest.mark.timeout(3600)]

REPO = Path(__file__).resolve().parents[1]
ARTIFACTS = REPO / "test-artifacts"
DAG_TEST_DATE = dt.date(2025, 3, 13)
CLI_RANGE = (dt.date(2025, 3, 14), dt.date(2025, 3, 16))
API_RANGE = (dt.date(2025, 3, 22), dt.date(2025, 3, 24))
#: Generous bounds for a loaded 2-core machine; an idle one needs a fraction of them.
RUNS_TIMEOUT = 30 * 60
UI_TIMEOUT = 600


def _days(first: dt.date, last: dt.date) -> list[dt.date]:
    return [first + dt.timedelta(days=i) for i in range((last - first).days + 1)]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> tuple[Path, dict[dt.date, int]]:
    """Weekday digests for 2025-03-10 … 2025-03-28 in a landing folder; papers per date (ground truth)."""
    from digestflow.generate import generate_corpus, write_corpus

    digests = [d for d in generate_corpus(19, start=dt.date(2025, 3, 10), seed=6) if d.digest_date.weekday() < 5]
    landing = tmp_path_factory.mktemp("landing")
    write_corpus(digests, landing)
    return landing, {d.digest_date: len(d.papers) for d in digests}


@pytest.fixture(scope="module")
def deployment(tmp_path_factory, corpus) -> LocalAirflow:
    """An initialised (migrated, pool created) deployment; components are started by ``running``."""
    root = tmp_path_factory.mktemp("airflow")
    local = LocalAirflow(root / "home", port=free_port(), landing=corpus[0], warehouse=root / "warehouse")
    local.init()
    return local


@pytest.fixture(scope="module")
def running(deployment: LocalAirflow):
    try:
        deployment.start(timeout=UI_TIMEOUT)
        yield deployment
    finally:
        deployment.stop()
        assert not deployment.pids()


def _papers_per_date(warehouse: Path) -> dict[dt.date, int]:
    import duckdb

    files = list((warehouse / "papers").glob("**/*.parquet"))
    if not files:
        return {}
    rows = duckdb.sql(
        f"SELECT digest_date, count(*) FROM read_parquet('{warehouse}/papers/**/*.parquet', hive_partitioning=true) "
        "GROUP BY 1"
    ).fetchall()
    return {d: n for d, n in rows}


def _stages_logged(warehouse: Path, date: dt.date) -> set[str]:
    """Stages that recorded a run_metrics row covering ``date`` (each stage writes one when it finishes)."""
    import duckdb

    if not list((warehouse / "run_metrics").glob("**/*.parquet")):
        return set()
    rows = duckdb.sql(
        f"SELECT DISTINCT stage FROM read_parquet('{warehouse}/run_metrics/**/*.parquet', hive_partitioning=true) "
        f"WHERE start_date <= DATE '{date}' AND end_date >= DATE '{date}'"
    ).fetchall()
    return {r[0] for r in rows}


def _stage_commands() -> list[str]:
    from digestflow.cli import main
    from digestflow.stages import STAGES

    return [s for s in STAGES if s in main.commands]


DAG_TEST = """
import datetime as dt, json, sys
sys.path.insert(0, sys.argv[1])
from airflow.dag_processing.dagbag import DagBag
dag = DagBag(sys.argv[1]).dags["digest_daily"]
run = dag.test(logical_date=dt.datetime.fromisoformat(sys.argv[2]).replace(tzinfo=dt.UTC))
states = {ti.task_id: str(ti.state) for ti in run.get_task_instances()}
print("RESULT " + json.dumps({"run": str(run.state), "tasks": states}))
"""


def _run_in_own_group(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """Run ``args``; on timeout kill its whole process group (the task's ``digestflow`` and its Spark JVM
    too, which a plain ``subprocess.run`` timeout would leave running)."""
    proc = subprocess.Popen(
        args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True
    )
    try:
        stdout, stderr = proc.communicate(timeout=RUNS_TIMEOUT)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        pytest.fail(f"dag.test not finished after {RUNS_TIMEOUT}s (killed with its task processes)")
    return subprocess.CompletedProcess(args, proc.returncode, stdout, stderr)


def test_dag_test_runs_digest_daily_end_to_end(deployment, corpus):
    _, truth = corpus
    out = _run_in_own_group(
        [sys.executable, "-c", DAG_TEST, str(deployment.dags), DAG_TEST_DATE.isoformat()], deployment.env()
    )
    lines = [line for line in out.stdout.splitlines() if line.startswith("RESULT ")]
    assert lines, f"dag.test printed no result; exit {out.returncode}\n{out.stdout[-3000:]}\n{out.stderr[-3000:]}"
    result = json.loads(lines[-1].removeprefix("RESULT "))
    stages = _stage_commands()
    assert result["tasks"] == {"wait_for_digest": "success", **{s: "success" for s in stages}}, out.stdout[-3000:]
    assert result["run"] == "success"
    assert _papers_per_date(deployment.warehouse) == {DAG_TEST_DATE: truth[DAG_TEST_DATE]}
    assert _stages_logged(deployment.warehouse, DAG_TEST_DATE) >= set(stages)
    assert f"ingest: 1 in, {truth[DAG_TEST_DATE]} out" in out.stdout + out.stderr  # the stage's row counts
    if not deployment.stage_server_state.exists():  # components not started yet (this module's first test)
        # so each task ran its stage in its own Spark application, and said why
        assert "no stage server state" in out.stdout + out.stderr


def _create_backfill_cli(local: LocalAirflow, first: dt.date, last: dt.date) -> None:
    """``airflow backfill create``; on SQLite it can lose a write race with the scheduler ("database is
    locked"), in which case Airflow removes the partial backfill and the documented remedy is to retry."""
    for _attempt in range(8):
        out = local.airflow(
            "backfill", "create", "--dag-id", "digest_daily", "--from-date", first.isoformat(),
            "--to-date", last.isoformat(), "--max-active-runs", "1", "--reprocess-behavior", "none", check=False,
        )
        if out.returncode == 0:
            return
        assert "database is locked" in out.stderr + out.stdout, out.stderr[-3000:]
        time.sleep(3)
    pytest.fail("backfill create kept hitting 'database is locked'")


def _create_backfill_rest(local: LocalAirflow, first: dt.date, last: dt.date) -> dict:
    body = {
        "dag_id": "digest_daily",
        "from_date": f"{first}T00:00:00Z",
        "to_date": f"{last}T00:00:00Z",
        "max_active_runs": 1,
        "reprocess_behavior": "none",
    }
    token = local.token()  # POST /auth/token
    for _attempt in range(8):
        try:
            return local.api("POST", "/backfills", body, token=token)
        except RuntimeError as exc:
            if not any(m in str(exc) for m in ("HTTP 503", "locked", "already a running backfill")):
                raise
            time.sleep(3)
    pytest.fail("POST /api/v2/backfills kept answering 503 (database is locked) or 409 (backfill running)")


def _wait_for_runs(local: LocalAirflow, dates: list[dt.date]) -> dict[dt.date, dict]:
    """Poll the REST API until the backfill runs of ``dates`` are all finished."""
    deadline, token = time.monotonic() + RUNS_TIMEOUT, local.token()
    while True:
        runs = local.api("GET", "/dags/digest_daily/dagRuns?run_type=backfill&limit=100", token=token)["dag_runs"]
        by_date = {dt.date.fromisoformat(r["logical_date"][:10]): r for r in runs}
        mine = {d: by_date.get(d) for d in dates}
        if all(r and r["state"] in ("success", "failed") for r in mine.values()):
            return mine
        if down := [name for name in local.components if name not in local.pids()]:  # supervisor gave up: fail now
            logs = local.home / "components"
            tails = {name: (logs / f"{name}.log").read_text(errors="replace")[-3000:] for name in down}
            pytest.fail(f"{down} down while runs wait: { {str(d): r and r['state'] for d, r in mine.items()} }\n{tails}")
        if time.monotonic() > deadline:
            pytest.fail(f"runs not finished after {RUNS_TIMEOUT}s: { {str(d): r and r['state'] for d, r in mine.items()} }")
        time.sleep(10)
        token = local.token()


def _wait_for_backfills_completed(local: LocalAirflow, timeout: float = 300) -> list[dict]:
    """Poll until every backfill of digest_daily has ``completed_at`` (the scheduler sets it on the loop
    after the backfill's last run finishes); returns them as they are at the deadline otherwise."""
    deadline = time.monotonic() + timeout
    while True:
        backfills = local.api("GET", "/backfills?dag_id=digest_daily")["backfills"]
        if all(b["completed_at"] for b in backfills) or time.monotonic() > deadline:
            return backfills
        time.sleep(5)


def _task_states(local: LocalAirflow, run_id: str) -> dict[str, str]:
    tis = local.api("GET", f"/dags/digest_daily/dagRuns/{run_id}/taskInstances?limit=100")["task_instances"]
    return {ti["task_id"]: ti["state"] for ti in tis}


def test_backfills_from_cli_and_rest_api_succeed(running, corpus):
    local = running
    _, truth = corpus
    stages = _stage_commands()

    _create_backfill_cli(local, *CLI_RANGE)
    cli_runs = _wait_for_runs(local, _days(*CLI_RANGE))
    # One backfill per DAG at a time: Airflow answers 409 to a second one until the scheduler has marked
    # the first complete, which happens on a later loop than its last run finishing. REST after CLI.
    _wait_for_backfills_completed(local)
    created = _create_backfill_rest(local, *API_RANGE)
    assert created["dag_id"] == "digest_daily"
    api_runs = _wait_for_runs(local, _days(*API_RANGE))

    for date, run in {**cli_runs, **api_runs}.items():
        states = _task_states(local, run["dag_run_id"])
        assert run["state"] == "success", (date, states)
        if date in truth:
            assert states == {"wait_for_digest": "success", **{s: "success" for s in stages}}, date
            log = json.dumps(local.api("GET", f"/dags/digest_daily/dagRuns/{run['dag_run_id']}/taskInstances/ingest/logs/1"))
            assert f"ingest: 1 in, {truth[date]} out" in log, "ingest's log shows its row counts"
            assert "[stage server pid" in log, "the task ran in the deployment's warm stage server"
        else:  # a weekend: no digest, nothing failed, nothing ran
            assert date.weekday() >= 5
            assert set(states.values()) == {"skipped"}, (date, states)

    backfills = _wait_for_backfills_completed(local)
    assert len(backfills) == 2
    assert all(b["completed_at"] for b in backfills), backfills
    backfilled = [*_days(*CLI_RANGE), *_days(*API_RANGE)]
    expected = {d: truth[d] for d in backfilled if d in truth}
    assert len(expected) == 2  # Fri 14 and Mon 24; the weekend dates have no digest
    got = _papers_per_date(local.warehouse)
    assert {d: n for d, n in got.items() if d != DAG_TEST_DATE} == expected
    for date in expected:
        assert _stages_logged(local.warehouse, date) >= set(stages), date


# --- a real browser: Debian chromium, driven over the DevTools protocol (websockets, no extra package) ---

CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-dev-shm-usage",
    "--window-size=1400,1000", "--remote-debugging-address=127.0.0.1", "--remote-debugging-port=0",
]


class Chromium:
    """Just enough of the DevTools protocol: evaluate JS, type text, take a screenshot."""

    def __init__(self, profile: Path) -> None:
        from websockets.sync.client import connect

        exe = shutil.which("chromium") or shutil.which("chromium-browser")
        if exe is None:
            pytest.fail("chromium not found: apt-get install -y chromium (make test does it)")
        self.proc = subprocess.Popen(
            [exe, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
        )
        port_file, deadline = profile / "DevToolsActivePort", time.monotonic() + 120
        while not port_file.is_file() or len(port_file.read_text().split()) < 2:
            if time.monotonic() > deadline or self.proc.poll() is not None:
                self.close()
                pytest.fail("chromium did not open its DevTools port")
            time.sleep(0.2)
        port = port_file.read_text().split()[0]
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=60) as resp:
            page = next(p for p in json.load(resp) if p["type"] == "page")
        self.ws = connect(page["webSocketDebuggerUrl"], max_size=None, open_timeout=60)
        self.ids = itertools.count(1)

    def send(self, method: str, **params):
        msg_id = next(self.ids)
        self.ws.send(json.dumps({"id": msg_id, "method": method, "params": params}))
        while True:
            reply = json.loads(self.ws.recv(timeout=300))
            if reply.get("id") == msg_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})

    def js(self, expression: str):
        result = self.send("Runtime.evaluate", expression=expression, returnByValue=True)
        return result.get("result", {}).get("value")

    def wait_for(self, expression: str, what: str, timeout: float = UI_TIMEOUT) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if self.js(expression):
                    return
            except RuntimeError:
                pass  # the page is navigating: no execution context yet
            time.sleep(1)
        self.screenshot(ARTIFACTS / "airflow_ui_timeout.png")
        pytest.fail(f"UI: {what} not seen after {timeout}s (screenshot test-artifacts/airflow_ui_timeout.png)")

    def screenshot(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(self.send("Page.captureScreenshot", format="png")["data"]))

    def close(self) -> None:
        if getattr(self, "ws", None) is not None:
            self.ws.close()
        self.proc.terminate()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


@pytest.mark.browser
def test_ui_login_shows_the_successful_runs(running, tmp_path):
    local = running
    runs = local.api("GET", "/dags/digest_daily/dagRuns?run_type=backfill&state=success&limit=100")["dag_runs"]
    if not runs:
        pytest.skip("no successful backfill runs to look at (test_backfills_from_cli_and_rest_api_succeed failed)")
    browser = Chromium(tmp_path / "chromium-profile")
    try:
        browser.send("Page.enable")
        browser.send("Page.navigate", url=f"{local.url}/")
        browser.wait_for("document.querySelector('input[name=password]') !== null", "the login form")
        for field_name, value in (("username", "admin"), ("password", local.password())):
            browser.js(f"document.querySelector('input[name={field_name}]').focus()")
            browser.send("Input.insertText", text=value)
        browser.js("document.querySelector('button[type=submit]').click()")
        browser.wait_for("!location.pathname.startsWith('/auth/')", "the redirect after login")
        browser.send("Page.navigate", url=f"{local.url}/dags/digest_daily/runs")
        run_ids = [r["dag_run_id"] for r in runs]
        browser.wait_for(
            f"{json.dumps(run_ids)}.every(id => document.body.innerText.includes(id))", "every successful run id"
        )
        time.sleep(2)  # let the state badges paint before the screenshot
        browser.screenshot(ARTIFACTS / "airflow_digest_daily_runs.png")
        rows = browser.js("[...document.querySelectorAll('tr')].map(tr => tr.innerText)")
        for run_id in run_ids:  # the run's row in the runs table shows its state badge
            (row,) = [r for r in rows if run_id in r]
            assert "Success" in row, row
        assert len(run_ids) == 6, run_ids  # 3 dates from the CLI backfill + 3 from the REST one
    finally:
        browser.close()


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1]) == pid:
                    found.append(int(entry.name))
            except (OSError, ValueError, IndexError):
                continue
    return found


def test_a_killed_scheduler_is_restarted_and_heartbeats_again(running):
    """Kill the scheduler itself (not its supervisor), as a crash would: it comes back on its own."""
    local = running
    supervisor = local.pids()["scheduler"]
    (scheduler,) = _children(supervisor)
    before = local.restarts()["scheduler"]
    killed_at = dt.datetime.now(dt.UTC)
    os.kill(scheduler, signal.SIGKILL)
    deadline = time.monotonic() + UI_TIMEOUT
    while time.monotonic() < deadline:
        body = json.load(urllib.request.urlopen(f"{local.url}/api/v2/monitor/health", timeout=30))["scheduler"]
        beat = body.get("latest_scheduler_heartbeat")
        if body["status"] == "healthy" and beat and dt.datetime.fromisoformat(beat) > killed_at:
            break
        time.sleep(3)
    else:
        pytest.fail(f"no scheduler heartbeat after the kill within {UI_TIMEOUT}s: {body}")
    assert local.restarts()["scheduler"] == before + 1
    assert local.pids()["scheduler"] == supervisor  # the supervisor stayed; a new scheduler under it
    assert scheduler not in _children(supervisor)
