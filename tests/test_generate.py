"""The synthetic digest generator, checked against the real parser and against its own promises."""

from __future__ import annotations

import re
from collections import Counter
from datetime import date

import pytest

from digestflow import generate
from digestflow.generate import (
    Digest,
    Plant,
    date_line,
    default_plants,
    generate_corpus,
    iter_corpus,
    render_digest,
    write_corpus,
)
from digestflow.parsing import looks_like_abstract, paper_id_for, parse_digest

START = date(2025, 1, 6)  # a Monday
SENTENCE_END = re.compile(r"(?<=[.!?]) (?=[A-Z0-9$])")


@pytest.fixture(scope="module")
def corpus() -> list[Digest]:
    """Twelve weeks at the default seed: big enough for shape statistics, small enough to be quick."""
    return generate_corpus(84, seed=7)


@pytest.fixture(scope="module")
def long_corpus() -> list[Digest]:
    """A year and a half: enough papers (~9k) for the 1% cross-day duplicates and 0.5% cut-offs."""
    return generate_corpus(550, seed=11, plants=[])


def all_papers(digests: list[Digest]) -> list[tuple[str, str]]:
    return [paper for digest in digests for paper in digest.papers]


# ---- the parser is the oracle ----------------------------------------------------------------------


def test_parser_reads_back_every_written_file_exactly(corpus: list[Digest], tmp_path) -> None:
    paths = write_corpus(corpus, tmp_path)
    assert [p.name for p in paths] == [d.file_name for d in corpus]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(d.file_name for d in corpus)
    for digest, path in zip(corpus, paths, strict=True):
        result = parse_digest(path.read_bytes(), source=path.name)
        assert result.rejects == [], (path.name, result.rejects[:2])
        assert result.digest_date == digest.digest_date
        assert result.date_rule == "file_name"
        assert [(p["title"], p["abstract"]) for p in result.papers] == digest.papers
        assert [p["position"] for p in result.papers] == list(range(len(digest.papers)))


def test_parser_reads_back_a_100x_day(tmp_path) -> None:
    # Hundreds of papers in one file must still have no two titles the parser calls the same paper.
    digests = generate_corpus(2, seed=5, scale=100)
    assert all(len(d.papers) > 50 for d in digests)
    for digest in digests:
        result = parse_digest(digest.text.encode("utf-8"), source=digest.file_name)
        assert result.rejects == []
        assert [(p["title"], p["abstract"]) for p in result.papers] == digest.papers


def test_file_name_and_date_line() -> None:
    digest = generate_corpus(1, start=date(2024, 3, 1))[0]
    assert digest.file_name == "2024-03-01.txt"
    assert digest.text.split("\n")[8] == "Mar 1"
    assert date_line(date(2024, 9, 30)) == "Sep 30"


@pytest.mark.parametrize("month", range(1, 13))
def test_every_month_parses_to_its_date(month: int) -> None:
    day = date(2024, month, 29 if month == 2 else 28)
    papers = generate_corpus(1, start=START, seed=month)[0].papers
    text = render_digest(day, papers, trailing_newline=False)
    result = parse_digest(text.encode("utf-8"), source=f"{day.isoformat()}.txt")
    assert result.rejects == []
    assert result.digest_date == day


# ---- the exact format ------------------------------------------------------------------------------


def test_render_digest_exact_bytes() -> None:
    papers = [("First Title Here Now", "First abstract."), ("Second: A Title", "Second abstract.")]
    expected = (
        "new\n\nGet trending papers in your email inbox!\n\nSubscribe\n\nbyAK and the research community\n\n"
        "Mar 12\n\nFirst Title Here Now\n\nFirst abstract.\n\nSecond: A Title\n\nSecond abstract."
    )
    assert render_digest(date(2025, 3, 12), papers, trailing_newline=False) == expected
    assert render_digest(date(2025, 3, 12), papers) == expected + "\n"


def test_render_digest_writes_hostile_values_verbatim() -> None:
    text = render_digest(date(2025, 3, 12), [("  Padded Title  ", "")], trailing_newline=False)
    assert text.endswith("\n\n  Padded Title  \n\n")


def test_files_are_utf8_lf_and_some_lack_the_final_newline(corpus: list[Digest], tmp_path) -> None:
    paths = write_corpus(corpus, tmp_path)
    endings = Counter()
    for path in paths:
        data = path.read_bytes()
        assert b"\r" not in data
        assert not data.startswith(b"\xef\xbb\xbf")
        data.decode("utf-8")
        assert data.startswith(
            b"new\n\nGet trending papers in your email inbox!\n\nSubscribe\n\n"
            b"byAK and the research community\n\n"
        )
        assert b"\n\n\n" not in data
        endings[data.endswith(b"\n")] += 1
    assert endings[True] > 0
    assert endings[False] > 0


