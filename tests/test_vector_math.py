"""fastbp's own vectorised float32 math against float64: sigmoid, tanh, log, softmax and the
softmax cross-entropy (by rows and by blocks of 16 rows)."""
import numpy as np
import pytest

from fastbp import _kernels


def ulps_apart(ours, exact):
    """|ours − exact| in units of the float32 spacing at the correctly rounded exact value."""
    rounded = exact.astype(np.float32)
    return np.abs(ours.astype(np.float64) - exact) / np.spacing(np.abs(rounded)).astype(np.float64)


def test_vectorised_sigmoid_is_within_a_few_ulp_of_numpy():
    x = np.concatenate([np.linspace(-110, 110, 400_001), np.linspace(-1e-3, 1e-3, 2001),
                        np.random.default_rng(0).normal(scale=8, size=100_000)]).astype(np.float32)
    exact = 1 / (1 + np.exp(-x.astype(np.float64)))
    ours = x.copy()
    _kernels.sigmoid_f(ours)
    assert ulps_apart(ours, exact).max() <= 4


def test_vectorised_sigmoid_edge_values():
    x = np.array([0.0, -0.0, np.inf, -np.inf, np.nan, 88.8, -88.8, -103.5, -150.0, 1e-30],
                 dtype=np.float32)
    ours = x.copy()
    _kernels.sigmoid_f(ours)
    assert ours[0] == 0.5 and ours[1] == 0.5
    assert ours[2] == 1.0 and ours[3] == 0.0
    assert np.isnan(ours[4])  # NaN passes through, so that divergence is noticed
    assert ours[5] == 1.0 and ours[8] == 0.0 and ours[9] == 0.5
    with np.errstate(under="ignore"):
        exact = 1 / (1 + np.exp(-x[[6, 7]].astype(np.float64)))
    assert ulps_apart(ours[[6, 7]], exact).max() <= 4  # tiny and subnormal results


@pytest.mark.parametrize("n", [1, 7, 8, 15, 16, 17, 33])
def test_vectorised_sigmoid_every_length(n):
    """Vector bodies and scalar tails give the same values."""
    x = np.random.default_rng(n).normal(scale=5, size=64).astype(np.float32)
    whole = x.copy()
    _kernels.sigmoid_f(whole)
    part = x[:n].copy()
    _kernels.sigmoid_f(part)
    np.testing.assert_array_equal(part, whole[:n])


def test_vectorised_tanh_is_within_a_few_ulp_of_numpy():
    x = np.concatenate([np.linspace(-60, 60, 400_001), np.linspace(-1e-3, 1e-3, 2001),
                        np.linspace(0.6, 0.65, 20_001), np.linspace(-0.65, -0.6, 20_001),
                        np.random.default_rng(1).normal(scale=2, size=100_000)]).astype(np.float32)
    exact = np.tanh(x.astype(np.float64))
    ours = x.copy()
    _kernels.tanh_f(ours)
    assert ulps_apart(ours, exact).max() <= 4


def test_vectorised_tanh_edge_values():
    x = np.array([0.0, -0.0, np.inf, -np.inf, np.nan, 1e-30, -1e-40, 9.5, 200.0], dtype=np.float32)
    ours = x.copy()
    _kernels.tanh_f(ours)
    assert ours[0] == 0 and not np.signbit(ours[0])
    assert ours[1] == 0 and np.signbit(ours[1])
    assert ours[2] == 1 and ours[3] == -1 and np.isnan(ours[4])
    assert ours[5] == x[5] and ours[6] == x[6]  # tanh(x) = x below the float32 resolution
    assert ours[7] == 1 and ours[8] == 1


def reference_softmax_cross_entropy(Z, Y, scale, weights):
    """float64 softmax cross-entropy: (Σ w·loss, scale·w·(softmax − y))"""
    Z = Z.astype(np.float64)
    shifted = Z - Z.max(axis=1, keepdims=True)
    lse = np.log(np.exp(shifted).sum(axis=1)) + Z.max(axis=1)
    P = np.exp(Z - lse[:, None])
    w = np.ones(len(Z)) if weights is None else weights.astype(np.float64)
    loss = (Y * (lse[:, None] - Z)).sum(axis=1)
    return (w * loss).sum(), scale * w[:, None] * (P - Y)


