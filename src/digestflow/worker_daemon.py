"""The Python worker daemon of local Spark sessions: pyspark's own daemon, started without the archives
Spark puts in front of the workers' ``sys.path``.

Spark starts its Python workers with ``PYTHONPATH`` = ``$SPARK_HOME/python/lib/pyspark.zip``, the py4j
zip and the spark-core jar, ahead of the environment's own packages. A pip-installed pyspark has the
same modules installed as a package, so the archives only cost time:

- every Python task begins with ``importlib.invalidate_caches()`` (``pyspark.worker_util.setup_spark_files``),
  and on Python 3.11 a ``zipimporter`` answers that by reading its archive's whole directory again: one
  importer per package imported from the 3.5 MB pyspark.zip, two for the 37 MB spark-core jar, ~0.1 s of
  CPU per task here (200 one-row tasks: 23 s with the archives, 5.3 s without; CPython gh-103200,
  made lazy in 3.12);
- modules imported from a zip are compiled from source in every new worker (the zip has no bytecode).

This module, named by ``spark.python.daemon.module`` for local masters only (:func:`digestflow.spark.build_session`;
a cluster's executors need not have digestflow installed), takes those archives (the zip and jar files
inside ``SPARK_HOME``) off ``sys.path`` when the environment can import pyspark and py4j without them,
then runs :func:`pyspark.daemon.manager` unchanged. Forked workers inherit the shorter path; the tasks'
own code is the same.
"""

from __future__ import annotations

import importlib.util
import os
import sys
import zipimport


def strip_archives(
    path: list[str],
    cache: dict[str, object],
    spark_home: str | None,
    needed: tuple[str, ...] = ("pyspark", "py4j"),
) -> list[str]:
    """Take Spark's own archives off ``path`` (zip and jar files inside ``spark_home``) when the ``needed``
    packages import without them, and the ``zipimporter`` objects of those archives out of ``cache``.
    Other archives on the path (a user's own zips) stay. Returns what was taken off (nothing when an
    archive is the only source of a needed package: then path and cache stay as they were)."""
    if not spark_home:
        return []
    home = os.path.realpath(spark_home) + os.sep
    archives = [p for p in path if p and os.path.isfile(p) and os.path.realpath(p).startswith(home)]
    if not archives:
        return []
    saved_path, saved_cache = list(path), dict(cache)
    path[:] = [p for p in path if p not in archives]
    for key in [k for k, v in cache.items() if isinstance(v, zipimport.zipimporter) and _inside(k, archives)]:
        del cache[key]
    if all(_installed(name) for name in needed):
        return archives
    path[:] = saved_path
    cache.clear()
    cache.update(saved_cache)
    return []


def _inside(key: str, archives: list[str]) -> bool:
    """``key`` is one of ``archives`` or a folder inside one (``…/pyspark.zip/pyspark/sql``)."""
    return any(key == a or key.startswith(a + "/") for a in archives)


def _installed(name: str) -> bool:
    """``name`` imports from a regular folder of ``sys.path`` (already imported counts only if so)."""
    module = sys.modules.get(name)
    origin = getattr(module, "__file__", None) if module is not None else _origin(name)
    return bool(origin) and os.path.isfile(origin)


def _origin(name: str) -> str | None:
    try:
        spec = importlib.util.find_spec(name)
    except (ImportError, ValueError):
        return None
    return spec.origin if spec is not None else None


def main() -> None:
    strip_archives(sys.path, sys.path_importer_cache, os.environ.get("SPARK_HOME"))
    from pyspark import daemon  # imported after the strip: from the installed package, with its bytecode

    daemon.manager()


if __name__ == "__main__":
    main()
