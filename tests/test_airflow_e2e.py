"""Airflow for real: ``dag.test`` of digest_daily, a running scheduler with the README's CLI and REST
backfills and its digest_range trigger, the listening sockets of every process of the deployment, and
a headless chromium that logs into the UI and sees the successful runs.

Everything runs against one throw-away deployment built by :mod:`digestflow.airflow_local` (the code
behind ``make airflow``) in a tmp AIRFLOW_HOME: its own PostgreSQL on a Unix socket, components bound
to 127.0.0.1 on a free port. The module fixture stops every component it started, even when a test
fails. Ground truth comes from the synthetic corpus (papers per date, which dates have no digest),
never from the pipeline itself.

The README's Airflow commands are taken from README.md and run as written by bash (curl, jq) in a
folder where ``data/airflow`` and ``.venv`` are this deployment's and the venv; only the port is
replaced. So the README cannot drift from what works. Their dates (synthetic digests on weekdays only):
  Thu 2025-03-13  dag.test
  Fri 14 – Sun 16 README's CLI backfill       → one run with data, two weekend runs skipped
  Mon 17 – Tue 18 README's digest_range trigger
  Sat 22 – Mon 24 README's REST backfill      → two weekend runs skipped, one run with data
"""

from __future__ import annotations

import base64
import datetime as dt
import itertools
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from digestflow.airflow_local import MIN_HEARTBEAT_INTERVAL, SCHEDULER_IDLE_SLEEP, LocalAirflow, free_port

pytestmark = [pytest.mark.airflow, pytest.mark.slow, pytest.mark.timeout(3600)]

REPO = Path(__file__).resolve().parents[1]
ARTIFACTS = REPO / "test-artifacts"
DAG_TEST_DATE = dt.date(2025, 3, 13)
CORPUS = (dt.date(2025, 3, 10), dt.date(2025, 3, 28))
#: Generous bounds for a loaded 2-core machine; an idle one needs a fraction of them.
RUNS_TIMEOUT = 30 * 60
UI_TIMEOUT = 600


def _days(first: dt.date, last: dt.date) -> list[dt.date]:
    return [first + dt.timedelta(days=i) for i in range((last - first).days + 1)]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> tuple[Path, dict[dt.date, int]]:
    """Weekday digests for 2025-03-10 … 2025-03-28 in a landing folder; papers per date (ground truth)."""
    from digestflow.generate import generate_corpus, write_corpus

    n_days = (CORPUS[1] - CORPUS[0]).days + 1
    digests = [d for d in generate_corpus(n_days, start=CORPUS[0], seed=6) if d.digest_date.weekday() < 5]
    landing = tmp_path_factory.mktemp("landing")
    write_corpus(digests, landing)
    return landing, {d.digest_date: len(d.papers) for d in digests}


# --- the README's Airflow commands ------------------------------------------------------------------


def readme_block(containing: str) -> str:
    """The one ```bash block of the README's "Run it under Airflow" section that contains ``containing``."""
    text = (REPO / "README.md").read_text()
    section = text.split("## Run it under Airflow", 1)[1].split("\n## ", 1)[0]
    blocks = [b for b in re.findall(r"```bash\n(.*?)```", section, re.S) if containing in b]
    assert len(blocks) == 1, f"README's Airflow section: {len(blocks)} bash blocks contain {containing!r}"
    return blocks[0]


def _json_body(block: str) -> dict:
    """The ``-d '{…}'`` JSON body of the block's last curl request."""
    return json.loads(shlex.split(block.split("curl")[-1].replace("\\\n", " "))[-1])


def readme_cli_backfill() -> tuple[dt.date, dt.date]:
    words = shlex.split(readme_block("backfill create").replace("\\\n", " "))
    return tuple(dt.date.fromisoformat(words[words.index(f"--{edge}-date") + 1]) for edge in ("from", "to"))


def readme_rest_backfill() -> tuple[dt.date, dt.date]:
    body = _json_body(readme_block("/api/v2/backfills"))
    return tuple(dt.date.fromisoformat(body[key][:10]) for key in ("from_date", "to_date"))


