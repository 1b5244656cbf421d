"""Generated cases (Hypothesis): random networks and data, each held to what must hold.

- training through each compiled path equals the float64 reference (``fastbp.reference``);
- a call with a bad argument raises a clean error and leaves the network bit-for-bit unchanged.
(Damaged model files: tests/test_untrusted_files.py.)

The examples are derandomised, so CI runs the same cases every time; their number is set once
here (MAX_EXAMPLES per test and path) and can be raised with FASTBP_HYPOTHESIS_EXAMPLES.
"""
import os
import pickle

import numpy as np
import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings, strategies as st  # noqa: E402

import fastbp  # noqa: E402
from fastbp.reference import ReferenceNetwork  # noqa: E402

MAX_EXAMPLES = int(os.environ.get("FASTBP_HYPOTHESIS_EXAMPLES", "100"))
GENERATED = settings(max_examples=MAX_EXAMPLES, deadline=None, derandomize=True,
                     suppress_health_check=[HealthCheck.too_slow])

HIDDEN = ("sigmoid", "tanh", "relu", "leaky_relu", "identity", "elu", "softplus", "gelu")
REGRESSION = ("mse", "mae", "huber")
LOSSES = REGRESSION + ("poisson", "cross_entropy", "binary_cross_entropy")
# Relative agreement with the float64 reference after one epoch (the table of tests/conftest.py,
# loosened for float32 over many sequential steps).
AGREEMENT = {"float64": 1e-9, "float32": 2e-3}
# Weights this large after one epoch mean the reference diverged (NaN compares False too).
DIVERGED = 1e6


def targets(rng, loss, n, n_out):
    if loss in REGRESSION:
        y = rng.normal(size=(n, n_out))
    elif loss == "poisson":
        y = rng.poisson(1.5, size=(n, n_out)).astype(np.float64)
    elif loss == "cross_entropy":
        return rng.integers(0, n_out, size=n)
    else:
        y = rng.integers(0, 2, size=(n, n_out)).astype(np.float64)
    return y[:, 0] if n_out == 1 else y


# Thresholds that send every layer down one compiled path (the planner's, fastbp._train.plan):
# fastbp's loops, BLAS, the in-place and the packed float32 kernels (these two where the CPU
# has AVX-512 and BLAS runs on one thread, else BLAS), or the default choice by size.
PATHS = {
    "default": {},
    "loops": {"blas_min_work": 1 << 62},
    "blas": {"blas_min_work": 0},
    "inplace_gemm": {"blas_min_work": 0, "inplace_gemm_min_work": 0},
    "packed_gemm": {"blas_min_work": 0, "packed_gemm_min_weights": 0},
}


@st.composite
def networks(draw, path="default"):
    """(Network, X, y): a random architecture, loss, dtype and data set, its layers sent down
    `path`."""
    loss = draw(st.sampled_from(LOSSES))
    n_hidden = draw(st.integers(0, 2))
    sizes = [draw(st.integers(1, 9)) for _ in range(n_hidden + 1)]
    sizes.append(draw(st.integers(2 if loss == "cross_entropy" else 1, 5)))
    activation = [draw(st.sampled_from(HIDDEN)) for _ in range(n_hidden)]
    output = draw(st.sampled_from(("identity", "sigmoid", "tanh"))) if loss in REGRESSION else None
    dtype = draw(st.sampled_from(("float32", "float64")))
    net = fastbp.Network(sizes, activation=activation, output=output, loss=loss, dtype=dtype,
                         seed=draw(st.integers(0, 2**32)), n_threads=1)
    for threshold, value in PATHS[path].items():
        setattr(net.architecture, threshold, value)
    rng = np.random.default_rng(draw(st.integers(0, 2**32)))
    n = draw(st.integers(1, 40))
    return net, rng.normal(size=(n, sizes[0])), targets(rng, loss, n, sizes[-1])


def state_bytes(net):
    """Everything that defines the network (weights, optimizer, streams, scalers), as bytes."""
    return pickle.dumps(net)


