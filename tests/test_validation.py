"""Bad input: a clear exception naming the problem, and the network left unchanged."""
import numpy as np
import pytest

import fastbp

GOOD_X = np.random.default_rng(0).normal(size=(10, 3))
GOOD_Y = np.random.default_rng(1).normal(size=10)


def with_nan(a):
    a = np.array(a, dtype=np.float64)
    a.flat[3] = np.nan
    return a


def with_inf(a):
    a = np.array(a, dtype=np.float64)
    a.flat[0] = np.inf
    return a


BAD_FIT_CALLS = [  # (keyword changes to fit, expected exception, message fragment)
    ({"X": np.zeros((10, 4))}, ValueError, "4 features"),
    ({"X": np.zeros(3)}, ValueError, "2-D"),
    ({"X": np.zeros((0, 3)), "y": np.zeros(0)}, ValueError, "empty"),
    ({"X": np.array([["a", "b", "c"]] * 10)}, TypeError, "real numbers"),
    ({"y": np.zeros(9)}, ValueError, "9 rows"),
    ({"y": np.zeros((10, 2))}, ValueError, "shape"),
    ({"X": with_nan(GOOD_X)}, ValueError, "NaN or infinity"),
    ({"X": with_inf(GOOD_X)}, ValueError, "NaN or infinity"),
    ({"X": np.full((10, 3), 1e300)}, ValueError, "NaN or infinity"),  # overflows float32
    ({"y": with_nan(GOOD_Y)}, ValueError, "NaN or infinity"),
    ({"lr": 0}, ValueError, "lr"),
    ({"lr": -0.1}, ValueError, "lr"),
    ({"lr": float("nan")}, ValueError, "lr"),
    ({"epochs": 0}, ValueError, "epochs"),
    ({"epochs": 2.5}, TypeError, "epochs"),
    ({"batch_size": 0}, ValueError, "batch_size"),
    ({"batch_size": -3}, ValueError, "batch_size"),
    ({"shuffle": "yes"}, TypeError, "shuffle"),
]


@pytest.mark.parametrize("changes,error,message", BAD_FIT_CALLS)
def test_bad_fit_input_raises_and_leaves_network_unchanged(changes, error, message, net_state):
    net = fastbp.Network([3, 4, 1], seed=0)
    before = net_state(net)
    call = {"X": GOOD_X, "y": GOOD_Y, "epochs": 2, "batch_size": 4, "lr": 0.1, "shuffle": True}
    call.update(changes)
    with pytest.raises(error, match=message):
        net.fit(**call)
    assert net_state(net) == before


@pytest.mark.parametrize("labels,message", [
    ([0, 1, 3, 1], "out of range"),
    ([0, -1, 2, 1], "out of range"),
    ([0.0, 1.5, 2.0, 1.0], "whole numbers"),
    ([[1, 0, 0], [0, 1, 1], [0, 0, 1], [1, 0, 0]], "one-hot"),
])
def test_bad_labels(labels, message, net_state):
    net = fastbp.Network([2, 3], loss="cross_entropy", seed=0)
    before = net_state(net)
    with pytest.raises(ValueError, match=message):
        net.fit(np.zeros((4, 2)), labels, epochs=1)
    assert net_state(net) == before


def test_labels_in_any_integer_dtype_or_whole_floats_or_one_hot_agree():
    X = np.random.default_rng(0).normal(size=(6, 2))
    labels = np.array([0, 2, 1, 1, 0, 2])
    losses = {fastbp.Network([2, 3], loss="cross_entropy", seed=0).loss(X, y)
              for y in (labels.astype(np.uint8), labels.astype(np.int64), labels.astype(np.float32),
                        np.eye(3)[labels])}
    assert len(losses) == 1


def test_binary_targets_must_be_zero_or_one():
    net = fastbp.Network([2, 1], loss="binary_cross_entropy", seed=0)
    with pytest.raises(ValueError, match="only 0 and 1"):
        net.loss(np.zeros((2, 2)), [0.5, 1])


@pytest.mark.parametrize("kwargs,error,message", [
    ({"sizes": [3]}, ValueError, "at least"),
    ({"sizes": [3, 0, 1]}, ValueError, ">= 1"),
    ({"sizes": 5}, TypeError, "sequence"),
    ({"activation": "swish"}, ValueError, "unknown activation"),
    ({"activation": ["relu"]}, ValueError, "2 hidden layers"),
    ({"loss": "hinge"}, ValueError, "unknown loss"),
    ({"output": "relu"}, ValueError, "unknown output activation"),
    ({"loss": "cross_entropy", "output": "identity"}, ValueError, "fixes the output"),
    ({"loss": "binary_cross_entropy", "output": "sigmoid"}, ValueError, "fixes the output"),
    ({"sizes": [3, 4, 1], "loss": "cross_entropy"}, ValueError, "at least 2 outputs"),
    ({"dtype": "float16"}, ValueError, "float32 or float64"),
    ({"seed": -1}, ValueError, "seed"),
    ({"seed": 1.5}, ValueError, "seed"),
])
def test_bad_constructor_arguments(kwargs, error, message):
    arguments = {"sizes": [3, 4, 4, 2], **kwargs}
    with pytest.raises(error, match=message):
        fastbp.Network(**arguments)


