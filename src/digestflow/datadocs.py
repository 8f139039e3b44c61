"""Great Expectations Data Docs a person can open without internet.

GE's page templates load jQuery, Bootstrap, bootstrap-table, Vega and Font Awesome from five CDNs. The
index's list of validation results is a bootstrap-table filled by JavaScript, so offline that list is
blank and every page is unstyled. The templates cannot be overridden cleanly (GE puts a user's view
folder *after* its own in the Jinja loader), so digestflow keeps GE's templates and rewrites each page it
builds: every CDN URL below becomes a relative link to a copy in ``<site>/static/vendor/``.

The copies are not committed: ``datadocs/package.json`` + ``package-lock.json`` pin exactly the versions
GE's templates name (lockfile integrity hashes included) and ``make docs-assets`` runs ``npm ci`` into
``datadocs/node_modules`` on a fresh machine (a few MB of minified third-party code stays out of git;
the lockfile keeps it reproducible). :func:`install` copies the ~25 files a site needs into it. When
the packages are not installed the pages keep their CDN links and one warning says what to run.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import threading
from pathlib import Path

log = logging.getLogger("digestflow.datadocs")

VENDOR = "static/vendor"

#: URL as GE 1.x's templates write it → file under ``datadocs/node_modules`` (same version: see package.json).
CDN_ASSETS: dict[str, str] = {
    "https://code.jquery.com/jquery-3.7.1.min.js": "jquery/dist/jquery.min.js",
    "https://cdnjs.cloudflare.com/ajax/libs/popper.js/1.12.9/umd/popper.min.js": "popper.js/dist/umd/popper.min.js",
    "https://stackpath.bootstrapcdn.com/bootstrap/4.3.1/js/bootstrap.min.js": "bootstrap/dist/js/bootstrap.min.js",
    "https://maxcdn.bootstrapcdn.com/bootstrap/4.3.1/css/bootstrap.min.css": "bootstrap/dist/css/bootstrap.min.css",
    "https://unpkg.com/bootstrap-table@1.19.1/dist/bootstrap-table.min.js": "bootstrap-table/dist/bootstrap-table.min.js",
    "https://unpkg.com/bootstrap-table@1.19.1/dist/bootstrap-table.min.css": "bootstrap-table/dist/bootstrap-table.min.css",
    "https://unpkg.com/bootstrap-table@1.19.1/dist/extensions/filter-control/bootstrap-table-filter-control.min.js":
        "bootstrap-table/dist/extensions/filter-control/bootstrap-table-filter-control.min.js",
    # GE asks for the 1.19.0 stylesheet of the extension next to the 1.19.1 script; 1.19.1's is used.
    "https://unpkg.com/bootstrap-table@1.19.0/dist/extensions/filter-control/bootstrap-table-filter-control.min.css":
        "bootstrap-table/dist/extensions/filter-control/bootstrap-table-filter-control.min.css",
    "https://unpkg.com/bootstrap-table@1.19.0/dist/extensions/filter-control/bootstrap-table-filter-control.css":
        "bootstrap-table/dist/extensions/filter-control/bootstrap-table-filter-control.css",
    "https://cdnjs.cloudflare.com/ajax/libs/bootstrap-datepicker/1.9.0/js/bootstrap-datepicker.min.js":
        "bootstrap-datepicker/dist/js/bootstrap-datepicker.min.js",
    "https://cdnjs.cloudflare.com/ajax/libs/bootstrap-datepicker/1.9.0/css/bootstrap-datepicker.min.css":
        "bootstrap-datepicker/dist/css/bootstrap-datepicker.min.css",
    "https://cdn.jsdelivr.net/npm/@forevolve/bootstrap-dark@1.1.0/dist/css/bootstrap-prefers-dark.css":
        "@forevolve/bootstrap-dark/dist/css/bootstrap-prefers-dark.css",
    "https://cdnjs.cloudflare.com/ajax/libs/font-awesome/6.6.0/css/all.min.css": "@fortawesome/fontawesome-free/css/all.min.css",
    "https://cdn.jsdelivr.net/npm/vega@5": "vega/build/vega.min.js",
    "https://cdn.jsdelivr.net/npm/vega-lite@5": "vega-lite/build/vega-lite.min.js",
    "https://cdn.jsdelivr.net/npm/vega-embed@6": "vega-embed/build/vega-embed.min.js",
}
#: Folders the files above reference relatively (Font Awesome's CSS loads ``../webfonts/*``).
ASSET_FOLDERS = ("@fortawesome/fontawesome-free/webfonts",)
#: The page header's logo comes from GE's S3 bucket; GE copies the same logo into ``static/images``.
GE_IMAGES: dict[str, str] = {
    "https://great-expectations-web-assets.s3.us-east-2.amazonaws.com/logo-long.png": "static/images/logo-long.png",
    "https://great-expectations-web-assets.s3.us-east-2.amazonaws.com/full_logo_dark.png": "static/images/logo-long.png",
}

# A URL inside an attribute or css url(...), with the cache-busting query GE appends to some of them.
_URL = re.compile(
    "(" + "|".join(re.escape(u) for u in sorted({**CDN_ASSETS, **GE_IMAGES}, key=len, reverse=True)) + r")(\?[^\"')\s]*)?"
    r"(?=[\"')\s])"
)

_VENDORED_TAG = re.compile(r"<(?:script|link)\b[^>]*static/vendor/[^>]*>")
_SRI_ATTRS = re.compile(r"\s+(?:integrity=\"[^\"]*\"|crossorigin=\"[^\"]*\")")

_GE_STATIC = re.compile(r"((?:src|href)=[\"'])(?:\./|(?:\.\./)+)static/(?!vendor/)")

_installed: set[str] = set()
_warned = False
_lock = threading.Lock()


def node_modules() -> Path | None:
    """``datadocs/node_modules`` of the checkout (``make docs-assets``), if its packages are installed."""
    from digestflow.resources import resource_dir

    try:
        folder = resource_dir("datadocs") / "node_modules"
    except FileNotFoundError:
        return None
    return folder if (folder / CDN_ASSETS["https://code.jquery.com/jquery-3.7.1.min.js"]).is_file() else None


def install(site: Path) -> bool:
    """Copy the vendored assets into ``<site>/static/vendor`` (once per site and process). False if
    they are not installed (then pages keep their CDN links, and one warning says what to run)."""
    global _warned
    source = node_modules()
    with _lock:
        if source is None:
            if not _warned:
                log.warning("Data Docs will load their scripts and styles from CDNs (blank without internet): "
                            "run `make docs-assets` (npm ci in datadocs/) to serve them from the warehouse")
                _warned = True
            return False
        key = str(site.absolute())
        if key in _installed:
            return True
        target = site / VENDOR
        files = [Path(rel) for rel in CDN_ASSETS.values()]
        files += [p.relative_to(source) for folder in ASSET_FOLDERS for p in (source / folder).iterdir() if p.is_file()]
        for rel in files:
            src, dst = source / rel, target / rel
            if dst.is_file() and dst.stat().st_size == src.stat().st_size:
                continue
            dst.parent.mkdir(parents=True, exist_ok=True)
            tmp = dst.with_name(f".{dst.name}.{os.getpid()}.tmp")
            shutil.copyfile(src, tmp)
            os.replace(tmp, dst)  # a reader (or a second run) never sees half a file
        _installed.add(key)
        return True


def localize(page: Path, site: Path) -> int:
    """Point ``page``'s CDN links at the site's vendored copies (relative, so the folder can move).
    Returns the number of links rewritten."""
    text = page.read_text(encoding="utf-8")
    base = os.path.relpath(site, page.parent)

    def local(match: re.Match[str]) -> str:
        url = match.group(1)
        rel = f"{VENDOR}/{CDN_ASSETS[url]}" if url in CDN_ASSETS else GE_IMAGES[url]
        return Path(base, rel).as_posix()

    new, n = _URL.subn(local, text)
    # GE pins two scripts with Subresource Integrity + crossorigin; a file:// page cannot make the CORS
    # request that needs, so the local copies load without them (the test checks their sha384 instead).
    new = _VENDORED_TAG.sub(lambda m: _SRI_ATTRS.sub("", m.group(0)), new)
    # GE's own static files, relative to the page: its favicon link on validation pages climbs one
    # folder too few (validations/static/images/favicon.ico), so every such link is recomputed.
    new = _GE_STATIC.sub(lambda m: f"{m.group(1)}{Path(base).as_posix()}/static/", new)
    if new != text:
        tmp = page.with_name(f".{page.name}.{os.getpid()}.tmp")
        tmp.write_text(new, encoding="utf-8")
        os.replace(tmp, page)
    return n


def remote_links(page: Path) -> list[str]:
    """Scripts, stylesheets and images ``page`` would still fetch from the network (for tests and checks)."""
    text = page.read_text(encoding="utf-8")
    found = re.findall(r"<script[^>]+src=[\"'](https?://[^\"']+)", text)
    found += re.findall(r"<link[^>]+href=[\"'](https?://[^\"']+)", text)
    found += re.findall(r"<img[^>]+src=[\"'](https?://[^\"']+)", text)
    found += re.findall(r"url\([\"']?(https?://[^\"')]+)", text)
    return found
