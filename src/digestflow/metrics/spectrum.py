"""Effective-rank statistics of embedding sets, defined exactly as in docs/design.md#effective-rank.

Two routes give the same numbers (to ~1e-9 on full-rank float64 data) so a set can be measured wherever
it lives:

* `spectrum_stats(X)` — exact SVD in float64 of a set that fits in memory.
* `GramAccumulator` — n, Σx, XᵀX and Σ of unit rows, accumulated in float64 chunk by chunk, mergeable
  and serialisable to plain arrays so a Spark job can sum partial results per set and finish on the
  driver with a d×d eigendecomposition.

Both return a dict with the keys in `STAT_KEYS`. Which spectrum each statistic uses matters (docs/findings.md
"Spectrum statistics": centering moved erank from 20.8 to 353.7 on real embeddings):

* uncentered X (raw singular values s): erank, erank_rv, stable_rank, numerical_rank, top1_share;
* centered covariance C (eigenvalues λ): participation_ratio, alpha;
* L2-normalised rows: mean_cosine.

A set is NULL (every statistic None, `null_reason` set) when it has a NaN/inf row ('nonfinite_rows',
counted in `n_nonfinite_rows` rather than silently dropped), fewer than two rows ('n<2'), or no nonzero
entry ('zero_matrix'). Statistics that are undefined for an otherwise valid set are None on their own:
participation_ratio and alpha when the centered energy is below `CENTERED_ENERGY_FLOOR` of the raw energy
(all rows equal, up to rounding), alpha when fewer than two eigenvalues are fittable, mean_cosine when
fewer than two rows are nonzero.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

STAT_KEYS: tuple[str, ...] = (
    "n",
    "d",
    "erank",
    "erank_rv",
    "stable_rank",
    "participation_ratio",
    "numerical_rank",
    "alpha",
    "alpha_fit_lo",
    "alpha_fit_hi",
    "mean_cosine",
    "top1_share",
    "n_nonfinite_rows",
    "null_reason",
)

GRAM_ARRAY_KEYS: tuple[str, ...] = ("n", "n_nonfinite_rows", "n_nonzero_rows", "sum_x", "gram", "sum_unit")

DEFAULT_EPS = 1e-7
# Eigenvalues at or below this fraction of λ1 are numerical zeros, not part of a power law.
ALPHA_EIG_FLOOR = 1e-12
# Centered energy below this fraction of the raw energy is rounding noise of identical rows: float64
# XᵀX − nμμᵀ cannot resolve a spread that small (mean/std > 1e6), so PR and alpha would be noise.
CENTERED_ENERGY_FLOOR = 1e-12
# Rows cast to float64 per block in GramAccumulator.add, bounding the temporary copy to ~block × d × 8 B.
_ADD_BLOCK_ROWS = 65_536
# Elements of the stacked (batch, m, d) float64 array per batched SVD in erank_at_n (~128 MB).
_BATCH_ELEMENTS = 16_000_000


def erank(s: ArrayLike, eps: float = DEFAULT_EPS) -> float:
    """Effective rank exp(−Σ p_k ln p_k) with p_k = s_k / Σ s + eps of singular values `s`.

    eps = 1e-7 is RankMe (Garrido et al. 2023); eps = 0 is Roy & Vetterli's effective rank. The eps
    is added without renormalising, as RankMe does, so with eps > 0 every zero singular value still
    adds −eps·ln(eps) (≈1.6e-6): pass exactly min(n, d) values, as `spectrum_stats` does. For the
    same reason eps > 0 can exceed min(n, d) by ~1e-7 relative (identity 4×4 → 4.0000006). A zero
    or invalid spectrum raises ValueError because erank is undefined there, and a silent NaN would
    reach a table.
    """
    s = np.asarray(s, dtype=np.float64)
    if s.ndim != 1:
        raise ValueError(f"erank expects a 1-D array of singular values, got shape {s.shape}")
    if s.size == 0 or not np.all(np.isfinite(s)) or np.any(s < 0) or not s.sum() > 0:
        raise ValueError("erank needs finite, non-negative singular values with a positive sum")
    return float(_erank_rows(s, eps))


def _erank_rows(s: np.ndarray, eps: float) -> np.ndarray:
    """erank along the last axis, vectorised for the batched subsamples of `erank_at_n`."""
    p = s / s.sum(axis=-1, keepdims=True) + eps
    # 0·ln 0 = 0 (only reachable with eps = 0).
    plogp = p * np.log(np.where(p > 0, p, 1.0))
    return np.exp(-plogp.sum(axis=-1))


def spectrum_stats(
    X: ArrayLike,
    *,
    eps: float = DEFAULT_EPS,
    alpha_range: tuple[int, int] | None = None,
    tol: float | None = None,
) -> dict[str, Any]:
    """Effective-rank statistics of one embedding set X (n×d) by exact SVD in float64.

    Keys (`STAT_KEYS`), all plain Python values:

    * erank — RankMe with `eps` on the raw (uncentered) singular values; erank_rv — the same with
      eps = 0 (Roy & Vetterli).
    * stable_rank — Σ s² / s1².
    * participation_ratio — (Σ λ)² / Σ λ² = tr(C)² / ‖C‖_F² of the centered covariance C.
    * numerical_rank — count of s_k > s1 · max(n, d) · machine-eps (numpy's matrix_rank rule), or of
      s_k > `tol` when given (absolute, in the units of X).
    * alpha — α-ReQ decay: λ_k ∝ k^(−alpha) fitted by least squares of ln λ_k on ln k over the 1-based
      ranks alpha_fit_lo..alpha_fit_hi. Default range 1..min(n − 1, d), cut before the first
      eigenvalue ≤ 1e-12 · λ1 (numerical zeros). `alpha_range` = (lo, hi) overrides it; hi is then
      clipped to the same usable ranks. None (with the range) when fewer than two ranks remain.
    * mean_cosine — mean pairwise cosine (‖Σ u_i‖² − n′) / (n′(n′ − 1)) over the n′ nonzero rows
      u_i = x_i/‖x_i‖; zero rows have no direction and are excluded.
    * top1_share — s1 / Σ s, the largest RankMe weight (before eps), i.e. the share of the nuclear norm
      held by the top direction. (s1²/Σs² is just 1/stable_rank, so it would add nothing.)
    * n_nonfinite_rows, null_reason — see the module docstring.
    """
    X = _as_matrix(X)
    n, d = X.shape
    finite_rows = np.isfinite(X).all(axis=1)
    n_nonfinite = int(n - np.count_nonzero(finite_rows))
    reason = _null_reason(n, n_nonfinite, has_nonzero=bool(np.any(X)))
    if reason is not None:
        return _null_stats(n, d, n_nonfinite, reason)

    s = np.linalg.svd(X, compute_uv=False)
    centered_s = np.linalg.svd(X - X.mean(axis=0), compute_uv=False)
    cov_eigs = centered_s**2 / (n - 1)

    norms = np.linalg.norm(X, axis=1)
    nonzero = norms > 0
    sum_unit = (X[nonzero] / norms[nonzero, None]).sum(axis=0)

    return _assemble(
        n=n,
        d=d,
        s=s,
        cov_eigs=cov_eigs,
        sum_unit=sum_unit,
        n_nonzero=int(np.count_nonzero(nonzero)),
        eps=eps,
        alpha_range=alpha_range,
        tol=tol,
    )


class GramAccumulator:
    """Mergeable float64 sufficient statistics of one embedding set, for sets too big for one SVD.

    Holds n (all rows seen), the count of NaN/inf rows, Σx, XᵀX, Σ u_i of the L2-normalised nonzero
    rows and their count. `add` and `merge` are associative and return self, so they fit
    `rdd.treeAggregate(GramAccumulator(d), lambda a, x: a.add(x), lambda a, b: a.merge(b))`; a keyed
    Spark aggregation can instead sum the arrays of `to_arrays()` (plain numpy, keys `GRAM_ARRAY_KEYS`)
    and rebuild with `from_arrays`. Nonfinite rows are counted but kept out of the sums (the set is NULL
    anyway, and the sums stay usable for diagnosis).

    Everything is accumulated in float64 whatever the input dtype: a float32 Gram matrix gave 65
    negative eigenvalues and moved erank by 0.3% (docs/findings.md "Spectrum statistics").

    Limits of the route, by construction:

    * XᵀX squares the condition number, so singular values below ~sqrt(d · machine-eps) · s1
      (≈1e-7 · s1) are lost in rounding. erank, stable rank, PR, alpha and mean_cosine match the SVD
      route to ~1e-9 on full-rank data; on rank-deficient data the noise singular values (~1e-7 · s1)
      are of the order of eps and can move erank by ~1e-3, and numerical_rank — same rule as the SVD
      route applied to sqrt(λ) — typically reports full rank (Läuchli matrix). Use the SVD route when
      those matter.
    * The centered covariance is XᵀX − nμμᵀ, which cancels: its relative error grows like
      machine-eps · ‖μ‖² / (per-direction variance). Fine in float64 for embedding-like means (the
      float32 one-pass failure in docs/findings.md is gone), not for mean/std beyond ~1e4.
    """

    def __init__(self, d: int) -> None:
        if d < 0:
            raise ValueError(f"GramAccumulator needs a non-negative dimension d, got {d}")
        self.d = int(d)
        self.n = 0
        self.n_nonfinite_rows = 0
        self.n_nonzero_rows = 0
        self.sum_x = np.zeros(self.d, dtype=np.float64)
        self.gram = np.zeros((self.d, self.d), dtype=np.float64)
        self.sum_unit = np.zeros(self.d, dtype=np.float64)

    def __repr__(self) -> str:
        return f"GramAccumulator(d={self.d}, n={self.n}, n_nonfinite_rows={self.n_nonfinite_rows})"

    def add(self, X: ArrayLike) -> GramAccumulator:
        """Accumulate the rows of X (any float dtype, cast to float64 block by block); returns self."""
        X = np.asarray(X)
        if X.ndim != 2 or X.shape[1] != self.d:
            raise ValueError(
                f"GramAccumulator(d={self.d}).add expects an array of shape (rows, {self.d}), got {X.shape}"
            )
        for start in range(0, X.shape[0], _ADD_BLOCK_ROWS):
            block = X[start : start + _ADD_BLOCK_ROWS].astype(np.float64, copy=False)
            self.n += block.shape[0]
            # Row squared norms first: a NaN/inf anywhere in a row makes its square nonfinite, so the
            # full elementwise check only runs on blocks that may hold such a row.
            squares = np.einsum("ij,ij->i", block, block)
            if not np.isfinite(squares).all():
                finite = np.isfinite(block).all(axis=1)
                self.n_nonfinite_rows += int(block.shape[0] - np.count_nonzero(finite))
                block, squares = block[finite], squares[finite]
            # Σx, Σ x/‖x‖ and XᵀX as BLAS products on the one float64 block (no per-row temporaries);
            # `block.T @ block` on one buffer is a symmetric rank-k update.
            norms = np.sqrt(squares)
            nonzero = norms > 0
            inverse = np.divide(1.0, norms, out=np.zeros_like(norms), where=nonzero)
            self.sum_x += np.ones(block.shape[0]) @ block
            self.sum_unit += inverse @ block
            self.gram += block.T @ block
            self.n_nonzero_rows += int(np.count_nonzero(nonzero))
        return self

    def merge(self, other: GramAccumulator) -> GramAccumulator:
        """Add another accumulator's sums into this one (in place); returns self."""
        if other.d != self.d:
            raise ValueError(f"cannot merge GramAccumulator(d={other.d}) into GramAccumulator(d={self.d})")
        self.n += other.n
        self.n_nonfinite_rows += other.n_nonfinite_rows
        self.n_nonzero_rows += other.n_nonzero_rows
        self.sum_x += other.sum_x
        self.gram += other.gram
        self.sum_unit += other.sum_unit
        return self

    def to_arrays(self) -> dict[str, np.ndarray]:
        """The state as plain numpy arrays (counts as int64 0-d arrays); summing two of these key by key
        is the same as `merge`."""
        return {
            "n": np.asarray(self.n, dtype=np.int64),
            "n_nonfinite_rows": np.asarray(self.n_nonfinite_rows, dtype=np.int64),
            "n_nonzero_rows": np.asarray(self.n_nonzero_rows, dtype=np.int64),
            "sum_x": self.sum_x.copy(),
            "gram": self.gram.copy(),
            "sum_unit": self.sum_unit.copy(),
        }

    @classmethod
    def from_arrays(cls, arrays: Mapping[str, ArrayLike]) -> GramAccumulator:
        """Rebuild from `to_arrays()` output (or from key-wise sums of several), checking the shapes."""
        missing = [key for key in GRAM_ARRAY_KEYS if key not in arrays]
        if missing:
            raise ValueError(
                f"GramAccumulator.from_arrays: missing keys {missing}; expected {list(GRAM_ARRAY_KEYS)}"
            )
        sum_x = np.asarray(arrays["sum_x"], dtype=np.float64)
        if sum_x.ndim != 1:
            raise ValueError(f"GramAccumulator.from_arrays: sum_x must be 1-D, got shape {sum_x.shape}")
        d = sum_x.shape[0]
        gram = np.asarray(arrays["gram"], dtype=np.float64)
        sum_unit = np.asarray(arrays["sum_unit"], dtype=np.float64)
        if gram.shape != (d, d) or sum_unit.shape != (d,):
            raise ValueError(
                f"GramAccumulator.from_arrays: with d={d} expected gram {(d, d)} and sum_unit {(d,)}, "
                f"got {gram.shape} and {sum_unit.shape}"
            )
        acc = cls(d)
        acc.n = int(arrays["n"])
        acc.n_nonfinite_rows = int(arrays["n_nonfinite_rows"])
        acc.n_nonzero_rows = int(arrays["n_nonzero_rows"])
        acc.sum_x = sum_x.copy()
        acc.gram = gram.copy()
        acc.sum_unit = sum_unit.copy()
        return acc

    def stats(
        self,
        eps: float = DEFAULT_EPS,
        *,
        alpha_range: tuple[int, int] | None = None,
        tol: float | None = None,
    ) -> dict[str, Any]:
        """The `spectrum_stats` dict computed from the accumulated d×d matrices (see the class limits).

        Singular values are sqrt of the top min(n, d) eigenvalues of XᵀX, negatives clipped to 0; the
        centered covariance is C = (XᵀX − n μμᵀ)/(n − 1).
        """
        n, d = self.n, self.d
        reason = _null_reason(n, self.n_nonfinite_rows, has_nonzero=bool(np.trace(self.gram) > 0))
        if reason is not None:
            return _null_stats(n, d, self.n_nonfinite_rows, reason)

        gram = _symmetrised(self.gram)
        k = min(n, d)
        gram_eigs = np.clip(np.linalg.eigvalsh(gram)[::-1][:k], 0.0, None)
        centered = _symmetrised(gram - np.outer(self.sum_x, self.sum_x) / n) / (n - 1)
        cov_eigs = np.clip(np.linalg.eigvalsh(centered)[::-1], 0.0, None)

        return _assemble(
            n=n,
            d=d,
            s=np.sqrt(gram_eigs),
            cov_eigs=cov_eigs,
            sum_unit=self.sum_unit,
            n_nonzero=self.n_nonzero_rows,
            eps=eps,
            alpha_range=alpha_range,
            tol=tol,
        )


def erank_at_n(
    X: ArrayLike,
    m: int,
    B: int = 200,
    seed: int = 0,
    eps: float = DEFAULT_EPS,
    ci: float = 0.95,
) -> tuple[float | None, float | None, float | None]:
    """Size-corrected erank: (mean, lo, hi) of the erank of B random m-row subsamples of X.

    erank is biased by n (worst near n = d, docs/findings.md), so sets of different sizes are compared at one
    subsample size m. Subsamples are drawn without replacement, independently, from
    `np.random.default_rng(seed)`, so the result is deterministic for a seed.

    (lo, hi) is the central `ci` percentile interval of the B subsample eranks, not a bootstrap CI of
    their mean: the mean's CI only measures Monte-Carlo error (it shrinks to a point as B grows, and is
    a point when m = n), whereas the spread of m-row eranks says how far two sets can differ by sampling
    alone. When n ≫ m it approximates the sampling distribution of an m-row set's erank; when m is close
    to n the subsamples overlap and the interval is narrower than that.

    Returns (None, None, None) when n < m or the set is NULL by the `spectrum_stats` rules (nonfinite
    rows, all zero). All-zero subsamples (possible only with zero rows in X) have no erank and are left
    out of the mean and interval.
    """
    X = _as_matrix(X, cast=False)
    n, d = X.shape
    if m < 1 or B < 1 or not 0 < ci < 1:
        raise ValueError(f"erank_at_n needs m ≥ 1, B ≥ 1 and 0 < ci < 1, got m={m}, B={B}, ci={ci}")
    none: tuple[None, None, None] = (None, None, None)
    if n < m or d == 0 or not np.isfinite(X).all() or not np.any(X):
        return none

    if n < d:
        # A day's set is far narrower than the embedding (~15 × 384). Rotate it into the n-dimensional row
        # space first: with Xᵀ = QR (Q is d × n, orthonormal columns), X = (XQ)Qᵀ, so every subsample of
        # XQ has the same singular values as that of X. Orthogonal, so no precision is lost (unlike the
        # sub-Gram XXᵀ, which squares the small singular values), and each SVD is n wide instead of d
        # (5.6× faster for B = 200 subsamples of 8 rows, n = 15, d = 384).
        X = X.astype(np.float64, copy=False)
        X = X @ np.linalg.qr(X.T)[0]
        d = n
    rng = np.random.default_rng(seed)
    samples = np.stack([rng.choice(n, size=m, replace=False) for _ in range(B)])
    per_batch = max(1, _BATCH_ELEMENTS // (m * d))
    values = []
    for start in range(0, B, per_batch):
        stacked = X[samples[start : start + per_batch]].astype(np.float64, copy=False)
        s = np.linalg.svd(stacked, compute_uv=False)
        defined = s[:, 0] > 0
        values.append(_erank_rows(s[defined], eps))
    eranks = np.concatenate(values)
    if eranks.size == 0:
        return none
    mean = float(eranks.mean())
    lo, hi = np.quantile(eranks, [(1 - ci) / 2, (1 + ci) / 2])
    # The band always contains its estimate. When every subsample is the whole set (m = n) the B values
    # are one erank up to rounding, and their mean can land an ulp outside their percentiles (seen on 7
    # real days of 8 papers); a very skewed spread could put it outside too. Widen to include the mean.
    return mean, min(float(lo), mean), max(float(hi), mean)


def _as_matrix(X: ArrayLike, *, cast: bool = True) -> np.ndarray:
    """X as a 2-D array (float64 unless cast=False); a wrong shape is a caller bug, so it raises."""
    X = np.asarray(X, dtype=np.float64) if cast else np.asarray(X)
    if X.ndim != 2:
        raise ValueError(f"expected an embedding set of shape (n, d), got shape {X.shape}")
    return X


def _null_reason(n: int, n_nonfinite: int, *, has_nonzero: bool) -> str | None:
    """Why a set gets no statistics; nonfinite rows first since they point at a data bug."""
    if n_nonfinite > 0:
        return "nonfinite_rows"
    if n < 2:
        return "n<2"
    if not has_nonzero:
        return "zero_matrix"
    return None


def _null_stats(n: int, d: int, n_nonfinite: int, reason: str) -> dict[str, Any]:
    stats: dict[str, Any] = dict.fromkeys(STAT_KEYS)
    stats.update(n=int(n), d=int(d), n_nonfinite_rows=int(n_nonfinite), null_reason=reason)
    return stats


def _symmetrised(a: np.ndarray) -> np.ndarray:
    return (a + a.T) / 2


def _assemble(
    *,
    n: int,
    d: int,
    s: np.ndarray,
    cov_eigs: np.ndarray,
    sum_unit: np.ndarray,
    n_nonzero: int,
    eps: float,
    alpha_range: tuple[int, int] | None,
    tol: float | None,
) -> dict[str, Any]:
    """One place for the formulas, so both routes differ only in how they get their spectra.

    `s`: the min(n, d) raw singular values, descending. `cov_eigs`: centered covariance eigenvalues,
    descending, clipped at 0.
    """
    s1 = float(s[0])
    threshold = tol if tol is not None else s1 * max(n, d) * np.finfo(np.float64).eps

    participation_ratio = alpha = alpha_lo = alpha_hi = None
    centered_energy = float(cov_eigs.sum()) * (n - 1)
    if centered_energy > CENTERED_ENERGY_FLOOR * float(np.sum(s**2)):
        participation_ratio = float(cov_eigs.sum() ** 2 / np.sum(cov_eigs**2))
        alpha, alpha_lo, alpha_hi = _fit_alpha(cov_eigs, n, d, alpha_range)

    mean_cosine = None
    if n_nonzero >= 2:
        mean_cosine = float((sum_unit @ sum_unit - n_nonzero) / (n_nonzero * (n_nonzero - 1)))

    stats = {
        "n": int(n),
        "d": int(d),
        "erank": float(_erank_rows(s, eps)),
        "erank_rv": float(_erank_rows(s, 0.0)),
        "stable_rank": float(np.sum(s**2) / s1**2),
        "participation_ratio": participation_ratio,
        "numerical_rank": int(np.count_nonzero(s > threshold)),
        "alpha": alpha,
        "alpha_fit_lo": alpha_lo,
        "alpha_fit_hi": alpha_hi,
        "mean_cosine": mean_cosine,
        "top1_share": float(s1 / s.sum()),
        "n_nonfinite_rows": 0,
        "null_reason": None,
    }
    return stats


def _fit_alpha(
    eigs: np.ndarray, n: int, d: int, alpha_range: tuple[int, int] | None
) -> tuple[float | None, int | None, int | None]:
    """Least-squares slope of ln λ_k on ln k (α-ReQ), over 1-based ranks; (None,)*3 if < 2 ranks."""
    usable = min(n - 1, d, eigs.size)
    # Descending order makes the eigenvalues above the floor a prefix.
    usable = int(np.count_nonzero(eigs[:usable] > ALPHA_EIG_FLOOR * eigs[0]))
    if alpha_range is None:
        lo, hi = 1, usable
    else:
        lo, hi = (int(r) for r in alpha_range)
        if lo < 1 or hi < lo:
            raise ValueError(
                f"alpha_range must be 1-based ranks (lo, hi) with 1 ≤ lo ≤ hi, got {alpha_range}"
            )
        hi = min(hi, usable)
    if hi - lo + 1 < 2:
        return None, None, None
    log_k = np.log(np.arange(lo, hi + 1, dtype=np.float64))
    log_eig = np.log(eigs[lo - 1 : hi])
    log_k -= log_k.mean()
    slope = float(log_k @ (log_eig - log_eig.mean()) / (log_k @ log_k))
    return -slope, lo, hi


__all__ = [
    "ALPHA_EIG_FLOOR",
    "CENTERED_ENERGY_FLOOR",
    "DEFAULT_EPS",
    "GRAM_ARRAY_KEYS",
    "STAT_KEYS",
    "GramAccumulator",
    "erank",
    "erank_at_n",
    "spectrum_stats",
]
