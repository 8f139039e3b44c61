"""Trend statistics on per-term count arrays: plain numpy/scipy, no Spark, no I/O.

The keyword-trend stage (docs/trends.md) groups term statistics per term and calls these functions on the
arrays; keeping them pure makes them testable against hand arithmetic and brute force. Formulas follow
docs/findings.md "Trend statistics":

- :func:`log_odds_dirichlet` — rising/falling between a target and a baseline window, log-odds ratio
  with an informative Dirichlet prior (Monroe, Colaresi & Quinn 2008, *Fightin' Words*, Political
  Analysis 16(4), eq. 15–22; as in jmhessel/FightingWords and juliasilge/tidylo).
- :func:`kleinberg_bursts` — Kleinberg's two-state batched burst automaton (Kleinberg 2002, *Bursty and
  Hierarchical Structure in Streams*, KDD, §4 "enumerating bursts" on batched arrivals), decoded with an
  exact Viterbi pass (the PyPI ``burst_detection`` package decodes greedily and breaks on numpy 2).
- :func:`mann_kendall`, :func:`sen_slope` — long-run monotone trend (Mann 1945, Kendall 1975; Sen 1968),
  matching pymannkendall's ``original_test``.
- :func:`suppress_nested` — drop sub-/super-phrases that repeat a better phrase's signal.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TypeVar

import numpy as np
from numpy.typing import ArrayLike
from scipy.stats import binom, norm

__all__ = [
    "DEFAULT_ALPHA0",
    "NESTED_EXPLAINS",
    "NESTED_MINOR",
    "burst_active_at_end",
    "burst_spans",
    "current_burst_start",
    "kleinberg_bursts",
    "log_odds_dirichlet",
    "mann_kendall",
    "sen_slope",
    "smoothed_shares",
    "suppress_nested",
]

D = TypeVar("D")

# Total prior pseudo-count spread over the vocabulary. Weak on purpose: a window's n_T (term mentions)
# is in the thousands or more, so known terms are barely shrunk, while a term absent from the baseline
# (α_w ≈ 100 · 1e-5) gets σ² ≈ 1/α_w and hence a small ζ. The planted riser ranked first for α_0 anywhere
# in 1…10⁴ (docs/findings.md "Trend statistics"); 100 sits in the middle of that range on a log scale.
DEFAULT_ALPHA0 = 100.0

# Nested-phrase rule thresholds (docs/findings.md "Nested phrases").
NESTED_EXPLAINS = 0.8
NESTED_MINOR = 0.5


# --------------------------------------------------------------------------------------------- log-odds


def smoothed_shares(counts: ArrayLike, pseudocount: float = 0.5) -> np.ndarray:
    """Additively smoothed shares ``(c_w + k) / (Σ c + k·V)``, strictly positive, summing to 1.

    Meant for building ``prior_share`` from the *baseline* counts: a term never seen in the baseline
    still needs π_w > 0 (else ln 0), and a tiny π_w is exactly what shrinks a brand-new term's ζ.
    """
    c = np.asarray(counts, dtype=float)
    if pseudocount <= 0:
        raise ValueError(f"pseudocount must be > 0, got {pseudocount}")
    if c.size == 0:
        return c.copy()
    if np.any(c < 0) or not np.all(np.isfinite(c)):
        raise ValueError("counts must be finite and non-negative")
    return (c + pseudocount) / (c.sum() + pseudocount * c.size)


def log_odds_dirichlet(
    y_target: ArrayLike,
    y_baseline: ArrayLike,
    n_target: float,
    n_baseline: float,
    prior_share: ArrayLike,
    alpha0: float = DEFAULT_ALPHA0,
) -> tuple[np.ndarray, np.ndarray]:
    """Log-odds ratio δ_w and its z-score ζ_w = δ_w/σ_w per term, target window vs baseline window.

    Monroe, Colaresi & Quinn (2008), informative Dirichlet prior, exactly as in docs/findings.md::

        α_w = α_0 · π_w
        δ_w = ln[(y_wT+α_w)/(n_T+α_0−y_wT−α_w)] − ln[(y_wB+α_w)/(n_B+α_0−y_wB−α_w)]
        σ²_w ≈ 1/(y_wT+α_w) + 1/(y_wB+α_w)

    ``y_target``/``y_baseline`` are per-term document frequencies; ``n_target``/``n_baseline`` are the
    window totals n = Σ_w y_w over the *whole* vocabulary (pass the totals even when scoring a subset).
    ζ > 0 means rising, ζ < 0 falling; rank by ζ, not δ, so rare terms with noisy δ do not dominate.

    ``prior_share`` (π_w, > 0, scalar or per term) must be a background share taken from the baseline
    window (e.g. :func:`smoothed_shares` of the baseline counts) or a uniform 1/V. Do **not** pass a
    strong per-term prior whose mean comes from all history: it ranked a long-falling word as a riser
    on real data (docs/findings.md). ``alpha0`` is the total prior pseudo-count; the default
    (:data:`DEFAULT_ALPHA0` = 100) keeps the prior weak relative to a window's n_T.

    Brand-new terms get a moderate ζ by design (σ² is dominated by 1/α_w); list them separately.
    """
    yT = np.asarray(y_target, dtype=float)
    yB = np.asarray(y_baseline, dtype=float)
    if yT.shape != yB.shape:
        raise ValueError(f"y_target shape {yT.shape} != y_baseline shape {yB.shape}")
    pi = np.broadcast_to(np.asarray(prior_share, dtype=float), yT.shape)
    if alpha0 <= 0 or not math.isfinite(alpha0):
        raise ValueError(f"alpha0 must be a positive finite number, got {alpha0}")
    if np.any(~np.isfinite(pi)) or np.any(pi <= 0):
        raise ValueError(
            "prior_share must be finite and > 0 for every term (smooth it, e.g. smoothed_shares)"
        )
    if np.any(yT < 0) or np.any(yB < 0):
        raise ValueError("counts must be non-negative")
    if yT.size and (yT.max() > n_target or yB.max() > n_baseline):
        raise ValueError("a term count exceeds its window total n (n must be Σ_w y_w over the vocabulary)")

    a = alpha0 * pi
    log_odds_target = np.log((yT + a) / (n_target + alpha0 - yT - a))
    log_odds_baseline = np.log((yB + a) / (n_baseline + alpha0 - yB - a))
    delta = log_odds_target - log_odds_baseline
    sigma = np.sqrt(1.0 / (yT + a) + 1.0 / (yB + a))
    return delta, delta / sigma


# ---------------------------------------------------------------------------------------------- bursts


def kleinberg_bursts(r: ArrayLike, d: ArrayLike, s: float = 2.0, gamma: float = 1.0) -> np.ndarray:
    """Burst state (0 = base, 1 = burst) per day from daily (r_t = df of the term, d_t = papers).

    Kleinberg (2002) two-state batched automaton, exact Viterbi (docs/findings.md)::

        p0 = Σ r / Σ d;  p1 = min(s·p0, 0.99999)
        cost(i, t) = −ln Binom(r_t; d_t, p_i)
        trans(i→j) = (j−i)·γ·ln T if j > i else 0

    The automaton starts in state 0 before day 0 (Kleinberg's q_0), so a burst on day 0 pays the entry
    cost too. Days with d_t = 0 carry no evidence (cost 0 in both states); a term never seen
    (Σ r = 0) is all state 0. Ties resolve towards state 0.
    """
    rr = np.asarray(r, dtype=float)
    dd = np.asarray(d, dtype=float)
    if rr.ndim != 1 or rr.shape != dd.shape:
        raise ValueError(f"r and d must be 1-D of equal length, got {rr.shape} and {dd.shape}")
    if s <= 1:
        raise ValueError(f"s (burst rate multiplier) must be > 1, got {s}")
    if gamma < 0:
        raise ValueError(f"gamma must be >= 0, got {gamma}")
    n_days = rr.size
    states = np.zeros(n_days, dtype=np.int64)
    if n_days == 0:
        return states
    if np.any(rr < 0) or np.any(rr > dd) or np.any(rr != np.round(rr)) or np.any(dd != np.round(dd)):
        raise ValueError("need integer counts with 0 <= r_t <= d_t on every day")
    total_r, total_d = rr.sum(), dd.sum()
    if total_r == 0:
        return states
    p0 = total_r / total_d
    p1 = min(s * p0, 0.99999)
    if p1 <= p0:  # the term is in (nearly) every paper: no higher rate to burst into
        return states

    ri, di = rr.astype(np.int64), dd.astype(np.int64)
    cost = np.empty((n_days, 2))
    cost[:, 0] = -binom.logpmf(ri, di, p0)
    cost[:, 1] = -binom.logpmf(ri, di, p1)
    cost[di == 0] = 0.0
    enter = gamma * math.log(n_days)

    c0, c1 = cost[:, 0].tolist(), cost[:, 1].tolist()
    from1_to0 = [False] * n_days  # back-pointers: best predecessor of state 0 / state 1 is state 1?
    from1_to1 = [False] * n_days
    best0, best1 = c0[0], enter + c1[0]
    for t in range(1, n_days):
        from1_to0[t] = best1 < best0
        from1_to1[t] = best1 < best0 + enter
        best0, best1 = (
            min(best0, best1) + c0[t],
            min(best0 + enter, best1) + c1[t],
        )
    q = 1 if best1 < best0 else 0
    for t in range(n_days - 1, -1, -1):
        states[t] = q
        if t:
            q = int(from1_to1[t] if q else from1_to0[t])
    return states


def burst_spans(states: ArrayLike, dates: Sequence[D]) -> list[tuple[D, D]]:
    """Maximal runs of state 1 as inclusive ``(start_date, end_date)`` pairs, in time order."""
    q = np.asarray(states).astype(bool)
    if q.shape != (len(dates),):
        raise ValueError(f"states length {q.size} != dates length {len(dates)}")
    edges = np.diff(np.concatenate(([False], q, [False])).astype(np.int8))
    starts = np.flatnonzero(edges == 1)
    ends = np.flatnonzero(edges == -1) - 1
    return [(dates[a], dates[b]) for a, b in zip(starts, ends, strict=True)]


def burst_active_at_end(states: ArrayLike) -> bool:
    """Whether the term is bursting on the last day (the run date) — ``keyword_trends.burst_active``."""
    q = np.asarray(states)
    return bool(q.size and q[-1] == 1)


def current_burst_start(states: ArrayLike, dates: Sequence[D]) -> D | None:
    """Start date of the burst still active on the last day, else None — ``keyword_trends.burst_start``."""
    spans = burst_spans(states, dates)
    if spans and burst_active_at_end(states):
        return spans[-1][0]
    return None


# ------------------------------------------------------------------------------------ Mann–Kendall, Sen


def _finite(x: ArrayLike) -> np.ndarray:
    a = np.asarray(x, dtype=float).ravel()
    return a[~np.isnan(a)]


def mann_kendall(x: ArrayLike) -> tuple[float, float, float, float]:
    """Mann–Kendall trend test ``(z, p, S, Var(S))``, as pymannkendall's ``original_test``.

    ::

        S = Σ_{k<j} sgn(x_j − x_k)
        Var(S) = [n(n−1)(2n+5) − Σ_p t_p(t_p−1)(2t_p+5)] / 18      (t_p = size of tie group p)
        Z = (S−1)/√Var(S) if S > 0;  0 if S = 0;  (S+1)/√Var(S) if S < 0      (continuity correction)
        p = 2(1 − Φ(|Z|))

    NaNs are skipped (as pymannkendall does). With fewer than 3 points, or a constant series
    (Var(S) = 0), there is no test and all four values are NaN. The normal approximation is poor on
    short series — useless on 8 weekly points (docs/findings.md) — so the caller should also require a
    minimum number of points (e.g. ≥ 10 daily shares) before reporting it.
    """
    a = _finite(x)
    n = a.size
    nan = float("nan")
    if n < 3:
        return nan, nan, nan, nan
    diff = a[None, :] - a[:, None]  # diff[k, j] = x_j − x_k
    s = float(np.sign(diff[np.triu_indices(n, k=1)]).sum())
    _, t = np.unique(a, return_counts=True)
    t = t.astype(float)
    var_s = (n * (n - 1) * (2 * n + 5) - float(np.sum(t * (t - 1) * (2 * t + 5)))) / 18.0
    if var_s <= 0:
        return nan, nan, nan, nan
    if s > 0:
        z = (s - 1) / math.sqrt(var_s)
    elif s < 0:
        z = (s + 1) / math.sqrt(var_s)
    else:
        z = 0.0
    p = float(2 * norm.sf(abs(z)))  # = 2(1 − Φ(|z|)) without cancellation in the tail
    return float(z), p, s, float(var_s)


def sen_slope(x: ArrayLike) -> float:
    """Sen's (1968) slope: median over j > k of (x_j − x_k)/(j − k), x indexed by position 0, 1, ….

    NaN points are skipped but keep their positions (a missing day still counts as a day), unlike
    pymannkendall, which re-indexes after dropping. NaN when fewer than 2 finite points.
    """
    a = np.asarray(x, dtype=float).ravel()
    pos = np.flatnonzero(~np.isnan(a))
    if pos.size < 2:
        return float("nan")
    k, j = np.triu_indices(pos.size, k=1)
    vals = a[pos]
    return float(np.median((vals[j] - vals[k]) / (pos[j] - pos[k])))


# ------------------------------------------------------------------------------------- nested phrases


def suppress_nested(
    terms: list[str],
    y_target: ArrayLike,
    n_target: ArrayLike,
    p_baseline: ArrayLike,
) -> set[str]:
    """Terms to drop because a nested phrase carries the same signal (docs/findings.md "Nested phrases").

    With excess_w = y_wT − n_T·p_wB (target count above what the baseline share predicts), for every
    pair where a is a word-boundary sub-phrase of b ("rank" ⊂ "effective rank" ⊂ "study effective
    rank", but not "rank" ⊂ "ranking"):

    - drop a when excess(b) ≥ 0.8·excess(a) — b explains a's rise;
    - otherwise drop b when y_T(b) < 0.5·y_T(a) — b is a minor variant of a.

    Pairs are judged independently and the drops unioned. The rule is meant for one direction: pass
    the candidate risers (for fallers, swap target and baseline so the excess is positive). ``n_target``
    and ``p_baseline`` must use the same normalisation (papers and df/papers, or Σ df and df/Σ df).

    Each multiword term's (at most L(L+1)/2 − 1) contiguous sub-n-grams are looked up in a dict, so the
    cost is linear in the number of terms, not quadratic in pairs.
    """
    y = np.asarray(y_target, dtype=float)
    if y.shape != (len(terms),):
        raise ValueError(f"y_target length {y.size} != number of terms {len(terms)}")
    pB = np.broadcast_to(np.asarray(p_baseline, dtype=float), y.shape)
    excess = (y - np.asarray(n_target, dtype=float) * pB).tolist()
    counts = y.tolist()

    tokens = [t.split() for t in terms]
    index: dict[str, int] = {}
    for i, toks in enumerate(tokens):
        key = " ".join(toks)
        if key in index:
            raise ValueError(f"duplicate term {terms[i]!r} (same words as {terms[index[key]]!r})")
        index[key] = i

    drop: set[str] = set()
    for b, toks in enumerate(tokens):
        n_words = len(toks)
        subs = {
            " ".join(toks[start : start + size])
            for size in range(1, n_words)
            for start in range(n_words - size + 1)
        }
        for sub in subs:
            a = index.get(sub)
            if a is None:
                continue
            if excess[b] >= NESTED_EXPLAINS * excess[a]:
                drop.add(terms[a])
            elif counts[b] < NESTED_MINOR * counts[a]:
                drop.add(terms[b])
    return drop
