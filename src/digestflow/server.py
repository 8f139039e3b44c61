"""The stage server: one warm Spark application that runs ``digestflow`` stage commands for short clients.

Why: a stage command that starts its own Spark application pays a JVM start, the first job's JIT
warm-up and the Python imports (Great Expectations alone is seconds) before it does any work. For a
one-day stage that is most of its time, and an Airflow daily run has six stage tasks. Under Airflow
(``make airflow``) a stage server holds one SparkSession for the whole deployment, and each task's
``digestflow <stage> --date D`` hands its command line to it instead of starting Spark; the task still
runs the one CLI, its log still shows the stage's output and its exit code is the stage's.

Not Spark Connect: Connect moves the DataFrame calls to a server but keeps the stage's Python (and its
imports) in the client, and the stages use SparkContext-level calls and Great Expectations' Spark data
source, which Connect sessions do not offer. Here the stage runs the classic code path unchanged, in
the server's Python, as ``digestflow run`` does; the protocol is the command line.

Protocol (newline-delimited JSON over TCP on 127.0.0.1): the client (:mod:`digestflow.client`, the
console script) sends ``{"token", "argv", "env", "cwd"}``; the server answers with ``{"out": text}`` and
``{"err": text}`` lines as the command prints, then ``{"exit": code}`` — or at once with
``{"decline": reason}`` for a command it does not run (another Spark master, help), which the client
then runs itself. ``env`` carries the client's ``DIGESTFLOW_*``
and ``SPARK_MASTER`` variables, applied for that command only. Commands run one at a time (the local
app already uses every core); a client that disconnects cancels its command's Spark jobs. The address
and a random token (and the commands it runs) are in a state file (mode 0600) whose path clients find in
``DIGESTFLOW_SERVER``;
when that file is missing or the server does not answer, the client runs the command itself.

    digestflow serve --state data/stage-server.json      # until SIGTERM / Ctrl-C
    DIGESTFLOW_SERVER=data/stage-server.json digestflow ingest --date 2025-03-14
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import secrets
import socket
import socketserver
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from digestflow.client import FORWARDED_PREFIXES, SERVER_ENV, command_of
from digestflow.session import share
from digestflow.stages import STAGES

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

#: Commands the server runs (every command that starts Spark: each stage's, run, validate), listed in
#: its state file for clients. Others always run in the client.
SERVED = frozenset({"run", "validate", *STAGES})

_session: SparkSession | None = None
_lock = threading.Lock()


# --- server -------------------------------------------------------------------------------------


class _Stream(io.TextIOBase):
    """A text stream that sends each write to the client as one JSON line under ``key``."""

    def __init__(self, conn: _Connection, key: str) -> None:
        self.conn, self.key = conn, key

    def writable(self) -> bool:
        return True

    def write(self, text: str | bytes) -> int:
        if text:  # click.echo hands bytes to a stream it does not recognise as a terminal's
            self.conn.send({self.key: text.decode(errors="replace") if isinstance(text, bytes) else text})
        return len(text)

    def isatty(self) -> bool:
        return False


class _Connection:
    def __init__(self, sock: socket.socket) -> None:
        self.sock, self.closed = sock, False
        self._send_lock = threading.Lock()

    def send(self, message: dict[str, Any]) -> None:
        if self.closed:
            return
        data = (json.dumps(message) + "\n").encode()
        with self._send_lock:
            try:
                self.sock.sendall(data)
            except OSError:
                self.closed = True


class _CurrentStderr(io.TextIOBase):
    """Logging's stream: whatever ``sys.stderr`` is when a record is written (the client's, during a command)."""

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()


@contextlib.contextmanager
def _request_env(env: dict[str, str], cwd: str | None) -> Iterator[None]:
    """The client's digestflow settings in ``os.environ`` (and its working folder) for one command."""
    saved, saved_cwd = dict(os.environ), os.getcwd()
    for key in [k for k in os.environ if k.startswith(FORWARDED_PREFIXES)]:
        del os.environ[key]
    os.environ.update({k: v for k, v in env.items() if k.startswith(FORWARDED_PREFIXES) and k != SERVER_ENV})
    if cwd and Path(cwd).is_dir():
        os.chdir(cwd)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)
        os.chdir(saved_cwd)


