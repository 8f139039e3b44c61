"""Version agreement between the Python side and the JVM side of Spark.

Installing ``pyspark-client`` (or another pyspark) next to ``pyspark`` can replace the Python package
while the JVM jars stay at the old version: sessions still start, and things break later in odd ways.
"""

from __future__ import annotations

import datetime as dt
import re
import shutil
import zipfile
from pathlib import Path

import pyspark
import pytest

REPO = Path(__file__).resolve().parents[1]


def test_python_pyspark_equals_jvm_spark(spark) -> None:
    # Both calls go to the JVM (SparkSession.version / JavaSparkContext.version), not to Python metadata.
    assert spark.version == pyspark.__version__
    assert spark.sparkContext._jsc.version() == pyspark.__version__


def test_installed_pyspark_is_the_pinned_one() -> None:
    pins = dict(
        line.split("==", 1) for line in (REPO / "constraints.txt").read_text().splitlines() if "==" in line
    )
    assert pins["pyspark"] == pyspark.__version__
    jars = Path(pyspark.__file__).parent / "jars"
    core = sorted(jars.glob("spark-core_*.jar"))
    assert core, f"no spark-core jar under {jars}"
    assert re.search(rf"-{re.escape(pyspark.__version__)}\.jar$", core[0].name), core[0].name


def test_jit_mode_follows_the_run_length_and_cluster_drivers_get_no_flags() -> None:
    from digestflow.settings import Settings
    from digestflow.spark import C1_ONLY_MAX_DAYS, jvm_options

    local = Settings.from_env().replace(spark_master="local[2]", jvm_opts=None)
    assert "-XX:TieredStopAtLevel=1" in jvm_options(local, days=1).split()
    assert "-XX:TieredStopAtLevel=1" in jvm_options(local).split()  # unknown length: start-up first
    assert "-XX:TieredStopAtLevel=1" not in jvm_options(local, days=C1_ONLY_MAX_DAYS + 1).split()
    assert "-XX:+UseSerialGC" in jvm_options(local, days=521).split()
    assert jvm_options(local.replace(spark_master="spark://127.0.0.1:7077"), days=1) == ""
    assert jvm_options(local.replace(jvm_opts="-Xss4m"), days=521) == "-Xss4m"


def test_jit_mode_follows_the_input_size_when_known() -> None:
    """The landing bytes of the run's dates pick the JIT, whatever the number of dates: 521 small days
    (12.5 MB) stop at C1, a run over 64 MiB keeps C2 (BENCHMARKS.md, session 28)."""
    from digestflow.settings import Settings
    from digestflow.spark import C1_ONLY_MAX_BYTES, jvm_options

    local = Settings.from_env().replace(spark_master="local[2]", jvm_opts=None)
    assert C1_ONLY_MAX_BYTES == 64 * 1024 * 1024
    assert "-XX:TieredStopAtLevel=1" in jvm_options(local, days=521, input_bytes=10_000_000).split()
    assert "-XX:TieredStopAtLevel=1" in jvm_options(local, days=521, input_bytes=64 * 1024 * 1024).split()
    assert "-XX:TieredStopAtLevel=1" not in jvm_options(local, days=521, input_bytes=64 * 1024 * 1024 + 1).split()
    assert "-XX:TieredStopAtLevel=1" not in jvm_options(local, days=1, input_bytes=98_000_000).split()
    assert jvm_options(local.replace(spark_master="spark://127.0.0.1:7077"), input_bytes=1) == ""