@pytest.mark.parametrize("path", sorted(PATHS))
@GENERATED
@given(data=st.data())
def test_compiled_training_equals_the_reference(path, data):
    net, X, y = data.draw(networks(path))
    batch = data.draw(st.sampled_from(("one", "some", "all")))
    batch_size = {"one": 1, "some": data.draw(st.integers(2, 8)), "all": None}[batch]
    reference = ReferenceNetwork.like(net)
    with np.errstate(all="ignore"):
        reference.fit(X, y, epochs=1, batch_size=batch_size, lr=0.05)
    # (e.g. poisson's e^z with identity layers: the step itself overflows)
    reference_diverged = not all(np.all(np.abs(p) < DIVERGED)
                                 for p in [*reference.weights, *reference.biases])
    try:
        net.fit(X, y, epochs=1, batch_size=batch_size, lr=0.05, shuffle=False)
    except fastbp.TrainingDiverged:
        assert reference_diverged, "fastbp diverged where the float64 reference did not"
        return
    if reference_diverged:  # fastbp's float32 may stay finite a little longer: nothing to compare
        return
    for ours, theirs in zip([*net.weights, *net.biases], [*reference.weights, *reference.biases]):
        scale = max(np.abs(theirs).max(initial=0), 1e-3)  # (relative to the layer's largest)
        assert np.abs(np.asarray(ours, np.float64) - theirs).max() / scale < AGREEMENT[net.dtype.name]


BAD_FIT_ARGUMENTS = [
    {"epochs": 0}, {"epochs": -1}, {"epochs": 1.5}, {"batch_size": 0}, {"batch_size": "8"},
    {"lr": -0.1}, {"lr": float("nan")}, {"lr": 0}, {"alpha": -1.0}, {"clip_norm": 0},
    {"shuffle": "yes"}, {"optimizer": "nope"}, {"schedule": "nope"}, {"validation_split": 1.5},
    {"early_stopping": True}, {"sample_weight": "w"}, {"max_updates": 0}, {"max_time": -1},
    {"callbacks": [1]}, {"verbose": -1}, {"patience": -1}, {"monitor": "accuracy"},
]


X_DEFECTS = ("nan", "inf", "columns", "text", "ndim")
DATA_DEFECTS = X_DEFECTS + ("rows", "empty", "y_nan", "y_rows")


@st.composite
def bad_data(draw, X, y, defects=DATA_DEFECTS):
    """(X, y) with one defect: a NaN or infinity, a wrong shape, text, or no rows."""
    defect = draw(st.sampled_from(defects))
    X, y = np.array(X), np.array(y)
    if defect in ("nan", "inf"):
        X[draw(st.integers(0, len(X) - 1)), draw(st.integers(0, X.shape[1] - 1))] = (
            np.nan if defect == "nan" else -np.inf)
    elif defect == "columns":
        X = np.hstack([X, X[:, :1]])
    elif defect == "rows":
        X = X[:-1] if len(X) > 1 else np.vstack([X, X])
    elif defect == "text":
        X = X.astype(str).astype(object)
        X[0, 0] = "a"
    elif defect == "empty":
        X, y = X[:0], y[:0]
    elif defect == "ndim":
        X = X[None]
    elif defect == "y_nan":
        y = y.astype(np.float64)
        y.flat[0] = np.nan
    else:
        y = y[:-1] if len(y) > 1 else np.concatenate([y, y])
    return X, y


@GENERATED
@given(case=networks(), data=st.data())
def test_a_bad_argument_leaves_the_network_unchanged(case, data):
    net, X, y = case
    net.fit(X, y, epochs=1, batch_size=4, lr=0.01)  # a trained network: optimizer state, streams
    before = state_bytes(net)
    if data.draw(st.booleans()):
        call = data.draw(st.sampled_from(("fit", "predict", "loss", "gradients")))
        bad_X, bad_y = data.draw(bad_data(X, y, X_DEFECTS if call == "predict" else DATA_DEFECTS))
        if net.loss_name == "cross_entropy" and np.issubdtype(np.asarray(bad_y).dtype, np.floating):
            bad_y = np.full(len(bad_y), net.sizes[-1] + 1)  # a label out of range instead
        with pytest.raises((ValueError, TypeError)):
            if call == "fit":
                net.fit(bad_X, bad_y, epochs=2, batch_size=3, lr=0.01)
            elif call == "predict":
                net.predict(bad_X)
            else:
                getattr(net, call)(bad_X, bad_y)
    else:
        with pytest.raises((ValueError, TypeError)):
            net.fit(X, y, **{"epochs": 1, "lr": 0.01, **data.draw(st.sampled_from(BAD_FIT_ARGUMENTS))})
    assert state_bytes(net) == before