class _Handler(socketserver.StreamRequestHandler):
    server: _Server

    def handle(self) -> None:
        conn = _Connection(self.connection)
        try:
            request = json.loads(self.rfile.readline() or b"{}")
        except ValueError:
            conn.send({"err": "stage server: malformed request\n", "exit": 2})
            return
        if not secrets.compare_digest(str(request.get("token", "")), self.server.token):
            conn.send({"err": "stage server: wrong token\n", "exit": 2})
            return
        if request.get("ping"):
            conn.send({"master": self.server.master, "pid": os.getpid(), "exit": 0})
            return
        argv = [str(a) for a in request.get("argv", [])]
        reason = self.server.declines(argv, request.get("env", {}))
        if reason is not None:  # the client runs it itself
            conn.send({"decline": reason})
            return
        running, done = threading.Event(), threading.Event()
        threading.Thread(target=self._watch, args=(conn, running, done), daemon=True).start()
        with _lock:  # one command at a time: the local app already uses every core
            if conn.closed:  # the client gave up while waiting for its turn
                return
            running.set()
            out, err = _Stream(conn, "out"), _Stream(conn, "err")
            with _request_env(request.get("env", {}), request.get("cwd")), contextlib.redirect_stdout(out), \
                    contextlib.redirect_stderr(err):
                print(f"[stage server pid {os.getpid()}, master {self.server.master}] digestflow {' '.join(argv)}",
                      file=sys.stderr)
                code = self.server.dispatch(argv)
            done.set()
            if _session is not None:
                _session.catalog.clearCache()
        conn.send({"exit": code})

    def _watch(self, conn: _Connection, running: threading.Event, done: threading.Event) -> None:
        """The client sends nothing after its request: end of stream means it went away (killed, timed
        out); cancel its command's Spark jobs so that the next command does not wait for an orphan."""
        with contextlib.suppress(OSError):
            while self.connection.recv(1024):
                pass
        if done.is_set():
            return
        conn.closed = True
        if running.is_set() and _session is not None:
            print("[stage server] client left during its command: cancelling its Spark jobs", file=sys.__stderr__)
            while not done.is_set():  # also the jobs it starts next: it fails at its next Spark action
                _session.sparkContext.cancelAllJobs()
                done.wait(0.5)


def _requested_master(argv: list[str], env: dict[str, str]) -> str:
    """The Spark master a command line wants: its ``--master``, else the client's settings."""
    from digestflow.settings import Settings

    for i, arg in enumerate(argv):
        if arg == "--master" and i + 1 < len(argv):
            return argv[i + 1]
        if arg.startswith("--master="):
            return arg.split("=", 1)[1]
    return Settings.from_env({k: v for k, v in env.items() if k.startswith(FORWARDED_PREFIXES)}).spark_master


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, port: int, token: str, master: str, dispatch: Callable[[list[str]], int]) -> None:
        super().__init__(("127.0.0.1", port), _Handler)
        self.token, self.master, self.dispatch = token, master, dispatch

    def declines(self, argv: list[str], env: dict[str, str]) -> str | None:
        """Why this server does not run ``argv`` (``""``: not a command it runs, say nothing), or None.
        The master the command wants comes from its ``--master`` or the client's forwarded settings."""
        if command_of(argv) not in SERVED or "--help" in argv or "-h" in argv:
            return ""
        wanted = _requested_master(argv, env)
        if wanted != self.master:
            return f"the stage server runs {self.master}, this command wants {wanted}"
        return None


def serve(state_file: Path, port: int, master: str | None, dispatch: Callable[[list[str]], int]) -> None:
    """Start the session (on ``master``, else the settings'), write the state file, answer commands
    until SIGTERM/SIGINT (then remove it). ``dispatch(argv) -> exit code`` runs one command line in this
    process (the CLI passes its own)."""
    import logging
    import signal

    from digestflow.settings import Settings
    from digestflow.spark import build_session

    global _session
    settings = Settings.from_env().replace(spark_master=master)
    # C1-only JIT, as for a run of small inputs (spark.jvm_options): a server answers one day at a time
    # (Airflow tasks). Five `run --date` into the 64-day warehouse (BENCHMARKS.md, session 28): the first
    # 25.3 s against 35.8 s with the full JIT, the next four 14.1-17.5 s against 13.3-16.3 s.
    _session = build_session(settings, "digestflow-stage-server", days=None)
    share(_session)
    root = logging.getLogger()
    root.handlers[:] = [logging.StreamHandler(_CurrentStderr())]
    root.handlers[0].setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root.setLevel(logging.WARNING)
    logging.getLogger("digestflow").setLevel(logging.INFO)
    master = _session.sparkContext.master
    server = _Server(port, secrets.token_urlsafe(24), master, dispatch)
    state_file = Path(state_file).absolute()
    state_file.parent.mkdir(parents=True, exist_ok=True)
    tmp = state_file.with_name(f"{state_file.name}.{os.getpid()}.tmp")
    tmp.touch(mode=0o600)
    tmp.write_text(json.dumps({
        "host": "127.0.0.1", "port": server.server_address[1], "token": server.token,
        "master": master, "pid": os.getpid(), "commands": sorted(SERVED),
    }))
    os.replace(tmp, state_file)

    def _stop(_signum: int, _frame: Any) -> None:
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    print(f"stage server: master {master}, 127.0.0.1:{server.server_address[1]}, state {state_file}", flush=True)
    try:
        server.serve_forever()
    finally:
        server.server_close()
        with contextlib.suppress(OSError):
            if json.loads(state_file.read_text()).get("pid") == os.getpid():
                state_file.unlink()
        with contextlib.suppress(Exception):  # a group SIGTERM may have stopped the JVM already
            _session.stop()
        _session = None
        share(None)
