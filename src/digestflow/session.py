"""Which SparkSession a command uses: its own application, or the stage server's warm one.

The stage server (:mod:`digestflow.server`) registers its session here with :func:`share`; commands get
theirs from :func:`spark_session`. Keeping this apart lets the server run commands without importing
the CLI, and the CLI find the server's session without importing the server.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import TYPE_CHECKING

from digestflow.pipeline import UserError
from digestflow.settings import Settings

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

_shared: SparkSession | None = None


def share(session: SparkSession | None) -> None:
    """Make ``session`` the one every command in this process uses (None: back to one app per command)."""
    global _shared
    _shared = session


def shared_session() -> SparkSession | None:
    """The stage server's SparkSession while this process is a stage server, else None."""
    return _shared


@contextlib.contextmanager
def spark_session(
    settings: Settings, days: int | None = None, input_bytes: int | None = None
) -> Iterator[SparkSession]:
    """This command's SparkSession: its own application (stopped at the end), or, inside a stage server,
    the server's warm one, which must run the master the settings ask for."""
    shared = _shared
    if shared is not None:
        if shared.sparkContext.master != settings.spark_master:
            raise UserError(f"the stage server runs {shared.sparkContext.master}, this command wants {settings.spark_master}")
        shared.conf.set("spark.sql.shuffle.partitions", str(settings.shuffle_partitions))
        yield shared
        return
    from digestflow.spark import build_session

    spark = build_session(settings, days=days, input_bytes=input_bytes)
    try:
        yield spark
    finally:
        spark.stop()
