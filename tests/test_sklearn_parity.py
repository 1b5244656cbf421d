"""fastbp.sklearn against the installed scikit-learn: the same network, step for step.

Both start from the same weights (the same random_state draws the same initial weights) and
train in float64 with shuffle=False; after several epochs coefs_, intercepts_ and loss_curve_
agree to rtol 1e-8, plus an absolute 1e-10 × max|W| (the sums run in other orders: a replica
with another order reached 1e-11 to 1e-13).
"""
import warnings

import numpy as np
import pytest

sklearn = pytest.importorskip("sklearn")
from sklearn import neural_network  # noqa: E402
from sklearn.exceptions import ConvergenceWarning  # noqa: E402

from fastbp import sklearn as fsk  # noqa: E402

RTOL = 1e-8
ATOL_FACTOR = 1e-10
# float32 (both follow X's dtype): the same steps in float32, summed in other orders; seen
# within 3e-7 × max|W| and 2.2e-7 of the losses after six epochs.
FLOAT32_TOLERANCE = 1e-5


def data(kind, n=103, n_features=7, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, n_features))
    w = rng.normal(size=(n_features, 3))
    z = X @ w
    if kind == "binary":
        y = np.where(z[:, 0] > 0, "yes", "no")
    elif kind == "multiclass":
        y = np.argmax(z, axis=1) + 1  # labels 1..3
    elif kind == "multilabel":
        y = (z > 0).astype(int)
    elif kind == "regression":
        y = np.tanh(z[:, 0]) + 0.1 * rng.normal(size=n)
    elif kind == "multi-output":
        y = np.tanh(z[:, :2]) + 0.1 * rng.normal(size=(n, 2))
    elif kind == "poisson":
        y = rng.poisson(np.exp(0.3 * z[:, 0])).astype(float)
    return X, y


def pair(kind, **params):
    """(scikit-learn's estimator, fastbp's) with the same parameters."""
    regression = kind in ("regression", "multi-output", "poisson")
    settings = dict(hidden_layer_sizes=(9, 5), max_iter=6, shuffle=False, random_state=3,
                    tol=0.0)
    if kind == "poisson":
        settings["loss"] = "poisson"
    settings.update(params)
    if regression:
        return neural_network.MLPRegressor(**settings), fsk.MLPRegressor(**settings)
    return neural_network.MLPClassifier(**settings), fsk.MLPClassifier(**settings)


