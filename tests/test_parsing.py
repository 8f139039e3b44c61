"""The parser against ground truth (the manifest, the seed) and against hostile variants of a digest."""

from __future__ import annotations

import collections
import json
from datetime import date
from pathlib import Path

import pytest

from digestflow.parsing import (
    HEADER_LINES,
    REJECT_REASONS,
    paper_id_for,
    parse_date_line,
    parse_digest,
    resolve_year,
)

HEADER = "new\n\nGet trending papers in your email inbox!\n\nSubscribe\n\nbyAK and the research community\n\n"
TITLES = [
    "Sparse Mixtures of Experts for Long Context Reasoning",
    "On the Effective Rank of Contrastive Embeddings",
    "Diffusion Policies Meet Model Predictive Control: A Unified View",
]
ABSTRACTS = [
    " ".join(["We study sparse routing in transformer layers and show that experts specialise early."] * 4),
    " ".join(["Effective rank measures how many directions an embedding set really uses in practice."] * 4),
    " ".join(["We combine diffusion policies with receding horizon control for robot manipulation."] * 4),
]


def digest(date_line: str = "Mar 12", papers: list[tuple[str, str]] | None = None, nl: str = "\n") -> str:
    papers = list(zip(TITLES, ABSTRACTS, strict=True)) if papers is None else papers
    body = "".join(f"{t}\n\n{a}\n\n" for t, a in papers)
    return (HEADER + date_line + "\n\n" + body).replace("\n", nl)


def content_lines(data: bytes) -> set[int]:
    """Numbers of non-blank lines, computed independently of the parser's own splitting."""
    text = data.decode("utf-8", errors="replace").replace("\r\n", "\n").replace("\r", "\n")
    return {i for i, line in enumerate(text.split("\n"), start=1) if line.strip().strip("\ufeff")}


def assert_conserved(data: bytes, result) -> None:
    """Every non-blank line is a header line, the date line, in exactly one paper or one reject."""
    text = data.decode("utf-8", errors="replace").replace("\r\n", "\n").replace("\r", "\n").split("\n")
    covered: list[int] = []
    for p in result.papers:
        covered += [p["line_start"], p["line_end"]]
    for r in result.rejects:
        covered += [n for n in range(r["line_start"], r["line_end"] + 1) if n and text[n - 1].strip()]
    assert len(covered) == len(set(covered)), "a line landed twice"
    rest = content_lines(data) - set(covered)
    for n in rest:
        line = text[n - 1].strip().strip("\ufeff")
        assert line.lower() in HEADER_LINES or parse_date_line(line), f"line {n} {line!r} was lost"


# ---------------------------------------------------------------------------------------- real data


@pytest.mark.realdata
def test_every_dev_digest_matches_the_manifest(shared_data: Path) -> None:
    expected = collections.defaultdict(list)
    for line in (shared_data / "hf-daily.manifest.jsonl").read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        expected[row["file"]].append((row["position"], row["title"], row["abstract"], row["date"]))
    files = sorted((shared_data / "hf-daily").glob("*.txt"))
    assert len(files) == 521
    total = 0
    for path in files:
        data = path.read_bytes()
        result = parse_digest(data, source=path.name)
        got = [(p["position"], p["title"], p["abstract"], p["digest_date"].isoformat()) for p in result.papers]
        assert got == expected[path.name], path.name
        assert result.rejects == [], path.name
        assert all(p["date_rule"] == "file_name" for p in result.papers)
        assert_conserved(data, result)
        total += len(got)
    assert total == 8507


@pytest.mark.realdata
def test_paper_id_is_stable_across_days(shared_data: Path) -> None:
    rows = [json.loads(x) for x in (shared_data / "hf-daily.manifest.jsonl").read_text().splitlines()]
    by_arxiv: dict[str, set[str]] = collections.defaultdict(set)
    for row in rows:
        by_arxiv[row["id"]].add(paper_id_for(row["title"]))
    assert all(len(ids) == 1 for ids in by_arxiv.values())
    # Different arXiv papers get different ids unless their titles normalise to the same text.
    titles_by_id = collections.defaultdict(set)
    for row in rows:
        titles_by_id[paper_id_for(row["title"])].add(row["id"])
    assert sum(len(v) > 1 for v in titles_by_id.values()) <= 2


