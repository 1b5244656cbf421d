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
