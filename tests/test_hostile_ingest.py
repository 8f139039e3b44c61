"""Hostile landing folders through the real Spark ingest: nothing crashes, nothing is lost.

One landing folder holds ~60 variants built from synthetic digests (CRLF, BOM, Latin-1, random bytes,
NUL, empty, header-only, Feb 30, a 50 MB digest, 10,000 papers, a FIFO, a symlink out of the folder,
a file removed between listing and reading, …) and ONE ``run_stages(ctx, ["ingest"])`` reads them all.
Then, per file, from the published tables as DuckDB reads them:

- the papers are exactly the ones the generator wrote (where the variant keeps them);
- every rejected part carries a reason from ``REJECT_REASONS`` and a detail naming the file;
- conservation: every non-blank input line other than the header and the date line is in exactly one
  paper or one reject (lines counted here, independently of the parser);
- the landing folder is byte-for-byte unchanged.

A hypothesis test mutates valid digests and checks the same invariants on the parser alone (no Spark).
"""

from __future__ import annotations

import datetime as dt
import gzip
import hashlib
import os
import random
import re
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from digestflow.generate import HEADER, date_line, generate_corpus, render_digest
from digestflow.parsing import REJECT_REASONS, parse_digest

START, END, TODAY = dt.date(2025, 3, 1), dt.date(2025, 3, 31), dt.date(2025, 3, 28)
HEADER_LOWER = {h.lower() for h in HEADER}
MONTHS = "jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec|january|february|march|april|june|july|" \
    "august|september|october|november|december"
DATE_SHAPE = re.compile(rf"^(?:{MONTHS})\.?\s+\d{{1,2}}$", re.IGNORECASE)

Paper = tuple[str, str]


@dataclass
class Variant:
    name: str  # file name in the landing folder
    data: bytes | None  # None: not a regular file the test can count (FIFO, folder, symlink, …)
    papers: list[Paper] | None  # the accepted papers, in order; None: only the invariants are checked
    reasons: set[str] = field(default_factory=set)  # each must appear among the file's rejects
    only: bool = True  # the file's reject reasons are exactly ``reasons``
    partition: dt.date | None = None  # digest_date of every row of the file
    kind: str = "file"  # file | symlink_out | dir | fifo | dangling | vanish | to_fifo | to_symlink


def pool() -> list[Paper]:
    """Distinct synthetic papers (unique titles), so no two variants share a paper by accident."""
    seen, out = set(), []
    for digest in generate_corpus(40, start=dt.date(2025, 1, 6), seed=31, plants=[]):
        for title, abstract in digest.papers:
            if title.casefold() not in seen:
                seen.add(title.casefold())
                out.append((title, abstract))
    return out


def lines_of(text: str) -> list[str]:
    return re.split(r"\r\n|\r|\n", text)


