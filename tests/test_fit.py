"""fit against the plain-numpy reference: same weights after an epoch, for every batching."""
import numpy as np
import pytest

import fastbp
from fastbp.reference import ReferenceNetwork

CASES = [  # sizes, activation, loss, output
    ([3, 5, 4, 1], "sigmoid", "mse", None),
    ([3, 4, 2], "tanh", "mse", "sigmoid"),
    ([4, 6, 3], "relu", "cross_entropy", None),
    ([2, 3, 3, 2], "leaky_relu", "binary_cross_entropy", None),
    ([3, 2], "identity", "mse", "tanh"),
    ([3, 5, 1], "gelu", "huber", None),
    ([3, 4, 2], "elu", "poisson", None),
    ([3, 4, 3, 1], ["softplus", "gelu"], "mae", "sigmoid"),
]


def params_of(net):
    return [np.array(a, np.float64) for pair in zip(net.weights, net.biases) for a in pair]


def reference_params(ref):
    return [a for pair in zip(ref.weights, ref.biases) for a in pair]


@pytest.mark.parametrize("batch_size", [1, 7, None])
@pytest.mark.parametrize("sizes,activation,loss,output", CASES)
def test_one_epoch_equals_reference_float64(sizes, activation, loss, output, batch_size, problem, rel_err):
    net = fastbp.Network(sizes, activation=activation, output=output, loss=loss, dtype="float64", seed=11)
    ref = ReferenceNetwork.like(net)
    X, y = problem(loss, sizes[0], sizes[-1], 45, seed=2)
    history = net.fit(X, y, epochs=1, batch_size=batch_size, lr=0.1, shuffle=False)
    ref_losses = ref.fit(X, y, epochs=1, batch_size=batch_size, lr=0.1)
    for ours, theirs in zip(params_of(net), reference_params(ref)):
        assert rel_err(ours, theirs) < 1e-12
    assert history.loss[0] == pytest.approx(ref_losses[0], rel=1e-12)


@pytest.mark.parametrize("batch_size", [1, 7, None])
@pytest.mark.parametrize("sizes,activation,loss,output", CASES)
def test_float32_training_tracks_float64(sizes, activation, loss, output, batch_size, problem, rel_err):
    nets = {dt: fastbp.Network(sizes, activation=activation, output=output, loss=loss, dtype=dt, seed=11)
            for dt in ("float32", "float64")}
    X, y = problem(loss, sizes[0], sizes[-1], 45, seed=2)
    # Start both from the float32 weights so only the arithmetic differs.
    nets["float64"].set_weights(nets["float32"].weights, nets["float32"].biases)
    for net in nets.values():
        net.fit(X, y, epochs=3, batch_size=batch_size, lr=0.1, shuffle=False)
    for p32, p64 in zip(params_of(nets["float32"]), params_of(nets["float64"])):
        assert rel_err(p32, p64) < 1e-4


def test_shuffle_visits_a_permutation_from_the_shuffle_stream(problem, rel_err):
    """shuffle=True uses stream 1 spawned from the seed, one permutation per epoch."""
    net = fastbp.Network([3, 4, 1], activation="tanh", dtype="float64", seed=21)
    ref = ReferenceNetwork.like(net)
    X, y = problem("mse", 3, 1, 30, seed=0)
    net.fit(X, y, epochs=2, batch_size=4, lr=0.05, shuffle=True)
    stream = np.random.Generator(np.random.PCG64(np.random.SeedSequence(21).spawn(3)[1]))
    for _ in range(2):
        ref.fit(X, y, epochs=1, batch_size=4, lr=0.05, order=stream.permutation(30))
    for ours, theirs in zip(params_of(net), reference_params(ref)):
        assert rel_err(ours, theirs) < 1e-12


def test_history_loss_is_the_mean_of_batch_losses_seen(problem):
    net = fastbp.Network([3, 4, 1], dtype="float64", seed=1)
    ref = ReferenceNetwork.like(net)
    X, y = problem("mse", 3, 1, 10, seed=3)
    history = net.fit(X, y, epochs=3, batch_size=3, lr=0.2, shuffle=False)
    assert history.loss == pytest.approx(ref.fit(X, y, epochs=3, batch_size=3, lr=0.2), rel=1e-12)
    assert history.epochs == 3 and len(history.seconds) == 3
    assert net.history is history


def test_batch_size_at_least_n_is_full_batch(problem):
    X, y = problem("mse", 3, 1, 20, seed=3)
    full = fastbp.Network([3, 4, 1], dtype="float64", seed=1)
    large = fastbp.Network([3, 4, 1], dtype="float64", seed=1)
    full.fit(X, y, epochs=2, batch_size=None, lr=0.1)
    large.fit(X, y, epochs=2, batch_size=1000, lr=0.1)
    for a, b in zip(params_of(full), params_of(large)):
        np.testing.assert_array_equal(a, b)


def test_full_batch_larger_than_a_chunk_matches_reference(rel_err):
    """Full batches are processed in fixed-size chunks; the gradient must not change."""
    X, labels = fastbp.datasets.gaussian_classes(700, 5, 3, seed=0)
    net = fastbp.Network([5, 6, 3], activation="relu", loss="cross_entropy", dtype="float64", seed=4)
    ref = ReferenceNetwork.like(net)
    net.fit(X, labels, epochs=2, batch_size=None, lr=0.5)
    ref.fit(X, labels, epochs=2, batch_size=None, lr=0.5)
    for ours, theirs in zip(params_of(net), reference_params(ref)):
        assert rel_err(ours, theirs) < 1e-12
