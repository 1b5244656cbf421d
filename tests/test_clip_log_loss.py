"""TrainOptions.clip_log_loss (and loss_and_gradient's clip_log_loss): the reported log-loss
with probabilities clipped to [ε, 1 − ε] as scikit-learn's (ε: the dtype's machine epsilon),
checked against a float64 replica of scikit-learn's log_loss / binary_log_loss on crafted
logits; the gradient and the weights are left as they are, bit for bit."""
import numpy as np
import pytest
from scipy.special import expit, log_softmax, xlogy

import fastbp
from fastbp import _fit
from fastbp._train import TrainOptions

# (loss, outputs): multi-class, binary (one logistic output), multi-label
TASKS = [("cross_entropy", 3), ("cross_entropy", 10), ("binary_cross_entropy", 1),
         ("binary_cross_entropy", 4)]


def replica(Z, Y, w, loss, dtype):
    """Σ_r w_r·loss_r as scikit-learn's log_loss / binary_log_loss compute it (in float64,
    with the clip at `dtype`'s machine epsilon), save that 1 − p is taken as σ(−z), which is
    the same clipped to [ε, 1 − ε] (scikit-learn's 1 − p in floating point loses up to a few
    per cent of −log(1 − p) for p within 1e-14 of 1; fastbp's is the exact one)."""
    eps = np.finfo(dtype).eps
    Z = Z.astype(np.float64)
    if loss == "cross_entropy":
        P = np.clip(np.exp(log_softmax(Z, axis=1)), eps, 1 - eps)
        rows = -xlogy(Y, P).sum(axis=1)
    else:
        P, Q = np.clip(expit(Z), eps, 1 - eps), np.clip(expit(-Z), eps, 1 - eps)
        rows = -(xlogy(Y, P) + xlogy(1 - Y, Q)).sum(axis=1)
    return float(np.sum(rows * (1.0 if w is None else w.astype(np.float64))))


def exact(Z, Y, w, loss):
    """Σ_r w_r·loss_r unclipped, from the logits."""
    Z = Z.astype(np.float64)
    if loss == "cross_entropy":
        rows = -(Y * log_softmax(Z, axis=1)).sum(axis=1)
    else:
        rows = (np.logaddexp(0, Z) - Y * Z).sum(axis=1)
    return float(np.sum(rows * (1.0 if w is None else w.astype(np.float64))))