def test_seed_gives_its_68_papers(seed_dir: Path) -> None:
    path = next(seed_dir.glob("*.txt"))
    result = parse_digest(path.read_bytes(), source=path.name, run_date=date(2026, 11, 26))
    assert len(result.papers) == 68
    assert result.rejects == []
    assert result.digest_date == date(2026, 3, 12)
    assert result.date_rule == "run_date"
    assert [p["position"] for p in result.papers] == list(range(68))


# ------------------------------------------------------------------------------------ year, ids


@pytest.mark.parametrize(
    ("month", "day", "reference", "expected"),
    [
        (3, 12, date(2026, 3, 12), date(2026, 3, 12)),
        (3, 13, date(2026, 3, 12), date(2025, 3, 13)),
        (12, 31, date(2026, 1, 2), date(2025, 12, 31)),
        (2, 29, date(2026, 5, 1), date(2024, 2, 29)),
        (2, 29, date(2024, 2, 28), date(2020, 2, 29)),
    ],
)
def test_year_is_the_latest_on_or_before_the_reference(month, day, reference, expected) -> None:
    assert resolve_year(month, day, reference) == expected


def test_file_name_date_wins_over_run_date() -> None:
    result = parse_digest(digest("Mar 12"), source="2025-03-12.txt", run_date=date(2026, 6, 1))
    assert result.digest_date == date(2025, 3, 12)
    assert result.date_rule == "file_name"
    undated = parse_digest(digest("Mar 12"), source="topic.txt", run_date=date(2026, 6, 1))
    assert undated.digest_date == date(2026, 3, 12)
    assert undated.date_rule == "run_date"


def test_ids_and_fields() -> None:
    a = parse_digest(digest(), source="2025-03-12.txt")
    b = parse_digest(digest() + "\n", source="2025-03-12.txt")
    assert [p["paper_id"] for p in a.papers] == [p["paper_id"] for p in b.papers]
    assert a.papers[0]["digest_id"] != b.papers[0]["digest_id"]  # content hash of the bytes
    assert paper_id_for("On the Effective-Rank of  Embeddings!") == paper_id_for("on the effective rank of embeddings")
    first = a.papers[0]
    assert first["n_words"] == len(ABSTRACTS[0].split())
    assert first["line_start"] == 11
    assert first["line_end"] == 13


# --------------------------------------------------------------------------------- tolerated input


TOLERATED = {
    "crlf": lambda: digest(nl="\r\n").encode(),
    "cr_only": lambda: digest(nl="\r").encode(),
    "bom": lambda: b"\xef\xbb\xbf" + digest().encode(),
    # files concatenated together (`cat`) or an editor's paste: a BOM in front of a line mid-file
    "bom_mid_file": lambda: digest().replace(TITLES[1], "\ufeff" + TITLES[1]).encode(),
    "trailing_spaces": lambda: digest().replace("\n", "  \n").encode(),
    "leading_tabs": lambda: digest().replace("\n\n", "\n\n\t").encode(),
    "blank_line_runs": lambda: digest().replace("\n\n", "\n\n\n\n").encode(),
    "no_blank_lines": lambda: digest().replace("\n\n", "\n").encode(),
    "no_final_newline": lambda: digest().rstrip("\n").encode(),
    "full_month_name": lambda: digest("March 12").encode(),
}


@pytest.mark.parametrize("variant", sorted(TOLERATED))
def test_tolerated_variants_parse_like_the_clean_digest(variant: str) -> None:
    data = TOLERATED[variant]()
    result = parse_digest(data, source="2025-03-12.txt")
    assert [(p["title"], p["abstract"]) for p in result.papers] == list(zip(TITLES, ABSTRACTS, strict=True))
    assert result.rejects == []
    assert_conserved(data, result)


def test_unicode_latex_urls_and_truncation_are_kept() -> None:
    title = "Résumé-Aware $O(n \\log n)$ Retrieval for Łódź Dialects"
    abstract = (
        "We reach 43\\% higher recall than BM25 on 12 languages, including Ελληνικά and 日本語, "
        "with code at https://github.com/example/repo. and a demo at http://demo.example.org/x), "
        "while the rest of this abstract was cut off upstream and continues ..."
    )
    result = parse_digest(digest(papers=[(title, abstract)]), source="2025-03-12.txt")
    (paper,) = result.papers
    assert paper["title"] == title
    assert paper["abstract"] == abstract
    assert paper["abstract_truncated"] is True
    assert paper["urls"] == ["https://github.com/example/repo", "http://demo.example.org/x"]


