"""Effective-rank statistics: hand values from docs/design.md#effective-rank, independent numpy
references, the SVD ↔ Gram agreement, degenerate sets and the measured facts of docs/findings.md
"Spectrum statistics"."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

from digestflow.metrics.spectrum import GramAccumulator, erank, erank_at_n, spectrum_stats

EXPECTED_KEYS = {
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
}
FLOAT_STATS = (
    "erank",
    "erank_rv",
    "stable_rank",
    "participation_ratio",
    "alpha",
    "mean_cosine",
    "top1_share",
)


def with_singular_values(s: list[float], n: int, d: int, seed: int = 0) -> np.ndarray:
    """An n×d matrix with exactly the singular values s, hidden behind random orthogonal U and V."""
    rng = np.random.default_rng(seed)
    u, _ = np.linalg.qr(rng.standard_normal((n, len(s))))
    v, _ = np.linalg.qr(rng.standard_normal((d, len(s))))
    return (u * np.asarray(s, dtype=np.float64)) @ v.T


def anisotropic(n: int, d: int, seed: int = 0, mean_scale: float = 5.0) -> np.ndarray:
    """Embedding-like data: decaying per-direction spread, a shared offset, randomly rotated."""
    rng = np.random.default_rng(seed)
    rotation, _ = np.linalg.qr(rng.standard_normal((d, d)))
    z = rng.standard_normal((n, d)) * np.geomspace(3.0, 0.05, d)
    return z @ rotation + mean_scale * rng.standard_normal(d)


def gram_stats(X: np.ndarray, splits: list[int] | None = None, **kwargs) -> dict:
    """Gram-route stats of X, accumulated in separate accumulators over the row splits, then merged."""
    parts = np.split(X, splits) if splits else [X]
    total = GramAccumulator(X.shape[1])
    for part in parts:
        total.merge(GramAccumulator(X.shape[1]).add(part))
    return total.stats(**kwargs)


def reference_erank(s: np.ndarray, eps: float) -> float:
    p = s / s.sum() + eps
    p = p[p > 0]
    return float(np.exp(-np.sum(p * np.log(p))))


# --- hand values (docs/design.md#effective-rank, ε = 0) ---------------------------------------------


def test_keys_are_exactly_the_contract():
    stats = spectrum_stats(anisotropic(20, 5))
    assert set(stats) == EXPECTED_KEYS
    assert set(gram_stats(anisotropic(20, 5))) == EXPECTED_KEYS
    assert stats["null_reason"] is None
    assert (stats["n"], stats["d"], stats["n_nonfinite_rows"]) == (20, 5, 0)


def test_identity_has_full_rank():
    stats = spectrum_stats(np.eye(4), eps=0)
    assert stats["erank"] == pytest.approx(4.0, abs=1e-12)
    assert stats["erank_rv"] == pytest.approx(4.0, abs=1e-12)
    assert stats["stable_rank"] == pytest.approx(4.0, abs=1e-12)
    assert stats["numerical_rank"] == 4
    assert stats["top1_share"] == pytest.approx(0.25)
    assert stats["mean_cosine"] == pytest.approx(0.0, abs=1e-15)


def test_rank_one_has_erank_one():
    rng = np.random.default_rng(3)
    X = np.outer(rng.standard_normal(30), rng.standard_normal(12))
    stats = spectrum_stats(X, eps=0)
    assert stats["erank"] == pytest.approx(1.0, abs=1e-9)
    assert stats["stable_rank"] == pytest.approx(1.0, abs=1e-12)
    assert stats["numerical_rank"] == 1
    assert stats["top1_share"] == pytest.approx(1.0, abs=1e-12)


@pytest.mark.parametrize(
    ("singular_values", "expected_erank", "expected_stable_rank"),
    [([3, 2, 1], 2.749459274, 14 / 9), ([3, 1], 1.754765351, 10 / 9)],
)
@pytest.mark.parametrize(("n", "d"), [(6, 5), (3, 8), (40, 3)])
def test_hand_checked_spectra(singular_values, expected_erank, expected_stable_rank, n, d):
    X = with_singular_values(singular_values, n, d)
    stats = spectrum_stats(X, eps=0)
    assert stats["erank"] == pytest.approx(expected_erank, abs=1e-9)
    assert stats["erank_rv"] == pytest.approx(expected_erank, abs=1e-9)
    assert stats["stable_rank"] == pytest.approx(expected_stable_rank, rel=1e-12)
    assert stats["top1_share"] == pytest.approx(3 / sum(singular_values), rel=1e-12)
    assert stats["numerical_rank"] == len(singular_values)


def test_erank_helper_hand_values():
    assert erank([3.0, 2.0, 1.0], eps=0) == pytest.approx(2.749459274, abs=1e-9)
    assert erank([3.0, 1.0, 0.0], eps=0) == pytest.approx(1.754765351, abs=1e-9)
    assert erank([1.0, 1.0, 1.0, 1.0], eps=0) == pytest.approx(4.0, abs=1e-12)
    # RankMe: eps is added without renormalising, so a zero singular value still counts a little.
    assert erank([1.0, 0.0], eps=1e-7) > erank([1.0, 0.0], eps=0) == 1.0


@pytest.mark.parametrize("bad", [[0.0, 0.0], [], [1.0, -0.5], [1.0, np.nan], [[1.0, 2.0]]])
def test_erank_helper_rejects_undefined_spectra(bad):
    with pytest.raises(ValueError, match="erank"):
        erank(bad)


def test_notes_rank_one_1000x768_epsilon_effect():
    rng = np.random.default_rng(7)
    X = np.outer(rng.standard_normal(1000), rng.standard_normal(768))
    stats = spectrum_stats(X)
    assert stats["erank"] == pytest.approx(1.0012, abs=1e-4)
    assert stats["erank_rv"] == pytest.approx(1.0, abs=1e-6)
    assert erank(np.linalg.svd(X, compute_uv=False), eps=1e-5) == pytest.approx(1.092, abs=1e-3)


# --- invariances and bounds --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "transform",
    [
        pytest.param(lambda X, rng: 7.3 * X, id="scale"),
        pytest.param(lambda X, rng: 1e-5 * X, id="tiny-scale"),
        pytest.param(
            lambda X, rng: X @ np.linalg.qr(rng.standard_normal((X.shape[1],) * 2))[0], id="rotate-columns"
        ),
        pytest.param(
            lambda X, rng: np.linalg.qr(rng.standard_normal((X.shape[0],) * 2))[0] @ X, id="rotate-rows"
        ),
        pytest.param(lambda X, rng: np.vstack([X, X]), id="duplicate-rows"),
        pytest.param(lambda X, rng: X[rng.permutation(X.shape[0])], id="shuffle-rows"),
    ],
)
def test_erank_invariances(transform):
    rng = np.random.default_rng(11)
    X = anisotropic(50, 20, seed=1)  # n ≥ d, so duplicating rows keeps min(n, d) and eps > 0 is exact
    before, after = spectrum_stats(X), spectrum_stats(transform(X, rng))
    for key in ("erank", "erank_rv", "stable_rank", "top1_share"):
        assert after[key] == pytest.approx(before[key], rel=1e-10), key


@pytest.mark.parametrize(("n", "d"), [(3, 10), (10, 10), (100, 7), (2, 2)])
@pytest.mark.parametrize("seed", [0, 1])
def test_erank_bounded_by_min_n_d(n, d, seed):
    X = np.random.default_rng(seed).standard_normal((n, d))
    stats = spectrum_stats(X)
    assert 1.0 <= stats["erank_rv"] <= min(n, d) + 1e-9
    # eps > 0 may exceed min(n, d) by ~1e-7 relative (identity: 4.0000006).
    assert 1.0 <= stats["erank"] <= min(n, d) * (1 + 1e-6)
    assert 1.0 <= stats["stable_rank"] <= min(n, d) + 1e-9


# --- independent numpy references ---------------------------------------------------------------------


@pytest.mark.parametrize(("n", "d"), [(20, 50), (40, 40), (300, 30)])
def test_matches_independent_numpy(n, d):
    X = anisotropic(n, d, seed=n + d)
    stats = spectrum_stats(X)

    s = np.linalg.svd(X, compute_uv=False)
    assert stats["erank"] == pytest.approx(reference_erank(s, 1e-7), rel=1e-12)
    assert stats["erank_rv"] == pytest.approx(reference_erank(s, 0.0), rel=1e-12)
    assert stats["stable_rank"] == pytest.approx(
        np.linalg.norm(X, "fro") ** 2 / np.linalg.norm(X, 2) ** 2, rel=1e-10
    )
    assert stats["numerical_rank"] == np.linalg.matrix_rank(X)
    assert stats["top1_share"] == pytest.approx(np.linalg.norm(X, 2) / np.linalg.norm(X, "nuc"), rel=1e-10)

    cov = np.cov(X, rowvar=False)
    assert stats["participation_ratio"] == pytest.approx(np.trace(cov) ** 2 / np.sum(cov**2), rel=1e-9)

    lam = np.sort(np.linalg.eigvalsh(cov))[::-1]
    lo, hi = stats["alpha_fit_lo"], stats["alpha_fit_hi"]
    assert (lo, hi) == (1, min(n - 1, d))
    slope, _ = np.polyfit(np.log(np.arange(lo, hi + 1)), np.log(lam[lo - 1 : hi]), 1)
    assert stats["alpha"] == pytest.approx(-slope, rel=1e-8)

    unit = X / np.linalg.norm(X, axis=1, keepdims=True)
    cosines = unit @ unit.T
    assert stats["mean_cosine"] == pytest.approx(cosines[~np.eye(n, dtype=bool)].mean(), rel=1e-12)


def test_mean_cosine_ignores_zero_rows():
    rng = np.random.default_rng(5)
    nonzero = rng.standard_normal((6, 4)) + 1.0
    X = np.vstack([nonzero[:3], np.zeros((2, 4)), nonzero[3:]])
    unit = nonzero / np.linalg.norm(nonzero, axis=1, keepdims=True)
    cosines = unit @ unit.T
    expected = cosines[~np.eye(6, dtype=bool)].mean()
    assert spectrum_stats(X)["mean_cosine"] == pytest.approx(expected, rel=1e-12)
    assert gram_stats(X)["mean_cosine"] == pytest.approx(expected, rel=1e-12)


def test_identical_rows_have_no_centered_spectrum():
    X = np.tile([1.0, 2.0, 3.0], (10, 1))
    for stats in (spectrum_stats(X), gram_stats(X)):
        assert stats["erank"] == pytest.approx(1.0, abs=1e-5)
        assert stats["mean_cosine"] == pytest.approx(1.0)
        assert stats["participation_ratio"] is None
        assert stats["alpha"] is None
        assert stats["alpha_fit_lo"] is None
        assert stats["null_reason"] is None


def test_numerical_rank_of_rank_deficient_data_and_tol():
    rng = np.random.default_rng(2)
    X = rng.standard_normal((40, 5)) @ rng.standard_normal((5, 30))
    assert spectrum_stats(X)["numerical_rank"] == 5
    X = with_singular_values([10.0, 1.0, 0.1, 0.01], 20, 8)
    assert spectrum_stats(X)["numerical_rank"] == 4
    assert spectrum_stats(X, tol=0.05)["numerical_rank"] == 3
    assert spectrum_stats(X, tol=0.5)["numerical_rank"] == 2


# --- alpha (α-ReQ) ---------------------------------------------------------------------------------


def power_law_set(n: int, d: int, alpha: float, seed: int = 0) -> np.ndarray:
    """Rows whose centered covariance has eigenvalues exactly k^(−alpha), k = 1..d, plus an offset."""
    rng = np.random.default_rng(seed)
    basis, _ = np.linalg.qr(np.column_stack([np.ones(n), rng.standard_normal((n, d))]))
    centered_orthonormal = basis[:, 1:]  # orthonormal columns, each orthogonal to the ones vector
    rotation, _ = np.linalg.qr(rng.standard_normal((d, d)))
    scales = np.sqrt((n - 1) * np.arange(1, d + 1, dtype=np.float64) ** -alpha)
    return (centered_orthonormal * scales) @ rotation.T + rng.standard_normal(d)


@pytest.mark.parametrize("alpha", [0.5, 1.0, 2.3])
def test_alpha_recovers_an_exact_power_law(alpha):
    X = power_law_set(200, 32, alpha)
    stats = spectrum_stats(X)
    assert stats["alpha"] == pytest.approx(alpha, rel=1e-9)
    assert (stats["alpha_fit_lo"], stats["alpha_fit_hi"]) == (1, 32)
    assert gram_stats(X)["alpha"] == pytest.approx(alpha, rel=1e-9)


def test_alpha_range_is_used_and_clipped():
    X = power_law_set(200, 32, 1.5)
    stats = spectrum_stats(X, alpha_range=(3, 10))
    assert (stats["alpha_fit_lo"], stats["alpha_fit_hi"]) == (3, 10)
    assert stats["alpha"] == pytest.approx(1.5, rel=1e-9)
    stats = spectrum_stats(X, alpha_range=(2, 500))
    assert (stats["alpha_fit_lo"], stats["alpha_fit_hi"]) == (2, 32)
    stats = spectrum_stats(X, alpha_range=(40, 50))
    assert (stats["alpha"], stats["alpha_fit_lo"], stats["alpha_fit_hi"]) == (None, None, None)
    with pytest.raises(ValueError, match="alpha_range"):
        spectrum_stats(X, alpha_range=(0, 5))


def test_alpha_default_range_stops_at_numerical_zeros():
    rng = np.random.default_rng(4)
    X = rng.standard_normal((100, 6)) @ rng.standard_normal((6, 20)) + 3.0  # centered rank 6
    stats = spectrum_stats(X)
    assert (stats["alpha_fit_lo"], stats["alpha_fit_hi"]) == (1, 6)
    small = rng.standard_normal((5, 20))  # centered rank n − 1 = 4
    assert spectrum_stats(small)["alpha_fit_hi"] == 4
    assert spectrum_stats(small[:2])["alpha"] is None  # one centered direction: nothing to fit


# --- participation ratio with a large mean (docs/findings.md: float32 one-pass gave 11.9, not 31.8) ---


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_participation_ratio_with_large_mean(dtype):
    rng = np.random.default_rng(9)
    d = 64
    rotation, _ = np.linalg.qr(rng.standard_normal((d, d)))
    X = (rng.standard_normal((5000, d)) * np.geomspace(1.0, 0.02, d)) @ rotation + 50.0 * rng.standard_normal(
        d
    )
    X = X.astype(dtype)
    eig = np.linalg.eigvalsh(np.cov(X.astype(np.float64), rowvar=False))
    expected = eig.sum() ** 2 / np.sum(eig**2)
    assert 5 < expected < 40  # strongly anisotropic, so a wrong centering shows
    assert spectrum_stats(X)["participation_ratio"] == pytest.approx(expected, rel=1e-9)
    assert gram_stats(X, splits=[1000, 1001, 3500])["participation_ratio"] == pytest.approx(
        expected, rel=1e-9
    )


# --- Gram route ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(("n", "d"), [(500, 40), (30, 60), (64, 64)])
@pytest.mark.parametrize(
    "splits", [None, [7], [0, 10, 10, 29]], ids=["whole", "two-chunks", "uneven-with-empty"]
)
def test_gram_route_matches_svd_route(n, d, splits):
    X = anisotropic(n, d, seed=n)
    exact, gram = spectrum_stats(X), gram_stats(X, splits=splits)
    for key in FLOAT_STATS:
        assert gram[key] == pytest.approx(exact[key], rel=1e-9, abs=1e-12), key
    for key in (
        "n",
        "d",
        "numerical_rank",
        "alpha_fit_lo",
        "alpha_fit_hi",
        "n_nonfinite_rows",
        "null_reason",
    ):
        assert gram[key] == exact[key], key


def test_gram_accumulator_serialises_to_plain_arrays():
    X = anisotropic(90, 12, seed=3)
    left, right = GramAccumulator(12).add(X[:40]), GramAccumulator(12).add(X[40:])
    expected = spectrum_stats(X)

    summed = {key: left.to_arrays()[key] + right.to_arrays()[key] for key in left.to_arrays()}
    rebuilt = GramAccumulator.from_arrays(summed)
    assert rebuilt.n == 90
    for key in FLOAT_STATS:
        assert rebuilt.stats()[key] == pytest.approx(expected[key], rel=1e-9), key

    unpickled = pickle.loads(pickle.dumps(left)).merge(pickle.loads(pickle.dumps(right)))
    assert unpickled.stats() == rebuilt.stats()
    arrays = left.to_arrays()
    assert all(isinstance(value, np.ndarray) for value in arrays.values())


def test_gram_accumulator_sums_by_hand():
    """Σx, Σ x/‖x‖, XᵀX and the row counts on a block with a zero row, a NaN row and a finite row whose
    square overflows (it is finite, so it is not a nonfinite row)."""
    X = np.array([[3.0, 4.0], [0.0, 0.0], [np.nan, 1.0], [0.0, 2.0]])
    acc = GramAccumulator(2).add(X.astype(np.float32))
    assert (acc.n, acc.n_nonfinite_rows, acc.n_nonzero_rows) == (4, 1, 2)
    np.testing.assert_array_equal(acc.sum_x, [3.0, 6.0])
    np.testing.assert_allclose(acc.sum_unit, [0.6, 1.8], rtol=1e-15)
    np.testing.assert_array_equal(acc.gram, [[9.0, 12.0], [12.0, 20.0]])

    huge = GramAccumulator(2).add(np.array([[1e200, 0.0], [np.inf, 0.0], [1.0, 1.0]]))
    assert (huge.n, huge.n_nonfinite_rows) == (3, 1)
    assert huge.sum_x[0] == 1e200 + 1.0


def test_gram_accumulator_rejects_mismatched_input():
    acc = GramAccumulator(4)
    with pytest.raises(ValueError, match=r"shape \(rows, 4\)"):
        acc.add(np.zeros((3, 5)))
    with pytest.raises(ValueError, match="d=3"):
        acc.merge(GramAccumulator(3))
    with pytest.raises(ValueError, match="missing keys"):
        GramAccumulator.from_arrays({"sum_x": np.zeros(4)})


def test_gram_numerical_rank_is_the_documented_weak_spot():
    """Läuchli matrix: the SVD sees δ = 1e-9, XᵀX = 11ᵀ + δ²I cannot (condition number squared,
    docs/findings.md "Spectrum statistics")."""
    d, delta = 6, 1e-9
    X = np.vstack([np.ones(d), delta * np.eye(d)])
    assert spectrum_stats(X)["numerical_rank"] == np.linalg.matrix_rank(X) == d
    assert gram_stats(X)["numerical_rank"] != d
    assert gram_stats(X)["stable_rank"] == pytest.approx(spectrum_stats(X)["stable_rank"], rel=1e-12)


# --- degenerate sets -------------------------------------------------------------------------------------


def with_nan_row() -> np.ndarray:
    X = np.random.default_rng(0).standard_normal((5, 3))
    X[2, 1] = np.nan
    return X


def with_inf_rows() -> np.ndarray:
    X = np.random.default_rng(0).standard_normal((6, 3))
    X[0, 0], X[4, 2] = np.inf, -np.inf
    return X


@pytest.mark.parametrize(
    ("X", "reason", "n_nonfinite"),
    [
        pytest.param(np.ones((1, 4)), "n<2", 0, id="one-row"),
        pytest.param(np.zeros((0, 4)), "n<2", 0, id="no-rows"),
        pytest.param(np.zeros((5, 3)), "zero_matrix", 0, id="zero"),
        pytest.param(with_nan_row(), "nonfinite_rows", 1, id="nan-row"),
        pytest.param(with_inf_rows(), "nonfinite_rows", 2, id="inf-rows"),
        pytest.param(np.full((1, 3), np.nan), "nonfinite_rows", 1, id="single-nan-row"),
    ],
)
def test_degenerate_sets_are_null_with_a_reason(X, reason, n_nonfinite):
    for stats in (spectrum_stats(X), gram_stats(X)):
        assert set(stats) == EXPECTED_KEYS
        assert stats["null_reason"] == reason
        assert stats["n_nonfinite_rows"] == n_nonfinite
        assert (stats["n"], stats["d"]) == X.shape
        assert all(
            stats[key] is None for key in EXPECTED_KEYS - {"n", "d", "n_nonfinite_rows", "null_reason"}
        )


def test_empty_accumulator_is_null():
    assert GramAccumulator(8).stats()["null_reason"] == "n<2"


def test_spectrum_stats_rejects_a_non_matrix():
    with pytest.raises(ValueError, match=r"shape \(n, d\)"):
        spectrum_stats(np.ones(5))


# --- erank_at_n ------------------------------------------------------------------------------------------


def test_erank_at_n_removes_the_size_bias():
    """Isotropic d = 64 has erank/d ≈ 0.80 at n = 64 but ≈ 1 for large n (docs/findings.md "Spectrum
    statistics"); at a fixed m they agree."""
    rng = np.random.default_rng(12)
    small, large = rng.standard_normal((100, 64)), rng.standard_normal((4000, 64))
    raw_small, raw_large = spectrum_stats(small)["erank"], spectrum_stats(large)["erank"]
    assert raw_large - raw_small > 3

    mean_small, lo_small, hi_small = erank_at_n(small, 64)
    mean_large, lo_large, hi_large = erank_at_n(large, 64)
    assert lo_small <= mean_large <= hi_small
    assert lo_large <= mean_small <= hi_large
    assert mean_large == pytest.approx(0.8 * 64, rel=0.03)
    assert not lo_large <= raw_small <= hi_large


def test_erank_at_n_is_deterministic_for_a_seed():
    X = np.random.default_rng(1).standard_normal((300, 16))
    first = erank_at_n(X, 20, B=50, seed=4)
    assert erank_at_n(X, 20, B=50, seed=4) == first
    assert erank_at_n(X, 20, B=50, seed=5) != first
    mean, lo, hi = first
    assert lo <= mean <= hi


def test_erank_at_n_with_m_equal_n_is_the_whole_set():
    X = anisotropic(30, 10, seed=2)
    mean, lo, hi = erank_at_n(X, 30, B=5)
    assert mean == pytest.approx(spectrum_stats(X)["erank"], rel=1e-12)
    assert hi - lo == pytest.approx(0.0, abs=1e-9)


def test_erank_at_n_band_contains_its_estimate_when_m_equals_n():
    """Seen on 7 of 521 real days (8 papers, m = 8): the mean of B equal-up-to-rounding eranks fell an ulp
    outside their own percentiles and the erank_mart gate blocked the day."""
    misses = 0
    for seed in range(200):
        X = np.random.default_rng(seed).standard_normal((8, 256)).astype(np.float32)
        mean, lo, hi = erank_at_n(X, 8, B=50, seed=seed)
        assert mean == pytest.approx(erank(np.linalg.svd(X.astype(np.float64), compute_uv=False)), rel=1e-9)
        misses += not lo <= mean <= hi
    assert misses == 0


def test_erank_at_n_matches_a_loop_over_the_same_subsamples():
    X = np.random.default_rng(6).standard_normal((80, 12))
    mean, _, _ = erank_at_n(X, 15, B=30, seed=9, eps=0)
    rng = np.random.default_rng(9)
    expected = np.mean(
        [spectrum_stats(X[rng.choice(80, size=15, replace=False)], eps=0)["erank"] for _ in range(30)]
    )
    assert mean == pytest.approx(expected, rel=1e-12)


def test_erank_at_n_of_a_narrow_set_matches_full_width_svds():
    """n < d (a day of papers in 384 dimensions) goes through the row space; the answer must be the SVD of
    each subsample at full width, a duplicated row (a zero singular value) included."""
    X = np.random.default_rng(8).standard_normal((15, 384)).astype(np.float32)
    X[14] = X[3]
    mean, lo, hi = erank_at_n(X, 8, B=40, seed=2)
    rng = np.random.default_rng(2)
    expected = [
        erank(np.linalg.svd(X[rng.choice(15, size=8, replace=False)].astype(np.float64), compute_uv=False))
        for _ in range(40)
    ]
    assert mean == pytest.approx(np.mean(expected), rel=1e-12)
    assert (lo, hi) == pytest.approx(tuple(np.quantile(expected, [0.025, 0.975])), rel=1e-12)


@pytest.mark.parametrize(
    "X", [np.ones((10, 4)), np.zeros((50, 4)), with_nan_row()], ids=["n<m", "zero", "nan-row"]
)
def test_erank_at_n_degenerate_is_none(X):
    assert erank_at_n(X, 12 if X.shape[0] == 10 else 3) == (None, None, None)


def test_erank_at_n_rejects_bad_arguments():
    X = np.ones((10, 4))
    for kwargs in ({"m": 0}, {"m": 3, "B": 0}, {"m": 3, "ci": 1.0}):
        with pytest.raises(ValueError, match="erank_at_n"):
            erank_at_n(X, **kwargs)


# --- large accumulation ----------------------------------------------------------------------------------


@pytest.mark.slow
def test_two_million_rows_accumulate_in_bounded_chunks():
    """2M×64 generated chunk by chunk (~25 MB each): sums match a separate float64 accumulation, and the
    statistics match the population the chunks were drawn from."""
    n_chunks, rows, d = 40, 50_000, 64
    scales = np.geomspace(2.0, 0.1, d)
    mu = np.linspace(-1.0, 1.0, d)
    rng = np.random.default_rng(2024)

    acc = GramAccumulator(d)
    gram_ref, sum_ref = np.zeros((d, d)), np.zeros(d)
    for _ in range(n_chunks):
        chunk = rng.standard_normal((rows, d), dtype=np.float32) * scales.astype(np.float32) + mu.astype(
            np.float32
        )
        acc.add(chunk)
        wide = chunk.astype(np.float64)
        gram_ref += wide.T @ wide
        sum_ref += wide.sum(axis=0)

    assert acc.n == n_chunks * rows == 2_000_000
    np.testing.assert_allclose(acc.gram, gram_ref, rtol=1e-10, atol=1e-6)
    np.testing.assert_allclose(acc.sum_x, sum_ref, rtol=1e-10, atol=1e-6)

    stats = acc.stats()
    variances = scales**2
    assert stats["participation_ratio"] == pytest.approx(
        variances.sum() ** 2 / np.sum(variances**2), rel=5e-3
    )
    second_moment = np.diag(variances) + np.outer(mu, mu)
    population_s = np.sqrt(np.linalg.eigvalsh(second_moment)[::-1] * acc.n)
    assert stats["erank"] == pytest.approx(reference_erank(population_s, 1e-7), rel=5e-3)
    assert stats["numerical_rank"] == d
