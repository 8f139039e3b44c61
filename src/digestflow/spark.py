"""The one SparkSession of a run, configured from :class:`~digestflow.settings.Settings`.

Every stage takes the session as an argument; only the CLI (and tests' fixture) builds it, so a whole
``digestflow run`` is one Spark application.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from digestflow.settings import Settings

if TYPE_CHECKING:
    from pyspark.sql import SparkSession


def cds_archive() -> Path:
    """Where the JVM class-data-sharing archive for this pyspark install lives (see :func:`warm_up`).

    The archive is only valid for the exact class path it was dumped with, so its name carries a hash
    of the pyspark folder and of the file-system shim jar (two virtualenvs never share one, and a
    rebuilt shim makes the old archive unused instead of rejected by the JVM at every start).
    """
    import hashlib

    import pyspark

    cache = Path(os.environ.get("DIGESTFLOW_CACHE", Path.home() / ".cache" / "digestflow"))
    digest = hashlib.sha1(str(Path(pyspark.__file__).resolve().parent).encode())
    shim = fs_shim_jar()
    if shim.is_file():
        digest.update(shim.read_bytes())
    where = digest.hexdigest()[:10]
    return cache / f"spark-{pyspark.__version__}-{sys.version_info.major}{sys.version_info.minor}-{where}.jsa"


def fs_shim_jar() -> Path:
    import pyspark

    cache = Path(os.environ.get("DIGESTFLOW_CACHE", Path.home() / ".cache" / "digestflow"))
    return cache / f"digestflow-fs-{pyspark.__version__}.jar"


def build_fs_shim() -> Path | None:
    """Compile ``java/digestflow/NioLocalFileSystem.java`` against pyspark's jars (needs a JDK's javac).

    Without the native hadoop library, Hadoop forks ``chmod`` for every file and folder it writes; the
    shim sets the bits through java.nio. Returns None when no javac is available (then Spark uses the
    stock local file system: same results, slower writes).
    """
    import shutil
    import subprocess
    import tempfile

    import pyspark

    from digestflow.resources import resource_dir

    javac = shutil.which("javac")
    if not javac:
        return None
    source = resource_dir("java") / "digestflow" / "NioLocalFileSystem.java"
    target = fs_shim_jar()
    target.parent.mkdir(parents=True, exist_ok=True)
    jars = Path(pyspark.__file__).parent / "jars"
    with tempfile.TemporaryDirectory() as build:
        subprocess.run(
            [javac, "--release", "17", "-nowarn", "-d", build, "-cp", f"{jars}/*", str(source)],
            check=True, capture_output=True,
        )
        data = _reproducible_jar(Path(build))
    if not target.is_file() or target.read_bytes() != data:
        tmp = target.with_name(f"{target.name}.{os.getpid()}.tmp")
        tmp.write_bytes(data)
        os.replace(tmp, target)
    return target


def _reproducible_jar(classes: Path) -> bytes:
    """The class files under ``classes`` as jar bytes that depend on their content only.

    ``jar`` stamps the build time into every entry, so each warm-up made a "new" jar, a new CDS archive
    name and another 150 MB archive in the cache (and a second virtualenv's warm-up invalidated the
    first's archive). Fixed timestamps and sorted entries make the same source give the same bytes.
    """
    import io
    import zipfile

    entries = {"META-INF/MANIFEST.MF": b"Manifest-Version: 1.0\r\nCreated-By: digestflow\r\n\r\n"}
    entries.update({p.relative_to(classes).as_posix(): p.read_bytes() for p in sorted(classes.rglob("*.class"))})
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as jar:
        for name, data in entries.items():
            jar.writestr(zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0)), data, zipfile.ZIP_DEFLATED)
    return buffer.getvalue()


#: Runs whose landing files total more than this get the full tiered JIT (C2); smaller ones stop at C1.
#: Whole-history runs, C1-only against C2 (BENCHMARKS.md, session 28): 1x real (12.5 MB) 48.4 / 49.9 s
#: against 57.5 / 57.4 s, 3x synthetic (30 MB) 71.6 against 76.2 s, 6x (59 MB) 103.8 against 106.3 s,
#: 10x (98 MB) 142.4 against 132.1 s. C2's compiler threads alone burned 34 of a 1x run's 108 CPU-s.
C1_ONLY_MAX_BYTES = 64 * 2**20

#: When the run's input size is unknown: runs over more dates than this get C2.
C1_ONLY_MAX_DAYS = 14


def jvm_options(
    settings: Settings, days: int | None = None, auto_warm_up: bool = False, input_bytes: int | None = None
) -> str:
    """Driver JVM flags. On a local master, start-up and the JIT's own work dominate runs of small
    inputs: C1-only JIT, serial GC and the class-data-sharing archive cut session start + first job from
    ~50 s to ~20 s on 2 slow cores (BENCHMARKS.md). A run of big inputs keeps C2, whose faster code then
    pays for its compile time: ``input_bytes`` (the landing files of the run's dates,
    :func:`digestflow.landing.landing_bytes`) over :data:`C1_ONLY_MAX_BYTES`, or, when that is unknown,
    ``days`` over :data:`C1_ONLY_MAX_DAYS`. Cluster drivers keep the JVM defaults.
    ``DIGESTFLOW_JVM_OPTS`` replaces all this. ``auto_warm_up``: with no archive yet, have this JVM dump
    one at exit for the next session.
    """
    if settings.jvm_opts is not None:
        return settings.jvm_opts
    if not settings.spark_master.startswith("local"):
        return ""
    opts = ["-XX:+UseSerialGC"]
    if input_bytes is not None:
        big = input_bytes > C1_ONLY_MAX_BYTES
    else:
        big = days is not None and days > C1_ONLY_MAX_DAYS
    if not big:
        opts.insert(0, "-XX:TieredStopAtLevel=1")
    archive = cds_archive()
    if archive.is_file() or adopt_dumped_archive(archive):
        opts.append(f"-XX:SharedArchiveFile={archive}")
    elif auto_warm_up:
        # First use without `digestflow warmup`: this run's JVM dumps the classes it loaded when it
        # exits, and the next session adopts the dump (adopt_dumped_archive): the warm-up happens by itself.
        opts.append(f"-XX:ArchiveClassesAtExit={archive.with_name(f'{archive.name}.{os.getpid()}.tmp')}")
    return " ".join(opts)


#: A dump younger than this may still be being written by its JVM.
DUMP_SETTLE_SECONDS = 15.0


def adopt_dumped_archive(archive: Path) -> bool:
    """Move a finished class dump of an earlier run into place as ``archive``; True when there is one.

    A dump is finished when the Python process that started its JVM (the pid in its name) is gone and
    the file has not changed for :data:`DUMP_SETTLE_SECONDS` (the JVM writes it as it exits)."""
    import time

    for dump in sorted(archive.parent.glob(f"{archive.name}.*.tmp")):
        try:
            pid = int(dump.name[len(archive.name) + 1 : -len(".tmp")])
            info = dump.stat()
        except (ValueError, OSError):
            continue
        if _alive(pid) or time.time() - info.st_mtime < DUMP_SETTLE_SECONDS or info.st_size == 0:
            continue
        try:
            os.replace(dump, archive)
        except OSError:
            continue
        return True
    return False


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


#: An archive of another install (another venv, an older pyspark) unused this long is deleted.
ARCHIVE_IDLE_DAYS = 14


def prune_archives(keep: Path, idle_days: float = ARCHIVE_IDLE_DAYS) -> list[Path]:
    """Delete other installs' CDS archives (~150 MB each) not used for ``idle_days``, and temporary
    dumps left by a warm-up that died more than a day ago. Returns what was deleted.

    Every virtualenv (each CI clone, each upgrade) dumps its own archive next to the others, and
    nothing else ever removes one. "Used" is the later of the file's access and modification times:
    a JVM that maps the archive updates its access time (at least daily under ``relatime``).
    """
    import time

    now = time.time()
    removed = []
    for path in keep.parent.glob("spark-*.jsa*"):
        if path == keep:
            continue
        stat = path.stat()
        idle = (now - max(stat.st_atime, stat.st_mtime)) / 86_400
        if idle > (1 if path.name.endswith(".tmp") else idle_days):
            path.unlink(missing_ok=True)
            removed.append(path)
    return removed


def warm_up(settings: Settings) -> Path:
    """Build the CDS archive once: a throw-away session whose JVM dumps its loaded classes at exit.

    Runs in a child process (the archive is written when that JVM exits) and renames the result into
    place, so concurrent runs never see a half-written archive.
    """
    import subprocess

    build_fs_shim()
    archive = cds_archive()
    prune_archives(archive)
    if archive.is_file():  # its name pins the class path it was dumped with: still valid
        return archive
    archive.parent.mkdir(parents=True, exist_ok=True)
    tmp = archive.with_name(f"{archive.name}.{os.getpid()}.tmp")
    opts = f"-XX:TieredStopAtLevel=1 -XX:+UseSerialGC -XX:ArchiveClassesAtExit={tmp}"
    code = (
        "from digestflow.settings import Settings\n"
        "from digestflow.spark import build_session\n"
        f"s = build_session(Settings.from_env().replace(spark_master='local[2]', jvm_opts={opts!r}), 'digestflow-warmup')\n"
        "df = s.range(1000).selectExpr('id % 7 AS k', 'CAST(id AS STRING) AS v')\n"
        "df.groupBy('k').count().collect()\n"
        "s.createDataFrame([(1, 'a')], 'a int, b string').mapInArrow(lambda it: it, 'a int, b string').collect()\n"
        "s.stop()\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)
    if tmp.is_file():
        os.replace(tmp, archive)
    return archive


def submitted_conf() -> dict[str, str]:
    """The Spark conf of the driver JVM when this Python process was started by ``spark-submit``, else {}.

    spark-submit has already launched the JVM with ``--master``/``--conf``/``--py-files``; those values
    must win over our defaults, and the driver's classpath can no longer change (so no fs shim).
    """
    if not os.environ.get("PYSPARK_GATEWAY_PORT"):
        return {}
    from pyspark import SparkConf, SparkContext

    SparkContext._ensure_initialized()  # connects to spark-submit's JVM; starts nothing new
    return dict(SparkConf().getAll())


def build_session(
    settings: Settings, app_name: str = "digestflow", *, days: int | None = None, input_bytes: int | None = None
) -> SparkSession:
    """A session for ``settings.spark_master`` (``local[*]`` by default) with the project's defaults.

    ``days``: how many digest dates the run covers; ``input_bytes``: the size of their landing files;
    either when known (they pick the JIT mode, :func:`jvm_options`).

    Precedence: spark-submit's own ``--master``/``--conf`` > ``settings.spark_conf`` > the settings fields
    > the defaults below. Local masters get the driver-side start-up tricks (fs shim, CDS archive,
    127.0.0.1); cluster masters get none of them, since executors could not load the shim's class.
    """
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    from pyspark.sql import SparkSession

    submitted = submitted_conf()
    master = submitted.get("spark.master", settings.spark_master)
    local = master.startswith("local")
    builder = (
        SparkSession.builder.appName(app_name)
        .master(master)
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.sql.sources.partitionOverwriteMode", "dynamic")
        .config("spark.sql.parquet.compression.codec", "zstd")
        .config("spark.sql.shuffle.partitions", str(settings.shuffle_partitions))
        .config("spark.default.parallelism", str(max(2, settings.shuffle_partitions)))
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
        .config("spark.sql.adaptive.enabled", "true")
        .config("spark.driver.memory", settings.driver_memory)
        .config("spark.executor.memory", settings.executor_memory)
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        # Python workers are reused across tasks: importing the parser/numpy once per worker, not per task.
        .config("spark.python.worker.reuse", "true")
        .config("spark.sql.parquet.outputTimestampType", "TIMESTAMP_MICROS")
        # No _SUCCESS markers inside published partitions' parents: readers glob **/*.parquet anyway.
        .config("spark.hadoop.mapreduce.fileoutputcommitter.marksuccessfuljobs", "false")
        .config("spark.hadoop.parquet.enable.summary-metadata", "false")
        # Stages read a date range as one path per partition (521 for the dev corpus). Above this many
        # paths Spark lists them in a distributed job: 1.3–2.5 s each, 12 of them (17 s) in one 521-day
        # run, where the driver lists the same folders in milliseconds.
        .config("spark.sql.sources.parallelPartitionDiscovery.threshold", "100000")
    )
    if local:
        builder = builder.config("spark.driver.host", "127.0.0.1").config("spark.driver.bindAddress", "127.0.0.1")
        # Workers without pyspark.zip and the spark-core jar on their path: ~0.1 s less CPU per Python
        # task (worker_daemon.py). Local only: a cluster's executors need not have digestflow installed.
        builder = builder.config("spark.python.daemon.module", "digestflow.worker_daemon")
    if settings.executor_cores:
        builder = builder.config("spark.executor.cores", str(settings.executor_cores))
    if settings.max_cores:
        builder = builder.config("spark.cores.max", str(settings.max_cores))
    shim = fs_shim_jar()
    first_use = local and not submitted and settings.jvm_opts is None and not cds_archive().is_file()
    if first_use and not shim.is_file():
        build_fs_shim()  # part of the warm-up: the archive's name pins the shim it was dumped with
    if local and not submitted and shim.is_file():
        builder = (
            builder.config("spark.driver.extraClassPath", str(shim))
            .config("spark.hadoop.fs.file.impl", "digestflow.NioLocalFileSystem")
            .config("spark.hadoop.fs.file.impl.disable.cache", "true")
        )
    java_opts = jvm_options(settings, days, auto_warm_up=first_use, input_bytes=input_bytes)
    if java_opts:
        builder = builder.config("spark.driver.extraJavaOptions", java_opts)
    ship = settings.py_files not in ("", "none")
    if ship:
        builder = builder.config("spark.submit.pyFiles", settings.py_files)
    for key, value in {**settings.extra_spark_conf(), **submitted}.items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    if not local and not ship and settings.py_files != "none" and not submitted.get("spark.submit.pyFiles"):
        # Executors need this library; nobody shipped it, so ship the driver's own code (bundle.py).
        from digestflow.bundle import build_library_zip

        spark.sparkContext.addPyFile(str(build_library_zip()))
    return spark
