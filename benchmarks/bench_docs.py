"""Data Docs cost per stage command as a warehouse's validation results accumulate.

    python benchmarks/bench_docs.py [--results 200 2000 5000] [--repeat 3]

Every stage command ends by rendering its new results' pages and the index
(``digestflow.validate._Site.build``); a daily deployment adds ~13 results a day (a year: ~4,700). For
each ``--results`` size this builds a Data Docs folder holding that many stored results and pages (one
real audit of a small ``keyword_trends`` partition through GE's pandas engine, its result and page then
copied under distinct run names and times, as later runs would store them), then, ``--repeat`` times and
alternating which goes first, audits one more partition (untimed) and times the build of its page and
the index:

- **digestflow**: ``_Site.build`` (the newest ``INDEX_LIMIT`` results from the site's key log);
- **GE's own**: ``SiteBuilder.build(resource_identifiers=[…])``, GE's incremental build of the same pages
  and index (what digestflow called before session 36), on the same folder.

The first build after the copies (the key log written from the store's listing, once per warehouse) is
not timed. No Spark: the audit's frame is an Arrow table, as the gate reads small staged tables.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path

os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")


def audit(folder: Path, when: dt.datetime, run: str) -> list:
    """One real audit of a 3-row keyword_trends partition; its result stored, page not yet built."""
    import pyarrow as pa

    from digestflow import schemas, validate

    as_of = when.date()
    target, baseline = as_of - dt.timedelta(days=6), as_of - dt.timedelta(days=34)
    rows = [{"term": f"term {i}", "display_form": f"Term {i}", "n_tokens": 2, "window": "7d", "target_start": target,
             "baseline_start": baseline, "df_target": 3 + i, "df_baseline": 2, "n_target": 100, "n_baseline": 400,
             "share_target": (3 + i) / 100, "share_baseline": 2 / 400, "logodds_delta": 1.0 + i,
             "logodds_z": 2.0 + i, "burst_active": False, "burst_start": None, "mk_z": None, "mk_p": None,
             "sen_slope": None, "first_seen": baseline, "is_new": False, "suppressed_by": None,
             "rank_rising": 3 - i, "rank_falling": None, "as_of": as_of}
            for i in range(3)]
    schema = schemas.load("keyword_trends")
    table = pa.Table.from_pylist([{f.name: r.get(f.name) for f in schema.arrow()} for r in rows], schema.arrow())
    spec = validate.load_suite("keyword_trends", "pandas")
    docs = validate.DocsTarget(folder, run, when, defer=True)
    validate.validate_frame(table, spec, validate.suite_parameters(as_of, as_of, as_of), docs=docs)
    return validate._PENDING.pop((str(folder), run))


def grow(folder: Path, n: int, start: dt.datetime) -> None:
    """Copy the folder's one stored result and its page to ``n`` results of distinct runs."""
    [result] = (folder / "_gx" / "validations").rglob("*.json")
    [page] = (folder / "validations").rglob("*.html")
    suite = result.relative_to(folder / "_gx" / "validations").parts[0]
    for i in range(1, n):
        when = start + dt.timedelta(minutes=i)
        run, stamp = f"{when:%Y%m%dT%H%M%SZ}-copy{i:05d}", f"{when:%Y%m%dT%H%M%S.%fZ}"
        for src, root, suffix in ((result, folder / "_gx" / "validations", ".json"), (page, folder / "validations", ".html")):
            target = root / suite / run / stamp / (src.stem + suffix)
            target.parent.mkdir(parents=True)
            shutil.copyfile(src, target)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", type=int, nargs="+", default=[200, 2000, 5000])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    from digestflow import validate

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for n in args.results:
            folder = Path(tmp) / f"docs{n}"
            start = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
            validate._GX = None  # a fresh GE context per size, as a fresh process
            site = validate.gx_context().site(folder)
            site.build(audit(folder, start, "seed"))
            grow(folder, n, start)
            (folder / "_gx" / validate.RESULT_KEYS).unlink()  # as in a warehouse from before the key log
            ours, ges = [], []
            for i in range(args.repeat + 1):
                when = start + dt.timedelta(days=400, minutes=i)
                for variant in (("ours", "ge") if i % 2 else ("ge", "ours")):
                    keys = audit(folder, when, f"r{i}{variant}")
                    t0 = time.perf_counter()
                    if variant == "ours":
                        site.build(keys)
                    else:
                        site.builder.build(resource_identifiers=keys)
                    if i:  # the first round writes the key log from the store (once per warehouse)
                        (ours if variant == "ours" else ges).append(time.perf_counter() - t0)
                    when += dt.timedelta(seconds=1)
            stored = sum(1 for _ in (folder / "_gx" / "validations").rglob("*.json"))
            rows.append((n, stored, statistics.median(ours), statistics.median(ges)))
            print(f"{n}: ours {[round(s, 3) for s in ours]}, GE's own {[round(s, 3) for s in ges]}", flush=True)
    print(f"\nData Docs build per stage command (index limit {validate.INDEX_LIMIT}), medians of {args.repeat}")
    print("| results stored | digestflow s | GE's own build s | ratio |")
    print("|---|---|---|---|")
    for _, stored, a, b in rows:
        print(f"| {stored} | {a:.3f} | {b:.3f} | {a / b:.2f}× |")


if __name__ == "__main__":
    main()