def test_landing_bytes_counts_the_files_a_run_reads(tmp_path) -> None:
    from digestflow.landing import landing_bytes

    assert landing_bytes(tmp_path / "missing", dt.date(2025, 1, 6), dt.date(2025, 1, 7)) is None
    (tmp_path / "2025-01-06.txt").write_bytes(b"x" * 100)
    (tmp_path / "digest-2025-01-07.txt").write_bytes(b"x" * 250)
    (tmp_path / "2025-01-08.txt").write_bytes(b"x" * 4000)  # after the range
    (tmp_path / ".2025-01-06.txt").write_bytes(b"x" * 7000)  # hidden: never read
    (tmp_path / "2025-01-06.md").write_bytes(b"x" * 9000)  # not a digest file
    assert landing_bytes(tmp_path, dt.date(2025, 1, 6), dt.date(2025, 1, 7)) == 350
    assert landing_bytes(tmp_path, dt.date(2025, 1, 9), dt.date(2025, 1, 31)) is None
    (tmp_path / "undated.txt").write_bytes(b"x" * 30)  # read by any run (its date comes from its header)
    assert landing_bytes(tmp_path, dt.date(2025, 1, 9), dt.date(2025, 1, 31)) == 30


def test_a_long_run_of_small_inputs_starts_its_jvm_with_c1_only(tmp_path) -> None:
    """The real CLI over 20 synthetic days (more than C1_ONLY_MAX_DAYS, a few hundred KB): the JVM it
    starts carries the C1-only flag (the command line of the real java process)."""
    import os
    import subprocess
    import sys

    from digestflow.generate import generate_corpus, write_corpus
    from digestflow.spark import C1_ONLY_MAX_DAYS
    from jvm import wait_for_driver_jvm

    days = 20
    assert days > C1_ONLY_MAX_DAYS  # the old rule (by dates) would have given this run C2
    start = dt.date(2025, 1, 6)
    write_corpus(generate_corpus(days, start=start, seed=3), tmp_path / "landing")
    env = {k: v for k, v in os.environ.items() if k != "DIGESTFLOW_JVM_OPTS"}
    cmd = [sys.executable, "-m", "digestflow.cli", "ingest", "--landing", str(tmp_path / "landing"),
           "--warehouse", str(tmp_path / "wh"), "--start", start.isoformat(),
           "--end", (start + dt.timedelta(days=days - 1)).isoformat(), "--no-validate"]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        java = wait_for_driver_jvm(proc)
        out, _ = proc.communicate(timeout=300)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, out
    assert java, "no java process seen under the run"
    assert "-XX:TieredStopAtLevel=1" in java


