"""The supervisor that keeps each local Airflow component up (``digestflow.airflow_local.supervise``).

Real processes: the supervised command is a small Python script that counts its starts in a file and
exits with a chosen code, so restarts, the crash-loop limit and a clean stop are observed, not assumed.
"""

from __future__ import annotations

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
