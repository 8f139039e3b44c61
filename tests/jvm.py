"""The Spark driver JVM under a real process, found by its command line (for the JIT-mode tests)."""

from __future__ import annotations

from pathlib import Path


def driver_jvms(pid: int) -> list[list[str]]:
    """Command lines of the Spark driver JVMs among ``pid``'s descendants. spark-class first runs a
    launcher JVM (``org.apache.spark.launcher.Main``) that prints the driver's command; it is left out."""
    import psutil

    found = []
    for child in psutil.Process(pid).children(recursive=True):
        try:
            line = child.cmdline()
        except psutil.Error:
            continue
        if (line and Path(line[0]).name == "java" and "org.apache.spark.deploy.SparkSubmit" in line
                and "org.apache.spark.launcher.Main" not in line):
            found.append(line)
    return found


def wait_for_driver_jvm(proc, seconds: float = 120) -> list[str]:
    """The command line of the driver JVM under the running ``proc`` (a ``Popen``), once it appears;
    ``[]`` when ``proc`` ends or ``seconds`` pass first."""
    import time

    deadline = time.monotonic() + seconds
    while proc.poll() is None and time.monotonic() < deadline:
        found = driver_jvms(proc.pid)
        if found:
            return found[0]
        time.sleep(0.1)
    return []
