"""Tests for digestflow.metrics.trendstats: hand arithmetic, brute force and planted signals.

Expected values are computed here independently (explicit arithmetic, O(n²) loops, enumeration of all
2^T state paths), never by calling the function under test a second way.
"""

from __future__ import annotations

import itertools
import math
import time
from collections import Counter
from datetime import date, timedelta

import numpy as np
import pytest

from digestflow.metrics.trendstats import (
    burst_active_at_end,
    burst_spans,
    current_burst_start,
    kleinberg_bursts,
    log_odds_dirichlet,
    mann_kendall,
    sen_slope,
    smoothed_shares,
    suppress_nested,
)

# ------------------------------------------------------------------------------------------- log-odds


def test_log_odds_matches_hand_arithmetic() -> None:
    # α_0 = 4, π = (0.25, 0.5) → α = (1, 2); n_T = 100, n_B = 200.
    delta, z = log_odds_dirichlet([10, 2], [5, 8], 100, 200, [0.25, 0.5], alpha0=4.0)

    d0 = math.log(11 / (100 + 4 - 10 - 1)) - math.log(6 / (200 + 4 - 5 - 1))  # ln(11/93) − ln(6/198)
    d1 = math.log(4 / (100 + 4 - 2 - 2)) - math.log(10 / (200 + 4 - 8 - 2))  # ln(4/100) − ln(10/194)
    z0 = d0 / math.sqrt(1 / 11 + 1 / 6)
    z1 = d1 / math.sqrt(1 / 4 + 1 / 10)

    assert delta == pytest.approx([d0, d1], rel=1e-12)
    assert z == pytest.approx([z0, z1], rel=1e-12)
    # the same numbers written out, so a slip in the arithmetic above would show too
    assert delta == pytest.approx([1.361803, -0.253603], abs=1e-6)
    assert z == pytest.approx([2.683255, -0.428667], abs=1e-6)


def test_log_odds_scalar_prior_and_sign() -> None:
    # uniform prior (FightingWords-style 1/V); a term whose share falls gets ζ < 0
    _, z = log_odds_dirichlet([1, 50], [30, 50], 1000, 1000, 0.01, alpha0=10.0)
    assert z[0] < -3
    assert z[1] == pytest.approx(0.0, abs=1e-12)


def test_smoothed_shares_by_hand() -> None:
    assert smoothed_shares([3, 0, 1], pseudocount=0.5) == pytest.approx([3.5 / 5.5, 0.5 / 5.5, 1.5 / 5.5])