def readme_range_trigger() -> tuple[dt.date, dt.date]:
    conf = _json_body(readme_block("digest_range/dagRuns"))["conf"]
    return dt.date.fromisoformat(conf["start"]), dt.date.fromisoformat(conf["end"])


def run_readme(local: LocalAirflow, block: str) -> str:
    """Run a README block with bash as a user would in the repository: ``data/airflow`` and ``.venv``
    are this deployment's home and the venv, the port is this deployment's. Returns stdout."""
    cwd = local.home.parent / "readme-cwd"
    if not cwd.is_dir():
        (cwd / "data").mkdir(parents=True)
        (cwd / "data" / "airflow").symlink_to(local.home)
        (cwd / ".venv").symlink_to(Path(sys.prefix))
    env = {k: v for k, v in local.env().items() if k != "AIRFLOW_HOME"}  # the block sets it, or not
    script = block.replace("127.0.0.1:8080", f"127.0.0.1:{local.port}")
    out = subprocess.run(["bash", "-euo", "pipefail", "-c", script], cwd=cwd, env=env, capture_output=True,
                         text=True, timeout=600)
    assert out.returncode == 0, f"README block failed ({out.returncode}):\n{script}\n{out.stdout[-2000:]}\n{out.stderr[-3000:]}"
    return out.stdout


def test_the_readme_dates_fit_the_test_corpus():
    """The README's examples are run against this module's corpus: each range lies in it, and the two
    backfills each include a weekend (no digest) and a weekday."""
    for first, last in (readme_cli_backfill(), readme_rest_backfill(), readme_range_trigger()):
        assert CORPUS[0] <= first <= last <= CORPUS[1], (first, last)
    for first, last in (readme_cli_backfill(), readme_rest_backfill()):
        weekdays = {d.weekday() < 5 for d in _days(first, last)}
        assert weekdays == {True, False}, (first, last)
    assert DAG_TEST_DATE not in {*_days(*readme_cli_backfill()), *_days(*readme_rest_backfill()), *_days(*readme_range_trigger())}


def _traversable_root() -> Path:
    """A tmp folder the ``postgres`` system user can enter (PostgreSQL refuses to run as root, so as root
    it runs as that user; pytest's tmp folders sit under a 0700 /tmp/pytest-of-root)."""
    import tempfile

    root = Path(tempfile.mkdtemp(prefix="digestflow-airflow-e2e-"))
    root.chmod(0o711)
    return root


@pytest.fixture(scope="module")
def deployment(corpus):
    """An initialised deployment (its PostgreSQL running, migrated, pool created); the Airflow
    components are started by ``running``. Everything is stopped and removed at the end."""
    root = _traversable_root()
    local = LocalAirflow(root / "home", port=free_port(), landing=corpus[0], warehouse=root / "warehouse",
                         metadata_db="postgres")
    try:
        local.init()
        yield local
    finally:
        local.stop()
        assert not local.postgres.running()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="module")
def running(deployment: LocalAirflow):
    try:
        deployment.start(timeout=UI_TIMEOUT)
        # digest_monthly's first scheduled run (last month, no landing files in it) would queue six
        # Spark tasks ahead of this module's; nothing here needs it.
        deployment.pause(["digest_monthly"])
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


