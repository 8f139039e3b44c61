"""Where data lives and how Spark runs: one typed settings object (see :mod:`digestflow.params`).

:meth:`Settings.from_env` reads the ``DIGESTFLOW_*`` / ``SPARK_MASTER`` variables once, at the boundary
(CLI, job entry point, test); CLI flags override fields with :meth:`Settings.replace`. Nothing here
touches the disk or starts a service; paths are kept as given (a local path or a URI such as
``file:///…``, ``s3a://…``). Stage tunables are not settings: each stage declares its own parameter class.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from digestflow.params import describe, infos, load, param, parse_optional_int


@dataclass(frozen=True)
class Settings:
    """Every field has an environment variable (``digestflow settings`` lists them)."""

    landing: str = param("data/landing", env="DIGESTFLOW_LANDING", help="Landing folder with digest files.")
    warehouse: str = param("data/warehouse", env="DIGESTFLOW_WAREHOUSE", help="Warehouse root.")
    spark_master: str = param("local[*]", env="SPARK_MASTER", help="Spark master.")
    shuffle_partitions: int = param(4, env="DIGESTFLOW_SHUFFLE_PARTITIONS")
    driver_memory: str = param("2g", env="DIGESTFLOW_DRIVER_MEMORY")
    executor_memory: str = param("1g", env="DIGESTFLOW_EXECUTOR_MEMORY")
    validate: bool = param(True, env="DIGESTFLOW_VALIDATE", help="Run the validation gate.")
    # Inside one run, keep each published table in Spark's cache (memory, spilling to disk) until the
    # last stage that reads it: later stages skip re-reading hundreds of small Parquet files.
    handoff: bool = param(True, env="DIGESTFLOW_HANDOFF", help="Hand tables from stage to stage in memory.")
    # Stages that do not read each other's tables run side by side in one run (embed next to terms and
    # trends): Spark takes jobs from several threads, and a small stage mostly waits on the driver.
    concurrent_stages: int = param(
        2, env="DIGESTFLOW_CONCURRENT_STAGES", help="Stages of one run that may run at the same time (1: one by one)."
    )
    py_files: str = param("", env="DIGESTFLOW_PY_FILES")
    # Cluster sizing: None leaves Spark's own default (all free cores of a standalone cluster, 1 core
    # per executor on YARN/Kubernetes). spark-submit --conf values win over these.
    executor_cores: int | None = param(None, env="DIGESTFLOW_EXECUTOR_CORES", parse=parse_optional_int)
    max_cores: int | None = param(None, env="DIGESTFLOW_MAX_CORES", parse=parse_optional_int)
    # Any other Spark/Hadoop conf, "key=value" pairs separated by commas or newlines
    # (e.g. "spark.hadoop.fs.s3a.endpoint=http://minio:9000"); applied last, so it overrides the above.
    spark_conf: str = param("", env="DIGESTFLOW_SPARK_CONF")
    jvm_opts: str | None = param(None, env="DIGESTFLOW_JVM_OPTS")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """Defaults, then the environment (``os.environ`` unless given), then non-None ``overrides``."""
        return load(cls, os.environ if environ is None else environ, **overrides)

    @classmethod
    def env_vars(cls) -> dict[str, str]:
        return {i.name: i.env for i in infos(cls) if i.env}

    def replace(self, **overrides: object) -> Settings:
        """A copy with the given fields replaced; ``None`` values (unset CLI flags) are ignored."""
        return dataclasses.replace(self, **{k: v for k, v in overrides.items() if v is not None})

    def extra_spark_conf(self) -> dict[str, str]:
        """``spark_conf`` parsed into a dict; a malformed pair names itself in the error."""
        conf: dict[str, str] = {}
        for item in self.spark_conf.replace("\n", ",").split(","):
            if not item.strip():
                continue
            key, sep, value = item.partition("=")
            if not sep or not key.strip():
                raise ValueError(f"DIGESTFLOW_SPARK_CONF: expected key=value, got {item.strip()!r}")
            conf[key.strip()] = value.strip()
        return conf

    def describe(self) -> list[tuple[str, str, str | None]]:
        return describe(self)
