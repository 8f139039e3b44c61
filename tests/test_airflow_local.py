"""The supervisor that keeps each local Airflow component up (``digestflow.airflow_local.supervise``).

Real processes: the supervised command is a small Python script that counts its starts in a file and
exits with a chosen code, so restarts, the crash-loop limit and a clean stop are observed, not assumed.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from digestflow import airflow_local

# Exits with the code at position <starts so far> of argv[2:], or sleeps when the list is used up.
FLAKY = """
import pathlib, sys, time
count = pathlib.Path(sys.argv[1])
starts = int(count.read_text()) if count.exists() else 0
count.write_text(str(starts + 1))
codes = [int(c) for c in sys.argv[2:]]
if starts < len(codes):
    sys.exit(codes[starts])
time.sleep(600)
"""


@pytest.fixture
def no_delay(monkeypatch):
    monkeypatch.setattr(airflow_local, "RESTART_DELAY", 0.0)


def _starts(count: Path) -> int:
    return int(count.read_text()) if count.exists() else 0


def test_a_failing_component_is_restarted_until_it_ends_cleanly(tmp_path, no_delay, capsys):
    count = tmp_path / "starts"
    code = airflow_local.supervise([sys.executable, "-c", FLAKY, str(count), "1", "-9", "0"])
    assert code == 0
    assert _starts(count) == 3  # failed (1), failed again (2), ended by itself with 0 (3): not restarted
    out = capsys.readouterr().out
    assert out.count(airflow_local._RESTART_MARK) == 2
    assert "exited with code 1" in out


def test_a_crash_loop_stops_after_the_restart_limit(tmp_path, no_delay, monkeypatch, capsys):
    monkeypatch.setattr(airflow_local, "MAX_RESTARTS", 3)
    count = tmp_path / "starts"
    code = airflow_local.supervise([sys.executable, "-c", FLAKY, str(count), *["7"] * 10])
    assert code == 7
    assert _starts(count) == 4  # the first run and three restarts
    assert "crash loop, not restarting" in capsys.readouterr().out


def test_sigterm_to_the_group_stops_the_component_without_a_restart(tmp_path):
    count, log = tmp_path / "starts", tmp_path / "component.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "digestflow.airflow_local", "supervise", "--", sys.executable, "-c", FLAKY,
             str(count)],
            stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )
    deadline = time.monotonic() + 60
    while _starts(count) < 1 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _starts(count) == 1, log.read_text()
    os.killpg(proc.pid, signal.SIGTERM)  # what LocalAirflow.stop does
    assert proc.wait(timeout=30) == 128 + signal.SIGTERM  # the component's own end, passed on
    time.sleep(1)
    assert _starts(count) == 1
    assert airflow_local._RESTART_MARK not in log.read_text()
    with pytest.raises(ProcessLookupError):
        os.killpg(proc.pid, 0)  # nothing of the group is left


def test_a_component_that_exited_but_was_not_reaped_is_down(tmp_path):
    """``start`` keeps a Popen per component; one that exits stays a zombie until reaped, and must not
    count as running (a benchmark waited forever on a stopped stage server that way)."""
    local = airflow_local.LocalAirflow(tmp_path / "home", stage_server=True)
    local.run_dir.mkdir(parents=True)
    alive = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    try:
        for name, proc in (("scheduler", alive), (airflow_local.STAGE_SERVER, gone)):
            (local.run_dir / f"{name}.pid").write_text(f"{proc.pid} {airflow_local._start_ticks(proc.pid)}")
        deadline = time.monotonic() + 30
        while "zombie" not in Path(f"/proc/{gone.pid}/status").read_text().lower():  # exited, not reaped
            assert time.monotonic() < deadline
            time.sleep(0.1)
        assert local.pids() == {"scheduler": alive.pid}
    finally:
        alive.kill()
        alive.wait()
        gone.wait()


# --- the metadata database: a real PostgreSQL server (Debian's binaries), Unix socket only ---------


def traversable_tmpdir(prefix: str) -> Path:
    """A fresh folder the ``postgres`` system user can reach when the tests run as root (pytest's own
    tmp folders sit under a 0700 ``/tmp/pytest-of-root``, which PostgreSQL, refusing to run as root,
    could not enter). The caller removes it."""
    import tempfile

    root = Path(tempfile.mkdtemp(prefix=prefix))
    root.chmod(0o711)
    return root


@pytest.fixture
def pg_root():
    import shutil

    root = traversable_tmpdir("digestflow-pg-test-")
    yield root
    shutil.rmtree(root, ignore_errors=True)


def _inet_sockets(proc) -> list:
    """``proc``'s TCP/UDP sockets; none when it ended between the listing of the server's children and
    this look (PostgreSQL starts and ends short-lived helpers, and an ended process holds no socket)."""
    import psutil

    try:
        return proc.net_connections(kind="inet")
    except psutil.NoSuchProcess:
        return []


def test_postgres_listens_on_a_unix_socket_only_and_keeps_its_data_across_a_restart(pg_root):
    import psutil
    import psycopg2

    from digestflow.local_postgres import LocalPostgres, find_bin

    assert find_bin() is not None, "no PostgreSQL server binaries: make system-deps installs postgresql"
    pg = LocalPostgres(pg_root / "home")
    try:
        pg.start()
        creds = json.loads(pg.credentials_file.read_text())
        assert pg.credentials_file.stat().st_mode & 0o777 == 0o600
        assert len(creds["password"]) >= 32
        server = psutil.Process(pg.pid())
        procs = [server, *server.children(recursive=True)]
        assert [c for p in procs for c in _inet_sockets(p)] == []  # no TCP/UDP socket at all
        assert (pg.socket_dir / ".s.PGSQL.5432").is_socket()
        with pytest.raises(psycopg2.OperationalError):  # the password is required, and checked
            psycopg2.connect(host=str(pg.socket_dir), user="airflow", password="wrong", dbname="airflow")
        conn = psycopg2.connect(host=str(pg.socket_dir), user="airflow", password=creds["password"], dbname="airflow")
        with conn, conn.cursor() as cur:
            cur.execute("CREATE TABLE planted (v text); INSERT INTO planted VALUES ('survives a restart')")
        conn.close()
        assert pg.stop() is True
        assert not pg.running()
        assert not (pg.socket_dir / ".s.PGSQL.5432").exists()
        pg.start()  # the existing cluster: no initdb, same password
        assert json.loads(pg.credentials_file.read_text()) == creds
        conn = psycopg2.connect(host=str(pg.socket_dir), user="airflow", password=creds["password"], dbname="airflow")
        with conn, conn.cursor() as cur:
            cur.execute("SELECT v FROM planted")
            assert cur.fetchall() == [("survives a restart",)]
        conn.close()
        url = pg.sqlalchemy_url()
        assert url.startswith("postgresql+psycopg2://airflow:")
        assert url.endswith(f"@/airflow?host={pg.socket_dir}")
    finally:
        pg.stop()
    assert not pg.running()


def test_without_a_server_the_deployment_falls_back_to_sqlite_and_says_so(tmp_path, monkeypatch, capsys):
    from digestflow import local_postgres

    monkeypatch.setattr(local_postgres, "find_bin", lambda: None)  # a machine without postgresql installed
    local = airflow_local.LocalAirflow(tmp_path / "home")
    cfg = local.config()
    assert local.db_kind == "sqlite"
    assert cfg["database"]["sql_alchemy_conn"].startswith("sqlite:///")
    assert cfg["core"]["parallelism"] == "2"
    err = capsys.readouterr().err
    assert "FALLING BACK TO SQLITE" in err
    assert "no PostgreSQL server binaries" in err
    strict = airflow_local.LocalAirflow(tmp_path / "home2", metadata_db="postgres")
    with pytest.raises(local_postgres.PostgresUnavailable):
        strict.config()


def test_local_and_compose_deployments_use_the_same_metadata_db_settings(tmp_path):
    """Same engine, driver, role, database name and task slots; only the address differs (socket vs
    the compose service ``postgres:5432``)."""
    import re

    import yaml
    from sqlalchemy.engine import make_url

    compose = yaml.safe_load((airflow_local.REPO / "docker-compose.yml").read_text())
    env = compose["services"]["airflow-scheduler"]["environment"]
    theirs = make_url(re.sub(r"\$\{[^}]*\}", "x", env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]))
    ours = make_url(airflow_local.LocalAirflow(tmp_path / "home").postgres.sqlalchemy_url())
    assert (ours.drivername, ours.username, ours.database) == (theirs.drivername, theirs.username, theirs.database)
    assert theirs.host == "postgres"
    # The socket folder is the home's own, unless its path would pass Unix's ~107-byte socket-path limit
    # (pytest's folders under xdist do): then a folder under the temp dir named after the home.
    local = tmp_path / "home" / "postgres" / "socket"
    if len(f"{local}/.s.PGSQL.5432") <= 100:
        assert ours.query["host"] == str(local)
    else:
        assert re.fullmatch(r".*/digestflow-pg-[0-9a-f]{12}", ours.query["host"]), ours.query["host"]
    assert compose["services"]["postgres"]["environment"]["POSTGRES_USER"] == ours.username
    assert compose["services"]["postgres"]["environment"]["POSTGRES_DB"] == ours.database
    assert env["AIRFLOW__CORE__PARALLELISM"] == str(airflow_local.PARALLELISM["postgres"])


def _compose_airflow_envs() -> list[dict[str, str]]:
    """The environment of docker-compose's scheduler and API server (the common Airflow settings)."""
    import yaml

    compose = yaml.safe_load((airflow_local.REPO / "docker-compose.yml").read_text())
    return [compose["services"][service]["environment"] for service in ("airflow-scheduler", "airflow-apiserver")]


