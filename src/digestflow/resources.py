"""Locate the project's data folders (schemas/, expectations/, sql/) in a checkout or an installed wheel."""

from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent


def resource_dir(name: str) -> Path:
    """``schemas``, ``expectations`` or ``sql``: the wheel copy if present, else the checkout's folder."""
    bundled = _PACKAGE / "_resources" / name
    if bundled.is_dir():
        return bundled
    checkout = _PACKAGE.parents[1] / name
    if checkout.is_dir():
        return checkout
    raise FileNotFoundError(f"digestflow resource folder {name!r} not found in {bundled} or {checkout}")
