"""Per-example plain SGD as one compiled loop over the samples (fbp_train_per_example_mse),
held bit for bit to the same steps taken layer by layer, and taken only where it applies."""
import numpy as np
import pytest

import fastbp
from fastbp import _kernels, _train
from fastbp.reference import ReferenceNetwork


def params_of(net):
    return [np.array(a, np.float64) for pair in zip(net.weights, net.biases) for a in pair]


def reference_params(ref):
    return [a for pair in zip(ref.weights, ref.biases) for a in pair]


PER_EXAMPLE_CASES = [  # squared-error networks of small layers: the fused loop's domain
    # every layer at most 8 wide: the loop for tiny networks (padded vectors)
    ([3, 8, 8, 1], "sigmoid", None),
    ([2, 2, 2], "sigmoid", "sigmoid"),
    ([5, 7, 3, 2], "relu", "tanh"),
    ([8, 1, 8, 3], "elu", None),
    ([1, 6, 5], "softplus", "sigmoid"),
    ([4, 8, 7, 6, 5, 4, 3, 2, 1, 2, 3, 4, 5, 6, 7, 8, 1], "tanh", None),  # 16 layers, the most
    # wider layers: the general loop
    ([19, 37, 2], "tanh", "sigmoid"),
    ([18, 16, 3], "identity", "tanh"),
    ([6, 20, 9, 4, 2], "leaky_relu", None),
    ([3, 9, 1], "sigmoid", None),
]


def test_per_example_cases_cover_both_fused_loops():
    if _kernels.per_example_loop([1, 1]) == "general":
        pytest.skip("built without the loop for tiny networks (it needs GCC or Clang)")
    loops = [_kernels.per_example_loop(sizes) for sizes, _, _ in PER_EXAMPLE_CASES]
    assert loops[:6] == ["tiny"] * 6 and loops[6:] == ["general"] * 4
    assert _kernels.per_example_loop([2] * 18) == "general"  # 17 layers: past the fused loops


def per_example_pair(sizes, activation, output, dtype):
    """Two identical networks: one runs per-example SGD as one compiled loop, the other
    layer by layer."""
    fused, stepwise = (fastbp.Network(sizes, activation=activation, output=output, loss="mse",
                                      dtype=dtype, seed=3) for _ in range(2))
    stepwise.architecture.fuse_per_example = False
    return fused, stepwise


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("sizes,activation,output", PER_EXAMPLE_CASES)
def test_fused_per_example_loop_equals_the_layer_by_layer_steps(sizes, activation, output,
                                                                dtype, problem):
    """Same weights bit for bit and the same losses, over 2,500 shuffled samples (the loop
    runs in blocks of 1,024) and two epochs."""
    X, y = problem("mse", sizes[0], sizes[-1], 2_500, seed=2)
    fused, stepwise = per_example_pair(sizes, activation, output, dtype)
    h_fused = fused.fit(X, y, epochs=2, batch_size=1, lr=0.02)
    h_stepwise = stepwise.fit(X, y, epochs=2, batch_size=1, lr=0.02)
    for a, b in zip(params_of(fused), params_of(stepwise)):
        np.testing.assert_array_equal(a, b)
    # The losses are summed in another order (per block, then per epoch).
    np.testing.assert_allclose(h_fused.loss, h_stepwise.loss, rtol=1e-12)


def test_fused_per_example_loop_stops_at_max_updates_inside_a_block(problem):
    X, y = problem("mse", 3, 1, 2_500, seed=4)
    fused, stepwise = per_example_pair([3, 8, 8, 1], "sigmoid", None, "float64")
    for net in (fused, stepwise):
        history = net.fit(X, y, epochs=3, batch_size=1, lr=0.02, max_updates=3_700)
        # the second epoch, cut short, adds no history row and no epoch
        assert history.stopped_because == "max_updates" and history.epochs == 1
        assert net.state.epochs_trained == 1 and net.state.step == 3_700
    for a, b in zip(params_of(fused), params_of(stepwise)):
        np.testing.assert_array_equal(a, b)


def test_fused_per_example_loop_reports_divergence_and_keeps_the_last_good_weights(net_state):
    X, y = fastbp.datasets.house_prices(3_000, seed=0)  # unscaled dollars: lr 1 explodes
    net = fastbp.Network([3, 4, 1], activation="identity", seed=0)
    net.fit(X[:10] / 1e6, y[:10] / 1e6, epochs=1, batch_size=1, lr=0.01)  # one good epoch
    before = net_state(net)
    with pytest.raises(fastbp.TrainingDiverged, match="diverged in epoch 1") as info:
        net.fit(X, y, epochs=2, batch_size=1, lr=1.0)
    assert info.value.history.epochs == 0
    assert net_state(net)[0] == before[0]


def test_the_fused_per_example_loop_is_only_taken_where_it_applies(problem, rel_err):
    """Cross-entropy, gelu and BLAS-sized layers keep the layer-by-layer path: switching the
    fused loop off changes nothing for them."""
    X, y = problem("cross_entropy", 5, 3, 300, seed=1)
    for activation in ("relu", "gelu"):
        fused, stepwise = (fastbp.Network([5, 7, 3], activation=activation,
                                          loss="cross_entropy", dtype="float64", seed=3)
                           for _ in range(2))
        stepwise.architecture.fuse_per_example = False
        fused.fit(X, y, epochs=1, batch_size=1, lr=0.05)
        stepwise.fit(X, y, epochs=1, batch_size=1, lr=0.05)
        for a, b in zip(params_of(fused), params_of(stepwise)):
            np.testing.assert_array_equal(a, b)
    X, y = problem("mse", 40, 1, 300, seed=1)
    fused, stepwise = per_example_pair([40, 64, 1], "tanh", None, "float64")  # 40·64 >= 1024: BLAS
    assert _train.plan(fused.architecture, 1, np.float64) == ["blas_transposed_input", "loops"]
    ref = ReferenceNetwork.like(fused)
    fused.fit(X, y, epochs=1, batch_size=1, lr=0.01, shuffle=False)
    ref.fit(X, y, epochs=1, batch_size=1, lr=0.01)
    for ours, theirs in zip(params_of(fused), reference_params(ref)):
        assert rel_err(ours, theirs) < 1e-12
