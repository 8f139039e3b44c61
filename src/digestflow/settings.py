"""One settings object, built from ``DIGESTFLOW_*`` environment variables with local defaults.

CLI flags override fields with :meth:`Settings.replace`. Nothing here touches the disk or starts a
service; paths are kept as given (a local path or a URI such as ``file:///…``, ``s3a://…``).
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field


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
    jvm_opts: str | None = field(default_factory=lambda: os.environ.get("DIGESTFLOW_JVM_OPTS"))

    ENV_VARS = {
        "landing": "DIGESTFLOW_LANDING",
        "warehouse": "DIGESTFLOW_WAREHOUSE",
        "spark_master": "SPARK_MASTER",
        "shuffle_partitions": "DIGESTFLOW_SHUFFLE_PARTITIONS",
        "driver_memory": "DIGESTFLOW_DRIVER_MEMORY",
        "executor_memory": "DIGESTFLOW_EXECUTOR_MEMORY",
        "embed_model": "DIGESTFLOW_EMBED_MODEL",
        "validate": "DIGESTFLOW_VALIDATE",
        "py_files": "DIGESTFLOW_PY_FILES",
        "jvm_opts": "DIGESTFLOW_JVM_OPTS",
    }

    def replace(self, **overrides: object) -> Settings:
        """A copy with the given fields replaced; ``None`` values (unset CLI flags) are ignored."""
        return dataclasses.replace(self, **{k: v for k, v in overrides.items() if v is not None})

    def describe(self) -> dict[str, object]:
        return {name: getattr(self, name) for name in self.ENV_VARS}
