"""Ship the library to Spark executors: one zip of the ``digestflow`` package and its data folders.

Executors need digestflow itself (the parser runs inside ``mapInArrow``, schemas are loaded there). We
ship it per application with ``--py-files`` / ``spark.submit.pyFiles`` instead of installing it on
every worker, so a cluster always runs the driver's exact code and a code change needs no image
rebuild. Third-party packages (pyarrow, numpy, …) are *not* in the zip: workers install the pinned set
(``constraints.txt``; the Dockerfile does). See docs/scale-out.md.
"""

from __future__ import annotations

import hashlib
import os
import zipfile
from pathlib import Path

from digestflow.resources import resource_dir

#: Data folders executors may read; they go to ``digestflow/_resources/<name>`` inside the zip.
RESOURCES = ("schemas", "expectations", "sql")
_PACKAGE = Path(__file__).resolve().parent
_EPOCH = (1980, 1, 1, 0, 0, 0)  # fixed timestamps: same sources, same zip bytes


def _members() -> list[tuple[str, Path]]:
    members = [
        (f"digestflow/{path.relative_to(_PACKAGE).as_posix()}", path)
        for path in sorted(_PACKAGE.rglob("*.py"))
        if "__pycache__" not in path.parts and "_resources" not in path.relative_to(_PACKAGE).parts
    ]
    for name in RESOURCES:
        try:
            folder = resource_dir(name)
        except FileNotFoundError:
            continue
        members += [
            (f"digestflow/_resources/{name}/{path.relative_to(folder).as_posix()}", path)
            for path in sorted(folder.rglob("*"))
            if path.is_file() and "__pycache__" not in path.parts
        ]
    return members


def build_library_zip(out_dir: str | os.PathLike[str] | None = None) -> Path:
    """Write ``digestflow-<version>-<hash>.zip`` into ``out_dir`` and return its path.

    ``out_dir`` defaults to ``$DIGESTFLOW_CACHE/pyfiles`` (``~/.cache/digestflow/pyfiles``).

    The name carries a content hash: Spark caches shipped files by name, so two different builds never
    share one; rebuilding unchanged sources returns the existing file.
    """
    from importlib.metadata import PackageNotFoundError, version

    try:
        release = version("digestflow")
    except PackageNotFoundError:
        release = "0"
    members = _members()
    digest = hashlib.sha256()
    for arcname, path in members:
        digest.update(arcname.encode() + b"\0" + path.read_bytes() + b"\0")
    if out_dir is None:
        out_dir = Path(os.environ.get("DIGESTFLOW_CACHE", Path.home() / ".cache" / "digestflow")) / "pyfiles"
    target = Path(out_dir).absolute() / f"digestflow-{release}-{digest.hexdigest()[:10]}.zip"
    if target.is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for arcname, path in members:
            info = zipfile.ZipInfo(arcname, date_time=_EPOCH)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            archive.writestr(info, path.read_bytes())
    os.replace(tmp, target)
    return target