# -------------------------------------------------------------------------------------- quarantine


def _papers(*idx: int) -> list[tuple[str, str]]:
    return [(TITLES[i], ABSTRACTS[i]) for i in idx]


HOSTILE = {
    # name: (bytes, expected reasons (sorted), expected number of papers)
    "empty_file": (b"", ["empty_file"], 0),
    "whitespace_only": (b"  \n\n\t\n", ["empty_file"], 0),
    "header_only": (HEADER.encode(), ["header_only"], 0),
    "date_line_no_papers": ((HEADER + "Mar 12\n").encode(), ["header_only"], 0),
    "missing_date_line": (digest().replace("Mar 12\n", "").encode(), ["missing_date_line"], 0),
    "impossible_date": (digest("Feb 30").encode(), ["invalid_date_line"], 0),
    "date_mismatch_with_file_name": (digest("Mar 11").encode(), ["date_mismatch"], 0),
    "text_before_date": (
        digest().replace("Subscribe\n", "Subscribe\n\nUnsubscribe here please\n").encode(),
        ["unexpected_text_before_date"],
        3,
    ),
    "title_without_abstract": (
        digest(papers=[*_papers(0), (TITLES[1], "")]).replace("\n\n\n\n", "\n\n").encode(),
        ["title_without_abstract"],
        1,
    ),
    "title_without_abstract_in_the_middle": (
        (HEADER + "Mar 12\n\n" + f"{TITLES[0]}\n\n{TITLES[1]}\n\n{ABSTRACTS[1]}\n\n{TITLES[2]}\n\n{ABSTRACTS[2]}\n").encode(),
        ["title_without_abstract"],
        2,
    ),
    "abstract_without_title": (
        (HEADER + "Mar 12\n\n" + f"{ABSTRACTS[0]}\n\n{TITLES[1]}\n\n{ABSTRACTS[1]}\n").encode(),
        ["abstract_without_title"],
        1,
    ),
    "two_date_lines": (
        (HEADER + "Mar 12\n\n" + f"{TITLES[0]}\n\n{ABSTRACTS[0]}\n\nMar 13\n\n{TITLES[1]}\n\n{ABSTRACTS[1]}\n").encode(),
        ["extra_date_line"],
        2,
    ),
    "duplicate_paper_in_digest": (digest(papers=_papers(0, 1, 0)).encode(), ["duplicate_in_digest"], 2),
    "latin1_bytes_in_abstract": (
        digest().encode().replace(b"experts specialise", b"experts sp\xe9cialise", 1),
        ["undecodable_bytes"],
        2,
    ),
    "nul_byte": (digest().encode().replace(b"Effective rank", b"Effective\x00rank", 1), ["control_characters"], 2),
    "random_bytes": (bytes(range(256)) * 4, ["missing_date_line"], 0),
}


@pytest.mark.parametrize("variant", sorted(HOSTILE))
def test_hostile_variants_are_quarantined_with_reasons(variant: str) -> None:
    data, reasons, n_papers = HOSTILE[variant]
    result = parse_digest(data, source="2025-03-12.txt")
    assert sorted(r["reason"] for r in result.rejects) == reasons
    assert len(result.papers) == n_papers
    assert [p["position"] for p in result.papers] == list(range(n_papers))
    for r in result.rejects:
        assert r["reason"] in REJECT_REASONS
        assert "2025-03-12.txt" in r["detail"]
        assert r["digest_date"] == date(2025, 3, 12)  # the file name's date: nothing is lost to a null partition
    assert_conserved(data, result)


def test_undecodable_bytes_are_kept_with_replacement() -> None:
    data = HOSTILE["latin1_bytes_in_abstract"][0]
    (reject,) = parse_digest(data, source="2025-03-12.txt").rejects
    assert "sp\ufffdcialise" in reject["raw_text"]
    assert TITLES[0] in reject["raw_text"]
    assert (reject["line_start"], reject["line_end"]) == (11, 13)


def test_future_dates_are_quarantined() -> None:
    result = parse_digest(digest(), source="2030-03-12.txt", latest_date=date(2026, 11, 26))
    assert [r["reason"] for r in result.rejects] == ["future_date"]
    assert result.papers == []


def test_no_year_anywhere_is_quarantined() -> None:
    result = parse_digest(digest(), source="topic.txt")
    assert [r["reason"] for r in result.rejects] == ["unresolved_year"]
    assert result.rejects[0]["digest_date"] is None
