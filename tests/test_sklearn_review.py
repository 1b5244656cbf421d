"""fastbp.sklearn beside scikit-learn's MLPs where a user sees the difference: the types of
the reported losses and the lbfgs convergence warning."""
import warnings

import numpy as np
import pytest

sklearn = pytest.importorskip("sklearn")
from sklearn import neural_network  # noqa: E402
from sklearn.exceptions import ConvergenceWarning  # noqa: E402

from fastbp import sklearn as fsk  # noqa: E402


def data(dtype, n=50, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 4)).astype(dtype)
    return X, np.argmax(X[:, :3], axis=1) + 1


def both(**params):
    settings = dict(hidden_layer_sizes=(6,), max_iter=3, random_state=0, shuffle=False)
    settings.update(params)
    return neural_network.MLPClassifier(**settings), fsk.MLPClassifier(**settings)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("solver", ["sgd", "adam", "lbfgs"])
def test_reported_losses_have_scikit_learns_types(solver, dtype):
    X, y = data(dtype)
    theirs, ours = both(solver=solver)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        theirs.fit(X, y)
        ours.fit(X, y)
    assert type(ours.loss_) is type(theirs.loss_)
    if solver != "lbfgs":
        assert [type(v) for v in ours.loss_curve_] == [type(v) for v in theirs.loss_curve_]
        assert type(ours.best_loss_) is type(theirs.best_loss_)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_lbfgs_convergence_warning_is_scikit_learns(dtype):
    X, y = data(dtype)
    messages = []
    for estimator in both(solver="lbfgs"):
        with pytest.warns(ConvergenceWarning) as record:
            estimator.fit(X, y)
        messages.append([str(w.message) for w in record if w.category is ConvergenceWarning])
    assert messages[1] == messages[0]
    assert "max_iter" in messages[1][0]  # scikit-learn's advice is there


def test_log_loss_clipped_at_machine_epsilon_as_scikit_learn():
    # unscaled inputs: the first epochs give some samples a probability below 2.2e-16, so
    # scikit-learn's loss_curve_ (and its tol test, hence n_iter_) differs
    rng = np.random.default_rng(8)
    X = 30 * rng.normal(size=(100, 4))
    y = np.argmax(X[:, :3] + 15 * rng.normal(size=(100, 3)), axis=1)
    theirs, ours = both(hidden_layer_sizes=(20,), max_iter=300, random_state=8, solver="sgd",
                        learning_rate_init=0.05)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        theirs.fit(X, y)
        ours.fit(X, y)
    np.testing.assert_allclose(ours.loss_curve_[:3], theirs.loss_curve_[:3], rtol=1e-8)
    assert ours.n_iter_ == theirs.n_iter_


def test_lbfgs_objective_is_the_clipped_log_loss():
    # binary, unscaled inputs: at the initial weights some samples get a probability below
    # 2.2e-16, so one iteration's loss_ differs by 3 % unless the objective clips as
    # scikit-learn's does
    rng = np.random.default_rng(8)
    X = 30 * rng.normal(size=(100, 4))
    y = np.argmax(X[:, :3] + 15 * rng.normal(size=(100, 3)), axis=1) % 2
    theirs, ours = both(hidden_layer_sizes=(20,), max_iter=1, random_state=8, solver="lbfgs")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        theirs.fit(X, y)
        ours.fit(X, y)
    assert ours.loss_ == pytest.approx(theirs.loss_, rel=1e-9)


def test_docstring_examples_run():
    import doctest

    # MLPRegressor's first parameter is loss (as scikit-learn's): its example names its sizes
    result = doctest.testmod(fsk, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0


def test_warm_start_after_changing_the_layers_is_an_error():
    X, y = data(np.float64)
    ours = fsk.MLPClassifier((6,), max_iter=2, random_state=0, warm_start=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ours.fit(X, y)
        ours.set_params(hidden_layer_sizes=(7,))
        with pytest.raises(ValueError, match=r"the fitted layer sizes \[4, 6, 3\]"):
            ours.fit(X, y)
