"""Same multi-day run on local[2] and on a 2-worker × 1-core standalone cluster, plus a volume sweep.

    python benchmarks/bench_cluster.py                       # local[2] vs cluster, 7 days at 1×
    python benchmarks/bench_cluster.py --scales 1,8,32 --no-cluster   # how cost grows with volume

Every run is a fresh ``digestflow run`` process (session start included, as in production), timed
per stage from its own report lines; the driver's peak RSS (Python + JVM) is sampled with psutil, and
the published tables are measured (rows, files, bytes) with pyarrow. The cluster is started with
``scripts/spark-cluster.sh`` and always stopped.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import os
import re
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil

REPO = Path(__file__).resolve().parents[1]
SUMMARY = re.compile(r"^(\w+): (\d+) in, (\d+) out, (\d+) rejected, (\d+) partitions, ([\d.]+)s", re.M)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _peak_rss(proc: subprocess.Popen[str], out: dict[str, float]) -> None:
    """Sample driver-side RSS (the process and its children: Python driver + driver JVM) until exit."""
    try:
        root = psutil.Process(proc.pid)
        while proc.poll() is None:
            total = 0
            for p in [root, *root.children(recursive=True)]:
                with contextlib.suppress(psutil.Error):
                    total += p.memory_info().rss
            out["peak"] = max(out.get("peak", 0), total)
            time.sleep(0.5)
    except psutil.Error:
        pass


def run_pipeline(landing: Path, warehouse: Path, start: dt.date, end: dt.date, env: dict[str, str]) -> dict:
    cmd = [str(Path(sys.executable).parent / "digestflow"), "run", "--start", start.isoformat(),
           "--end", end.isoformat(), "--landing", landing.as_uri(), "--warehouse", warehouse.as_uri()]
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    rss: dict[str, float] = {}
    sampler = threading.Thread(target=_peak_rss, args=(proc, rss), daemon=True)
    sampler.start()
    stdout, stderr = proc.communicate()
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"run failed:\n{stderr[-3000:]}")
    stages = {m.group(1): float(m.group(6)) for m in SUMMARY.finditer(stdout)}
    return {"wall": wall, "stages": stages, "start_overhead": wall - sum(stages.values()),
            "driver_rss_mb": rss.get("peak", 0) / 2**20}


def table_stats(warehouse: Path) -> dict[str, tuple[int, int, int]]:
    """{table: (rows, parquet files, bytes)} of the published tables."""
    import pyarrow.parquet as pq

    out = {}
    for folder in sorted(p for p in warehouse.iterdir() if p.is_dir() and not p.name.startswith("_")):
        files = sorted(folder.rglob("*.parquet"))
        rows = sum(pq.ParquetFile(f).metadata.num_rows for f in files)
        out[folder.name] = (rows, len(files), sum(f.stat().st_size for f in files))
    return out


def distinct_terms(warehouse: Path) -> int:
    import pyarrow.dataset as ds

    folder = warehouse / "paper_terms"
    if not folder.is_dir():
        return 0
    return len(ds.dataset(folder, format="parquet", partitioning="hive").to_table(columns=["term"])
               .column("term").unique())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--days", type=int, default=7)
    parser.add_argument("--scales", default="1", help="Comma-separated paper-volume multipliers (local[2]).")
    parser.add_argument("--no-cluster", action="store_true", help="Skip the standalone-cluster comparison.")
    parser.add_argument("--validate", action="store_true", help="Keep the validation gate on (default off).")
    args = parser.parse_args()

    from digestflow.generate import generate_corpus, write_corpus

    start = dt.date(2025, 3, 3)
    end = start + dt.timedelta(days=args.days - 1)
    base_env = {**os.environ, "GX_ANALYTICS_ENABLED": "false", "DIGESTFLOW_SHUFFLE_PARTITIONS": "2",
                "DIGESTFLOW_VALIDATE": "1" if args.validate else "0", "SPARK_LOCAL_IP": "127.0.0.1"}
    print(f"# machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at start; "
          f"{args.days} days, validation {'on' if args.validate else 'off'}")
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-cluster-") as tmp:
        root = Path(tmp)
        for scale in [float(s) for s in args.scales.split(",")]:
            landing = root / f"landing-{scale:g}"
            digests = generate_corpus(args.days, start=start, seed=7, scale=scale)
            write_corpus(digests, landing)
            n_papers = sum(len(d.papers) for d in digests)
            wh = root / f"wh-local-{scale:g}"
            res = run_pipeline(landing, wh, start, end, {**base_env, "SPARK_MASTER": "local[2]"})
            rows.append(("local[2]", scale, n_papers, res, table_stats(wh), distinct_terms(wh)))
            if scale == 1 and not args.no_cluster:
                rows.append(("cluster 2x1", scale, n_papers,
                             *_cluster_run(root, landing, start, end, base_env)))
        _print(rows)


def _cluster_run(root: Path, landing: Path, start: dt.date, end: dt.date, base_env: dict[str, str]):
    state = root / "cluster"
    env = {**base_env, "SPARK_CLUSTER_DIR": str(state), "SPARK_MASTER_PORT": str(_free_port()),
           "SPARK_MASTER_WEBUI_PORT": str(_free_port()), "PYTHON": sys.executable}
    script = REPO / "scripts" / "spark-cluster.sh"
    try:
        t0 = time.perf_counter()
        started = subprocess.run([str(script), "start"], env=env, capture_output=True, text=True, check=True)
        print(f"# cluster start (master + 2 workers registered): {time.perf_counter() - t0:.1f}s")
        master = started.stdout.strip().splitlines()[-1].removeprefix("MASTER=")
        wh = root / "wh-cluster"
        res = run_pipeline(landing, wh, start, end, {**env, "SPARK_MASTER": master, "DIGESTFLOW_EXECUTOR_MEMORY": "768m"})
        return res, table_stats(wh), distinct_terms(wh)
    finally:
        subprocess.run([str(script), "stop"], env=env, capture_output=True, text=True)


def _print(rows: list) -> None:
    stage_names = sorted({s for r in rows for s in r[3]["stages"]},
                         key=lambda s: ["ingest", "terms", "embed", "trends", "erank", "marts"].index(s)
                         if s in ["ingest", "terms", "embed", "trends", "erank", "marts"] else 99)
    head = ["master", "scale", "papers", "wall s", "start+stop s", *[f"{s} s" for s in stage_names],
            "driver RSS MB", "terms", "files", "MB"]
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for master, scale, n_papers, res, stats, terms in rows:
        files = sum(v[1] for v in stats.values())
        mb = sum(v[2] for v in stats.values()) / 2**20
        cells = [master, f"{scale:g}", str(n_papers), f"{res['wall']:.1f}", f"{res['start_overhead']:.1f}",
                 *[f"{res['stages'].get(s, float('nan')):.1f}" for s in stage_names],
                 f"{res['driver_rss_mb']:.0f}", str(terms), str(files), f"{mb:.2f}"]
        print("| " + " | ".join(cells) + " |")
    print("\n# per-table (rows, files, bytes) of the last run:")
    for table, (n, files, size) in rows[-1][4].items():
        print(f"#   {table:18} rows={n:<8} files={files:<4} bytes={size}")


if __name__ == "__main__":
    main()