def _log_text(local: LocalAirflow, dag_id: str, run_id: str, task_id: str) -> list[str]:
    """A task's log (try 1) as its lines, from the REST API (what the UI shows)."""
    body = local.api("GET", f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/logs/1")
    content = body["content"]
    return [e.get("event", "") if isinstance(e, dict) else str(e) for e in content]


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

    cli_range, api_range = readme_cli_backfill(), readme_rest_backfill()

    # On PostgreSQL the first try works: no "database is locked", no retry (SQLite needed both).
    run_readme(local, readme_block("backfill create"))
    cli_runs = _wait_for_runs(local, _days(*cli_range))
    # One backfill per DAG at a time: Airflow answers 409 to a second one until the scheduler has marked
    # the first complete, which happens on a later loop than its last run finishing. REST after CLI.
    _wait_for_backfills_completed(local)
    created = json.loads(run_readme(local, readme_block("/api/v2/backfills")))
    assert created["dag_id"] == "digest_daily", created
    api_runs = _wait_for_runs(local, _days(*api_range))

    for date, run in {**cli_runs, **api_runs}.items():
        states = _task_states(local, run["dag_run_id"])
        assert run["state"] == "success", (date, states)
        if date in truth:
            assert states == {"wait_for_digest": "success", **{s: "success" for s in stages}}, date
            lines = _log_text(local, "digest_daily", run["dag_run_id"], "ingest")
            counts = [i for i, line in enumerate(lines) if f"ingest: 1 in, {truth[date]} out" in line]
            exit_at = [i for i, line in enumerate(lines) if line.startswith("Command exited with return code 0")]
            assert counts == [exit_at[0] - 1], ("the row counts once, as the command's last line", lines[-40:])
            assert not [line for line in lines if "is deprecated" in line], "known third-party warnings stay out"
            assert any("[stage server pid" in line for line in lines), "the task ran in the warm stage server"
        else:  # a weekend: no digest, nothing failed, nothing ran; the sensor's log says why
            assert date.weekday() >= 5
            assert set(states.values()) == {"skipped"}, (date, states)
            lines = _log_text(local, "digest_daily", run["dag_run_id"], "wait_for_digest")
            reason = [i for i, line in enumerate(lines) if f"no digest for {date}" in line and "none expected any more" in line]
            assert reason, ("the sensor's log gives the reason for the skip", lines[-30:])
            skip = [i for i, line in enumerate(lines) if "Skipping" in line]
            assert not skip or reason[0] < skip[0], lines[-30:]

    backfills = _wait_for_backfills_completed(local)
    assert len(backfills) == 2
    assert all(b["completed_at"] for b in backfills), backfills
    backfilled = [*_days(*cli_range), *_days(*api_range)]
    expected = {d: truth[d] for d in backfilled if d in truth}
    assert len(expected) == 2  # Fri 14 and Mon 24; the weekend dates have no digest
    got = _papers_per_date(local.warehouse)
    assert {d: n for d, n in got.items() if d in backfilled} == expected
    for date in expected:
        assert _stages_logged(local.warehouse, date) >= set(stages), date


def test_digest_range_from_the_readme_and_every_socket_on_loopback(running, corpus):
    """The README's digest_range trigger (``"logical_date": null``) runs the range; meanwhile the
    listening TCP sockets of every process of the deployment (components, API and executor workers,
    task processes, the stage server's Spark JVM, PostgreSQL) are listed every 2 s: all on loopback."""
    from digestflow.airflow_local import is_loopback, listening_sockets

    local = running
    _, truth = corpus
    first, last = readme_range_trigger()
    created = json.loads(run_readme(local, readme_block("digest_range/dagRuns")))
    assert created["logical_date"] is None, created
    seen: dict[tuple[str, int], str] = {}
    deadline = time.monotonic() + RUNS_TIMEOUT
    while True:
        for _pid, command, ip, port in listening_sockets(local.processes()):
            seen[(ip, port)] = command
        run = local.api("GET", f"/dags/digest_range/dagRuns/{created['dag_run_id']}")
        if run["state"] in ("success", "failed") or time.monotonic() > deadline:
            break
        time.sleep(2)
    assert run["state"] == "success", run
    expected = {d: truth[d] for d in _days(first, last) if d in truth}
    got = _papers_per_date(local.warehouse)
    assert {d: got.get(d) for d in expected} == expected

    wildcard = {addr: cmd for addr, cmd in seen.items() if not is_loopback(addr[0])}
    assert wildcard == {}, f"listening beyond loopback: {wildcard}"
    ports = {port for _, port in seen}
    log_port = int(local.config()["logging"]["worker_log_server_port"])
    assert {local.port, log_port} <= ports, seen  # the listing works: the API and log servers are in it
    assert any("java" in cmd for cmd in seen.values()), seen  # and so does the Spark JVM (py4j, driver)


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
        n_dates = len(_days(*readme_cli_backfill())) + len(_days(*readme_rest_backfill()))
        assert len(run_ids) == n_dates, run_ids  # every date of the CLI and of the REST backfill
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


def _config_value(local: LocalAirflow, section: str, key: str) -> str:
    """Airflow's own view of a setting of the running deployment (``airflow config get-value``)."""
    return local.airflow("config", "get-value", section, key).stdout.strip().splitlines()[-1]


def test_the_running_deployment_reads_its_scheduler_idle_sleep(running):
    """Airflow's own view of the deployment's configuration (the file its components read), not ours."""
    assert float(_config_value(running, "scheduler", "scheduler_idle_sleep_time")) == SCHEDULER_IDLE_SLEEP



def test_each_worker_is_free_within_a_heartbeat_interval_of_its_task_end(running):
    """After the backfills above (tens of task instances, weekend skips among them): every executor
    worker reported its workload finished at most ``min_heartbeat_interval`` (+ slack) after its task
    instance ended. With Airflow's default 5 s, about two workloads in five took 5 s longer than their
    task (the supervisor missed the task process's exit), which this fails on. Both durations are
    Airflow's own: the worker's ``Workload finished … duration=`` and the scheduler's ``TaskInstance
    Finished … run_duration=`` lines of the scheduler's log. The deployment also reads the setting."""
    assert int(_config_value(running, "workers", "min_heartbeat_interval")) == MIN_HEARTBEAT_INTERVAL
    log = (running.home / "components" / "scheduler.log").read_text(errors="replace")
    # Tasks that ended (success, skipped): a retried or rescheduled try is logged under its next try's id.
    ended = ("success", "skipped")
    task = {m["ti"]: m for m in re.finditer(
        r"TaskInstance Finished: dag_id=(?P<dag>[\w.-]+), task_id=(?P<task>[\w.-]+), run_id=(?P<run>[^,]+), .*?"
        r"ti_id=(?P<ti>[0-9a-f-]+), .*?run_duration=(?P<duration>[0-9.]+), state=(?P<state>\w+)", log)
        if m["state"] in ended}
    worker = {m["ti"]: float(m["duration"]) for m in re.finditer(
        r"Workload finished .*?duration=(?P<duration>[0-9.]+) .*?final_state=(?P<state>\w+) .*?"
        r"workload_id=(?P<ti>[0-9a-f-]+)", log) if m["state"] in ended}
    both = sorted(set(task) & set(worker))
    assert len(both) >= 15, f"only {len(both)} ended workloads with a finished task instance in the scheduler's log"
    beyond = {ti: worker[ti] - float(task[ti]["duration"]) for ti in both}
    late = {f"{task[ti]['dag']}.{task[ti]['task']} {task[ti]['run']}": round(b, 2) for ti, b in beyond.items()
            if b > MIN_HEARTBEAT_INTERVAL + 2.5}
    assert not late, f"workers busy long after their task ended (s beyond the task): {late}"


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


def test_stop_and_start_again_keeps_the_history_in_postgres(running):
    """What ``make airflow-stop`` and ``make airflow`` run (``python -m digestflow.airflow_local stop`` /
    ``start``): PostgreSQL stops with the components (nothing of the deployment left running) and,
    started again, still has every finished run of this module."""
    local = running
    runs = local.api("GET", "/dags/digest_daily/dagRuns?limit=100")["dag_runs"]
    before = {r["dag_run_id"]: r["state"] for r in runs if r["state"] in ("success", "failed")}
    assert before
    cli = [sys.executable, "-m", "digestflow.airflow_local"]
    where = ["--home", str(local.home), "--port", str(local.port), "--landing", str(local.landing),
             "--warehouse", str(local.warehouse)]
    out = subprocess.run([*cli, "stop", *where], capture_output=True, text=True, timeout=600, env=local.env())
    assert out.returncode == 0, out.stderr
    assert "postgres" in out.stdout, out.stdout
    assert not local.postgres.running()
    assert local.processes() == []
    out = subprocess.run([*cli, "start", "--metadata-db", "postgres", *where], capture_output=True, text=True,
                         timeout=UI_TIMEOUT + 60, env=local.env())
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-3000:]
    assert "Airflow is up" in out.stdout
    assert f"PostgreSQL on the Unix socket in {local.postgres.socket_dir}" in out.stdout
    assert local.password() not in out.stdout + out.stderr  # where the password is, never the password
    after = {r["dag_run_id"]: r["state"] for r in local.api("GET", "/dags/digest_daily/dagRuns?limit=100")["dag_runs"]}
    assert {k: after.get(k) for k in before} == before
