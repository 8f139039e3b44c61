"""One new day into a warehouse with history: `digestflow run --date D` against a bare Spark start.

    python benchmarks/bench_day.py [--shared ../shared] [--date 2026-05-29] [--history-days 91] [--repeat 2]
                                   [--server]

The Performance issue's target 4: in a fresh process, one day costs no more than a bare PySpark local
session running one trivial job, in the same venv and the same run. Set-up (not timed): ``digestflow run``
over the ``--history-days`` real digest dates before ``--date`` builds the history warehouse. Then, ``--repeat``
times and alternating which goes first:

- **bare Spark**: ``python -c`` that builds ``SparkSession.builder.master("local[*]")``, runs
  ``spark.range(10).count()`` and stops (pyspark's defaults: no CDS archive, no JIT flags);
- **digestflow**: ``python -m digestflow.cli run --date D`` into a fresh copy of the history warehouse
  (the copy is not timed), every stage, gate on.

Both are timed from process start to exit. ``--server`` then starts ``digestflow serve`` (one warm Spark
application) and sends the same ``run --date D`` through it three times, each into a fresh copy: the
first warms it, the others show what a warm stage costs. Prints one table with the medians and each
stage's seconds (digestflow's own report).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
STAGES = ("ingest", "terms", "embed", "trends", "erank", "marts")
BARE = (
    "from pyspark.sql import SparkSession\n"
    "spark = SparkSession.builder.master('local[*]').getOrCreate()\n"
    "assert spark.range(10).count() == 10\n"
    "spark.stop()\n"
)
STAGE_LINE = re.compile(r"^(\w+): .* ([\d.]+)s$")


def timed(cmd: list[str], env: dict[str, str], log: Path) -> tuple[float, str]:
    """Run ``cmd`` to its end: (wall seconds, its output). Exits on a non-zero return code."""
    t0 = time.perf_counter()
    done = subprocess.run(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    secs = time.perf_counter() - t0
    log.write_text(done.stdout)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({done.returncode}):\n{done.stdout[-4000:]}")
    return secs, done.stdout


def stage_seconds(output: str) -> dict[str, float]:
    """The per-stage seconds of a ``digestflow run`` report (its ``<stage>: … 12.3s`` lines)."""
    found = {}
    for line in output.splitlines():
        m = STAGE_LINE.match(line.strip())
        if m and m.group(1) in STAGES:
            found[m.group(1)] = float(m.group(2))
    return found


def wait_for_server(state: Path, proc: subprocess.Popen[bytes], timeout: float = 300.0) -> None:
    from digestflow.client import ping

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"digestflow serve exited with {proc.returncode}")
        if state.is_file() and ping(state):
            return
        time.sleep(0.5)
    raise SystemExit(f"digestflow serve did not answer within {timeout:.0f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shared", type=Path, default=REPO.parent / "shared")
    parser.add_argument("--date", type=dt.date.fromisoformat, default=dt.date(2026, 5, 29))
    parser.add_argument("--history-days", type=int, default=91, help="calendar days of history before --date")
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--server", action="store_true", help="also through a warm stage server")
    args = parser.parse_args()
    landing = args.shared / "data" / "hf-daily"
    day = args.date.isoformat()
    first = (args.date - dt.timedelta(days=args.history_days)).isoformat()
    last = (args.date - dt.timedelta(days=1)).isoformat()
    env = dict(os.environ)
    env.pop("DIGESTFLOW_SERVER", None)
    cli = [sys.executable, "-m", "digestflow.cli"]
    tmp = Path(tempfile.mkdtemp(prefix="bench-day-"))
    rows: list[tuple[str, float, dict[str, float]]] = []
    try:
        history = tmp / "history"
        t0 = time.perf_counter()
        timed([*cli, "run", "--landing", str(landing), "--warehouse", str(history), "--start", first, "--end", last],
              env, tmp / "history.log")
        n_history = len(list((history / "papers").glob("digest_date=*")))
        print(f"history {first}..{last}: {n_history} digest dates, built in {time.perf_counter() - t0:.1f} s", flush=True)

        bare: list[float] = []
        ours: list[tuple[float, dict[str, float]]] = []
        for i in range(args.repeat):
            order = ["bare", "day"] if i % 2 == 0 else ["day", "bare"]
            for side in order:
                if side == "bare":
                    secs, _ = timed([sys.executable, "-c", BARE], env, tmp / f"bare-{i}.log")
                    bare.append(secs)
                    print(f"  bare Spark session + 1 job   {secs:6.1f} s  (load {os.getloadavg()[0]:.1f})", flush=True)
                else:
                    target = tmp / f"day-{i}"
                    shutil.copytree(history, target)
                    secs, out = timed([*cli, "run", "--landing", str(landing), "--warehouse", str(target),
                                       "--date", day], env, tmp / f"day-{i}.log")
                    ours.append((secs, stage_seconds(out)))
                    shutil.rmtree(target, ignore_errors=True)
                    print(f"  digestflow run --date {day}  {secs:6.1f} s  {ours[-1][1]}  (load {os.getloadavg()[0]:.1f})",
                          flush=True)
        base = statistics.median(bare)
        rows.append(("bare PySpark local session + 1 trivial job [baseline]", base, {}))
        middle = sorted(ours)[len(ours) // 2]  # its stage seconds go in the table (the slower of two)
        rows.append((f"digestflow run --date {day} (fresh process)", statistics.median(s for s, _ in ours), middle[1]))

        if args.server:
            state = tmp / "server.json"
            server = subprocess.Popen([*cli, "serve", "--state", str(state)], env=env, stdout=subprocess.DEVNULL,
                                      stderr=subprocess.DEVNULL, start_new_session=True)
            try:
                t0 = time.perf_counter()
                wait_for_server(state, server)
                print(f"stage server up in {time.perf_counter() - t0:.1f} s", flush=True)
                client = dict(env, DIGESTFLOW_SERVER=str(state))
                for i in range(3):
                    target = tmp / f"server-{i}"
                    shutil.copytree(history, target)
                    secs, out = timed([*cli, "run", "--landing", str(landing), "--warehouse", str(target),
                                       "--date", day], client, tmp / f"server-{i}.log")
                    shutil.rmtree(target, ignore_errors=True)
                    label = "first (warms the server)" if i == 0 else f"warm #{i}"
                    print(f"  through the server, {label}: {secs:6.1f} s  {stage_seconds(out)}", flush=True)
                    if i:
                        rows.append((f"digestflow run --date {day} through the warm server ({label})", secs,
                                     stage_seconds(out)))
            finally:
                os.killpg(server.pid, signal.SIGTERM)
                server.wait(timeout=60)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    print(f"\ncores: {os.cpu_count()}, load after: {os.getloadavg()[0]:.1f}, repeat: {args.repeat} (median wall)")
    print(f"| case | wall s | ratio | {' | '.join(STAGES)} |")
    print(f"|---|---|---|{'---|' * len(STAGES)}")
    for label, secs, stages in rows:
        cells = " | ".join(f"{stages[s]:.1f}" if s in stages else "" for s in STAGES)
        print(f"| {label} | {secs:.1f} | {secs / base:.2f}x | {cells} |")


if __name__ == "__main__":
    main()
