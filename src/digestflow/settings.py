"""One settings object, built from ``DIGESTFLOW_*`` environment variables with local defaults.

CLI flags override fields with :meth:`Settings.replace`. Nothing here touches the disk or starts a
service; paths are kept as given (a local path or a URI such as ``file:///…``, ``s3a://…``).
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from typing import ClassVar


def _env(name: str, default: str) -> str:
    value = os.environ.get(name)
    return value if value not in (None, "") else default


@dataclass(frozen=True)
class Settings:
    """Where data lives and how Spark runs. Every field has an env var, shown in ``describe()``."""

    landing: str = field(default_factory=lambda: _env("DIGESTFLOW_LANDING", "data/landing"))
    warehouse: str = field(default_factory=lambda: _env("DIGESTFLOW_WAREHOUSE", "data/warehouse"))
    spark_master: str = field(default_factory=lambda: _env("SPARK_MASTER", "local[*]"))
    shuffle_partitions: int = field(
        default_factory=lambda: int(_env("DIGESTFLOW_SHUFFLE_PARTITIONS", "4"))
    )
    driver_memory: str = field(default_factory=lambda: _env("DIGESTFLOW_DRIVER_MEMORY", "2g"))
    executor_memory: str = field(default_factory=lambda: _env("DIGESTFLOW_EXECUTOR_MEMORY", "1g"))
    embed_model: str = field(default_factory=lambda: _env("DIGESTFLOW_EMBED_MODEL", "hashing"))
    validate: bool = field(
        default_factory=lambda: _env("DIGESTFLOW_VALIDATE", "1").lower() not in {"0", "false", "no"}
    )
    py_files: str = field(default_factory=lambda: _env("DIGESTFLOW_PY_FILES", ""))
    # Cluster sizing: None leaves Spark's own default (all free cores of a standalone cluster, 1 core
    # per executor on YARN/Kubernetes). spark-submit --conf values win over these.
    executor_cores: int | None = field(
        default_factory=lambda: int(v) if (v := _env("DIGESTFLOW_EXECUTOR_CORES", "")) else None
    )
    max_cores: int | None = field(
        default_factory=lambda: int(v) if (v := _env("DIGESTFLOW_MAX_CORES", "")) else None
    )
    # Any other Spark/Hadoop conf, "key=value" pairs separated by commas or newlines
    # (e.g. "spark.hadoop.fs.s3a.endpoint=http://minio:9000"); applied last, so it overrides the above.
    spark_conf: str = field(default_factory=lambda: _env("DIGESTFLOW_SPARK_CONF", ""))
    jvm_opts: str | None = field(default_factory=lambda: os.environ.get("DIGESTFLOW_JVM_OPTS"))

    ENV_VARS: ClassVar[dict[str, str]] = {
        "landing": "DIGESTFLOW_LANDING",
        "warehouse": "DIGESTFLOW_WAREHOUSE",
        "spark_master": "SPARK_MASTER",
        "shuffle_partitions": "DIGESTFLOW_SHUFFLE_PARTITIONS",
        "driver_memory": "DIGESTFLOW_DRIVER_MEMORY",
        "executor_memory": "DIGESTFLOW_EXECUTOR_MEMORY",
        "embed_model": "DIGESTFLOW_EMBED_MODEL",
        "validate": "DIGESTFLOW_VALIDATE",
        "py_files": "DIGESTFLOW_PY_FILES",
        "executor_cores": "DIGESTFLOW_EXECUTOR_CORES",
        "max_cores": "DIGESTFLOW_MAX_CORES",
        "spark_conf": "DIGESTFLOW_SPARK_CONF",
        "jvm_opts": "DIGESTFLOW_JVM_OPTS",
    }

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

    def describe(self) -> dict[str, object]:
        return {name: getattr(self, name) for name in self.ENV_VARS}
