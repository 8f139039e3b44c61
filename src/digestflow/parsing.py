"""The digest parser: one landing file's bytes in, its papers and its rejects out. Pure Python, no Spark.

The "Daily Papers" format is a short header, a year-less date line (``Mar 12``), then one title line and
one abstract line per paper, all separated by blank lines. Every non-blank line that is neither a header
line nor the date line ends up in exactly one paper or one reject (the conservation invariant the tests
check): nothing is dropped silently.
"""

from __future__ import annotations

import calendar
import hashlib
import re
import unicodedata
from dataclasses import dataclass, field
from datetime import date
from pathlib import PurePath
from typing import Any

PARSER_VERSION = "1.0.0"

HEADER_LINES = frozenset(
    {"new", "get trending papers in your email inbox!", "subscribe", "byak and the research community"}
)

#: Every reason code a reject can carry, with what it means to a person.
REJECT_REASONS: dict[str, str] = {
    "empty_file": "the file has no text at all",
    "header_only": "the file has the header but no date line and no papers",
    "missing_date_line": "no date line such as 'Mar 12' was found before the papers",
    "invalid_date_line": "the date line names a day that does not exist (e.g. 'Feb 30')",
    "unresolved_year": "the date line has no year and neither the file name nor the run date gives one",
    "future_date": "the digest date resolves to a day after today (or after the given latest date)",
    "date_mismatch": "the file name carries a date but the date line names another day",
    "unexpected_text_before_date": "text between the header and the date line that is not a header line",
    "extra_date_line": "a second date line inside the list of papers",
    "title_without_abstract": "a title line not followed by an abstract line",
    "abstract_without_title": "an abstract line with no title line before it",
    "undecodable_bytes": "bytes that are not UTF-8 (kept with U+FFFD replacements in raw_text)",
    "control_characters": "NUL or other control characters inside the text",
    "duplicate_in_digest": "the same paper (same normalised title) already appeared earlier in this digest",
    "unreadable_file": "the landing file could not be read (permissions, vanished, not a regular file)",
    "outside_landing": "the path resolves outside the landing folder (e.g. a symlink); not read",
    "duplicate_file": "the same bytes landed under another file name; the papers are kept once, there",
    "parser_error": "the parser failed on this file (a bug): the whole file is kept here, unparsed",
}

_MONTHS = {name.lower(): i for i, name in enumerate(calendar.month_abbr) if name}
_MONTHS.update({name.lower(): i for i, name in enumerate(calendar.month_name) if name})
_MONTHS["sept"] = 9
_DATE_LINE = re.compile(r"^([A-Za-z]{3,9})\.?\s+(\d{1,2})$")
_FILE_DATE = re.compile(r"(\d{4})-(\d{2})-(\d{2})")
_URL = re.compile(r"https?://[^\s<>\"'{}|\\^`]+")
_URL_TRAILING = ".,;:!?)]}'\""
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


@dataclass(frozen=True)
class Line:
    number: int  # 1-based line number in the file
    text: str  # stripped, decoded (U+FFFD for undecodable bytes)
    undecodable: bool = False


@dataclass
class ParseResult:
    """Papers and rejects of one digest, as plain dicts keyed by the table columns (no provenance)."""

    papers: list[dict[str, Any]] = field(default_factory=list)
    rejects: list[dict[str, Any]] = field(default_factory=list)
    digest_date: date | None = None
    date_rule: str = "unresolved"


def paper_id_for(title: str) -> str:
    """Stable paper id: sha1 of the title, NFKC-normalised, case-folded, non-alphanumerics collapsed."""
    norm = unicodedata.normalize("NFKC", title).casefold()
    norm = " ".join(re.sub(r"[\W_]+", " ", norm).split())
    return hashlib.sha1(norm.encode("utf-8")).hexdigest()[:16]


def digest_id_for(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:16]


def date_from_file_name(source: str) -> date | None:
    """The ``YYYY-MM-DD`` date in a file's name, if it has a valid one."""
    match = _FILE_DATE.search(PurePath(source).name)
    if not match:
        return None
    try:
        return date(int(match[1]), int(match[2]), int(match[3]))
    except ValueError:
        return None


