"""A local Airflow in one command (``make airflow`` / ``make airflow-stop``), sized for a small machine.

Why not ``airflow standalone``: it binds every interface and starts a worker per core for the API
server and 32 executor slots. Here each component (api-server, scheduler, dag-processor, triggerer)
is started bound to 127.0.0.1 with one API worker, parallelism 4 and a ``spark`` pool of one slot,
with the LocalExecutor, on a PostgreSQL metadata DB that this module runs itself on a Unix socket
(:mod:`digestflow.local_postgres`; SQLite only as an announced fallback when no server can start).
Everything lives under one ``AIRFLOW_HOME`` (default ``data/airflow``): the database, task logs,
component logs, pid files, the generated admin and database passwords and the secrets the components
share.

Nothing listens on a wildcard address. Airflow 3.3's own task-log server (``serve-logs``, started
by the scheduler and the triggerer) binds every interface (``[::]``) with no setting to change it, so both
run with ``--skip-serve-logs`` and the deployment starts the same log-server app bound to 127.0.0.1
(component ``log-server``); task hostnames are ``127.0.0.1`` (``loopback_hostname``) so the API
server asks that address for the log of a running task.

Each component runs under a small supervisor (``supervise`` below) that restarts it when it exits on
its own, as systemd's ``Restart=on-failure`` or a Kubernetes Deployment would in production.

Used by the Makefile, by tests/test_airflow_e2e.py and by benchmarks/bench_airflow.py, so the setup
people run is the one that is tested.

    python -m digestflow.airflow_local start [--home data/airflow] [--port 8080]
    python -m digestflow.airflow_local stop  [--home data/airflow]
    python -m digestflow.airflow_local status [--home data/airflow]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from digestflow.local_postgres import LocalPostgres, PostgresUnavailable

REPO = Path(__file__).resolve().parents[2]
COMPONENTS = ("api-server", "scheduler", "dag-processor", "triggerer")
#: Airflow's task-log server app, bound to 127.0.0.1 (``serve_logs_on_loopback``), started after them.
LOG_SERVER = "log-server"
#: The warm Spark application the stage tasks hand their commands to (``digestflow serve``, see
#: :mod:`digestflow.server`); started before the Airflow components, under the same supervisor.
STAGE_SERVER = "stage-server"
USER = "admin"
#: A component that exits on its own is started again after RESTART_DELAY seconds, up to
#: MAX_RESTARTS times within RESTART_WINDOW seconds (beyond that it is a crash loop: give up, stay down).
RESTART_DELAY, MAX_RESTARTS, RESTART_WINDOW = 5.0, 5, 600.0
#: Third-party warnings every component or task would print, each understood and harmless here
#: (``PYTHONWARNINGS`` filters: action:message-start:category). Anything else still shows.
KNOWN_WARNINGS = (
    # apache-airflow-providers-standard 1.21 (sensors/python.py, behind @task.sensor) imports a helper
    # Airflow 3.3 moved to the task SDK: one line in every digest_daily task log (each task parses the
    # DAG file). Goes away when the provider imports it from its new place.
    "ignore:The `airflow.utils.operator_helpers.determine_kwargs` attribute is deprecated:FutureWarning",
    # pathspec 1.x renamed the "gitwildmatch" pattern style Airflow 3.3's DAG-file discovery asks for:
    # one line per DAG-folder scan in the dag-processor's logs. Same matching under the new name.
    "ignore:GitWildMatchPattern ('gitwildmatch') is deprecated:DeprecationWarning",
)
#: Task slots: on PostgreSQL the sensors of a few runs and a Spark task fit side by side (Spark tasks
#: still queue on the one-slot ``spark`` pool); SQLite's single writer keeps it at 2. docker-compose
#: uses the PostgreSQL figure too (tests/test_airflow_local.py checks it).
PARALLELISM = {"postgres": 4, "sqlite": 2}
#: ``[scheduler] scheduler_idle_sleep_time``: how long the scheduler sleeps after a loop that found nothing
#: to do. While a task runs every loop is idle, so a finished task waits up to this long before its
#: downstream task is queued; a ``digest_daily`` run has seven such hand-overs. Airflow's default (1 s)
#: cost 3.5 s per digest of a backfill beyond its tasks' own time, 0.2 s cost 1.4 s (0.5 s: 2.7 s); an idle
#: deployment then uses 22 % of one core instead of 8.5 % (0.5 s: 13 %): BENCHMARKS.md, session 34.
#: ``--idle-sleep 1`` (``AIRFLOW_IDLE_SLEEP``) restores Airflow's default; docker-compose uses the same value.
SCHEDULER_IDLE_SLEEP = 0.2
#: ``[workers] min_heartbeat_interval``: also the longest a task's supervisor (the executor worker) waits
#: in one ``select`` for its task process. When the process closes its sockets before it has fully
#: exited (two tasks in five here), the supervisor finds it still running, has nothing
#: left to wait on, and sleeps this long before it reaps it and reports a skipped state or frees the
#: worker slot: Airflow's default 5 s made a weekend run 6.2 s instead of 1.1 and left digest tasks
#: queued behind stalled workers. 1 s (the smallest whole value) bounds that; a running task then
#: heartbeats once a second instead of every 5 s (BENCHMARKS.md, session 35). docker-compose the same.
MIN_HEARTBEAT_INTERVAL = 1


class _NotOurs:
    """Stands in for a Popen when the component was started by another process (poll: unknown)."""

    @staticmethod
    def poll() -> None:
        return None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _port_in_use(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


@dataclass
class LocalAirflow:
    """One local Airflow deployment rooted at ``home``; its settings persist in ``home/local.json``."""

    home: Path
    port: int = 8080
    dags: Path = REPO / "dags"
    landing: Path = REPO / "data" / "landing"
    warehouse: Path = REPO / "data" / "warehouse"
    extra_env: dict[str, str] = field(default_factory=dict)
    #: Run a stage server: each stage task then runs in one warm Spark application instead of its own.
    stage_server: bool = True
    #: "auto": PostgreSQL when a server can run here, else SQLite (announced); "postgres": PostgreSQL
    #: or an error; "sqlite": SQLite (one writer: a backfill can fail with "database is locked").
    metadata_db: str = "auto"
    #: Seconds the scheduler sleeps after an idle loop (see SCHEDULER_IDLE_SLEEP).
    scheduler_idle_sleep: float = SCHEDULER_IDLE_SLEEP
    _procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        self.home = Path(self.home).absolute()
        self.dags, self.landing, self.warehouse = (
            Path(p).absolute() for p in (self.dags, self.landing, self.warehouse)
        )
        if self.metadata_db not in ("auto", "postgres", "sqlite"):
            raise ValueError(f"metadata_db must be auto, postgres or sqlite, not {self.metadata_db!r}")
        self.postgres = LocalPostgres(self.home)
        #: "postgres" or "sqlite" once ``prepare_db`` has decided (the fallback reason in ``db_note``).
        self.db_kind: str | None = None
        self.db_note = ""

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def password_file(self) -> Path:
        return self.home / "simple_auth_manager_passwords.json.generated"

    @property
    def run_dir(self) -> Path:
        return self.home / "run"

    @property
    def components(self) -> tuple[str, ...]:
        """What ``start`` runs, in start order (the stage server first: tasks find it from their start)."""
        return ((STAGE_SERVER,) if self.stage_server else ()) + COMPONENTS + (LOG_SERVER,)

    @property
    def stage_server_state(self) -> Path:
        """The stage server's address and token (mode 0600); ``DIGESTFLOW_SERVER`` in the tasks' env."""
        return self.run_dir / "stage-server.json"

    def password(self) -> str:
        return str(json.loads(self.password_file.read_text())[USER])

    def _state(self) -> dict[str, Any]:
        state_file = self.home / "local.json"
        state = json.loads(state_file.read_text()) if state_file.is_file() else {}
        # Both sign HS512 tokens: 64 bytes at least (RFC 7518 §3.2; PyJWT warns on shorter keys).
        if len(state.get("jwt_secret", "")) < 64:
            state["jwt_secret"] = secrets.token_urlsafe(64)
        if len(state.get("api_secret_key", "")) < 64:  # signs the API server's requests to the log server
            state["api_secret_key"] = secrets.token_urlsafe(64)
        if "log_ports" not in state:
            state["log_ports"] = [free_port(), free_port()]
        state["port"] = self.port
        self.home.mkdir(parents=True, exist_ok=True)
        state_file.write_text(json.dumps(state, indent=1))
        state_file.chmod(0o600)
        return state

    def prepare_db(self) -> str:
        """Start the PostgreSQL metadata DB (creating it on first use) and return "postgres"; or, when
        no server can run and ``metadata_db`` allows it, say so on stderr and return "sqlite"."""
        if self.db_kind is not None:
            return self.db_kind
        if self.metadata_db == "sqlite":
            self.db_kind = "sqlite"
            return self.db_kind
        try:
            self.postgres.start()
            self.db_kind = "postgres"
        except PostgresUnavailable as exc:
            if self.metadata_db == "postgres":
                raise
            self.db_kind, self.db_note = "sqlite", str(exc)
            print(
                f"[digestflow.airflow_local] PostgreSQL cannot run here ({exc}). FALLING BACK TO SQLITE, which "
                "has one writer: a backfill may fail with 'database is locked' (run it again). "
                "For a real metadata DB: make system-deps (installs postgresql), then make airflow.",
                file=sys.stderr, flush=True,
            )
        return self.db_kind

    def parallelism(self) -> int:
        return PARALLELISM[self.prepare_db()]

    def config(self) -> dict[str, dict[str, str]]:
        """Airflow settings, written to ``home/airflow.cfg`` so that ``AIRFLOW_HOME=… airflow <cmd>``
        (backfill create, tasks clear, dags test) talks to this deployment with nothing else set."""
        state = self._state()
        if self.prepare_db() == "postgres":
            database = {"sql_alchemy_conn": self.postgres.sqlalchemy_url()}
        else:  # SQLite allows one writer: wait for the lock (default 5 s is too short on a loaded machine)
            database = {"sql_alchemy_conn": f"sqlite:///{self.home / 'airflow.db'}?timeout=60"}
        return {
            "core": {
                "dags_folder": str(self.dags),
                "load_examples": "False",
                "executor": "LocalExecutor",
                "parallelism": str(self.parallelism()),
                "dags_are_paused_at_creation": "False",
                "simple_auth_manager_users": f"{USER}:admin",
                "simple_auth_manager_passwords_file": str(self.password_file),
                # tasks record this as their host; the API server fetches a running task's log from it
                "hostname_callable": "digestflow.airflow_local.loopback_hostname",
            },
            "database": database,
            "scheduler": {"scheduler_idle_sleep_time": str(self.scheduler_idle_sleep)},
            "workers": {"min_heartbeat_interval": str(MIN_HEARTBEAT_INTERVAL)},
            "api": {
                "host": "127.0.0.1", "port": str(self.port), "workers": "1", "base_url": self.url,
                "secret_key": state["api_secret_key"],
            },
            "api_auth": {"jwt_secret": state["jwt_secret"]},
            "dag_processor": {"parsing_processes": "1", "refresh_interval": "30"},
            "logging": {  # both served by the one loopback log server (component LOG_SERVER)
                "worker_log_server_port": str(state["log_ports"][0]),
                "trigger_log_server_port": str(state["log_ports"][0]),
            },
        }

    def write_config(self) -> Path:
        lines = ["# written by digestflow.airflow_local (make airflow); rewritten on every start"]
        for section, values in self.config().items():
            lines += ["", f"[{section}]", *(f"{key} = {value}" for key, value in values.items())]
        cfg = self.home / "airflow.cfg"
        cfg.write_text("\n".join(lines) + "\n")
        cfg.chmod(0o600)
        return cfg

    def env(self) -> dict[str, str]:
        """The environment every component, and so every task, runs with: AIRFLOW_HOME (the rest of
        Airflow's settings are in its airflow.cfg), the venv on PATH, digestflow's settings."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW__")}
        env.update(
            {
                "PATH": f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}",
                "AIRFLOW_HOME": str(self.home),
                "DIGESTFLOW_LANDING": str(self.landing),
                "DIGESTFLOW_WAREHOUSE": str(self.warehouse),
                "GX_ANALYTICS_ENABLED": "false",
                "PYTHONWARNINGS": ",".join(filter(None, [env.get("PYTHONWARNINGS", ""), *KNOWN_WARNINGS])),
            }
        )
        if self.stage_server:
            env["DIGESTFLOW_SERVER"] = str(self.stage_server_state)
        env.update(self.extra_env)
        return env

    def airflow(self, *args: str, check: bool = True, timeout: float = 600) -> subprocess.CompletedProcess[str]:
        """Run an ``airflow`` CLI command against this deployment."""
        return subprocess.run(
            [str(Path(sys.executable).parent / "airflow"), *args],
            env=self.env(), check=check, capture_output=True, text=True, timeout=timeout,
        )

    def init(self) -> None:
        """Folders, admin password, migrated DB and the ``spark`` pool (idempotent)."""
        for folder in (self.home, self.run_dir, self.home / "logs", self.landing, self.warehouse):
            folder.mkdir(parents=True, exist_ok=True)
        self.write_config()
        if not self.password_file.is_file():
            self.password_file.write_text(json.dumps({USER: secrets.token_urlsafe(12)}) + "\n")
            self.password_file.chmod(0o600)
        import airflow

        stamp = self.home / f".migrated-{airflow.__version__}-{self.prepare_db()}"
        if not stamp.is_file():
            self.airflow("db", "migrate")
            stamp.touch()
        self.airflow("pools", "set", "spark", "1", "one Spark application at a time: one local app uses every core")

    def pids(self) -> dict[str, int]:
        found = {}
        for name in self.components:
            pid_file = self.run_dir / f"{name}.pid"
            if pid_file.is_file():
                pid, started = (int(x) for x in pid_file.read_text().split())
                if _start_ticks(pid) == started and _alive(pid):  # a zombie (exited, not reaped) is down
                    found[name] = pid
        return found

    def start(self, timeout: float = 300) -> None:
        """Start the stage server and the four Airflow components (each in its own process group, under
        a supervisor) and wait until they report healthy."""
        if running := self.pids():
            raise RuntimeError(f"already running under {self.home}: {running} (stop it first)")
        if _port_in_use(self.port):
            raise RuntimeError(f"port {self.port} on 127.0.0.1 is taken: pick another with --port")
        self.init()
        env = self.env()
        logs = self.home / "components"
        logs.mkdir(exist_ok=True)
        airflow_bin = str(Path(sys.executable).parent / "airflow")
        self.stage_server_state.unlink(missing_ok=True)
        digestflow_bin = str(Path(sys.executable).parent / "digestflow")
        for name in self.components:
            command = [airflow_bin, name]
            if name == STAGE_SERVER:
                command = [digestflow_bin, "serve", "--state", str(self.stage_server_state)]
            elif name == LOG_SERVER:
                command = [sys.executable, "-m", "digestflow.airflow_local", "serve-logs"]
            elif name == "api-server":
                command += ["--host", "127.0.0.1", "--port", str(self.port), "--workers", "1"]
            elif name in ("scheduler", "triggerer"):  # their own log server binds every interface
                command += ["--skip-serve-logs"]
            args = [sys.executable, "-m", "digestflow.airflow_local", "supervise", "--", *command]
            with open(logs / f"{name}.log", "ab") as log:
                proc = subprocess.Popen(
                    args, env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                    start_new_session=True, cwd=self.home,
                )
            (self.run_dir / f"{name}.pid").write_text(f"{proc.pid} {_start_ticks(proc.pid)}")
            self._procs[name] = proc
            if name == "api-server":  # tasks call its execution API: it must listen before they start
                self._wait_answering(name, self._api_answers, timeout)
            if name == STAGE_SERVER:  # tasks look for it when they start
                self._wait_answering(name, self._stage_server_answers, timeout)
        try:
            self.wait_healthy(timeout)
        except BaseException:
            self.stop()
            raise

    def _api_answers(self) -> bool:
        try:
            self.health()
            return True
        except (OSError, ValueError):
            return False

    def _stage_server_answers(self) -> bool:
        from digestflow.client import ping

        return ping(self.stage_server_state) is not None

    def _wait_answering(self, name: str, answers: Callable[[], bool], timeout: float) -> None:
        """Wait until the just-started component ``name`` answers (stop everything if it exits or times out)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._procs[name].poll() is not None:
                self.stop()
                raise RuntimeError(f"{name} exited; see {self.home / 'components' / f'{name}.log'}")
            if answers():
                return
            time.sleep(1)
        self.stop()
        raise TimeoutError(f"{name} under {self.home} not answering after {timeout:.0f}s")

    def restarts(self) -> dict[str, int]:
        """How many times each component was restarted by its supervisor (counted from its log)."""
        counts = {}
        for name in self.components:
            log = self.home / "components" / f"{name}.log"
            text = log.read_text(errors="replace") if log.is_file() else ""
            counts[name] = text.count(_RESTART_MARK)
        return counts

    def health(self) -> dict[str, str]:
        with urllib.request.urlopen(f"{self.url}/api/v2/monitor/health", timeout=10) as resp:
            body = json.load(resp)
        return {k: v.get("status", "?") for k, v in body.items() if isinstance(v, dict)}

    def wait_healthy(self, timeout: float = 300) -> None:
        deadline, last = time.monotonic() + timeout, "api-server not answering"
        while time.monotonic() < deadline:
            dead = [n for n in self.components if n not in self.pids() or self._procs.get(n, _NotOurs).poll() is not None]
            if dead:
                raise RuntimeError(f"{', '.join(dead)} exited; see {self.home / 'components'}/<name>.log")
            try:
                status = self.health()
                if all(status.get(c) == "healthy" for c in ("metadatabase", "scheduler", "dag_processor", "triggerer")):
                    return
                last = str(status)
            except (OSError, ValueError) as exc:
                last = str(exc)
            time.sleep(2)
        raise TimeoutError(f"Airflow under {self.home} not healthy after {timeout:.0f}s: {last}")

    def stop(self, timeout: float = 60) -> list[str]:
        """SIGTERM each component's process group (its workers, task processes and their Spark JVMs
        go with it), SIGKILL what is left after ``timeout``. Returns the names stopped."""
        running = self.pids()
        for pid in running.values():
            _signal_group(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and any(_alive(pid) for pid in running.values()):
            time.sleep(0.5)
        for pid in running.values():
            _signal_group(pid, signal.SIGKILL)
        # Task commands run in their own sessions (BashOperator); Airflow kills them on SIGTERM, but
        # whatever outlived a SIGKILL (a `digestflow` task, its Spark JVM) still carries our AIRFLOW_HOME.
        for sig in (signal.SIGTERM, signal.SIGKILL):
            for pid in _processes_of(self.home):
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(pid, sig)
            if sig == signal.SIGTERM and _processes_of(self.home):
                time.sleep(5)
        for name in self.components:
            (self.run_dir / f"{name}.pid").unlink(missing_ok=True)
        self.stage_server_state.unlink(missing_ok=True)
        for proc in self._procs.values():  # reap our own children (started in this process)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=5)
        self._procs.clear()
        if self.postgres.stop():  # last: the components above needed it to shut down cleanly
            running["postgres"] = -1
        self.db_kind = None
        return list(running)

    def processes(self) -> list[int]:
        """Every live process of this deployment: each component's supervisor and its descendants (API
        workers, executor workers, task processes, the stage server's Spark JVM), the PostgreSQL server
        and its backends, and whatever else carries this AIRFLOW_HOME (task commands, their JVMs)."""
        import psutil

        roots = list(self.pids().values())
        if (pg := self.postgres.pid()) is not None:
            roots.append(pg)
        found: set[int] = set(_processes_of(self.home))
        for pid in roots:
            with contextlib.suppress(psutil.Error):
                proc = psutil.Process(pid)
                found |= {pid, *(child.pid for child in proc.children(recursive=True))}
        return sorted(found)

    # --- REST helpers (the tests and the benchmark use them) ---
    def pause(self, dag_ids: list[str], stop_runs: bool = True, timeout: float = 600) -> None:
        """Pause DAGs once the dag-processor has registered them and (``stop_runs``) mark the runs the
        scheduler made on start failed, so nothing but the work one asks for runs (tests, benchmarks)."""
        token, deadline = self.token(), time.monotonic() + timeout
        for dag_id in dag_ids:
            while True:
                try:
                    self.api("PATCH", f"/dags/{dag_id}", {"is_paused": True}, token=token)
                    break
                except RuntimeError as exc:  # 404 until the dag-processor has parsed the file
                    if "HTTP 404" not in str(exc) or time.monotonic() > deadline:
                        raise
                    time.sleep(2)
            runs = self.api("GET", f"/dags/{dag_id}/dagRuns?limit=100", token=token)["dag_runs"] if stop_runs else []
            for run in runs:  # (a running run cannot be deleted: 409)
                if run["state"] in ("queued", "running"):
                    self.api("PATCH", f"/dags/{dag_id}/dagRuns/{run['dag_run_id']}", {"state": "failed"}, token=token)

    def token(self) -> str:
        """A bearer token from ``POST /auth/token`` for the admin user."""
        body = json.dumps({"username": USER, "password": self.password()}).encode()
        req = urllib.request.Request(
            f"{self.url}/auth/token", data=body, headers={"Content-Type": "application/json"}, method="POST"
        )
        with urllib.request.urlopen(req, timeout=120) as resp:
            return str(json.load(resp)["access_token"])

    def api(self, method: str, path: str, body: Any = None, token: str | None = None) -> Any:
        req = urllib.request.Request(
            f"{self.url}/api/v2{path}",
            data=None if body is None else json.dumps(body).encode(),
            headers={
                "Content-Type": "application/json", "Accept": "application/json",
                "Authorization": f"Bearer {token or self.token()}",
            },
            method=method,
        )
        try:
            with urllib.request.urlopen(req, timeout=120) as resp:
                return json.load(resp)
        except urllib.error.HTTPError as exc:
            raise RuntimeError(f"{method} {path}: HTTP {exc.code}: {exc.read().decode(errors='replace')}") from exc


_RESTART_MARK = "[digestflow.airflow_local] restarting"


def listening_sockets(pids: list[int]) -> list[tuple[int, str, str, int]]:
    """The TCP sockets in LISTEN state of ``pids``: (pid, command line, address, port). Unix sockets
    are not included (they are files, reachable only through the file system)."""
    import psutil

    found = []
    for pid in pids:
        try:
            proc = psutil.Process(pid)
            command = " ".join(proc.cmdline())[:160]
            for conn in proc.net_connections(kind="tcp"):
                if conn.status == psutil.CONN_LISTEN:
                    found.append((pid, command, conn.laddr.ip, conn.laddr.port))
        except psutil.Error:  # exited meanwhile
            continue
    return found


def is_loopback(address: str) -> bool:
    """127.0.0.0/8 or ::1 (and their IPv4-mapped form); the wildcard addresses and any interface's are not."""
    import ipaddress

    ip = ipaddress.ip_address(address.split("%")[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_loopback


def loopback_hostname() -> str:
    """``[core] hostname_callable`` of the local deployment: every component and task is on this
    machine, and the log server listens on 127.0.0.1 only (the FQDN may resolve to 127.0.1.1 or a LAN
    address, where nothing of ours listens)."""
    return "127.0.0.1"


def serve_logs_on_loopback() -> None:
    """Airflow's task-log server (``airflow.utils.serve_logs``: the same FastAPI app, which checks the
    API server's signed token) on 127.0.0.1 and ``[logging] worker_log_server_port``. Airflow 3.3's
    own ``serve_logs`` hard-codes ``host=""`` (every interface), hence this replacement."""
    import uvicorn
    from airflow.configuration import conf
    from airflow.utils.serve_logs.log_server import get_app

    uvicorn.run(get_app(), host="127.0.0.1", port=conf.getint("logging", "worker_log_server_port"),
                log_level="warning", log_config=None, access_log=False)


def supervise(args: list[str]) -> int:
    """Run ``args`` (one Airflow component) and start it again when it fails (exits non-zero or killed).

    The supervisor leads the component's process group, and ``stop`` signals the whole group: the
    component gets SIGTERM once, from there (forwarding it too would make Airflow skip its graceful
    shutdown, "signal again if you don't want to wait"). On SIGTERM/SIGINT the supervisor only stops
    restarting and returns the component's exit code. Restarts are logged to the component's log.
    """
    stopping = False

    def _stop(_signum: int, _frame: Any) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    name, recent = Path(args[0]).name + (f" {args[1]}" if len(args) > 1 else ""), []
    while True:
        code = subprocess.Popen(args).wait()
        if stopping or code == 0:  # stopped, or finished by itself (e.g. ``scheduler --num-runs``)
            return code
        now = time.monotonic()
        recent = [t for t in recent if now - t < RESTART_WINDOW] + [now]
        if len(recent) > MAX_RESTARTS:
            print(f"[digestflow.airflow_local] {name} exited {len(recent)} times within {RESTART_WINDOW:.0f}s "
                  f"(last exit code {code}): a crash loop, not restarting", flush=True)
            return code
        print(f"{_RESTART_MARK} {name} in {RESTART_DELAY:.0f}s (it exited with code {code})", flush=True)
        time.sleep(RESTART_DELAY)
        if stopping:
            return code


def _start_ticks(pid: int) -> int:
    """The process's start time in clock ticks since boot (``/proc/<pid>/stat`` field 22), or -1.

    Stored beside the pid, it tells our component from an unrelated process that reused the pid, so
    stop never signals anything it did not start. (Airflow rewrites its process title and environ
    block, so those cannot identify it.)
    """
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return -1
    return int(stat.rsplit(")", 1)[1].split()[19])


def _processes_of(home: Path) -> list[int]:
    """Live airflow/digestflow/java processes whose environment has ``AIRFLOW_HOME=<home>``: this
    deployment's components, task commands and their Spark JVMs. Never this process or its ancestors
    (a shell that exported the same AIRFLOW_HOME)."""
    marker, found = f"AIRFLOW_HOME={home}".encode(), []
    spared, pid = set(), os.getpid()
    while pid > 1:
        spared.add(pid)
        try:
            pid = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            break
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) in spared:
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
            if not any(word in cmdline for word in (b"airflow", b"digestflow", b"java")):
                continue
            if marker in (entry / "environ").read_bytes().split(b"\0") and _alive(int(entry.name)):
                found.append(int(entry.name))
        except OSError:
            continue
    return found


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}").is_dir() and "zombie" not in _status(pid)