def build_variants(outside: Path) -> list[Variant]:
    papers = pool()
    cursor = iter(range(0, len(papers) - 5, 5))
    variants: list[Variant] = []

    def take() -> list[Paper]:
        i = next(cursor)
        return [tuple(p) for p in papers[i : i + 5]]  # type: ignore[misc]

    day_of = {}

    def add(tag: str, make: Callable[[dt.date, list[Paper]], tuple[bytes | None, list[Paper] | None]],
            reasons: set[str] = frozenset(), *, only: bool = True, name: str | None = None,
            partition: dt.date | None = None, kind: str = "file") -> None:
        day = START + dt.timedelta(days=len(variants) % 27)
        ps = take()
        data, expected = make(day, ps)
        file_name = name.format(day=day) if name else f"{day.isoformat()}_{tag}.txt"
        day_of[tag] = day
        variants.append(Variant(file_name, data, expected, set(reasons), only, partition or day, kind))

    def text(day: dt.date, ps: list[Paper], **kw) -> str:
        return render_digest(day, ps, **kw)

    def enc(s: str) -> bytes:
        return s.encode("utf-8")

    # --- tolerated: the same papers as the clean digest, no rejects
    add("clean", lambda d, p: (enc(text(d, p)), p))
    add("crlf", lambda d, p: (enc(text(d, p).replace("\n", "\r\n")), p))
    add("cr_only", lambda d, p: (enc(text(d, p).replace("\n", "\r")), p))
    rng = random.Random(3)
    add("mixed_endings", lambda d, p: (
        enc("".join(rng.choice(["\n", "\r\n", "\r"]) if c == "\n" else c for c in text(d, p))), p))
    add("bom", lambda d, p: (b"\xef\xbb\xbf" + enc(text(d, p)), p))
    add("bom_crlf", lambda d, p: (b"\xef\xbb\xbf" + enc(text(d, p).replace("\n", "\r\n")), p))
    add("no_trailing_newline", lambda d, p: (enc(text(d, p, trailing_newline=False)), p))
    add("no_blank_lines", lambda d, p: (enc(text(d, p).replace("\n\n", "\n")), p))
    add("extra_blank_lines", lambda d, p: (enc(text(d, p).replace("\n\n", "\n\n \n\t\n\n")), p))
    add("trailing_spaces", lambda d, p: (enc(text(d, p).replace("\n", "  \t\n")), p))
    add("leading_spaces", lambda d, p: (enc(text(d, p).replace("\n", "\n   ")), p))
    add("nbsp_padding", lambda d, p: (enc(text(d, p).replace("\n", "\u00a0\n\u00a0")), p))
    add("header_upper_case", lambda d, p: (enc(text(d, p).replace("Subscribe", "SUBSCRIBE")), p))
    add("no_header", lambda d, p: (enc("\n\n".join([date_line(d)] + [x for t in p for x in t])), p))
    add("spaces_in_name", lambda d, p: (enc(text(d, p)), p), name="{day} daily digest (copy).txt")
    add("unicode_name", lambda d, p: (enc(text(d, p)), p), name="{day}_дайджест_论文_é.txt")
    add("dotdot_name", lambda d, p: (enc(text(d, p)), p), name="{day}..digest...txt")
    add("undated_name", lambda d, p: (enc(text(d, p)), p), name="digest without a date {day.day}.txt")

    def truncated(d, p):
        q = [*p[:4], (p[4][0], p[4][1] + " ...")]
        return enc(text(d, q)), q
    add("truncated_abstract", truncated)

    def latex(d, p):
        q = [(p[0][0] + " with Ünïcödé $\\alpha$ 43times", p[0][1] + " See https://example.org/x."), *p[1:]]
        return enc(text(d, q)), q
    add("unicode_latex_url", latex)

    def one_mb_abstract(d, p):
        words = (p[3][1] + " ") * (1_000_000 // (len(p[3][1]) + 1) + 1)
        q = [*p[:3], (p[3][0], words.strip()), p[4]]
        return enc(text(d, q)), q
    add("one_mb_abstract", one_mb_abstract)

    # --- one bad part: the other papers survive, the bad part is a reject with the named reason
    def latin1(d, p):
        q = [(p[1][0] + " café naïve", p[1][1]), *p[2:]]
        t = text(d, [p[0], *q])
        return t.encode("latin-1", errors="replace"), [p[0], *p[2:]]
    add("latin1", latin1, {"undecodable_bytes"})

    def cp1252(d, p):
        q = [*p[:2], (p[2][0], "\u201cQuoted\u201d " + p[2][1]), *p[3:]]
        return text(d, q).encode("cp1252", errors="replace"), [*p[:2], *p[3:]]
    add("cp1252_quotes", cp1252, {"undecodable_bytes"})

    def nul(d, p):
        q = [(p[0][0], p[0][1][:40] + "\x00" + p[0][1][40:]), *p[1:]]
        return enc(text(d, q)), p[1:]
    add("nul_byte", nul, {"control_characters"})

    def bell(d, p):
        q = [*p[:3], ("\x07" + p[3][0], p[3][1]), p[4]]
        return enc(text(d, q)), [*p[:3], p[4]]
    add("bell_in_title", bell, {"control_characters"})

    def two_dates(d, p):
        body = [*HEADER, date_line(d), *p[0], *p[1], date_line(d - dt.timedelta(days=1)), *p[2], *p[3], *p[4]]
        return enc("\n\n".join(body)), p
    add("two_date_lines", two_dates, {"extra_date_line"})

    def no_abstract(d, p):
        body = [*HEADER, date_line(d), *p[0], *p[1], p[2][0], *p[3], *p[4]]
        return enc("\n\n".join(body)), [p[0], p[1], p[3], p[4]]
    add("title_without_abstract", no_abstract, {"title_without_abstract"})

    def no_title(d, p):
        body = [*HEADER, date_line(d), *p[0], *p[1], p[2][1], *p[3], *p[4]]
        return enc("\n\n".join(body)), [p[0], p[1], p[3], p[4]]
    add("abstract_without_title", no_title, {"abstract_without_title"})

    add("dangling_last_title", lambda d, p: (enc(text(d, p) + "\nA Title Left Without Its Abstract\n"), p),
        {"title_without_abstract"})
    add("duplicate_papers", lambda d, p: (enc(text(d, [*p, p[0], p[3]])), p), {"duplicate_in_digest"})

    def before_date(d, p):
        body = [*HEADER, "Unsubscribe | View in browser", date_line(d), *[x for t in p for x in t]]
        return enc("\n\n".join(body)), p
    add("text_before_date", before_date, {"unexpected_text_before_date"})

    def blob(d, p):
        body = [*HEADER, date_line(d), *p[0], *p[1], "x" * 1_000_000, *p[2], *p[3], *p[4]]
        return enc("\n\n".join(body)), p
    add("one_mb_single_line", blob, {"abstract_without_title"})

    for seed in (1, 2, 3):
        def garbage(d, p, seed=seed):
            noise = random.Random(seed).randbytes(600)
            return enc(text(d, p[:3])) + noise + b"\n\n" + enc("\n\n".join(x for t in p[3:] for x in t)), None
        add(f"random_bytes_{seed}", garbage, only=False)

    add("utf16", lambda d, p: (text(d, p).encode("utf-16"), []), only=False)
    add("gzip", lambda d, p: (gzip.compress(enc(text(d, p)), mtime=0), []), only=False)

    # --- whole-file rejects: no papers, one reason
    add("empty", lambda d, p: (b"", []), {"empty_file"})
    add("whitespace_only", lambda d, p: (b"  \n\n\t\r\n \n", []), {"empty_file"})
    add("header_only", lambda d, p: (enc("\n\n".join(HEADER) + "\n"), []), {"header_only"})
    add("date_only", lambda d, p: (enc("\n\n".join([*HEADER, date_line(d)])), []), {"header_only"})
    add("missing_date_line", lambda d, p: (enc("\n\n".join([*HEADER, *[x for t in p for x in t]])), []),
        {"missing_date_line"})
    add("feb_30", lambda d, p: (enc("\n\n".join([*HEADER, "Feb 30", *[x for t in p for x in t]])), []),
        {"invalid_date_line"})
    add("date_mismatch", lambda d, p: (enc(text(d - dt.timedelta(days=1), p)), []), {"date_mismatch"})
    add("future_dated", lambda d, p: (enc(text(dt.date(2025, 3, 30), p)), []), {"future_date"},
        name="2025-03-30_future.txt", partition=dt.date(2025, 3, 30))
    add("future_undated", lambda d, p: (enc(text(dt.date(2025, 3, 30), p)), []), {"future_date"},
        name="future digest.txt", partition=END)

    # --- big ones
    def many(d, p):
        ps = [(f"{papers[i % len(papers)][0]} (variant {i})", papers[i % len(papers)][1]) for i in range(10_000)]
        return enc(text(d, ps)), ps
    add("ten_thousand_papers", many)

    def fifty_mb(d, p):
        long_abstract = " ".join(a for _, a in papers[:30])
        reps = 50_000_000 // len(long_abstract) + 1
        ps = [(f"{papers[i % len(papers)][0]} (long {i})", f"{i}: {long_abstract}") for i in range(reps)]
        data = enc(text(d, ps))
        assert len(data) >= 50_000_000
        return data, ps
    add("fifty_mb", fifty_mb)

    # --- the same bytes twice under two names: the first name keeps the papers
    copy = take()
    day = START + dt.timedelta(days=20)
    copy_bytes = enc(text(day, copy))
    variants.append(Variant(f"{day}_copy_a.txt", copy_bytes, copy, set(), True, day))
    variants.append(Variant(f"{day}_copy_b.txt", copy_bytes, [], {"duplicate_file"}, True, day))

    # --- not regular files, or not inside the landing folder
    outside.write_bytes(enc(text(day, take())))  # a VALID digest: it must still not be read
    day = START + dt.timedelta(days=21)
    variants.append(Variant(f"{day}_symlink_out.txt", None, [], {"outside_landing"}, True, day, "symlink_out"))
    variants.append(Variant(f"{day}_folder.txt", None, [], {"unreadable_file"}, True, day, "dir"))
    variants.append(Variant(f"{day}_fifo.txt", None, [], {"unreadable_file"}, True, day, "fifo"))
    variants.append(Variant(f"{day}_dangling.txt", None, [], {"unreadable_file"}, True, day, "dangling"))
    vanish = take()
    variants.append(Variant(f"{day}_vanishes.txt", enc(text(day, vanish)), [], {"unreadable_file"}, True, day,
                            "vanish"))
    variants.append(Variant(f"{day}_becomes_fifo.txt", enc(text(day, take())), [], {"unreadable_file"}, True,
                            day, "to_fifo"))
    variants.append(Variant(f"{day}_becomes_symlink.txt", enc(text(day, take())), [], {"unreadable_file"},
                            True, day, "to_symlink"))
    return variants


def materialise(landing: Path, outside: Path, variants: list[Variant]) -> None:
    landing.mkdir()
    for v in variants:
        path = landing / v.name
        if v.kind == "symlink_out":
            path.symlink_to(outside)
        elif v.kind == "dir":
            path.mkdir()
            (path / "inner.txt").write_text("not a digest")
        elif v.kind == "fifo":
            os.mkfifo(path)
        elif v.kind == "dangling":
            path.symlink_to(landing / "no-such-target.txt")
        else:
            path.write_bytes(v.data or b"")
    (landing / ".2025-03-05.txt.partial").write_bytes(b"an upload in progress: hidden, never read")
    (landing / "notes.md").write_text("not a .txt: never read\n")


def snapshot(folder: Path) -> dict[str, tuple[str, str]]:
    """What a landing folder holds: kind and content hash (or link target) of every entry."""
    out = {}
    for entry in os.scandir(folder):
        if entry.is_symlink():
            out[entry.name] = ("symlink", os.readlink(entry.path))
        elif entry.is_dir():
            out[entry.name] = ("dir", str(sorted(os.listdir(entry.path))))
        elif entry.is_file():
            st_ = entry.stat()
            digest = hashlib.sha256(Path(entry.path).read_bytes()).hexdigest()
            out[entry.name] = ("file", f"{digest}:{oct(st_.st_mode)}:{st_.st_mtime_ns}")
        else:
            out[entry.name] = ("other", oct(entry.stat(follow_symlinks=False).st_mode))
    return out


def text_of(line: str) -> str:
    """A line's text as the format defines it: no surrounding whitespace, no byte-order mark in front
    (one mid-file comes from concatenated files)."""
    return line.strip().lstrip("\ufeff").strip()


def expected_lines(data: bytes) -> tuple[set[int], list[str]]:
    """Non-blank lines other than the header lines above the date line, and that date line itself:
    what must be accounted for. (Below the date line a header-like line is content like any other.)"""
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    lines = lines_of(data.decode("utf-8", errors="replace"))
    content = [i for i, line in enumerate(lines, start=1) if text_of(line)]
    first_date = next((i for i in content if DATE_SHAPE.match(text_of(lines[i - 1]))), len(lines) + 1)
    keep = {i for i in content if i > first_date or text_of(lines[i - 1]).lower() not in HEADER_LOWER}
    keep.discard(first_date)
    return keep, lines


def assert_conserved(name: str, data: bytes, papers: list[dict], rejects: list[dict]) -> None:
    must, lines = expected_lines(data)
    nonblank = {i for i, line in enumerate(lines, start=1) if text_of(line)}
    covered: list[int] = []
    for p in papers:
        covered += [p["line_start"], p["line_end"]]
    for r in rejects:
        covered += [n for n in range(r["line_start"], r["line_end"] + 1) if n in nonblank]
    dupes = {n for n in covered if covered.count(n) > 1} if len(covered) < 5000 else \
        {n for n, c in _counts(covered).items() if c > 1}
    assert not dupes, f"{name}: lines {sorted(dupes)[:5]} are in two rows"
    lost = must - set(covered)
    assert not lost, f"{name}: lines {sorted(lost)[:5]} lost, e.g. {lines[min(lost) - 1][:80]!r}"
    # The same fact as a count: input lines = 2 x papers + lines quarantined (header/date aside).
    in_rows = 2 * len(papers) + sum(len([n for n in range(r["line_start"], r["line_end"] + 1) if n in must])
                                    for r in rejects)
    assert in_rows == len(must), f"{name}: {len(must)} input lines, {in_rows} in papers + rejects"


def _counts(items: list[int]) -> dict[int, int]:
    out: dict[int, int] = defaultdict(int)
    for i in items:
        out[i] += 1
    return out


# ----------------------------------------------------------------------------- the one Spark run


@pytest.fixture(scope="module")
def hostile_run(spark, tmp_path_factory, request):
    from digestflow import stages as _stages  # noqa: F401  (registers the stages)
    from digestflow.runner import make_context
    from digestflow.runner import run as run_stages
    from digestflow.settings import Settings
    from digestflow.stages import ingest as ingest_stage

    root = tmp_path_factory.mktemp("hostile")
    landing, warehouse, outside = root / "landing", root / "warehouse", root / "outside-secret.txt"
    variants = build_variants(outside)
    materialise(landing, outside, variants)
    before = snapshot(landing)
    mutated = {v.name for v in variants if v.kind in {"vanish", "to_fifo", "to_symlink"}}

    real_list = ingest_stage.list_landing

    def list_then_change(folder, start, end):
        """The landing folder changes after the listing and before the executors read it."""
        files = real_list(folder, start, end)
        for v in variants:
            path = landing / v.name
            if v.kind == "vanish":
                path.unlink()
            elif v.kind == "to_fifo":
                path.unlink()
                os.mkfifo(path)
            elif v.kind == "to_symlink":
                path.unlink()
                path.symlink_to(outside)
        return files

    mp = pytest.MonkeyPatch()
    mp.setattr(ingest_stage, "list_landing", list_then_change)
    ctx = make_context(
        spark=spark,
        settings=Settings.from_env().replace(landing=str(landing), warehouse=str(warehouse), validate=False),
        start=START, end=END, today=TODAY,
    )
    try:
        reports = run_stages(ctx, ["ingest"])
    finally:
        mp.undo()
    after = snapshot(landing)
    papers, rejects = read_tables(warehouse)
    return {
        "variants": variants, "papers": papers, "rejects": rejects, "reports": reports,
        "before": before, "after": after, "mutated": mutated, "warehouse": warehouse, "outside": outside,
    }


def read_tables(warehouse: Path) -> tuple[dict[str, list[dict]], dict[str, list[dict]]]:
    """Rows per source file, read the way users read them (DuckDB over the published Parquet)."""
    import duckdb

    out = []
    for table in ("papers", "rejects"):
        pattern = (warehouse / table / "**" / "*.parquet").as_posix()
        rel = duckdb.sql(f"SELECT * FROM read_parquet('{pattern}', hive_partitioning = true)")
        cols = rel.columns
        grouped: dict[str, list[dict]] = defaultdict(list)
        for row in rel.fetchall():
            record = dict(zip(cols, row, strict=True))
            grouped[record["source_file"]].append(record)
        out.append(grouped)
    return out[0], out[1]


@pytest.mark.slow
@pytest.mark.timeout(3600)  # carries the module fixture: the one Spark run over ~60 MB
def test_there_are_at_least_40_variants_and_the_run_finished(hostile_run) -> None:
    variants = hostile_run["variants"]
    assert len(variants) >= 40
    assert len({v.name for v in variants}) == len(variants)
    report = hostile_run["reports"][0]
    assert report.rows_in == len(variants)  # hidden and non-.txt files are not inputs
    assert sum(map(len, hostile_run["papers"].values())) == report.rows_out


@pytest.mark.slow
def test_each_file_keeps_its_good_papers_and_quarantines_the_rest(hostile_run) -> None:
    failures = []
    for v in hostile_run["variants"]:
        papers = sorted(hostile_run["papers"].get(v.name, []), key=lambda p: p["position"])
        rejects = hostile_run["rejects"].get(v.name, [])
        got = [(p["title"], p["abstract"]) for p in papers]
        reasons = {r["reason"] for r in rejects}
        if v.papers is not None and got != [(t.strip(), a.strip()) for t, a in v.papers]:
            failures.append(f"{v.name}: {len(got)} papers, expected {len(v.papers)}")
        if not v.reasons <= reasons or (v.only and reasons != v.reasons):
            failures.append(f"{v.name}: reasons {sorted(reasons)}, expected {sorted(v.reasons)}")
        if v.papers is None and not (papers or rejects):
            failures.append(f"{v.name}: no row at all")
        dates = {r["digest_date"] for r in papers + rejects}
        if dates and dates != {v.partition}:
            failures.append(f"{v.name}: partitions {sorted(dates)}, expected {v.partition}")
        if [p["position"] for p in papers] != list(range(len(papers))):
            failures.append(f"{v.name}: positions are not 0..n-1")
    assert failures == [], "\n".join(failures)


@pytest.mark.slow
def test_every_reject_says_why_in_words(hostile_run) -> None:
    for name, rows in hostile_run["rejects"].items():
        for r in rows:
            assert r["reason"] in REJECT_REASONS
            assert REJECT_REASONS[r["reason"]]
            assert name in r["detail"], f"{name}: detail {r['detail']!r} does not name the file"
            assert len(r["detail"]) > len(name) + 10
    dup = hostile_run["rejects"][f"{START + dt.timedelta(days=20)}_copy_b.txt"]
    assert all(f"{START + dt.timedelta(days=20)}_copy_a.txt" in r["detail"] for r in dup)
    vanished = hostile_run["rejects"][f"{START + dt.timedelta(days=21)}_vanishes.txt"]
    assert "No such file" in vanished[0]["detail"]


@pytest.mark.slow
def test_conservation_per_file(hostile_run) -> None:
    for v in hostile_run["variants"]:
        if v.data is None or v.kind != "file":
            continue  # never read: the single file-level reject is checked above
        papers = hostile_run["papers"].get(v.name, [])
        rejects = hostile_run["rejects"].get(v.name, [])
        assert_conserved(v.name, v.data, papers, rejects)


@pytest.mark.slow
def test_random_bytes_do_not_steal_good_papers(hostile_run) -> None:
    for v in hostile_run["variants"]:
        if v.name.endswith(("random_bytes_1.txt", "random_bytes_2.txt", "random_bytes_3.txt")):
            assert hostile_run["rejects"][v.name], v.name
            titles = [p["title"] for p in hostile_run["papers"].get(v.name, [])]
            assert len(titles) >= 5, f"{v.name}: good blocks around the noise were lost: {titles}"


@pytest.mark.slow
def test_landing_is_untouched_and_nothing_outside_it_was_read(hostile_run) -> None:
    before, after, mutated = hostile_run["before"], hostile_run["after"], hostile_run["mutated"]
    assert {k: v for k, v in before.items() if k not in mutated} == {
        k: v for k, v in after.items() if k not in mutated
    }
    secret_titles = {line for line in hostile_run["outside"].read_text().splitlines() if line.strip()}
    seen = {p["title"] for rows in hostile_run["papers"].values() for p in rows}
    seen |= {line for rows in hostile_run["rejects"].values() for r in rows for line in r["raw_text"].split("\n")}
    assert not (secret_titles - set(HEADER)) & seen
    assert ".2025-03-05.txt.partial" not in hostile_run["papers"] | hostile_run["rejects"]


@pytest.mark.slow
def test_published_tables_have_no_debris(hostile_run) -> None:
    warehouse = hostile_run["warehouse"]
    for table in ("papers", "rejects"):
        for part in (warehouse / table).iterdir():
            assert re.fullmatch(r"digest_date=\d{4}-\d{2}-\d{2}", part.name), part
            assert all(f.suffix == ".parquet" for f in part.iterdir()), list(part.iterdir())
    assert not (warehouse / "_staging").exists() or not any((warehouse / "_staging").iterdir())


# ------------------------------------------------------------------ property-based, parser only

MUTATIONS = st.sampled_from(
    ["insert_text", "insert_bytes", "insert_date", "insert_header", "delete", "duplicate", "crlf", "cr",
     "bom", "nul", "truncate", "swap", "blank", "latin1"]
)


@st.composite
def mutated_digests(draw):
    corpus = generate_corpus(1, start=dt.date(2025, 3, 3), seed=draw(st.integers(0, 50)), plants=[])
    base = corpus[0]
    lines = base.text.encode("utf-8").split(b"\n")
    for _ in range(draw(st.integers(0, 6))):
        op = draw(MUTATIONS)
        i = draw(st.integers(0, max(len(lines) - 1, 0)))
        if op == "insert_text":
            lines.insert(i, draw(st.text(min_size=0, max_size=300)).encode("utf-8", errors="replace"))
        elif op == "insert_bytes":
            lines.insert(i, draw(st.binary(min_size=1, max_size=300)))
        elif op == "insert_date":
            lines.insert(i, draw(st.sampled_from([b"Mar 3", b"Feb 30", b"March 4", b"Dec 31", b"Sept 9"])))
        elif op == "insert_header":
            lines.insert(i, draw(st.sampled_from([h.encode() for h in HEADER])))
        elif op == "delete" and lines:
            del lines[i]
        elif op == "duplicate" and lines:
            lines.insert(i, lines[i])
        elif op == "crlf" and lines:
            lines[i] += b"\r"
        elif op == "cr" and lines:
            lines[i] = lines[i].replace(b" ", b"\r", 1)
        elif op == "bom" and lines:
            lines[0] = b"\xef\xbb\xbf" + lines[0]
        elif op == "nul" and lines:
            lines[i] += b"\x00"
        elif op == "truncate":
            lines = b"\n".join(lines)[: draw(st.integers(0, len(b"\n".join(lines))))].split(b"\n")
        elif op == "swap" and len(lines) > 1:
            j = draw(st.integers(0, len(lines) - 1))
            lines[i], lines[j] = lines[j], lines[i]
        elif op == "blank" and lines:
            lines[i] = b"   "
        elif op == "latin1" and lines:
            lines[i] += "é".encode("latin-1")
    return base, b"\n".join(lines)


@settings(max_examples=150, deadline=None, print_blob=True, suppress_health_check=[HealthCheck.too_slow])
@given(mutated_digests(), st.sampled_from(["2025-03-03.txt", "digest.txt"]))
def test_mutated_digests_keep_the_invariants(case, name) -> None:
    base, data = case
    result = parse_digest(data, source=name, run_date=dt.date(2025, 3, 10), latest_date=dt.date(2025, 3, 10))
    assert_conserved(name, data, result.papers, result.rejects)
    assert [p["position"] for p in result.papers] == list(range(len(result.papers)))
    assert len({p["paper_id"] for p in result.papers}) == len(result.papers)
    decoded = set(lines_of(data.decode("utf-8", errors="replace")))
    stripped = {text_of(line) for line in decoded}
    for p in result.papers:
        assert p["title"] in stripped, "a paper was invented"
        assert p["abstract"] in stripped, "a paper was invented"
        assert "\x00" not in p["title"] + p["abstract"]
        assert "\ufffd" not in p["title"] + p["abstract"]
    for r in result.rejects:
        assert r["reason"] in REJECT_REASONS
        assert name in r["detail"]
    if data == base.text.encode("utf-8"):
        assert [(p["title"], p["abstract"]) for p in result.papers] == base.papers
        assert result.rejects == []
