"""The landing folder: which files a run reads. Read-only: the pipeline never moves, rewrites or deletes them.

A file belongs to a run when the ``YYYY-MM-DD`` in its name falls in the run's range. A file with no
date in its name is parsed with the run's last date as reference and kept only if its resolved date
falls in the range (so it lands in exactly one partition, whichever run covers that date).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
from dataclasses import dataclass
from pathlib import Path

from digestflow.parsing import date_from_file_name


@dataclass(frozen=True)
class LandingFile:
    source_file: str  # name relative to the landing folder, as recorded in every row
    path: str  # absolute local path to read, or "" when refused
    file_date: dt.date | None
    refused: str | None = None  # reject reason when the file must not be read (outside_landing, …)


def landing_bytes(landing: str | os.PathLike[str], start: dt.date, end: dt.date) -> int | None:
    """Bytes of the digest files a run for [start, end] reads (:func:`list_landing`); None when the
    folder is missing or holds none of them (a run of later stages over published tables). A measure
    of the run's data volume that is known before Spark starts (it picks the JIT, spark.jvm_options)."""
    try:
        files = [f for f in list_landing(landing, start, end) if f.path]
    except FileNotFoundError:
        return None
    if not files:
        return None
    total = 0
    for f in files:
        with contextlib.suppress(OSError):
            total += os.stat(f.path).st_size
    return total


def list_landing(landing: str | os.PathLike[str], start: dt.date, end: dt.date) -> list[LandingFile]:
    """Digest files (``*.txt``, not hidden) of the landing folder that the run for [start, end] reads."""
    root = Path(os.fspath(landing).removeprefix("file://")).absolute()
    if not root.is_dir():
        raise FileNotFoundError(f"landing folder {root} does not exist (set --landing or DIGESTFLOW_LANDING)")
    real_root = root.resolve()
    files: list[LandingFile] = []
    for entry in sorted(os.scandir(root), key=lambda e: e.name):
        name = entry.name
        if name.startswith(".") or not name.lower().endswith(".txt"):
            continue
        file_date = date_from_file_name(name)
        if file_date is not None and not (start <= file_date <= end):
            continue
        resolved = Path(entry.path).resolve()
        if not resolved.is_relative_to(real_root):
            files.append(LandingFile(name, "", file_date, "outside_landing"))
            continue
        if not resolved.is_file():
            files.append(LandingFile(name, "", file_date, "unreadable_file"))
            continue
        files.append(LandingFile(name, str(resolved), file_date))
    return files
