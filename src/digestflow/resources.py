"""Locate the project's data folders (schemas/, expectations/, sql/) in a checkout or an installed wheel."""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import zipfile
from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent


def resource_dir(name: str) -> Path:
    """``schemas``, ``expectations`` or ``sql``: the wheel copy if present, else the checkout's folder."""
    bundled = _PACKAGE / "_resources" / name
    if bundled.is_dir():
        return bundled
    archive = _enclosing_zip(_PACKAGE)
    if archive is not None:
        return _extract_from_zip(archive, name)
    checkout = _PACKAGE.parents[1] / name
    if checkout.is_dir():
        return checkout
    raise FileNotFoundError(f"digestflow resource folder {name!r} not found in {bundled} or {checkout}")


def _enclosing_zip(path: Path) -> Path | None:
    """The zip file this package was imported from (``--py-files`` on a Spark executor), if any."""
    for parent in path.parents:
        if parent.is_file():
            return parent if zipfile.is_zipfile(parent) else None
    return None


def _extract_from_zip(archive: Path, name: str) -> Path:
    """Unpack ``digestflow/_resources/<name>`` once per zip into the temp dir (``open()`` needs real files).

    Concurrent Python workers race safely: each extracts into its own folder and renames it into place;
    the loser uses the winner's copy.
    """
    stat = archive.stat()
    key = hashlib.sha1(f"{archive}:{stat.st_size}:{stat.st_mtime_ns}".encode()).hexdigest()[:12]
    target = Path(tempfile.gettempdir()) / f"digestflow-resources-{key}" / name
    if target.is_dir():
        return target
    prefix = f"digestflow/_resources/{name}/"
    target.parent.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=f".{name}-", dir=target.parent))
    with zipfile.ZipFile(archive) as zf:
        members = [m for m in zf.namelist() if m.startswith(prefix) and not m.endswith("/")]
        if not members:
            raise FileNotFoundError(f"digestflow resource folder {name!r} not found in {archive}")
        for member in members:
            dest = scratch / member[len(prefix) :]
            dest.parent.mkdir(parents=True, exist_ok=True)
            dest.write_bytes(zf.read(member))
    try:
        os.rename(scratch, target)
    except OSError:
        shutil.rmtree(scratch, ignore_errors=True)
    return target