def test_predict_and_loss_check_their_input():
    net = fastbp.Network([3, 4, 1], seed=0)
    with pytest.raises(ValueError, match="features"):
        net.predict(np.zeros((2, 5)))
    with pytest.raises(ValueError, match="NaN"):
        net.loss(with_nan(GOOD_X), GOOD_Y)
    with pytest.raises(ValueError, match="rows"):
        net.gradients(GOOD_X, GOOD_Y[:5])


@pytest.mark.parametrize("weights,biases,message", [
    ([np.zeros((4, 3))], [np.zeros(4), np.zeros(1)], "expected 2 weight"),
    ([np.zeros((3, 4)), np.zeros((1, 4))], [np.zeros(4), np.zeros(1)], r"shape \(4, 3\)"),
    ([np.zeros((4, 3)), np.zeros((1, 4))], [np.zeros(4), np.array([np.inf])], "NaN or infinity"),
])
def test_set_weights_checks_and_leaves_network_unchanged(weights, biases, message, net_state):
    net = fastbp.Network([3, 4, 1], seed=0)
    before = net_state(net)
    with pytest.raises(ValueError, match=message):
        net.set_weights(weights, biases)
    assert net_state(net) == before


def test_divergence_raises_and_keeps_the_last_good_weights(net_state):
    X, y = fastbp.datasets.house_prices(100, seed=0)  # unscaled dollars: lr 1 explodes
    net = fastbp.Network([3, 4, 1], activation="identity", seed=0)
    before = net_state(net)
    with pytest.raises(fastbp.TrainingDiverged, match="diverged in epoch 1") as info:
        net.fit(X, y, epochs=3, batch_size=10, lr=1.0)
    assert isinstance(info.value, ValueError) and info.value.history.epochs == 0
    assert net_state(net)[0] == before[0]
    assert all(np.all(np.isfinite(W)) for W in net.weights)


# ----- NaN or infinity in X found by the first epoch ---------------------------------------
# fit checks X batch by batch as its first epoch reaches it (no pass over X first): a bad row
# late in X is found after earlier batches have trained, and the fit call is undone.

def fit_state(net):
    """Everything a fit call may change, bit for bit."""
    return (np.concatenate([np.ravel(a) for pair in zip(net.weights, net.biases)
                            for a in pair]).tobytes(),
            repr(net.state.shuffle_rng.bit_generator.state), repr(net.state.dropout_rng.bit_generator.state),
            net.optimizer, net.state.optimizer_state.tobytes(), net.state.step,
            id(net.history), net.epochs_trained, net.state.input_scaler, net.state.target_scaler)


FIRST_EPOCH_PATHS = {  # name: (network keywords, fit keywords)
    "minibatch": ({}, {"batch_size": 8}),
    "per_example": ({}, {"batch_size": 1}),
    "full_batch": ({}, {"batch_size": None}),   # 600 rows: more than one chunk of 256
    "adam": ({}, {"batch_size": 8, "optimizer": "adam"}),
    "dropout": ({"dropout": 0.2}, {"batch_size": 8}),
    "scaled_targets": ({"scale_targets": True}, {"batch_size": 8}),
}


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("shuffle", [False, True])
@pytest.mark.parametrize("path", sorted(FIRST_EPOCH_PATHS))
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_a_bad_row_late_in_x_undoes_the_fit_call(path, shuffle, dtype, bad):
    net_keywords, fit_keywords = FIRST_EPOCH_PATHS[path]
    rng = np.random.default_rng(3)
    X = rng.normal(size=(600, 3))
    y = np.sin(X.sum(axis=1))
    net = fastbp.Network([3, 8, 1], dtype=dtype, seed=0, **net_keywords)
    net.fit(X, y, epochs=1, lr=0.05, shuffle=True, **fit_keywords)  # state worth keeping
    before = fit_state(net)
    X_bad = X.copy()
    X_bad[590, 1] = bad
    with pytest.raises(ValueError, match="X contains NaN or infinity"):
        net.fit(X_bad, y, epochs=3, lr=0.05, shuffle=shuffle, **fit_keywords)
    assert fit_state(net) == before
    net.fit(X, y, epochs=1, lr=0.05, **fit_keywords)  # and it still trains


@pytest.mark.parametrize("keywords", [{"optimizer": "lbfgs"}, {"validation_split": 0.2},
                                      {"sample_weight": np.linspace(0.5, 2, 200)}],
                         ids=["lbfgs", "validation_split", "sample_weight"])
def test_a_bad_row_is_reported_on_the_other_paths_too(keywords):
    """L-BFGS checks X before it starts; the split-off training rows and weighted batches
    are checked by the first epoch."""
    X = np.random.default_rng(0).normal(size=(200, 3))
    y = X[:, 0]
    net = fastbp.Network([3, 4, 1], seed=0, scale_targets=True)
    net.fit(X, y, epochs=1, batch_size=10)
    before = fit_state(net)
    X[150, 2] = -np.inf
    call = {"epochs": 2} if keywords.get("optimizer") == "lbfgs" else {"epochs": 2, "batch_size": 10}
    with pytest.raises(ValueError, match="X contains NaN or infinity"):
        net.fit(X, y, **call, **keywords)
    assert fit_state(net) == before


