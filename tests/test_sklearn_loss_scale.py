"""TrainOptions.data_loss_scale (what fastbp.sklearn reports scikit-learn's multi-output squared
loss with, a mean over outputs): it scales each batch's reported data loss, and nothing else."""
import numpy as np
import pytest

import fastbp
from fastbp import _fit
from fastbp._train import TrainOptions


def epoch(dtype, scale, alpha, batch_size, optimizer):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(37, 5)).astype(dtype)
    Y = rng.normal(size=(37, 3)).astype(dtype)
    net = fastbp.Network([5, 6, 3], activation="tanh", dtype=dtype, seed=1)
    config = fastbp.optim.resolve(optimizer)
    net.state.set_optimizer(config)
    options = TrainOptions(optimizer=config.code, hyper=config.hyper(), alpha=alpha)
    options.data_loss_scale = scale
    runner = _fit.EpochRunner(net.state, X, Y, None, batch_size, options)
    status, loss_sum, weight_sum, updates = runner.run(None, 0.05, None, None)
    assert status == 0 and updates == -(-37 // batch_size)
    return net.state.params.copy(), loss_sum / weight_sum


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("batch_size", [1, 8, 37])  # per-example loop, partial batches, full
@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_data_loss_scale(dtype, batch_size, optimizer):
    params, loss = epoch(dtype, 1.0, 0.0, batch_size, optimizer)
    scaled_params, scaled_loss = epoch(dtype, 1 / 3, 0.0, batch_size, optimizer)
    np.testing.assert_array_equal(scaled_params, params)  # the gradient is not scaled
    assert scaled_loss == pytest.approx(loss / 3, rel=1e-12)
    # with the L2 term: the penalty part is left as it is
    params, loss = epoch(dtype, 1.0, 0.1, batch_size, optimizer)
    scaled_params, scaled_loss = epoch(dtype, 0.0, 0.1, batch_size, optimizer)
    np.testing.assert_array_equal(scaled_params, params)
    assert 0 < scaled_loss < loss
    half, half_loss = epoch(dtype, 0.5, 0.1, batch_size, optimizer)
    np.testing.assert_array_equal(half, params)
    assert half_loss == pytest.approx(scaled_loss + 0.5 * (loss - scaled_loss), rel=1e-12)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_loss_mean_over_rows(dtype):
    """With sample weights, each batch's weighted mean counted once per row (scikit-learn's
    epoch loss) instead of the weighted mean over all rows; the training unchanged."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 5)).astype(dtype)
    Y = rng.normal(size=(40, 2)).astype(dtype)
    w = rng.uniform(0.1, 3.0, 40).astype(dtype)

    def epoch(weights, mean_over_rows, lr=0.05):
        net = fastbp.Network([5, 6, 2], activation="tanh", dtype=dtype, seed=1)
        options = TrainOptions(alpha=0.1)
        options.alpha_over_batch_size = True
        options.loss_mean_over_rows = mean_over_rows
        runner = _fit.EpochRunner(net.state, X, Y, weights, 16, options)
        _, loss_sum, weight_sum, _ = runner.run(None, lr, None, None)
        return net.state.params.copy(), loss_sum / weight_sum

    params, weighted = epoch(w, False)
    same, per_rows = epoch(w, True)
    np.testing.assert_array_equal(same, params)
    assert per_rows != pytest.approx(weighted, rel=1e-3)  # (the two differ here)
    # at a rate too small to move the weights, each batch's mean at the initial weights
    start = fastbp.Network([5, 6, 2], activation="tanh", dtype=dtype, seed=1)
    expected = sum(len(X[b:b + 16]) * start.loss(X[b:b + 16], Y[b:b + 16], w[b:b + 16],
                                                  alpha=0.1 / float(w[b:b + 16].sum()))
                   for b in range(0, 40, 16)) / 40
    assert epoch(w, True, lr=1e-30)[1] == pytest.approx(
        expected, rel=1e-5 if dtype == "float32" else 1e-12)
    # without weights the two are one
    assert epoch(None, True)[1] == epoch(None, False)[1]