@pytest.mark.parametrize(("command", "c1_only"), [("ingest", True), ("run", False)])
def test_big_inputs_get_the_full_jit_only_in_a_run_with_terms(tmp_path, command, c1_only) -> None:
    """Over 64 MiB of landing files, the real CLI's JVM keeps C2 when the run extracts terms (the stage
    whose JVM work pays for C2's compiling) and stops at C1 for ingest alone (the command line of the
    real java process; each command is stopped once its JVM is seen). The files are sparse: their size
    is what picks the JIT, before Spark starts."""
    import os
    import subprocess
    import sys

    from digestflow.spark import C1_ONLY_MAX_BYTES
    from jvm import wait_for_driver_jvm

    landing = tmp_path / "landing"
    landing.mkdir()
    for day in ("2025-01-06", "2025-01-07"):
        with (landing / f"{day}.txt").open("wb") as handle:
            handle.truncate(C1_ONLY_MAX_BYTES // 2 + 1)
    env = {k: v for k, v in os.environ.items() if k != "DIGESTFLOW_JVM_OPTS"}
    cmd = [sys.executable, "-m", "digestflow.cli", command, "--landing", str(landing),
           "--warehouse", str(tmp_path / "wh"), "--start", "2025-01-06", "--end", "2025-01-07", "--no-validate"]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        java = wait_for_driver_jvm(proc)
    finally:
        proc.kill()
        out, _ = proc.communicate(timeout=60)
    assert java, f"no java process seen under {command}: {out}"
    assert ("-XX:TieredStopAtLevel=1" in java) is c1_only


def test_the_fs_shim_jar_is_byte_reproducible(tmp_path, monkeypatch) -> None:
    """Two builds give the same bytes, so the CDS archive named after them stays valid (a rebuilt jar
    with new timestamps used to orphan a 150 MB archive and slow every JVM start by ~20 s)."""
    from digestflow import spark

    if shutil.which("javac") is None:
        pytest.skip("no javac: the shim is optional")
    monkeypatch.setenv("DIGESTFLOW_CACHE", str(tmp_path))
    first = spark.build_fs_shim().read_bytes()
    name = spark.cds_archive().name
    (tmp_path / spark.fs_shim_jar().name).unlink()
    assert spark.build_fs_shim().read_bytes() == first
    assert spark.cds_archive().name == name
    with zipfile.ZipFile(spark.fs_shim_jar()) as jar:
        assert "digestflow/NioLocalFileSystem.class" in jar.namelist()


def test_other_installs_idle_cds_archives_are_pruned(tmp_path) -> None:
    """Each venv dumps a ~150 MB archive; only other installs' archives idle for two weeks (and dead
    warm-ups' temporary dumps older than a day) go. The current one stays however old it is."""
    import os
    import time

    from digestflow import spark

    day = 86_400
    now = time.time()

    def file(name: str, idle_days: float) -> Path:
        path = tmp_path / name
        path.write_bytes(b"x")
        os.utime(path, (now - idle_days * day, now - idle_days * day))
        return path

    keep = file("spark-4.1.3-311-aaaaaaaaaa.jsa", 400)
    stale = file("spark-4.1.3-311-bbbbbbbbbb.jsa", 20)
    in_use = file("spark-4.1.3-311-cccccccccc.jsa", 2)
    dead_dump = file("spark-4.1.3-311-aaaaaaaaaa.jsa.4242.tmp", 2)
    live_dump = file("spark-4.1.3-311-aaaaaaaaaa.jsa.4243.tmp", 0.05)
    other = file("digestflow-fs-4.1.3.jar", 400)
    # Read recently (a JVM mapped it) but written long ago: in use.
    os.utime(in_use, (now - 0.5 * day, now - 300 * day))

    removed = spark.prune_archives(keep)
    assert sorted(removed) == sorted([stale, dead_dump])
    assert all(p.exists() for p in (keep, in_use, live_dump, other))
    assert not stale.exists()
    assert not dead_dump.exists()


FIRST_USE = r"""
import sys
from digestflow.settings import Settings
from digestflow.spark import build_session
s = build_session(Settings.from_env().replace(spark_master="local[1]"), "first-use")
print(s.sparkContext.getConf().get("spark.driver.extraJavaOptions", ""))
assert s.range(100).selectExpr("sum(id)").first()[0] == 4950
s.stop()
"""


@pytest.mark.slow
def test_first_use_without_warmup_dumps_the_archive_and_the_next_session_uses_it(tmp_path, monkeypatch) -> None:
    """A venv that never ran `digestflow warmup` (an empty cache): the first session's JVM dumps its
    classes at exit, the next session adopts the dump and starts with it."""
    import os
    import subprocess
    import sys
    import time

    from digestflow import spark as sparkmod

    env = {**os.environ, "DIGESTFLOW_CACHE": str(tmp_path / "cache")}
    env.pop("DIGESTFLOW_JVM_OPTS", None)
    first = subprocess.run([sys.executable, "-c", FIRST_USE], env=env, capture_output=True, text=True, timeout=600)
    assert first.returncode == 0, first.stderr[-2000:]
    assert "-XX:ArchiveClassesAtExit=" in first.stdout
    dumps = list((tmp_path / "cache").glob("spark-*.jsa.*.tmp"))
    assert len(dumps) == 1, sorted(p.name for p in (tmp_path / "cache").iterdir())
    assert dumps[0].stat().st_size > 1_000_000  # a real class dump, not an empty file
    time.sleep(sparkmod.DUMP_SETTLE_SECONDS + 1)
    second = subprocess.run([sys.executable, "-c", FIRST_USE], env=env, capture_output=True, text=True, timeout=600)
    assert second.returncode == 0, second.stderr[-2000:]
    assert "-XX:SharedArchiveFile=" in second.stdout
    assert "ArchiveClassesAtExit" not in second.stdout
    monkeypatch.setenv("DIGESTFLOW_CACHE", str(tmp_path / "cache"))
    assert sparkmod.cds_archive().is_file()  # adopted under the name the JVM options point at
    assert not list((tmp_path / "cache").glob("*.tmp"))