def _written_config(home, **kwargs):
    """The airflow.cfg a deployment at ``home`` writes for its components, parsed."""
    import configparser

    local = airflow_local.LocalAirflow(home, metadata_db="sqlite", **kwargs)
    local.prepare_db()
    cfg = configparser.ConfigParser(interpolation=None)
    cfg.read(local.write_config())
    return cfg


def test_local_and_compose_schedulers_sleep_as_long_after_an_idle_loop(tmp_path):
    """The hand-over delay between tasks is the scheduler's idle sleep: both deployments set the same
    value, and the deployment's setting (``--idle-sleep``) reaches the airflow.cfg the components read."""
    for env in _compose_airflow_envs():
        assert float(env["AIRFLOW__SCHEDULER__SCHEDULER_IDLE_SLEEP_TIME"]) == airflow_local.SCHEDULER_IDLE_SLEEP
    assert airflow_local.SCHEDULER_IDLE_SLEEP < 1.0  # Airflow's default, which cost 2 s more per backfilled digest
    for given, expected in ((None, airflow_local.SCHEDULER_IDLE_SLEEP), (1.0, 1.0)):
        kwargs = {} if given is None else {"scheduler_idle_sleep": given}
        cfg = _written_config(tmp_path / f"home{given}", **kwargs)
        assert cfg.getfloat("scheduler", "scheduler_idle_sleep_time") == expected