def crafted(loss, k, dtype, n=300, seed=0):
    """Logits from moderate to huge margins (either way), their targets and row weights."""
    rng = np.random.default_rng(seed)
    scale = rng.choice([1.0, 10.0, 30.0, 100.0, 1000.0], size=(n, 1))
    Z = (scale * rng.normal(size=(n, k))).astype(dtype)
    if loss == "cross_entropy":
        Y = np.eye(k, dtype=dtype)[rng.integers(0, k, n)]
        Y[:n // 3] = np.eye(k, dtype=dtype)[np.argmax(Z[:n // 3], axis=1)]  # confident, right
    else:
        Y = rng.integers(0, 2, size=(n, k)).astype(dtype)
        Y[:n // 3] = (Z[:n // 3] > 0).astype(dtype)
    w = rng.uniform(0.1, 3.0, n).astype(dtype)
    return Z, Y, w


def identity_net(loss, k, dtype):
    """One layer whose logits are its inputs (W = I, b = 0: exact in either dtype)."""
    net = fastbp.Network([k, k], loss=loss, dtype=dtype)
    net.weights[0][...] = np.eye(k)
    net.biases[0][...] = 0
    return net


def rtol(dtype):
    # float32: the C softmax cross-entropy sums in float (fbp_softmax_xent_f)
    return 2e-6 if dtype == "float32" else 1e-12


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("loss,k", TASKS)
@pytest.mark.parametrize("weighted", [False, True])
def test_loss_and_gradient_reports_scikit_learns_clipped_loss(dtype, loss, k, weighted):
    Z, Y, w = crafted(loss, k, dtype)
    w = w if weighted else None
    net = identity_net(loss, k, dtype)
    clipped, clipped_grads = net.state.loss_and_gradient(Z, Y, w, True, clip_log_loss=True)
    raw, grads = net.state.loss_and_gradient(Z, Y, w, True)
    weight_sum = len(Z) if w is None else float(w.astype(np.float64).sum())
    expected = replica(Z, Y, w, loss, dtype)
    # (the test can fail: here the clip changes the loss by far more than the tolerance)
    assert abs(exact(Z, Y, w, loss) - expected) > 1e-3 * abs(expected)
    assert clipped * weight_sum == pytest.approx(expected, rel=rtol(dtype), abs=1e-12)
    assert raw * weight_sum == pytest.approx(exact(Z, Y, w, loss), rel=rtol(dtype))
    np.testing.assert_array_equal(clipped_grads, grads)  # the gradient is the exact loss's


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("loss,k", TASKS)
def test_no_clamp_no_change(dtype, loss, k):
    """Logits far from the clip: the loss is the exact one, bit for bit."""
    rng = np.random.default_rng(1)
    Z = rng.normal(size=(200, k)).astype(dtype)
    Y = crafted(loss, k, dtype, n=200)[1]
    net = identity_net(loss, k, dtype)
    assert (net.state.loss_and_gradient(Z, Y, None, False, clip_log_loss=True)[0]
            == net.state.loss_and_gradient(Z, Y, None, False)[0])


def epoch(net, Z, Y, w, batch_size, clip, optimizer="sgd", clip_norm=0.0, lr=1e-30):
    config = fastbp.optim.resolve(optimizer)
    net.state.set_optimizer(config)
    options = TrainOptions(optimizer=config.code, hyper=config.hyper(), clip_norm=clip_norm)
    options.clip_log_loss = clip
    options.data_loss_scale = 0.5  # (applies to the clipped loss as to the exact one)
    runner = _fit.EpochRunner(net.state, Z, Y, w, batch_size, options)
    status, loss_sum, weight_sum, updates = runner.run(None, lr, None, None)
    assert status == 0 and updates == -(-len(Z) // batch_size)
    return net.state.params.copy(), loss_sum


# the epoch's loss sites: one pass per batch (fused_batch: plain SGD, or Adam's fused step,
# per example too), and the whole gradient first (accumulate_gradient: clipping forces it,
# so does a batch of several chunks)
PATHS = [(1, "sgd", 0.0), (16, "sgd", 0.0), (16, "adam", 0.0), (16, "sgd", 1e30),
         (300, "adam", 1e30), (300, "sgd", 0.0)]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("loss,k", TASKS)
@pytest.mark.parametrize("batch_size,optimizer,clip_norm", PATHS)
def test_epoch_reports_the_clipped_loss(dtype, loss, k, batch_size, optimizer, clip_norm):
    Z, Y, w = crafted(loss, k, dtype)
    for weights in (None, w):
        # at a rate too small to move the weights, each batch's loss at the initial ones
        _, loss_sum = epoch(identity_net(loss, k, dtype), Z, Y, weights, batch_size, True,
                            optimizer, clip_norm)
        assert loss_sum == pytest.approx(0.5 * replica(Z, Y, weights, loss, dtype),
                                         rel=rtol(dtype), abs=1e-12)
        _, loss_sum = epoch(identity_net(loss, k, dtype), Z, Y, weights, batch_size, False,
                            optimizer, clip_norm)
        assert loss_sum == pytest.approx(0.5 * exact(Z, Y, weights, loss), rel=rtol(dtype))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("loss,k", TASKS)
@pytest.mark.parametrize("batch_size,optimizer,clip_norm", PATHS)
def test_weights_do_not_depend_on_the_clip(dtype, loss, k, batch_size, optimizer, clip_norm):
    Z, Y, w = crafted(loss, k, dtype, n=300)
    X = (Z / 100).astype(dtype)  # a hidden layer, trained at a real rate
    nets = [fastbp.Network([k, 5, k], activation="tanh", loss=loss, dtype=dtype, seed=3)
            for _ in range(2)]
    for net in nets:
        net.weights[-1][...] *= 1000  # margins large enough for the clip to bite
    on, loss_on = epoch(nets[0], X, Y, w, batch_size, True, optimizer, clip_norm, lr=0.01)
    off, loss_off = epoch(nets[1], X, Y, w, batch_size, False, optimizer, clip_norm, lr=0.01)
    np.testing.assert_array_equal(on, off)
    assert loss_on != loss_off  # (the clip did bite)