def resolve_year(month: int, day: int, reference: date) -> date:
    """The latest date with this month and day on or before ``reference`` (Feb 29 → latest leap year)."""
    year = reference.year
    for _ in range(9):  # Feb 29 can be up to 8 years back (1896 → 1904 skip); others need at most 2 tries
        try:
            candidate = date(year, month, day)
        except ValueError:
            year -= 1
            continue
        if candidate <= reference:
            return candidate
        year -= 1
    raise ValueError(f"no {calendar.month_abbr[month]} {day} on or before {reference}")


def parse_date_line(text: str) -> tuple[int, int] | None:
    """``(month, day)`` if the line has the shape of a date line (``Mar 12``), else None.

    The shape is checked, not validity: ``Feb 30`` returns ``(2, 30)`` so it can be rejected by name.
    """
    match = _DATE_LINE.match(text)
    if not match or match[1].lower() not in _MONTHS:
        return None
    return _MONTHS[match[1].lower()], int(match[2])


def looks_like_abstract(text: str) -> bool:
    """Abstracts are long and end a sentence; titles are short and (in 8,507 real ones) never end in '.'."""
    if len(text) >= 240:
        return True
    return len(text.split()) >= 20 and text.rstrip("\"')]").endswith((".", "!", "?", "…"))


def _clean(line: str) -> str:
    """A line without surrounding whitespace or a leading byte-order mark: a BOM that is not at the
    start of the file comes from files concatenated together (``cat a.txt b.txt``), and is no text."""
    return line.strip().lstrip("\ufeff").strip()