def test_write_corpus_twice_is_idempotent(corpus: list[Digest], tmp_path) -> None:
    first = {p.name: p.read_bytes() for p in write_corpus(corpus[:5], tmp_path)}
    second = {p.name: p.read_bytes() for p in write_corpus(corpus[:5], tmp_path)}
    assert first == second
    assert len(list(tmp_path.iterdir())) == 5


# ---- determinism -----------------------------------------------------------------------------------


def test_same_seed_same_bytes() -> None:
    a = [(d.file_name, d.text) for d in generate_corpus(21, seed=3)]
    b = [(d.file_name, d.text) for d in generate_corpus(21, seed=3)]
    assert a == b


def test_other_seed_other_bytes() -> None:
    a = generate_corpus(21, seed=3)
    b = generate_corpus(21, seed=4)
    assert [d.text for d in a] != [d.text for d in b]
    assert not set(all_papers(a)) & set(all_papers(b))


def test_output_does_not_depend_on_earlier_calls() -> None:
    # The sentence pools are cached per seed; a plant rendered first must not shift the others.
    generate._pools.cache_clear()
    fresh = [d.text for d in generate_corpus(21, seed=3)]
    generate._pools.cache_clear()
    generate_corpus(10, seed=3, plants=[Plant("unrelated marker phrase", "flat", base=0.5)])
    assert [d.text for d in generate_corpus(21, seed=3)] == fresh
    assert [d.text for d in iter_corpus(21, seed=3)] == fresh


# ---- volume ----------------------------------------------------------------------------------------


def test_weekday_and_weekend_volume(long_corpus: list[Digest]) -> None:
    by_date = {d.digest_date: len(d.papers) for d in long_corpus}
    weekdays = [START.fromordinal(START.toordinal() + i) for i in range(550)]
    weekday_counts = [by_date.get(day, 0) for day in weekdays if day.weekday() < 5]
    weekend_counts = [by_date[day] for day in weekdays if day.weekday() >= 5 and day in by_date]
    n_weekend_days = sum(day.weekday() >= 5 for day in weekdays)
    assert min(weekday_counts) >= 5
    assert max(weekday_counts) <= 50
    assert 14 <= sum(weekday_counts) / len(weekday_counts) <= 18
    assert 0.08 <= len(weekend_counts) / n_weekend_days <= 0.22
    assert all(3 <= n <= 8 for n in weekend_counts)


def test_scale_multiplies_volume() -> None:
    base = generate_corpus(28, seed=2, plants=[])
    scaled = generate_corpus(28, seed=2, scale=3, plants=[])
    weekday = [len(d.papers) for d in scaled if d.digest_date.weekday() < 5]
    assert min(weekday) >= 15
    assert max(weekday) <= 150
    assert 2.4 <= len(all_papers(scaled)) / len(all_papers(base)) <= 3.6


def test_bad_arguments_are_refused() -> None:
    with pytest.raises(ValueError, match="days"):
        generate_corpus(-1)
    with pytest.raises(ValueError, match="scale"):
        generate_corpus(5, scale=0)


# ---- planted phrases -------------------------------------------------------------------------------


def share_by_window(digests: list[Digest], phrase: str, n_days: int, window: int = 7) -> tuple[float, float]:
    """(share of abstracts with ``phrase`` before the last ``window`` days, share within them)."""
    cutoff = START.toordinal() + n_days - window
    counts = {False: [0, 0], True: [0, 0]}
    for digest in digests:
        recent = digest.digest_date.toordinal() >= cutoff
        for _, abstract in digest.papers:
            counts[recent][0] += phrase in abstract
            counts[recent][1] += 1
    return counts[False][0] / counts[False][1], counts[True][0] / counts[True][1]


def test_rising_phrase_rises_in_the_last_week() -> None:
    digests = generate_corpus(56, seed=1)
    before, recent = share_by_window(digests, "spectral token routing", 56)
    assert before > 0
    assert recent > 3 * before


def test_falling_phrase_falls_in_the_last_week() -> None:
    digests = generate_corpus(56, seed=1)
    before, recent = share_by_window(digests, "latent diffusion distillation", 56)
    assert before > 3 * recent


def test_new_phrase_appears_only_in_its_window() -> None:
    digests = generate_corpus(30, seed=1, plants=[Plant("brand new marker", "new", window=4, count=2)])
    last = START.toordinal() + 30 - 4
    for digest in digests:
        hits = sum("brand new marker" in a for _, a in digest.papers)
        # Two new papers a day; a paper recurring from the day before may add a third.
        expected = (2, 3) if digest.digest_date.toordinal() >= last else (0,)
        assert hits in expected, digest.file_name


