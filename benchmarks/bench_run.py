"""The headline: `digestflow run` (every stage, one Spark application) against the one-process script.

    python benchmarks/bench_run.py [--shared ../shared] [--repeat 1] [--scale K ...] [--days 730] [--no-real]

Both are timed as a user sees them, from a fresh process (imports and, for digestflow, JVM start-up
included), on the same landing folder in the same run, alternating which goes first. The baseline is
``benchmarks/naive_pipeline.py`` (pyarrow + scikit-learn + numpy: parse, write, terms, trends, hashed
embeddings, erank per day/week/month, a daily summary). digestflow does more (the GE gate, rejects,
Kleinberg bursts and Mann–Kendall, erank bootstrap intervals with B = 200, term sets, marts with
partitions), so the ratio is conservative. ``--scale K`` (repeatable, e.g. ``--scale 10 100``) adds the
pair on a synthetic corpus at K × the real volume: ``--days`` days from 2024-05-27 written by
``digestflow.generate`` (the code behind ``digestflow generate-sample --scale K``, seed 3).
``--no-real`` leaves out the 521 real days (to try the scaled path alone, e.g. ``--scale 100 --days 3``).

Prints ONE growth table: per corpus its size (digests, papers, MB of text), the median wall time of
each side, the ratio digestflow / script, and the peak resident memory of each side.

Peak RSS: the launched process and all its descendants are sampled with ``psutil`` every 0.2 s and
their RSS summed; the table gives the largest sum seen. For ``digestflow run`` the tree is the Python
driver, the JVM it starts (spark-submit → java) and the JVM's Python workers; the sum counts pages
shared between processes (forked Python workers) once per process, so it is an upper bound of what the
tree holds, and a peak shorter than 0.2 s can be missed. For the script (one process) the figure is
also checked against the kernel's exact peak, ``ru_maxrss`` from ``os.wait4`` on that child alone, and
the larger is shown. (``resource.getrusage(RUSAGE_CHILDREN)`` is not used: it is the largest single
process among every child this benchmark has waited for, i.e. not per run and never a tree sum.)
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil
from bench_day import stage_seconds  # benchmarks/ is on sys.path when this file runs as a script

REPO = Path(__file__).resolve().parents[1]
SAMPLE_SECONDS = 0.2
DIGESTFLOW, SCRIPT = "digestflow run", "naive_pipeline.py"


def tree_rss(root: psutil.Process) -> int:
    """Summed RSS (bytes) of ``root`` and its descendants right now; vanished processes count 0."""
    total = 0
    try:
        procs = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return 0
    for proc in procs:
        with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied):
            total += proc.memory_info().rss
    return total


def measure(cmd: list[str], env: dict[str, str], log: Path) -> tuple[float, int]:
    """Run ``cmd``; (wall seconds, peak RSS bytes of its process tree). Exits on a non-zero return code."""
    with open(log, "wb") as out:
        t0 = time.perf_counter()
        child = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env)
        root = psutil.Process(child.pid)
        peak = 0
        while True:
            # wait4 (not Popen.poll) reaps the child, so its own rusage is kept.
            pid, status, usage = os.wait4(child.pid, os.WNOHANG)
            if pid:
                break
            peak = max(peak, tree_rss(root))
            time.sleep(SAMPLE_SECONDS)
        secs = time.perf_counter() - t0
    child.returncode = os.waitstatus_to_exitcode(status)
    peak = max(peak, usage.ru_maxrss * 1024)  # Linux: KiB; the child's own peak, exact
    if child.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({child.returncode}):\n{log.read_text(errors='replace')[-4000:]}")
    return secs, peak


def count_papers(out: Path) -> int:
    import pyarrow.dataset as ds

    return ds.dataset(out / "papers", format="parquet", partitioning="hive").count_rows()


def pair(landing: Path, start: str, end: str, tmp: Path, repeat: int, validate: bool) -> dict[str, object]:
    """Both sides ``repeat`` times, alternating the order: wall times, peak RSS and the paper count."""
    times: dict[str, list[float]] = {DIGESTFLOW: [], SCRIPT: []}
    peaks: dict[str, int] = {DIGESTFLOW: 0, SCRIPT: 0}
    papers = 0
    env = dict(os.environ)
    env.pop("DIGESTFLOW_SERVER", None)  # a fresh Spark application, never a warm stage server
    for i in range(repeat):
        runs = [
            (DIGESTFLOW, [sys.executable, "-m", "digestflow.cli", "run", "--landing", str(landing),
                          "--warehouse", str(tmp / f"wh-{i}"), "--start", start, "--end", end,
                          *([] if validate else ["--no-validate"])]),
            (SCRIPT, [sys.executable, str(REPO / "benchmarks" / "naive_pipeline.py"), str(landing),
                      str(tmp / f"naive-{i}")]),
        ]
        for name, cmd in runs if i % 2 == 0 else runs[::-1]:
            secs, peak = measure(cmd, env, tmp / f"{name.split()[0]}-{i}.log")
            times[name].append(secs)
            peaks[name] = max(peaks[name], peak)
            print(f"  {name:18} {secs:8.1f} s  peak RSS {peak / 2**20:7.0f} MiB  (load {os.getloadavg()[0]:.1f})",
                  flush=True)
            text = (tmp / f"{name.split()[0]}-{i}.log").read_text(errors="replace")
            if name == SCRIPT:  # its own per-step seconds, one line
                steps = [line.split() for line in text.splitlines()]
                print("    " + ", ".join(f"{' '.join(w[:-2])} {w[-2]}" for w in steps if len(w) >= 3 and w[-1] == "s"),
                      flush=True)
            else:  # digestflow's stage seconds (its end-of-run report), one line
                print("    " + ", ".join(f"{k} {v:.1f}s" for k, v in stage_seconds(text).items()), flush=True)
        papers = count_papers(tmp / f"naive-{i}")
        shutil.rmtree(tmp / f"wh-{i}", ignore_errors=True)
        shutil.rmtree(tmp / f"naive-{i}", ignore_errors=True)
    return {"times": times, "peaks": peaks, "papers": papers}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shared", type=Path, default=REPO.parent / "shared")
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--scale", type=float, nargs="*", default=[],
                        help="also run on a synthetic corpus at each of these × volumes")
    parser.add_argument("--days", type=int, default=730, help="days of each scaled corpus")
    parser.add_argument("--no-real", action="store_true", help="leave out the 521 real days")
    parser.add_argument("--no-validate", action="store_true", help="digestflow without the GE gate")
    args = parser.parse_args()
    load_before = os.getloadavg()
    tmp = Path(tempfile.mkdtemp(prefix="bench-run-"))
    rows = []
    try:
        corpora = []
        if not args.no_real:
            corpora.append(("1x real", args.shared / "data" / "hf-daily", "2024-05-27", "2026-05-29"))
        for scale in args.scale:
            from digestflow.generate import iter_corpus, write_corpus

            t0 = time.perf_counter()
            big = tmp / f"landing-{scale:g}x"
            write_corpus(iter_corpus(args.days, start=dt.date(2024, 5, 27), seed=3, scale=scale), big)
            end = (dt.date(2024, 5, 27) + dt.timedelta(days=args.days - 1)).isoformat()
            print(f"generated {scale:g}x synthetic, {args.days} days, in {time.perf_counter() - t0:.1f} s", flush=True)
            corpora.append((f"{scale:g}x synthetic", big, "2024-05-27", end))
        for label, landing, start, end in corpora:
            files = sorted(landing.glob("*.txt"))
            mb = sum(p.stat().st_size for p in files) / 1e6
            print(f"{label}: {len(files)} digests, {mb:.1f} MB", flush=True)
            got = pair(landing, start, end, tmp, args.repeat, not args.no_validate)
            ours, naive = (statistics.median(got["times"][k]) for k in (DIGESTFLOW, SCRIPT))
            rows.append((label, len(files), got["papers"], mb, ours, naive, got["peaks"][DIGESTFLOW],
                         got["peaks"][SCRIPT]))
            if landing.is_relative_to(tmp):  # a generated corpus: free the disk before the next one
                shutil.rmtree(landing, ignore_errors=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    after = os.getloadavg()
    print(f"\ncores: {os.cpu_count()}, load before: {load_before[0]:.1f} (15 min {load_before[2]:.1f}), "
          f"after: {after[0]:.1f} (15 min {after[2]:.1f}), repeat: {args.repeat} (median wall), "
          f"GE gate: {'off' if args.no_validate else 'on'}")
    header = (f"{'corpus':16} {'digests':>7} {'papers':>8} {'MB':>7} {'digestflow s':>12} {'script s':>9} "
              f"{'ratio':>6} {'digestflow peak':>15} {'script peak':>11}")
    print(header)
    print("-" * len(header))
    for label, digests, papers, mb, ours, naive, peak_ours, peak_naive in rows:
        print(f"{label:16} {digests:7d} {papers:8d} {mb:7.1f} {ours:12.1f} {naive:9.1f} {ours / naive:5.2f}x "
              f"{peak_ours / 2**20:11.0f} MiB {peak_naive / 2**20:7.0f} MiB")


if __name__ == "__main__":
    main()