def _decode_lines(data: bytes) -> list[Line]:
    """The file's lines, numbered from 1, each cleaned (:func:`_clean`: this also drops a leading BOM)."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        text = None
    if text is not None:
        split = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
        return [Line(i, _clean(t), False) for i, t in enumerate(split, start=1)]
    out = []
    for i, raw in enumerate(data.replace(b"\r\n", b"\n").replace(b"\r", b"\n").split(b"\n"), start=1):
        try:
            line, bad = raw.decode("utf-8"), False
        except UnicodeDecodeError:
            line, bad = raw.decode("utf-8", errors="replace"), True
        out.append(Line(i, _clean(line), bad))
    return out


def _urls(text: str) -> list[str]:
    return [u.rstrip(_URL_TRAILING) for u in _URL.findall(text)]


def parse_digest(
    data: bytes | str,
    *,
    source: str,
    run_date: date | None = None,
    latest_date: date | None = None,
) -> ParseResult:
    """Parse one digest.

    ``data`` is the file's bytes (or already-decoded text). ``source`` is the file name, used for the
    year (a ``YYYY-MM-DD`` in the name wins) and recorded in every row. ``run_date`` gives the year when
    the name has no date. A digest dated after ``latest_date`` (the caller passes today) is quarantined
    as ``future_date``; the parser itself never reads the clock.
    """
    raw = data.encode("utf-8") if isinstance(data, str) else data
    digest_id = digest_id_for(raw)
    lines = _decode_lines(raw)
    content = [ln for ln in lines if ln.text]
    result = ParseResult()

    file_date = date_from_file_name(source)
    reference, rule = (file_date, "file_name") if file_date else (run_date, "run_date")
    # Partition for rejects whose date never resolves: the file-name date, else the run date.
    fallback_date = reference

    def reject(chunk: list[Line], reason: str, detail: str, when: date | None = None) -> None:
        when = when or fallback_date
        result.rejects.append(
            {
                "source_file": source,
                "digest_id": digest_id,
                "line_start": chunk[0].number if chunk else 0,
                "line_end": chunk[-1].number if chunk else 0,
                "raw_text": "\n".join(ln.text for ln in chunk),
                "reason": reason,
                "detail": detail,
                "date_rule": rule if when is not None and when == result.digest_date else "unresolved",
                "digest_date": when,
            }
        )

    if not content:
        reject([], "empty_file", f"{source}: the file is empty (expected a header, a date line and papers)")
        return result

    # Header, then the date line. Anything else before the date line is quarantined.
    date_index = next((i for i, ln in enumerate(content) if parse_date_line(ln.text)), None)
    if date_index is None:
        if all(ln.text.lower() in HEADER_LINES for ln in content):
            reject(content, "header_only", f"{source}: header only, no date line and no papers")
        else:
            reject(
                content,
                "missing_date_line",
                f"{source}: expected a date line like 'Mar 12' after the header; none found in "
                f"lines {content[0].number}-{content[-1].number}",
            )
        return result

    date_line = content[date_index]
    month, day = parse_date_line(date_line.text)  # type: ignore[misc]
    body = content[date_index + 1 :]
    before = [ln for ln in content[:date_index] if ln.text.lower() not in HEADER_LINES]

    if not _valid_month_day(month, day):
        reject(
            [*before, date_line, *body],
            "invalid_date_line",
            f"{source}:{date_line.number}: date line {date_line.text!r} is not a real day",
        )
        return result
    if reference is None:
        reject(
            [*before, date_line, *body],
            "unresolved_year",
            f"{source}:{date_line.number}: {date_line.text!r} has no year, the file name has no "
            "YYYY-MM-DD and no run date was given",
        )
        return result
    if file_date is not None and (month, day) != (file_date.month, file_date.day):
        reject(
            [*before, date_line, *body],
            "date_mismatch",
            f"{source}:{date_line.number}: the file name says {file_date} but the date line says "
            f"{date_line.text!r}",
        )
        return result
    digest_date = resolve_year(month, day, reference)
    if latest_date is not None and digest_date > latest_date:
        reject(
            [*before, date_line, *body],
            "future_date",
            f"{source}:{date_line.number}: digest date {digest_date} is after {latest_date}",
        )
        return result
    result.digest_date, result.date_rule = digest_date, rule
    fallback_date = digest_date

    for ln in before:
        reject(
            [ln],
            "unexpected_text_before_date",
            f"{source}:{ln.number}: expected a header line or the date line, found text",
        )
    if not body and not before:
        # A date line and nothing else: the digest had no papers. Record it so the file is visible.
        reject(
            [date_line], "header_only", f"{source}:{date_line.number}: date line but no papers after it"
        )
        return result

    seen: dict[str, int] = {}
    i = 0
    while i < len(body):
        line = body[i]
        if parse_date_line(line.text) and not looks_like_abstract(line.text):
            reject([line], "extra_date_line", f"{source}:{line.number}: a second date line {line.text!r}")
            i += 1
            continue
        nxt = body[i + 1] if i + 1 < len(body) else None
        after = body[i + 2] if i + 2 < len(body) else None
        if looks_like_abstract(line.text) and (nxt is None or not looks_like_abstract(nxt.text)):
            reject(
                [line],
                "abstract_without_title",
                f"{source}:{line.number}: expected a title line, found an abstract-like line "
                f"({len(line.text.split())} words)",
            )
            i += 1
            continue
        # line is a title; its abstract is the next line unless that line is better read as the next
        # title (title-like and itself followed by an abstract) or is a date line.
        next_is_title = nxt is not None and (
            (not looks_like_abstract(nxt.text) and after is not None and looks_like_abstract(after.text))
            or (parse_date_line(nxt.text) is not None and not looks_like_abstract(nxt.text))
        )
        if nxt is None or next_is_title:
            reject(
                [line],
                "title_without_abstract",
                f"{source}:{line.number}: title {line.text[:60]!r} is not followed by an abstract line",
            )
            i += 1
            continue
        title, abstract = line, nxt
        i += 2
        pair = [title, abstract]
        if title.undecodable or abstract.undecodable:
            reject(
                pair,
                "undecodable_bytes",
                f"{source}:{title.number}-{abstract.number}: bytes that are not UTF-8",
            )
            continue
        if _CONTROL.search(title.text) or _CONTROL.search(abstract.text):
            reject(
                pair,
                "control_characters",
                f"{source}:{title.number}-{abstract.number}: NUL or control characters in the text",
            )
            continue
        pid = paper_id_for(title.text)
        if pid in seen:
            reject(
                pair,
                "duplicate_in_digest",
                f"{source}:{title.number}: same title as the paper at line {seen[pid]}",
            )
            continue
        seen[pid] = title.number
        result.papers.append(
            {
                "paper_id": pid,
                "digest_id": digest_id,
                "source_file": source,
                "position": len(result.papers),
                "line_start": title.number,
                "line_end": abstract.number,
                "title": title.text,
                "abstract": abstract.text,
                "abstract_truncated": abstract.text.endswith((" ...", "\t...", "…")),
                "n_words": len(abstract.text.split()),
                "urls": _urls(title.text + " " + abstract.text),
                "date_rule": rule,
                "parser_version": PARSER_VERSION,
                "digest_date": digest_date,
            }
        )
    return result


def _valid_month_day(month: int, day: int) -> bool:
    return 1 <= day <= (29 if month == 2 else calendar.monthrange(2001, month)[1])