def fit_quietly(estimator, method, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return getattr(estimator, method)(*args, **kwargs)


def assert_same_network(ours, theirs, loss_curve=True):
    scale = max(np.abs(W).max() for W in theirs.coefs_)
    float32 = theirs.coefs_[0].dtype == np.float32
    rtol = FLOAT32_TOLERANCE if float32 else RTOL
    atol = (FLOAT32_TOLERANCE if float32 else ATOL_FACTOR) * scale
    assert len(ours.coefs_) == len(theirs.coefs_)
    for mine, reference in zip(ours.coefs_ + ours.intercepts_,
                               theirs.coefs_ + theirs.intercepts_):
        assert mine.shape == reference.shape and mine.dtype == reference.dtype
        np.testing.assert_allclose(mine, reference, rtol=rtol, atol=atol)
    if loss_curve:
        np.testing.assert_allclose(ours.loss_curve_, theirs.loss_curve_, rtol=rtol, atol=0)
        assert ours.loss_ == pytest.approx(theirs.loss_, rel=rtol)
        assert ours.n_iter_ == theirs.n_iter_ and ours.t_ == theirs.t_


def test_the_same_initial_weights():
    X, y = data("multiclass")
    theirs, ours = pair("multiclass", max_iter=1, learning_rate_init=1e-300, solver="sgd",
                        momentum=0.0)
    fit_quietly(theirs, "fit", X, y)
    fit_quietly(ours, "fit", X, y)
    assert_same_network(ours, theirs, loss_curve=False)


SOLVERS = {
    "sgd": dict(solver="sgd", momentum=0.0, learning_rate_init=0.05),
    "sgd-invscaling": dict(solver="sgd", momentum=0.0, learning_rate="invscaling",
                           learning_rate_init=0.2, power_t=0.3),
    "sgd-adaptive": dict(solver="sgd", momentum=0.0, learning_rate="adaptive",
                         learning_rate_init=0.05, tol=10.0, n_iter_no_change=1),
    "momentum": dict(solver="sgd", momentum=0.9, nesterovs_momentum=False,
                     learning_rate_init=0.02),
    "nesterov": dict(solver="sgd", momentum=0.8, nesterovs_momentum=True,
                     learning_rate_init=0.02),
    "adam": dict(solver="adam", learning_rate_init=0.01),
}


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("solver", sorted(SOLVERS))
@pytest.mark.parametrize("alpha", [0.0, 0.01])
@pytest.mark.parametrize("batch_size", [20, 200])  # partial last batch; one full batch
def test_solvers(solver, alpha, batch_size, dtype):
    X, y = data("multiclass")
    X = X.astype(dtype)
    theirs, ours = pair("multiclass", alpha=alpha, batch_size=batch_size, **SOLVERS[solver])
    fit_quietly(theirs, "fit", X, y)
    fit_quietly(ours, "fit", X, y)
    assert_same_network(ours, theirs)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("kind", ["binary", "multiclass", "multilabel", "regression",
                                  "multi-output", "poisson"])
@pytest.mark.parametrize("solver", ["sgd", "adam"])
def test_tasks(kind, solver, dtype):
    X, y = data(kind)
    X = X.astype(dtype)
    params = dict(SOLVERS[solver], alpha=0.003, batch_size=16, activation="tanh")
    if kind == "poisson":
        params["learning_rate_init"] = 0.005
    theirs, ours = pair(kind, **params)
    fit_quietly(theirs, "fit", X, y)
    fit_quietly(ours, "fit", X, y)
    assert_same_network(ours, theirs)
    rtol = 1e-4 if dtype == np.float32 else 1e-9
    if hasattr(theirs, "predict_proba"):
        if dtype == np.float64:  # (float32 labels may flip where a probability is near ½)
            np.testing.assert_array_equal(ours.predict(X), theirs.predict(X))
        np.testing.assert_allclose(ours.predict_proba(X), theirs.predict_proba(X), rtol=rtol,
                                   atol=rtol * 1e-3)
        np.testing.assert_allclose(ours.predict_log_proba(X), theirs.predict_log_proba(X),
                                   rtol=rtol)
        np.testing.assert_array_equal(ours.classes_, theirs.classes_)
    else:
        np.testing.assert_allclose(ours.predict(X), theirs.predict(X), rtol=rtol,
                                   atol=rtol * 1e-3)
    assert ours.score(X, y) == pytest.approx(theirs.score(X, y), rel=rtol, abs=0.02 if
                                             dtype == np.float32 else 0)


@pytest.mark.parametrize("kind", ["multiclass", "multi-output"])
@pytest.mark.parametrize("solver", ["sgd", "momentum", "adam"])
def test_sample_weight(kind, solver):
    """Weighted means per batch, the penalty over each batch's weight sum, and loss_curve_ as
    scikit-learn sums it (each batch's weighted mean once per row)."""
    X, y = data(kind)
    weights = np.random.default_rng(1).uniform(0.1, 3.0, len(X))
    theirs, ours = pair(kind, alpha=0.01, batch_size=20, **SOLVERS[solver])
    fit_quietly(theirs, "fit", X, y, sample_weight=weights)
    fit_quietly(ours, "fit", X, y, sample_weight=weights)
    assert_same_network(ours, theirs)


@pytest.mark.parametrize("activation", ["logistic", "relu", "identity"])
def test_activations(activation):
    X, y = data("regression")
    theirs, ours = pair("regression", activation=activation, **SOLVERS["nesterov"])
    fit_quietly(theirs, "fit", X, y)
    fit_quietly(ours, "fit", X, y)
    assert_same_network(ours, theirs)


@pytest.mark.parametrize("solver", ["sgd-invscaling", "adam", "momentum"])
def test_warm_start_from_assigned_weights(solver):
    """Weights assigned to a fitted estimator are where a warm-started fit continues; the
    optimizer starts afresh, t_ and loss_curve_ carry on."""
    X, y = data("multi-output")
    theirs, ours = pair("multi-output", **SOLVERS[solver])
    fit_quietly(theirs, "fit", X, y)
    fit_quietly(ours, "fit", X, y)
    rng = np.random.default_rng(5)
    coefs = [rng.uniform(-0.5, 0.5, W.shape) for W in theirs.coefs_]
    intercepts = [rng.uniform(-0.5, 0.5, b.shape) for b in theirs.intercepts_]
    for estimator in (theirs, ours):
        estimator.coefs_ = [W.copy() for W in coefs]
        estimator.intercepts_ = [b.copy() for b in intercepts]
        estimator.set_params(warm_start=True, max_iter=4)
        fit_quietly(estimator, "fit", X, y)
    assert len(ours.loss_curve_) == 10 and ours.t_ == 10 * len(X)
    assert_same_network(ours, theirs)


@pytest.mark.parametrize("solver", ["sgd-invscaling", "adam", "nesterov"])
def test_partial_fit(solver):
    """partial_fit keeps the optimizer from call to call (and from a fit before it)."""
    X, y = data("multiclass")
    theirs, ours = pair("multiclass", batch_size=25, **SOLVERS[solver])
    for estimator in (theirs, ours):
        estimator.partial_fit(X[:50], y[:50], classes=[1, 2, 3])
        estimator.partial_fit(X[50:], y[50:])
        fit_quietly(estimator, "fit", X, y)
        estimator.partial_fit(X, y)
    assert_same_network(ours, theirs)


@pytest.mark.parametrize("kind", ["multiclass", "binary", "regression"])
@pytest.mark.parametrize("solver", ["sgd", "adam"])
def test_early_stopping(kind, solver):
    """The same validation split (stratified for binary), scores, best weights and stopping
    epoch."""
    X, y = data(kind, n=300)
    params = dict(SOLVERS[solver], early_stopping=True, max_iter=60, n_iter_no_change=3,
                  tol=1e-3, learning_rate_init=0.3 if solver == "sgd" else 0.05)
    theirs, ours = pair(kind, **params)
    fit_quietly(theirs, "fit", X, y)
    fit_quietly(ours, "fit", X, y)
    assert ours.n_iter_ == theirs.n_iter_
    np.testing.assert_allclose(ours.validation_scores_, theirs.validation_scores_, rtol=1e-9)
    assert ours.best_validation_score_ == pytest.approx(theirs.best_validation_score_, rel=1e-9)
    assert_same_network(ours, theirs)


def test_lbfgs():
    X, y = data("multi-output")
    theirs, ours = pair("multi-output", solver="lbfgs", max_iter=15, alpha=0.01)
    fit_quietly(theirs, "fit", X, y)
    fit_quietly(ours, "fit", X, y)
    assert ours.n_iter_ == theirs.n_iter_
    assert ours.loss_ == pytest.approx(theirs.loss_, rel=1e-6)
    for mine, reference in zip(ours.coefs_, theirs.coefs_):
        np.testing.assert_allclose(mine, reference, rtol=1e-5, atol=1e-7)