@pytest.mark.parametrize("n_out", [1, 2, 10, 16, 17, 40])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("rows", [1, 4, 5, 16, 20, 37])
def test_float32_softmax_cross_entropy_matches_float64(n_out, weighted, rows):
    """The float32 kernel (fastbp's own e^x, rows shifted by their max) against float64,
    including logits far from zero where an unshifted e^x would overflow. Up to 16 logits a
    row, an AVX-512 CPU takes blocks of 16 rows (a last one of 5 or more rows too) in
    registers and the rest row by row: row counts that take each path and both."""
    rng = np.random.default_rng(n_out)
    Z = (rng.normal(scale=4, size=(rows, n_out)) + rng.choice([0, 80, -80], size=(rows, 1))
         ).astype(np.float32)
    Y = np.eye(n_out, dtype=np.float32)[rng.integers(0, n_out, rows)]
    Y[0] = 1.0 / n_out  # a soft target
    weights = rng.uniform(0, 2, rows).astype(np.float32) if weighted else None
    total, dZ = _kernels.softmax_cross_entropy_f(Z, Y, 0.25, weights)
    exact_total, exact_dZ = reference_softmax_cross_entropy(Z, Y, 0.25, weights)
    assert abs(total - exact_total) <= 1e-5 * max(1.0, abs(exact_total))
    np.testing.assert_allclose(dZ, exact_dZ, rtol=0, atol=1e-6)


@pytest.mark.parametrize("rows", [4, 16, 21])
@pytest.mark.parametrize("first", [False, True])
def test_float32_softmax_cross_entropy_reports_non_finite_logits(rows, first):
    """A NaN or ±inf logit, first in its row or not, makes the loss non-finite (by rows and
    by blocks of rows)."""
    Y = np.array([[1, 0, 0]] * rows, dtype=np.float32)
    for bad in (np.nan, np.inf, -np.inf):
        Z = np.zeros((rows, 3), np.float32)
        Z[2, 0 if first else 1] = bad
        total, _ = _kernels.softmax_cross_entropy_f(Z, Y, 1.0)
        assert not np.isfinite(total)


def test_softmax_cross_entropy_blocks_on_avx512():
    """The 16-row kernel is there for rows of 1 to 16 logits exactly when the CPU has
    AVX-512 (the same check as fastbp's own matrix kernels)."""
    assert _kernels.softmax_cross_entropy_by_blocks(10) == _kernels.avx512_kernels_run()
    assert _kernels.softmax_cross_entropy_by_blocks(16) == _kernels.avx512_kernels_run()
    assert not _kernels.softmax_cross_entropy_by_blocks(17)


def test_vectorised_log_is_within_an_ulp_of_numpy():
    """The log of the 16-row softmax (of Σ e^(z − max), in [1, n]), over all positive normal
    floats; NaN stays NaN."""
    x = np.concatenate([np.linspace(1, 40, 400_001), np.linspace(0.5, 2, 100_001),
                        np.geomspace(np.finfo(np.float32).tiny, np.finfo(np.float32).max,
                                     100_001)]).astype(np.float32)
    ours = x.copy()
    _kernels.log_f(ours)
    assert ulps_apart(ours, np.log(x.astype(np.float64))).max() <= 1
    edge = np.array([np.nan, 1.0, 2.0], np.float32)
    _kernels.log_f(edge)
    assert np.isnan(edge[0]) and edge[1] == 0 and edge[2] == np.float32(np.log(2.0))


def test_float32_softmax_matches_float64():
    rng = np.random.default_rng(3)
    Z = (rng.normal(scale=5, size=(50, 10)) + 70).astype(np.float32)
    ours = Z.copy()
    _kernels.softmax_f(ours)
    Z64 = Z.astype(np.float64)
    exact = np.exp(Z64 - Z64.max(axis=1, keepdims=True))
    exact /= exact.sum(axis=1, keepdims=True)
    np.testing.assert_allclose(ours, exact, rtol=2e-6, atol=1e-12)