def test_a_bad_row_undoes_a_change_of_optimizer():
    X = np.random.default_rng(0).normal(size=(200, 3))
    y = X[:, 0]
    net = fastbp.Network([3, 4, 1], seed=0)
    net.fit(X, y, epochs=1, batch_size=10, optimizer="momentum")
    before = fit_state(net)
    X[-1, 0] = np.nan
    with pytest.raises(ValueError, match="NaN or infinity"):
        net.fit(X, y, epochs=1, batch_size=10, optimizer="adam")
    assert fit_state(net) == before


class ZeroRate(fastbp.schedules.Schedule):
    def lr(self, epoch, base_lr):
        return 0.0


@pytest.mark.parametrize("stop", [{"max_updates": 1}, {"max_time": 1e-9},
                                  {"schedule": ZeroRate()}, {"lr": 1e30}],
                         ids=["max_updates", "max_time", "zero_rate", "diverging"])
def test_a_bad_row_the_first_epoch_did_not_reach_is_still_reported(stop):
    """A first epoch cut short by a budget, a schedule whose first rate is 0 or divergence
    leaves rows unchecked: they are checked then, and the call is undone all the same."""
    X = np.random.default_rng(0).normal(size=(400, 3))
    y = X[:, 0] * 100
    net = fastbp.Network([3, 4, 1], seed=0)
    before = fit_state(net)
    X[-1, 2] = np.inf
    call = {"epochs": 2, "batch_size": 4, "lr": 0.01}
    call.update(stop)
    with pytest.raises(ValueError, match="X contains NaN or infinity"):
        net.fit(X, y, **call)
    assert fit_state(net) == before


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("path", ["batches", "steps_of_one", "fused_per_example"])
@pytest.mark.parametrize("shuffle", [False, True])
def test_train_epoch_checks_each_batch_before_training_on_it(dtype, path, shuffle):
    """The compiled check: the batches before the one with the bad row are trained, that one
    and those after it not (the fused per-example loop checks and trains blocks of 1,024
    samples); without check_inputs the epoch trains on into the bad row and diverges."""
    from fastbp import _fit, _train
    rng = np.random.default_rng(1)
    n, bad_row = 2500, 1500
    X = rng.normal(size=(n, 3)).astype(dtype)
    Y = rng.normal(size=(n, 1)).astype(dtype)
    X[bad_row, 1] = np.nan
    order = rng.permutation(n).astype(np.intp) if shuffle else None
    position = int(np.flatnonzero(order == bad_row)[0]) if shuffle else bad_row
    batch_size = 4 if path == "batches" else 1
    unit = 1024 if path == "fused_per_example" else batch_size  # rows checked at a time
    net = fastbp.Network([3, 5, 1], dtype=dtype, seed=0)
    net.architecture.fuse_per_example = path == "fused_per_example"
    for check in (True, False):
        trained = net.copy()
        trained.architecture.fuse_per_example = net.architecture.fuse_per_example
        options = _train.TrainOptions()
        options.check_inputs = check
        runner = _fit.EpochRunner(trained.state, X, Y, None, batch_size, options)
        params_before = trained.state.params.copy()
        status, _, weight_sum, updates = runner.run(order, 0.01, None, None)
        if check:
            assert status == _train.Status.STATUS_NONFINITE_INPUT
            assert updates * batch_size == position // unit * unit
            assert weight_sum == updates * batch_size
            assert np.array_equal(trained.state.params, params_before) == (updates == 0)
            assert np.all(np.isfinite(trained.state.params))
        else:
            assert status == _train.Status.STATUS_DIVERGED


@pytest.mark.parametrize("bad_call", ["predict", "fit_another_network"])
def test_a_callbacks_own_nan_error_does_not_undo_the_epochs_trained(bad_call):
    """Only the fit call whose X is bad is undone: a NaN error raised in a callback (from
    predict, or from fitting another network on bad data) leaves the epochs completed before
    it, with their optimizer state and streams."""
    X = np.random.default_rng(0).normal(size=(40, 3))
    y = X[:, 0]
    net = fastbp.Network([3, 4, 1], seed=0)
    before = fit_state(net)
    X_bad = np.full((40, 3), np.nan)

    def callback(epoch, figures):
        if bad_call == "predict":
            net.predict(X_bad)
        else:
            fastbp.Network([3, 2, 1], seed=1).fit(X_bad, y, epochs=1)

    with pytest.raises(ValueError, match="X contains NaN or infinity"):
        net.fit(X, y, epochs=3, batch_size=10, optimizer="adam", callbacks=[callback])
    assert net.epochs_trained == 1 and net.state.step == 4
    after = fit_state(net)
    assert after[0] != before[0] and after[1] != before[1]  # the weights and shuffle stream moved
