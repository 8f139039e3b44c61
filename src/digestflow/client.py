"""The ``digestflow`` console script: hand a Spark command to the stage server, else run the CLI here.

Under Airflow every stage task starts this script once (``digestflow <stage> --date D``) and the stage
server (:mod:`digestflow.server`) does the work. So this module is the standard library only: a
command the server runs costs the client ~0.03 s, not the ~0.1 s of importing the CLI (click, the
stage registry, the harness) first (BENCHMARKS.md, session 35). The server decides what it runs: the
state file it writes lists its commands, and it declines a command that wants another Spark master;
everything else (``--help``, ``sql``, no server, a server that does not answer) runs here as before.
"""

from __future__ import annotations

import json
import os
import socket
import sys
from pathlib import Path
from typing import Any

#: Environment variables a client forwards; they replace the server's own for that command.
FORWARDED_PREFIXES = ("DIGESTFLOW_", "SPARK_MASTER", "GX_")
#: Names the server's state file; not forwarded (the server never calls itself).
SERVER_ENV = "DIGESTFLOW_SERVER"


def command_of(argv: list[str]) -> str | None:
    """The subcommand of a ``digestflow`` command line (skipping the group's own options)."""
    return next((a for a in argv if not a.startswith("-")), None)


def connect(state: dict[str, Any], timeout: float = 5.0) -> socket.socket:
    return socket.create_connection((state["host"], int(state["port"])), timeout=timeout)


def read_state(path: str | Path) -> dict[str, Any] | None:
    try:
        return dict(json.loads(Path(path).read_text()))
    except (OSError, ValueError):
        return None


def ping(state_file: str | Path) -> dict[str, Any] | None:
    """The server's master and pid if it answers, else None."""
    state = read_state(state_file)
    if state is None:
        return None
    try:
        with connect(state) as sock:
            sock.sendall((json.dumps({"token": state["token"], "ping": True}) + "\n").encode())
            reply = json.loads(sock.makefile("rb").readline() or b"{}")
    except (OSError, ValueError):
        return None
    return reply if "master" in reply else None


def delegate(argv: list[str]) -> int | None:
    """Run ``argv`` on the stage server named by ``$DIGESTFLOW_SERVER``; its exit code, or None when the
    command should run here (help, a command the server's state file does not list, no server configured
    or answering, or the server declines it: another master)."""
    path = os.environ.get(SERVER_ENV)
    if not path or "--help" in argv or "-h" in argv:
        return None
    state = read_state(path)
    if state is None:
        print(f"digestflow: no stage server state at {path}; running in this process", file=sys.stderr)
        return None
    if command_of(argv) not in state.get("commands", ()):  # the server lists what it runs
        return None
    request = {
        "token": state["token"], "argv": argv, "cwd": os.getcwd(),
        "env": {k: v for k, v in os.environ.items() if k.startswith(FORWARDED_PREFIXES) and k != SERVER_ENV},
    }
    try:
        sock = connect(state)
        sock.sendall((json.dumps(request) + "\n").encode())
    except OSError as exc:
        print(f"digestflow: stage server at {state['host']}:{state['port']} not answering ({exc}); "
              "running in this process", file=sys.stderr)
        return None
    sock.settimeout(None)  # a stage takes as long as it takes; Airflow's execution_timeout bounds it
    with sock, sock.makefile("rb") as replies:
        for line in replies:
            message = json.loads(line)
            if "decline" in message:
                if message["decline"]:
                    print(f"digestflow: {message['decline']}; running in this process", file=sys.stderr)
                return None
            if "out" in message:
                sys.stdout.write(message["out"])
                sys.stdout.flush()
            if "err" in message:
                sys.stderr.write(message["err"])
                sys.stderr.flush()
            if "exit" in message:
                return int(message["exit"])
    print("digestflow: the stage server closed the connection before the command finished", file=sys.stderr)
    return 1


def entry() -> None:
    """The ``digestflow`` console script: a command the stage server runs goes there when
    ``DIGESTFLOW_SERVER`` names one that answers, else the CLI (:func:`digestflow.cli.main`) runs here."""
    if os.environ.get(SERVER_ENV):
        code = delegate(sys.argv[1:])
        if code is not None:
            sys.exit(code)
    from digestflow.cli import main

    main()