def test_custom_flat_plant_hits_its_share() -> None:
    digests = generate_corpus(42, seed=9, plants=[Plant("quartz lattice marker", "flat", base=0.4)])
    abstracts = [a for _, a in all_papers(digests)]
    share = sum("quartz lattice marker" in a for a in abstracts) / len(abstracts)
    assert 0.35 <= share <= 0.45


def test_background_text_never_contains_a_planted_phrase(long_corpus: list[Digest]) -> None:
    phrases = [plant.phrase for plant in default_plants()]
    text = "\n".join(t + "\n" + a for t, a in all_papers(long_corpus)).lower()
    assert [p for p in phrases if p in text] == []


def test_plant_share_curves() -> None:
    assert Plant("x", "rise", base=0.1, peak=0.5).share(92, 100) == 0.1
    assert Plant("x", "rise", base=0.1, peak=0.5).share(93, 100) == 0.5
    assert Plant("x", "fall", base=0.1, peak=0.5).share(0, 100) == 0.5
    assert Plant("x", "fall", base=0.1, peak=0.5).share(99, 100) == 0.1
    slow = [Plant("x", "slow_rise", base=0.0, peak=0.3).share(i, 31) for i in range(31)]
    assert slow[0] == 0.0
    assert slow[-1] == pytest.approx(0.3)
    assert slow == sorted(slow)
    burst = Plant("x", "burst", base=0.0, peak=0.5, window=5, burst_start=10)
    assert [burst.share(i, 30) for i in (9, 10, 14, 15)] == [0.0, 0.5, 0.5, 0.0]
    with pytest.raises(ValueError, match="unknown plant kind"):
        Plant("x", "wobble").share(0, 10)  # type: ignore[arg-type]


# ---- duplicates ------------------------------------------------------------------------------------


def test_papers_recur_across_days_but_never_within_one(long_corpus: list[Digest]) -> None:
    days_per_title: Counter[str] = Counter()
    abstracts: dict[str, set[str]] = {}
    for digest in long_corpus:
        ids = [paper_id_for(title) for title, _ in digest.papers]
        assert len(ids) == len(set(ids)), digest.file_name
        for title, abstract in digest.papers:
            days_per_title[title] += 1
            abstracts.setdefault(title, set()).add(abstract)
    recurring = [t for t, n in days_per_title.items() if n > 1]
    assert 0.003 <= len(recurring) / len(days_per_title) <= 0.03
    assert all(days_per_title[t] == 2 for t in recurring)
    assert all(len(abstracts[t]) == 1 for t in recurring)
    # Apart from the recurring ones, no two papers share a title even loosely.
    assert len({paper_id_for(t) for t in days_per_title}) == len(days_per_title)


# ---- shape of titles and abstracts -----------------------------------------------------------------


def test_titles_have_title_shape(long_corpus: list[Digest]) -> None:
    titles = [t for t, _ in all_papers(long_corpus)]
    for title in titles:
        assert not looks_like_abstract(title), title
        assert 4 <= len(title.split()) <= 14, title
        assert len(title) < 120, title
        assert not title.endswith("."), title
        assert title == title.strip()
        assert "  " not in title
        assert title[0].isupper() or title[0].isdigit() or title[0] == "$", title
    assert 0.5 <= sum(":" in t for t in titles) / len(titles) <= 0.9
    assert any(not t.isascii() for t in titles)
    assert any("$" in t for t in titles)


def test_abstracts_have_abstract_shape(long_corpus: list[Digest]) -> None:
    abstracts = [a for _, a in all_papers(long_corpus)]
    for abstract in abstracts:
        assert looks_like_abstract(abstract), abstract
        assert 60 <= len(abstract.split()) <= 250, abstract
        assert abstract.endswith("."), abstract
        assert abstract == abstract.strip()
        assert "  " not in abstract
        assert not re.search(r"[\x00-\x1f\x7f]", abstract), abstract
        if not abstract.endswith(" ..."):
            assert 4 <= len(SENTENCE_END.split(abstract)) <= 10, abstract
    truncated = sum(a.endswith(" ...") for a in abstracts) / len(abstracts)
    assert 0.001 <= truncated <= 0.012
    assert 0.1 <= sum("https://" in a for a in abstracts) / len(abstracts) <= 0.5
    assert any("https://github.com/" in a for a in abstracts)
    assert any("\\%" in a or "$" in a for a in abstracts)
    mean_words = sum(len(a.split()) for a in abstracts) / len(abstracts)
    assert 100 <= mean_words <= 220
