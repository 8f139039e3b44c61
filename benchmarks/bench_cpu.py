"""Where a whole-history run's CPU goes: ``digestflow run`` and its one-process baseline, each in a fresh
process, with the CPU seconds of every process of its tree and of the JVM's threads by kind.

The whole-history run is CPU-bound on two cores (BENCHMARKS.md, session 30): its wall time follows its
CPU time, so this table says what a change must take away. It samples the command's process tree with
psutil every 0.2 s (the driver, the JVM, Spark's Python daemon and its workers) and the JVM's threads
from ``/proc/<pid>/task/*/stat`` (Linux), keeping each one's last reading; a process or thread that
lives less than 0.2 s is missed. Kinds of JVM threads, by name:

* ``executor tasks``: Spark tasks (scans, shuffles, the Arrow exchange with Python, Parquet writes);
* ``JIT compiler``: C1/C2 compiler threads (the JIT mode follows the input size, ``spark.jvm_options``);
* ``py4j``: the driver's calls (``Thread-N``: plan building, analysis, job submission);
* ``GC``: the serial collector runs on the ``VM Thread``;
* ``other``: the scheduler, listeners, exchanges, broadcast.

Usage::

    python benchmarks/bench_cpu.py [--landing ../shared/data/hf-daily] [--start 2024-05-27 --end 2026-05-29]
"""

from __future__ import annotations

import argparse
import collections
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_LANDING = ROOT.parent / "shared" / "data" / "hf-daily"
JVM_KINDS = (
    ("executor tasks", re.compile(r"^Executor task")),
    ("JIT compiler", re.compile(r"CompilerThre")),
    ("py4j", re.compile(r"^Thread-\d+$")),
    ("GC", re.compile(r"^VM Thread$")),
)


def _jvm_threads(pid: int, into: dict[tuple[int, str], tuple[str, float]]) -> None:
    tick = os.sysconf("SC_CLK_TCK")
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return
    for tid in tasks:
        try:
            stat = Path(f"/proc/{pid}/task/{tid}/stat").read_text()
        except OSError:
            continue
        name = stat[stat.index("(") + 1 : stat.rindex(")")]
        fields = stat[stat.rindex(")") + 2 :].split()
        into[(pid, tid)] = (name, (int(fields[11]) + int(fields[12])) / tick)  # utime + stime


def _kind(cmdline: list[str]) -> str:
    text = " ".join(cmdline)
    if cmdline and Path(cmdline[0]).name == "java":
        return "JVM"
    if "worker_daemon" in text or "pyspark.daemon" in text or "pyspark.worker" in text:
        return "Python workers"
    if "spark-class" in text or "spark-submit" in text:
        return "spark-submit"
    return "driver (Python)"


def profile(command: list[str]) -> tuple[float, collections.Counter[str], collections.Counter[str]]:
    """Run ``command``; return its wall seconds, CPU seconds by process kind and by JVM thread kind."""
    import psutil

    started = time.perf_counter()
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    root = psutil.Process(proc.pid)
    processes: dict[int, tuple[str, float]] = {}
    threads: dict[tuple[int, str], tuple[str, float]] = {}
    while proc.poll() is None:
        try:
            tree = [root, *root.children(recursive=True)]
        except psutil.Error:
            break
        for p in tree:
            try:
                kind = "driver (Python)" if p.pid == root.pid else _kind(p.cmdline())
                cpu = p.cpu_times()
                processes[p.pid] = (kind, cpu.user + cpu.system)
                if kind == "JVM":
                    _jvm_threads(p.pid, threads)
            except psutil.Error:
                continue
        time.sleep(0.2)
    wall = time.perf_counter() - started
    if proc.returncode:
        sys.exit(f"{' '.join(command)} exited with {proc.returncode}")
    by_process: collections.Counter[str] = collections.Counter()
    for kind, cpu in processes.values():
        by_process[kind] += cpu
    by_thread: collections.Counter[str] = collections.Counter()
    for name, cpu in threads.values():
        kind = next((k for k, pattern in JVM_KINDS if pattern.search(name)), "other")
        by_thread[kind] += cpu
    return wall, by_process, by_thread


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--landing", type=Path, default=DEFAULT_LANDING)
    parser.add_argument("--start", default="2024-05-27")
    parser.add_argument("--end", default="2026-05-29")
    args = parser.parse_args()
    if not args.landing.is_dir():
        sys.exit(f"no landing folder {args.landing} (give --landing)")
    cores = os.cpu_count() or 1
    with tempfile.TemporaryDirectory(prefix="bench-cpu-") as tmp:
        runs = {
            "digestflow run": [sys.executable, "-m", "digestflow.cli", "run", "--landing", str(args.landing),
                               "--warehouse", f"{tmp}/wh", "--start", args.start, "--end", args.end],
            "naive_pipeline.py": [sys.executable, str(ROOT / "benchmarks" / "naive_pipeline.py"),
                                  str(args.landing), f"{tmp}/naive"],
        }
        print(f"| run | wall s | CPU s | CPU / ({cores} cores × wall) | where (CPU s) |")
        print("|---|---|---|---|---|")
        for name, command in runs.items():
            wall, by_process, by_thread = profile(command)
            total = sum(by_process.values())
            parts = ", ".join(f"{k} {v:.1f}" for k, v in by_process.most_common() if v >= 0.05)
            if by_thread:
                parts += "; JVM threads: " + ", ".join(f"{k} {v:.1f}" for k, v in by_thread.most_common())
            print(f"| {name} | {wall:.1f} | {total:.1f} | {total / (cores * wall):.0%} | {parts} |")


if __name__ == "__main__":
    main()