@pytest.mark.parametrize(
    ("prior", "match"),
    [([0.5, 0.0], "prior_share"), ([0.5, float("nan")], "prior_share")],
)
def test_log_odds_rejects_unusable_prior(prior: list[float], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        log_odds_dirichlet([1, 0], [1, 3], 10, 10, prior)


def test_log_odds_rejects_count_above_total() -> None:
    with pytest.raises(ValueError, match="exceeds its window total"):
        log_odds_dirichlet([11, 0], [1, 3], 10, 10, 0.5)


def _planted_windows() -> tuple[np.ndarray, np.ndarray]:
    """Baseline = 28 days, target = 7 days at twice the daily volume, 300 noisy stable filler terms.

    Index 0: planted riser (share 0.2 % → 0.6 %); 1: volume decoy (share 2 % in both windows, so its
    daily count doubles with the volume); 2: brand-new term seen in 3 target papers, never before.
    """
    rng = np.random.default_rng(7)
    rate = rng.integers(5, 120, 300)
    y_b = np.concatenate([[40, 400, 0], rng.poisson(rate * 1.0)])
    y_t = np.concatenate([[60, 200, 3], rng.poisson(rate * 0.5)])
    return y_t, y_b


def test_log_odds_planted_riser_beats_volume_decoy_and_new_term() -> None:
    y_t, y_b = _planted_windows()
    n_t, n_b = y_t.sum(), y_b.sum()
    prior = smoothed_shares(y_b)
    _, z = log_odds_dirichlet(y_t, y_b, n_t, n_b, prior)

    assert int(np.argmax(z)) == 0
    assert z[0] > 4
    assert abs(z[1]) < 1.0  # more papers, same share: not a trend
    assert 0 < z[2] < 1.0 < z[0]  # brand-new: positive but shrunk far below the riser
    assert np.sum(z > z[2]) >= 10  # not near the top of the rising list

    # A plain binomial z on the same (smoothed) baseline share puts the 3-paper newcomer near the top,
    # above every filler term: this is what the Dirichlet variance term protects against.
    binomial_z = (y_t - n_t * prior) / np.sqrt(n_t * prior * (1 - prior))
    assert binomial_z[2] > 5
    assert binomial_z[2] > binomial_z[3:].max()
    assert int(np.argsort(-binomial_z).tolist().index(2)) <= 1


# --------------------------------------------------------------------------------------------- Kleinberg


def _neg_log_binom(k: int, n: int, p: float) -> float:
    if n == 0:
        return 0.0
    return -(math.log(math.comb(n, k)) + k * math.log(p) + (n - k) * math.log1p(-p))


def _path_cost(states: list[int], r: list[int], d: list[int], s: float = 2.0, gamma: float = 1.0) -> float:
    """Kleinberg's objective for one state path, starting from state 0 before day 0 (docs/findings.md)."""
    n_days = len(r)
    p0 = sum(r) / sum(d)
    rates = (p0, min(s * p0, 0.99999))
    total, prev = 0.0, 0
    for t, q in enumerate(states):
        if q > prev:
            total += (q - prev) * gamma * math.log(n_days)
        total += _neg_log_binom(r[t], d[t], rates[q])
        prev = q
    return total


def _brute_force_min(r: list[int], d: list[int], s: float = 2.0, gamma: float = 1.0) -> float:
    return min(_path_cost(list(p), r, d, s, gamma) for p in itertools.product((0, 1), repeat=len(r)))


def _greedy(r: list[int], d: list[int]) -> list[int]:
    """The burst_detection 0.1.3 decoding: best next state given only the previous one."""
    n_days = len(r)
    p0 = sum(r) / sum(d)
    rates = (p0, min(2 * p0, 0.99999))
    prev, states = 0, []
    for t in range(n_days):
        cost = [
            _neg_log_binom(r[t], d[t], rates[j]) + (math.log(n_days) if j > prev else 0.0) for j in (0, 1)
        ]
        prev = 0 if cost[0] <= cost[1] else 1
        states.append(prev)
    return states


def _planted_burst(seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    d = rng.poisson(30, 100)
    p = np.full(100, 0.05)
    p[40:51] = 0.20  # ×4 on days 40–50
    return rng.binomial(d, p), d


def test_kleinberg_finds_planted_burst_start() -> None:
    r, d = _planted_burst(seed=2)
    days = [date(2025, 1, 1) + timedelta(days=i) for i in range(100)]
    assert burst_spans(kleinberg_bursts(r, d), days) == [(days[40], days[50])]


@pytest.mark.parametrize("seed", range(10))
def test_kleinberg_planted_burst_over_seeds(seed: int) -> None:
    r, d = _planted_burst(seed)
    spans = burst_spans(kleinberg_bursts(r, d), list(range(100)))
    assert len(spans) == 1
    start, end = spans[0]
    assert 39 <= start <= 41
    assert 49 <= end <= 51


def test_kleinberg_flat_series_has_no_burst() -> None:
    d = np.array([20, 40, 30, 60, 20, 40] * 15)
    r = d // 20  # exactly 5 % every day
    assert not kleinberg_bursts(r, d).any()


def test_kleinberg_rarely_bursts_on_binomial_noise() -> None:
    # Pure noise at ~1.5 expected hits a day: with s = 2, γ = 1 a few series show a short burst
    # (≈ 10 % measured); a broken decoder that bursts freely would exceed the bound.
    hits = 0
    for seed in range(40):
        rng = np.random.default_rng(1000 + seed)
        d = rng.poisson(30, 100)
        hits += bool(kleinberg_bursts(rng.binomial(d, 0.05), d).any())
    assert hits <= 10


def test_kleinberg_exact_viterbi_beats_greedy() -> None:
    r = [3, 1, 4, 0, 1, 1, 2, 2, 5, 4, 6, 1]
    d = [20] * 12
    states = kleinberg_bursts(r, d).tolist()
    greedy = _greedy(r, d)
    best = _brute_force_min(r, d)

    assert _path_cost(states, r, d) == pytest.approx(best, rel=1e-12)
    assert _path_cost(greedy, r, d) > best + 0.5
    assert greedy == [0] * 12  # no single day pays the entry cost ln 12 on its own …
    assert states[8:11] == [1, 1, 1]  # … but days 8–10 together do


@pytest.mark.parametrize("seed", range(25))
def test_kleinberg_equals_brute_force(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n_days = int(rng.integers(2, 13))
    d = rng.integers(0, 25, n_days)
    d[0] = max(d[0], 1)
    r = rng.binomial(d, rng.uniform(0.05, 0.5, n_days))
    if r.sum() == 0:
        r[0] = 1
    s, gamma = (2.0, 1.0) if seed % 2 else (3.0, 0.5)
    states = kleinberg_bursts(r, d, s=s, gamma=gamma).tolist()
    r_list, d_list = r.tolist(), d.tolist()
    assert _path_cost(states, r_list, d_list, s, gamma) == pytest.approx(
        _brute_force_min(r_list, d_list, s, gamma), rel=1e-12
    )


def test_kleinberg_days_without_papers_cost_nothing() -> None:
    # weekend days with no digest inside a burst do not split it
    r = [1, 1, 1, 6, 0, 7, 6, 1, 1, 0, 1, 1]
    d = [20, 20, 20, 20, 0, 20, 20, 20, 20, 0, 20, 20]
    states = kleinberg_bursts(r, d).tolist()
    assert states == [0, 0, 0, 1, 1, 1, 1, 0, 0, 0, 0, 0]
    assert _path_cost(states, r, d) == pytest.approx(_brute_force_min(r, d), rel=1e-12)


def test_kleinberg_edge_inputs() -> None:
    assert kleinberg_bursts([0, 0, 0], [5, 0, 7]).tolist() == [0, 0, 0]
    assert kleinberg_bursts([], []).tolist() == []
    assert kleinberg_bursts([3, 3], [3, 3]).tolist() == [0, 0]  # in every paper: nowhere to burst to
    with pytest.raises(ValueError, match="0 <= r_t <= d_t"):
        kleinberg_bursts([4], [3])
    with pytest.raises(ValueError, match="equal length"):
        kleinberg_bursts([1, 2], [3])


def test_burst_spans_and_current_burst() -> None:
    days = [date(2025, 3, 1) + timedelta(days=i) for i in range(7)]
    states = [1, 1, 0, 0, 1, 0, 1]
    assert burst_spans(states, days) == [(days[0], days[1]), (days[4], days[4]), (days[6], days[6])]
    assert burst_active_at_end(states)
    assert current_burst_start([0, 1, 1, 1], days[:4]) == days[1]
    assert current_burst_start([0, 1, 1, 0], days[:4]) is None
    assert not burst_active_at_end([0, 1, 1, 0])
    assert not burst_active_at_end([])
    assert burst_spans([], []) == []


# ---------------------------------------------------------------------------------- Mann–Kendall, Sen


def _mk_brute(x: list[float]) -> tuple[float, float, float, float]:
    n = len(x)
    s = 0
    for k in range(n):
        for j in range(k + 1, n):
            s += (x[j] > x[k]) - (x[j] < x[k])
    ties = sum(t * (t - 1) * (2 * t + 5) for t in Counter(x).values())
    var_s = (n * (n - 1) * (2 * n + 5) - ties) / 18
    z = (s - 1) / math.sqrt(var_s) if s > 0 else (s + 1) / math.sqrt(var_s) if s < 0 else 0.0
    return z, math.erfc(abs(z) / math.sqrt(2)), float(s), var_s


def test_mann_kendall_strictly_increasing_ten_points() -> None:
    z, p, s, var_s = mann_kendall(list(range(1, 11)))
    assert s == 45  # all C(10, 2) pairs increase
    assert var_s == pytest.approx(10 * 9 * 25 / 18)  # 125
    assert z == pytest.approx(44 / math.sqrt(125), rel=1e-12)  # 3.935479…
    assert z == pytest.approx(3.935479, abs=1e-6)
    assert p == pytest.approx(8.302e-5, rel=1e-3)


def test_mann_kendall_tie_correction_by_hand() -> None:
    # x = 1, 2, 2, 3, 3, 3: S = 5 (from the 1) + 3 + 3 (each 2 against the three 3s) = 11;
    # ties: one pair (t=2) and one triple (t=3) → Σ t(t−1)(2t+5) = 2·1·9 + 3·2·11 = 84;
    # Var(S) = (6·5·17 − 84)/18 = 426/18.
    z, p, s, var_s = mann_kendall([1, 2, 2, 3, 3, 3])
    assert s == 11
    assert var_s == pytest.approx(426 / 18)
    assert z == pytest.approx(10 / math.sqrt(426 / 18))
    assert p == pytest.approx(math.erfc(z / math.sqrt(2)))


def test_mann_kendall_decreasing_uses_plus_one_correction() -> None:
    z, _, s, var_s = mann_kendall([5.0, 4.0, 4.5, 2.0, 1.0])
    # pairs: 5>4,4.5,2,1 (−4); 4<4.5 (+1), 4>2,1 (−2); 4.5>2,1 (−2); 2>1 (−1) → S = −8
    assert s == -8
    assert var_s == pytest.approx(5 * 4 * 15 / 18)
    assert z == pytest.approx(-7 / math.sqrt(var_s))


@pytest.mark.parametrize("seed", range(8))
def test_mann_kendall_equals_brute_force(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = int(rng.integers(3, 60))
    x = (rng.integers(0, 6, n) + 0.1 * np.arange(n) * (seed % 3 - 1)).round(1).tolist()  # ties, trends
    if len(set(x)) == 1:
        x[0] += 1
    assert mann_kendall(x) == pytest.approx(_mk_brute(x), rel=1e-12, abs=1e-15)


def test_mann_kendall_skips_nan_and_refuses_degenerate_series() -> None:
    assert mann_kendall([1.0, float("nan"), 2.0, 3.0, 4.0]) == pytest.approx(_mk_brute([1.0, 2.0, 3.0, 4.0]))
    for degenerate in ([], [1.0], [1.0, 2.0], [1.0, float("nan"), 2.0], [4.0] * 12):
        assert all(math.isnan(v) for v in mann_kendall(degenerate))


def test_sen_slope_of_a_line_is_its_slope() -> None:
    assert sen_slope([3 + 0.7 * i for i in range(20)]) == pytest.approx(0.7)
    assert sen_slope([10 - 2 * i for i in range(5)]) == pytest.approx(-2.0)


def test_sen_slope_is_robust_and_keeps_positions() -> None:
    assert sen_slope([1, 2, 3, 4, 100]) == pytest.approx(1.0)  # median ignores the outlier
    # position is the index: slopes (0→2)/2, (0→3)/3, (2→3)/1 are all 1 (re-indexing would give 1.5)
    assert sen_slope([0.0, float("nan"), 2.0, 3.0]) == pytest.approx(1.0)
    # even count of pairs: slopes of (1, 3, 2) are 2, 0.5, −1 → median 0.5
    assert sen_slope([1.0, 3.0, 2.0]) == pytest.approx(0.5)
    assert sen_slope([0.0, 2.0]) == pytest.approx(2.0)
    assert math.isnan(sen_slope([5.0]))
    assert math.isnan(sen_slope([float("nan"), 5.0]))


# --------------------------------------------------------------------------------------- nested phrases


def test_suppress_nested_planted() -> None:
    terms = ["rank", "effective rank", "study effective rank", "low rank", "model"]
    y_t = [100, 40, 10, 60, 300]
    p_b = [0.06, 0.005, 0.0, 0.06, 0.3]
    # n_T = 1000 → excess: rank 40, effective rank 35, study effective rank 10, low rank 0, model 0.
    # rank ⊂ effective rank: 35 ≥ 0.8·40 = 32 → drop "rank".
    # effective rank ⊂ study effective rank: 10 < 28, and 10 < 0.5·40 = 20 → drop "study effective rank".
    # rank ⊂ low rank: 0 < 32 and 60 ≥ 50 → neither (a stable phrase does not explain "rank").
    assert suppress_nested(terms, y_t, 1000, p_b) == {"rank", "study effective rank"}


def test_suppress_nested_keeps_both_when_neither_rule_fires() -> None:
    # super-phrase explains only half of the excess and is not minor: both stay
    assert suppress_nested(["rank", "effective rank"], [100, 60], 1000, [0.06, 0.04]) == set()


def test_suppress_nested_needs_word_boundaries() -> None:
    # "rank" is not inside "ranking loss"; "ranking" is, and is explained by it (40 ≥ 0.8·45)
    terms = ["rank", "ranking", "ranking loss"]
    assert suppress_nested(terms, [20, 45, 40], 1000, [0.01, 0.0, 0.0]) == {"ranking"}


def _suppress_brute(terms: list[str], y: list[float], n_t: float, p: list[float]) -> set[str]:
    excess = [yi - n_t * pi for yi, pi in zip(y, p, strict=True)]
    drop = set()
    for a, ta in enumerate(terms):
        for b, tb in enumerate(terms):
            if a != b and f" {ta} " in f" {tb} ":
                if excess[b] >= 0.8 * excess[a]:
                    drop.add(ta)
                elif y[b] < 0.5 * y[a]:
                    drop.add(tb)
    return drop


@pytest.mark.parametrize("seed", range(5))
def test_suppress_nested_equals_pairwise_scan(seed: int) -> None:
    rng = np.random.default_rng(seed)
    words = [f"w{i}" for i in range(8)]
    grams = {" ".join(rng.choice(words, int(rng.integers(1, 4)))) for _ in range(400)}
    terms = sorted(grams)
    y = rng.integers(0, 60, len(terms)).astype(float).tolist()
    p = (rng.uniform(0, 0.05, len(terms))).tolist()
    assert suppress_nested(terms, y, 800, p) == _suppress_brute(terms, y, 800, p)


def test_suppress_nested_scales_to_50k_terms() -> None:
    rng = np.random.default_rng(0)
    ids = rng.integers(0, 3000, (80_000, 3))
    sizes = rng.integers(1, 4, 80_000)
    grams = {" ".join(f"w{i}" for i in row[:k]) for row, k in zip(ids.tolist(), sizes.tolist(), strict=True)}
    terms = sorted(grams)[:50_000]
    assert len(terms) == 50_000
    y = rng.integers(0, 100, len(terms))
    p = rng.uniform(0, 0.01, len(terms))
    started = time.perf_counter()
    suppress_nested(terms, y, 10_000, p)
    assert time.perf_counter() - started < 5.0  # ~0.2 s; a pairwise scan (1.25e9 pairs) takes minutes


def test_suppress_nested_rejects_duplicates() -> None:
    with pytest.raises(ValueError, match="duplicate term"):
        suppress_nested(["low rank", "low  rank"], [1, 2], 10, [0.0, 0.0])
