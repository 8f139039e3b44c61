"""The stage server (``digestflow serve``) for real: a server process with its own local Spark app, and
``digestflow`` client processes that hand it their commands through ``DIGESTFLOW_SERVER``.

Ground truth is the synthetic corpus (papers per date) and the same command run the classic way, in its
own Spark application: the server must give the same table, the same output and the same exit codes.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from digestflow import client, server

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

BIN = Path(sys.executable).parent
DAY = dt.date(2025, 3, 12)
MASTER = "local[2]"


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> tuple[Path, dict[dt.date, int]]:
    from digestflow.generate import generate_corpus, write_corpus

    digests = generate_corpus(5, start=dt.date(2025, 3, 10), seed=11)
    landing = tmp_path_factory.mktemp("landing")
    write_corpus(digests, landing)
    return landing, {d.digest_date: len(d.papers) for d in digests}


def _env(landing: Path, warehouse: Path, state: Path | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DIGESTFLOW_") or k == "DIGESTFLOW_CACHE"}
    env.update({
        "SPARK_MASTER": MASTER, "DIGESTFLOW_LANDING": str(landing), "DIGESTFLOW_WAREHOUSE": str(warehouse),
        "GX_ANALYTICS_ENABLED": "false",
    })
    if state is not None:
        env["DIGESTFLOW_SERVER"] = str(state)
    return env


@pytest.fixture(scope="module")
def stage_server(corpus, tmp_path_factory):
    """A running ``digestflow serve`` (its own process group); yields its state file and warehouse."""
    root = tmp_path_factory.mktemp("server")
    state, warehouse = root / "run" / "stage-server.json", root / "warehouse"
    log = (root / "server.log").open("wb")
    proc = subprocess.Popen(
        [str(BIN / "digestflow"), "serve", "--state", str(state)], env=_env(corpus[0], warehouse, None),
        stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 600  # a JVM start on a loaded 2-core machine can take minutes
        while not client.ping(state):
            assert proc.poll() is None, (root / "server.log").read_text()[-3000:]
            assert time.monotonic() < deadline, "stage server not answering after 600 s"
            time.sleep(1)
        yield state, warehouse, proc, root / "server.log"
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        log.close()
    assert not state.exists(), "a stopped server removes its state file"


def _client(args: list[str], env: dict[str, str], timeout: float = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(BIN / "digestflow"), *args], env=env, capture_output=True, text=True, timeout=timeout)


def _rows(warehouse: Path, table: str) -> list[tuple]:
    import duckdb

    columns = "paper_id, digest_id, source_file, position, line_start, line_end, title, abstract, digest_date"
    return duckdb.sql(
        f"SELECT {columns} FROM read_parquet('{warehouse}/{table}/**/*.parquet', hive_partitioning=true) ORDER BY ALL"
    ).fetchall()


def test_state_file_is_private_and_answers_ping(stage_server):
    state, _, proc, _ = stage_server
    assert state.stat().st_mode & 0o777 == 0o600
    reply = client.ping(state)
    assert reply["master"] == MASTER
    assert reply["pid"] == proc.pid


def test_the_servers_jvm_runs_the_c1_only_jit(stage_server):
    """The server answers one day at a time, so its driver JVM gets the start-up JIT (C1 only), as a run
    of small inputs does (the command line of the real java process under the server)."""
    from jvm import driver_jvms

    _, _, proc, _ = stage_server
    drivers = driver_jvms(proc.pid)
    assert len(drivers) == 1, drivers
    assert "-XX:TieredStopAtLevel=1" in drivers[0]


def test_a_stage_through_the_server_equals_its_own_application(stage_server, corpus, tmp_path):
    state, warehouse, proc, _ = stage_server
    landing, truth = corpus
    served = _client(["ingest", "--date", DAY.isoformat()], _env(landing, warehouse, state))
    assert served.returncode == 0, served.stderr[-3000:]
    assert f"[stage server pid {proc.pid}, master {MASTER}] digestflow ingest" in served.stderr
    assert f"ingest: 1 in, {truth[DAY]} out" in served.stdout  # the stage's own report, streamed back
    assert "digestflow.validate: validated papers" in served.stderr  # its log records too

    alone_wh = tmp_path / "alone"
    alone = _client(["ingest", "--date", DAY.isoformat()], _env(landing, alone_wh, None))
    assert alone.returncode == 0, alone.stderr[-3000:]
    assert "[stage server" not in alone.stderr
    assert len(_rows(warehouse, "papers")) == truth[DAY]
    assert _rows(warehouse, "papers") == _rows(alone_wh, "papers")


def test_settings_are_the_clients_and_do_not_leak_between_commands(stage_server, corpus, tmp_path):
    state, *_ = stage_server
    landing, truth = corpus
    other = DAY + dt.timedelta(days=1)
    a, b = tmp_path / "a", tmp_path / "b"
    first = _client(["ingest", "--date", DAY.isoformat()], _env(landing, a, state))
    second = _client(["ingest", "--date", other.isoformat()], _env(landing, b, state))
    assert first.returncode == 0, first.stderr[-2000:]
    assert second.returncode == 0, second.stderr[-2000:]
    assert {r[-1] for r in _rows(a, "papers")} == {DAY}
    assert {r[-1] for r in _rows(b, "papers")} == {other}
    assert len(_rows(b, "papers")) == truth[other]


def test_errors_keep_their_message_and_exit_code(stage_server, corpus, tmp_path):
    state, *_ = stage_server
    env = _env(corpus[0], tmp_path / "wh", state)
    usage = _client(["ingest", "--start", "2025-03-12", "--end", "2025-03-10"], env)
    assert usage.returncode == 2
    assert "--end 2025-03-10 is before --start 2025-03-12" in usage.stderr
    assert "[stage server" in usage.stderr  # it was the server that refused it
    bad = _client(["validate", "--table", "no_such_table", "--date", "2025-03-12"], env)
    assert bad.returncode == 2
    assert "unknown table 'no_such_table'" in bad.stderr


def test_a_wrong_token_is_refused(stage_server, tmp_path):
    state, *_ = stage_server
    forged = tmp_path / "forged.json"
    forged.write_text(json.dumps({**json.loads(state.read_text()), "token": "not-the-token"}))
    assert client.ping(forged) is None
    out = _client(["ingest", "--date", "2025-03-12"], {**os.environ, "DIGESTFLOW_SERVER": str(forged),
                                                      "SPARK_MASTER": MASTER})
    assert out.returncode == 2
    assert "wrong token" in out.stderr


def test_a_client_that_leaves_cancels_its_command_and_the_server_goes_on(stage_server, corpus, tmp_path):
    state, _, proc, log = stage_server
    landing, truth = corpus
    env = _env(landing, tmp_path / "wh", state)
    leaving = subprocess.Popen([str(BIN / "digestflow"), "run", "--start", "2025-03-10", "--end", "2025-03-14"],
                               env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    first = leaving.stderr.readline()  # the server's first words: it has started the command
    assert first.startswith(f"[stage server pid {proc.pid}"), first
    time.sleep(2)
    leaving.kill()
    leaving.wait()
    after = _client(["ingest", "--date", DAY.isoformat()], _env(landing, tmp_path / "wh2", state))
    assert after.returncode == 0, after.stderr[-3000:]
    assert f"ingest: 1 in, {truth[DAY]} out" in after.stdout
    assert "client left during its command: cancelling its Spark jobs" in log.read_text()
    # Stages finished before the kill stay published (each stage publishes on its own); the run's last
    # stage, marts, never ran.
    assert not list((tmp_path / "wh").glob("daily_summary/**/*.parquet")), "the cancelled run went on to the end"
    assert proc.poll() is None


def test_the_client_runs_the_command_itself_when_the_server_cannot(tmp_path, monkeypatch, capsys):
    """No state file, a dead address, a non-Spark command, help: delegate declines (None)."""
    monkeypatch.setenv("SPARK_MASTER", MASTER)
    monkeypatch.setenv("DIGESTFLOW_SERVER", str(tmp_path / "missing.json"))
    assert client.delegate(["ingest", "--date", "2025-03-12"]) is None
    assert "no stage server state" in capsys.readouterr().err

    from digestflow.airflow_local import free_port

    dead = tmp_path / "dead.json"
    dead.write_text(json.dumps({"host": "127.0.0.1", "port": free_port(), "token": "t", "master": MASTER,
                                "commands": ["ingest"]}))
    monkeypatch.setenv("DIGESTFLOW_SERVER", str(dead))
    assert client.delegate(["ingest", "--date", "2025-03-12"]) is None
    assert "not answering" in capsys.readouterr().err
    assert client.delegate(["sql", "SELECT 1"]) is None  # not a command the state lists: no connection
    assert client.delegate(["ingest", "--help"]) is None
    assert capsys.readouterr().err == ""


def test_the_server_declines_a_command_for_another_master_and_the_client_runs_it(stage_server, monkeypatch, capsys):
    """The live server reads the master a command wants (its --master, else the client's SPARK_MASTER)
    and declines another one at once; the client says so and runs the command itself."""
    state, _, _, _ = stage_server
    monkeypatch.setenv("DIGESTFLOW_SERVER", str(state))
    monkeypatch.setenv("SPARK_MASTER", MASTER)
    assert client.delegate(["ingest", "--master", "local[1]", "--date", "2025-03-12"]) is None
    assert f"the stage server runs {MASTER}, this command wants local[1]" in capsys.readouterr().err
    monkeypatch.setenv("SPARK_MASTER", "local[1]")
    assert client.delegate(["ingest", "--date", "2025-03-12"]) is None
    assert "this command wants local[1]" in capsys.readouterr().err
    assert "ingest" in json.loads(state.read_text())["commands"]


def test_the_console_script_hands_a_command_over_without_importing_the_cli(stage_server, corpus, tmp_path):
    """A served command costs the client the standard library only (the point of digestflow.client):
    Python's own import log of the real console script shows no click, no CLI, no stage registry."""
    state, _, proc, _ = stage_server
    env = {**_env(corpus[0], tmp_path / "wh", state), "PYTHONPROFILEIMPORTTIME": "1"}
    out = _client(["ingest", "--date", DAY.isoformat()], env)
    assert out.returncode == 0, out.stderr[-3000:]
    assert f"[stage server pid {proc.pid}" in out.stderr  # it ran on the server
    imported = {line.rsplit("|", 1)[1].strip() for line in out.stderr.splitlines() if line.startswith("import time:")}
    assert "digestflow.client" in imported
    assert not {"click", "digestflow.cli", "digestflow.stages", "digestflow.pipeline", "pyspark"} & imported


def test_request_env_replaces_only_digestflow_settings_and_restores_them(tmp_path, monkeypatch):
    monkeypatch.setenv("DIGESTFLOW_WAREHOUSE", "/server/own")
    monkeypatch.setenv("DIGESTFLOW_TRENDS_WINDOWS", "7d")
    monkeypatch.setenv("HOME_OF_TEST", "kept")
    before = dict(os.environ)
    with server._request_env({"DIGESTFLOW_WAREHOUSE": "/client/wh", "PATH": "/evil", "DIGESTFLOW_SERVER": "x"},
                             str(tmp_path)):
        assert os.environ["DIGESTFLOW_WAREHOUSE"] == "/client/wh"
        assert "DIGESTFLOW_TRENDS_WINDOWS" not in os.environ  # the server's own is not the client's
        assert os.environ["PATH"] == before["PATH"]
        assert "DIGESTFLOW_SERVER" not in os.environ
        assert Path.cwd() == tmp_path
        os.environ["DIGESTFLOW_TRENDS_BASELINE"] = "4w"  # a command that changes its environment
    assert dict(os.environ) == before
