"""The headline: `digestflow run` (every stage, one Spark application) against the one-process script.

    python benchmarks/bench_run.py [--shared ../shared] [--repeat 1] [--scale 0] [--days 730]

Both are timed as a user sees them, from a fresh process (imports and, for digestflow, JVM start-up
included), on the same landing folder in the same run, alternating which goes first. The baseline is
``benchmarks/naive_pipeline.py`` (pyarrow + scikit-learn + numpy: parse, write, terms, trends, hashed
embeddings, erank per day/week/month, a daily summary). digestflow does more (the GE gate, rejects,
Kleinberg bursts and Mann–Kendall, erank bootstrap intervals, marts with partitions), so the ratio is
conservative. ``--scale K`` adds the same pair on a synthetic corpus at K × the real volume.

Prints one row per (corpus, pipeline) with the median wall time, and the ratio digestflow / naive.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def wall(cmd: list[str], env: dict[str, str] | None = None) -> float:
    t0 = time.perf_counter()
    out = subprocess.run(cmd, capture_output=True, text=True, env=env)
    secs = time.perf_counter() - t0
    if out.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({out.returncode}):\n{out.stderr[-4000:]}")
    return secs


def pair(landing: Path, start: str, end: str, tmp: Path, repeat: int, validate: bool) -> dict[str, list[float]]:
    times: dict[str, list[float]] = {"digestflow run": [], "naive_pipeline.py": []}
    env = dict(os.environ)
    for i in range(repeat):
        runs = [
            ("digestflow run", [sys.executable, "-m", "digestflow.cli", "run", "--landing", str(landing),
                                "--warehouse", str(tmp / f"wh-{i}"), "--start", start, "--end", end,
                                *([] if validate else ["--no-validate"])]),
            ("naive_pipeline.py", [sys.executable, str(REPO / "benchmarks" / "naive_pipeline.py"), str(landing),
                                   str(tmp / f"naive-{i}")]),
        ]
        for name, cmd in runs if i % 2 == 0 else runs[::-1]:
            times[name].append(wall(cmd, env))
        shutil.rmtree(tmp / f"wh-{i}", ignore_errors=True)
        shutil.rmtree(tmp / f"naive-{i}", ignore_errors=True)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shared", type=Path, default=REPO.parent / "shared")
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--scale", type=float, default=0.0, help="also run on a synthetic corpus at this × volume")
    parser.add_argument("--days", type=int, default=730, help="days of the scaled corpus")
    parser.add_argument("--no-validate", action="store_true", help="digestflow without the GE gate")
    args = parser.parse_args()
    load_before = os.getloadavg()[0]
    tmp = Path(tempfile.mkdtemp(prefix="bench-run-"))
    rows = []
    try:
        real = args.shared / "data" / "hf-daily"
        corpora = [("521 real days", real, "2024-05-27", "2026-05-29")]
        if args.scale:
            from digestflow.generate import iter_corpus, write_corpus

            big = tmp / "landing-big"
            write_corpus(iter_corpus(args.days, start=dt.date(2024, 5, 27), seed=3, scale=args.scale), big)
            end = (dt.date(2024, 5, 27) + dt.timedelta(days=args.days - 1)).isoformat()
            size = sum(p.stat().st_size for p in big.glob("*.txt")) / 1e6
            corpora.append((f"{args.scale:g}x synthetic ({size:.0f} MB)", big, "2024-05-27", end))
        for label, landing, start, end in corpora:
            times = pair(landing, start, end, tmp, args.repeat, not args.no_validate)
            ours, naive = (statistics.median(times[k]) for k in ("digestflow run", "naive_pipeline.py"))
            rows.append((label, "digestflow run", ours, f"{ours / naive:.2f}x naive"))
            rows.append((label, "naive_pipeline.py", naive, "1.00x"))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"cores: {os.cpu_count()}, load before: {load_before:.1f}, after: {os.getloadavg()[0]:.1f}, repeat: {args.repeat}")
    print(f"{'corpus':28} {'pipeline':20} {'seconds':>9}  ratio")
    for label, name, secs, note in rows:
        print(f"{label:28} {name:20} {secs:9.2f}  {note}")


if __name__ == "__main__":
    main()