def test_local_and_compose_workers_wait_at_most_a_second_for_an_exited_task(tmp_path):
    """A task's supervisor waits up to ``[workers] min_heartbeat_interval`` for a task process that has
    closed its sockets but not yet exited: both deployments set it below Airflow's 5 s, and the value
    reaches the airflow.cfg the components read (the running deployment: tests/test_airflow_e2e.py)."""
    for env in _compose_airflow_envs():
        assert int(env["AIRFLOW__WORKERS__MIN_HEARTBEAT_INTERVAL"]) == airflow_local.MIN_HEARTBEAT_INTERVAL
    assert airflow_local.MIN_HEARTBEAT_INTERVAL < 5  # Airflow's default
    cfg = _written_config(tmp_path / "home")
    assert cfg.getint("workers", "min_heartbeat_interval") == airflow_local.MIN_HEARTBEAT_INTERVAL


# --- loopback only, checked on real sockets --------------------------------------------------------


def test_the_socket_check_sees_a_wildcard_listener_and_a_loopback_one():
    """The run-time check can fail: a planted server on every interface (host "") is reported, one on
    127.0.0.1 is fine."""
    import ipaddress

    wildcard = str(ipaddress.IPv4Address(0))
    server = """
import socket, sys, time
s = socket.socket(); s.bind((sys.argv[1], 0)); s.listen(); print(s.getsockname()[1], flush=True); time.sleep(60)
"""
    procs = [subprocess.Popen([sys.executable, "-c", server, host], stdout=subprocess.PIPE, text=True)
             for host in ("", "127.0.0.1")]
    try:
        ports = [int(p.stdout.readline()) for p in procs]
        found = airflow_local.listening_sockets([p.pid for p in procs])
        assert {(pid, ip, port) for pid, _, ip, port in found} == {
            (procs[0].pid, wildcard, ports[0]), (procs[1].pid, "127.0.0.1", ports[1])
        }
        assert [airflow_local.is_loopback(ip) for _, _, ip, _ in sorted(found, key=lambda f: f[0] != procs[0].pid)] == [False, True]
    finally:
        for p in procs:
            p.kill()
            p.wait()
    assert [airflow_local.is_loopback(a) for a in ("::", wildcard, "::1", "127.0.0.1", "127.0.1.1", "::ffff:127.0.0.1", "10.0.0.5")] == [
        False, False, True, True, True, True, False
    ]