def _status(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/status").read_text().lower()
    except OSError:
        return "zombie"


def _signal_group(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)  # started with start_new_session: the group id is the leader's pid


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m digestflow.airflow_local", description=__doc__.split("\n")[0])
    if argv is None:
        argv = sys.argv[1:]
    if argv[:2] == ["supervise", "--"]:
        code = supervise(argv[2:])
        return 128 - code if code < 0 else code  # killed by signal N: exit 128 + N, as a shell reports it
    if argv[:1] == ["serve-logs"]:
        serve_logs_on_loopback()
        return 0
    parser.add_argument("command", choices=["start", "stop", "status"])
    parser.add_argument("--no-stage-server", action="store_true",
                        help="Each stage task starts its own Spark application (no warm stage server).")
    parser.add_argument("--metadata-db", choices=["auto", "postgres", "sqlite"], default="auto",
                        help="auto (default): PostgreSQL under --home when a server can run, else SQLite.")
    parser.add_argument("--idle-sleep", type=float, default=float(os.environ.get("AIRFLOW_IDLE_SLEEP", SCHEDULER_IDLE_SLEEP)),
                        help=f"Seconds the scheduler sleeps after an idle loop (default {SCHEDULER_IDLE_SLEEP}; "
                             "Airflow's own: 1). Lower hands a finished task to the next sooner, higher idles cheaper.")
    parser.add_argument("--home", default=os.environ.get("AIRFLOW_LOCAL_HOME", str(REPO / "data" / "airflow")))
    parser.add_argument("--port", type=int, default=int(os.environ.get("AIRFLOW_PORT", "8080")))
    parser.add_argument("--landing", default=os.environ.get("DIGESTFLOW_LANDING", str(REPO / "data" / "landing")))
    parser.add_argument("--warehouse", default=os.environ.get("DIGESTFLOW_WAREHOUSE", str(REPO / "data" / "warehouse")))
    args = parser.parse_args(argv)
    local = LocalAirflow(
        Path(args.home), port=args.port, landing=Path(args.landing), warehouse=Path(args.warehouse),
        stage_server=not args.no_stage_server, metadata_db=args.metadata_db, scheduler_idle_sleep=args.idle_sleep,
    )
    if args.command == "stop":
        stopped = local.stop()
        print(f"stopped {', '.join(stopped)}" if stopped else f"nothing running under {local.home}")
        return 0
    if args.command == "status":
        running = local.pids()
        if (pg := local.postgres.pid()) is not None:
            running["postgres"] = pg
        print(f"running under {local.home}: {running}" if running else f"nothing running under {local.home}")
        return 0 if running else 1
    print(f"starting Airflow under {local.home} (LocalExecutor, pool spark=1) ...", flush=True)
    try:
        local.start()
    except (RuntimeError, TimeoutError) as exc:  # PostgresUnavailable is a RuntimeError too
        print(f"Error: {exc}", file=sys.stderr)
        return 1
    database = (
        f"PostgreSQL on the Unix socket in {local.postgres.socket_dir} (data {local.postgres.data}, "
        f"password in {local.postgres.credentials_file})"
        if local.db_kind == "postgres" else f"SQLite FALLBACK ({local.db_note}): {local.home / 'airflow.db'}"
    )
    spark = (
        f"one warm Spark application for every stage task (stage server, {local.stage_server_state})"
        if local.stage_server else "each stage task starts its own Spark application"
    )
    print(
        f"\nAirflow is up: {local.url}  (bound to 127.0.0.1 only)\n"
        f"  login:     user '{USER}', password in {local.password_file}\n"
        f"  landing:   {local.landing}   (drop YYYY-MM-DD.txt digests here)\n"
        f"  warehouse: {local.warehouse}\n"
        f"  spark:     {spark}\n"
        f"  database:  {database}\n"
        f"  logs:      {local.home / 'components'}/<component>.log, task logs under {local.home / 'logs'}\n"
        f"  CLI:       AIRFLOW_HOME={local.home} {Path(sys.executable).parent}/airflow backfill create "
        f"--dag-id digest_daily --from-date A --to-date B --max-active-runs 1\n"
        f"  stop:      make airflow-stop"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
