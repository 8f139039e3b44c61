"""The local Python worker daemon (digestflow/worker_daemon.py): workers run without Spark's archives on
their path, so a task's ``importlib.invalidate_caches()`` reads no zip directory."""

from __future__ import annotations

import sys
import zipfile
import zipimport
from pathlib import Path

from digestflow.worker_daemon import strip_archives


def _zip_with(folder: Path, name: str, module: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    archive = folder / name
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr(f"{module}/__init__.py", "VALUE = 'from the zip'\n")
    return archive


def test_sparks_archives_leave_the_path_and_a_users_zip_stays(tmp_path):
    home = tmp_path / "spark_home"
    spark_zip = _zip_with(home / "python" / "lib", "pyspark.zip", "pyspark")
    jar = _zip_with(home / "jars", "spark-core.jar", "org")
    users = _zip_with(tmp_path / "mine", "deps.zip", "df_users_own_module")
    folder = tmp_path / "plain"
    folder.mkdir()
    path = [str(spark_zip), str(jar), str(users), str(folder), *sys.path]
    cache: dict[str, object] = {
        str(spark_zip): zipimport.zipimporter(str(spark_zip)),
        f"{spark_zip}/pyspark": zipimport.zipimporter(f"{spark_zip}/pyspark"),
        str(jar): zipimport.zipimporter(str(jar)),
        str(users): zipimport.zipimporter(str(users)),
        str(folder): None,
    }
    taken = strip_archives(path, cache, str(home))
    assert taken == [str(spark_zip), str(jar)]
    assert path == [str(users), str(folder), *sys.path]  # the rest kept, in order
    assert set(cache) == {str(users), str(folder)}


def test_nothing_leaves_without_a_spark_home(tmp_path):
    archive = _zip_with(tmp_path / "lib", "pyspark.zip", "pyspark")
    path = [str(archive), *sys.path]
    before = list(path)
    assert strip_archives(path, {}, None) == []
    assert path == before


def test_an_archive_that_is_the_only_source_of_a_needed_package_stays(tmp_path):
    home = tmp_path / "spark_home"
    archive = _zip_with(home / "python" / "lib", "only.zip", "df_only_in_this_zip")
    path = [str(archive), *sys.path]
    importer = zipimport.zipimporter(str(archive))
    cache: dict[str, object] = {str(archive): importer}
    before = list(path)
    assert strip_archives(path, cache, str(home), needed=("pyspark", "df_only_in_this_zip")) == []
    assert path == before
    assert cache == {str(archive): importer}


def test_local_workers_import_pyspark_from_the_installed_package(spark):
    """The real daemon of a local session: fails on the old set-up, where workers imported pyspark from
    pyspark.zip and kept zipimporters for it and for the spark-core jar."""

    def probe(_rows):
        import importlib
        import os
        import sys as wsys
        import zipimport as zi

        import pyspark

        importlib.invalidate_caches()
        yield (
            pyspark.__file__,
            [p for p in wsys.path if p and os.path.isfile(p)],
            [k for k, v in wsys.path_importer_cache.items() if isinstance(v, zi.zipimporter)],
        )

    rows = spark.sparkContext.parallelize(range(4), 4).mapPartitions(probe).collect()
    assert len(rows) == 4
    for origin, archives, importers in rows:
        assert Path(origin).is_file(), origin  # a regular file, not a member of pyspark.zip
        assert archives == []
        assert importers == []
