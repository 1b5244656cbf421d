"""fastbp.sklearn's estimators under scikit-learn's own estimator checks, and the API
scikit-learn users reach for (clone, Pipeline, GridSearchCV, pickles, labels, dtypes)."""
import pickle
import warnings

import numpy as np
import pytest

sklearn = pytest.importorskip("sklearn")
from sklearn.base import clone  # noqa: E402
from sklearn.exceptions import ConvergenceWarning, NotFittedError  # noqa: E402
from sklearn.model_selection import GridSearchCV, cross_val_score  # noqa: E402
from sklearn.pipeline import Pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402
from sklearn.utils.estimator_checks import parametrize_with_checks  # noqa: E402

import fastbp  # noqa: E402
from fastbp.sklearn import MLPClassifier, MLPRegressor  # noqa: E402

# The checks that cannot pass, each with its reason (none so far).
EXPECTED_FAILURES = {}


def expected_failed_checks(estimator):
    return EXPECTED_FAILURES.get(type(estimator).__name__, {})


# scikit-learn runs its own MLPs through these checks with max_iter=100.
@parametrize_with_checks([MLPClassifier(max_iter=100), MLPRegressor(max_iter=100)],
                         expected_failed_checks=expected_failed_checks)
def test_sklearn_estimator_checks(estimator, check):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        check(estimator)


def blobs(n=120, dtype=np.float64, seed=0):
    rng = np.random.default_rng(seed)
    centres = np.array([[0, 0], [3, 3], [0, 4]])
    labels = rng.integers(0, 3, n)
    X = (centres[labels] + rng.normal(scale=0.5, size=(n, 2))).astype(dtype)
    return X, labels


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dtype_follows_X(dtype):
    X, labels = blobs(dtype=dtype)
    clf = MLPClassifier((8,), max_iter=5, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(X, labels)
    assert clf.network_.dtype == dtype and clf.coefs_[0].dtype == dtype
    assert clf.predict_proba(X).dtype == dtype
    forced = MLPClassifier((8,), max_iter=5, random_state=0, dtype="float32")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        forced.fit(X.astype(np.float64), labels)
    assert forced.network_.dtype == np.float32
    # integer X trains in float64, as scikit-learn does
    reg = MLPRegressor(hidden_layer_sizes=(4,), max_iter=2, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        reg.fit(np.arange(20).reshape(10, 2), np.arange(10.0))
    assert reg.network_.dtype == np.float64


@pytest.mark.parametrize("labels", [["cat", "dog", "emu"], [1, 2, 3], [-1, 0, 7], [True, False]])
def test_any_labels(labels):
    X, codes = blobs()
    y = np.array(labels, dtype=object if isinstance(labels[0], str) else None)[codes % len(labels)]
    clf = MLPClassifier((16,), solver="lbfgs", random_state=0).fit(X, y)
    np.testing.assert_array_equal(clf.classes_, sorted(labels))
    assert set(clf.predict(X)) <= set(labels)
    assert clf.score(X, y) > (0.9 if len(labels) == 3 else 0.6)
    proba = clf.predict_proba(X)
    assert proba.shape == (len(X), len(labels))
    np.testing.assert_allclose(proba.sum(axis=1), 1, rtol=1e-12)
    np.testing.assert_array_equal(clf.classes_[proba.argmax(axis=1)], clf.predict(X))


def test_saved_network_knows_its_classes(tmp_path):
    """network_ saves the classes, task, feature names and settings (format version 2)."""
    X, codes = blobs()
    y = np.array(["cat", "dog", "emu"], dtype=object)[codes]
    clf = MLPClassifier((8,), solver="lbfgs", random_state=0).fit(X, y)
    clf.network_.save(tmp_path / "net.npz")
    metadata = fastbp.load(tmp_path / "net.npz").metadata
    assert metadata["classes"] == ["cat", "dog", "emu"]
    assert metadata["task"] == "classification"
    assert metadata["training"]["estimator"] == "MLPClassifier"
    reg = MLPRegressor(hidden_layer_sizes=(4,), solver="lbfgs", max_iter=200).fit(X, codes * 1.0)
    assert reg.network_.metadata["task"] == "regression"
    assert reg.network_.metadata["classes"] is None


def test_binary_and_multilabel():
    X, codes = blobs()
    binary = MLPClassifier((8,), solver="lbfgs", random_state=0).fit(X, codes == 1)
    assert binary.out_activation_ == "logistic" and binary.n_outputs_ == 1
    assert binary.predict_proba(X).shape == (len(X), 2)
    Y = np.stack([codes == 1, codes != 0], axis=1).astype(int)
    multilabel = MLPClassifier((8,), solver="lbfgs", random_state=0).fit(X, Y)
    assert multilabel.n_outputs_ == 2 and multilabel.predict(X).shape == Y.shape
    assert multilabel.score(X, Y) > 0.8


def test_clone_pipeline_search_and_pickle():
    X, labels = blobs(200)
    pipe = Pipeline([("scale", StandardScaler()),
                     ("net", MLPClassifier((8,), solver="lbfgs", random_state=0))])
    assert cross_val_score(pipe, X, labels, cv=3).mean() > 0.9
    grid = {"net__alpha": [1e-4, 1e-2], "net__hidden_layer_sizes": [(4,), (8,)]}
    search = GridSearchCV(pipe, grid, cv=3).fit(X, labels)
    best = search.best_estimator_
    assert clone(best).get_params()["net__alpha"] == best.get_params()["net__alpha"]
    blob = pickle.dumps(best)
    n_params = best["net"].network_.n_params
    assert len(blob) < 6000 + 16 * n_params  # parameters and settings, no workspaces
    np.testing.assert_array_equal(pickle.loads(blob).predict(X), best.predict(X))


def test_not_fitted_and_partial_fit_rules():
    X, labels = blobs()
    clf = MLPClassifier()
    with pytest.raises(NotFittedError):
        clf.predict(X)
    assert not hasattr(clf, "coefs_")
    with pytest.raises(ValueError, match="classes must be passed"):
        clf.partial_fit(X, labels)
    assert not hasattr(MLPClassifier(solver="lbfgs"), "partial_fit")
    with pytest.raises(ValueError, match="early_stopping"):
        MLPClassifier(early_stopping=True).partial_fit(X, labels, classes=[0, 1, 2])


def test_convergence_warning_and_verbose(capsys):
    X, labels = blobs()
    clf = MLPClassifier((4,), max_iter=3, random_state=0, verbose=True)
    with pytest.warns(ConvergenceWarning, match="Maximum iterations \\(3\\)"):
        clf.fit(X, labels)
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("Iteration 1, loss = ") and len(lines) == 3


@pytest.mark.parametrize("params", [dict(tol=1e3, n_iter_no_change=2),
                                    dict(solver="sgd", learning_rate="adaptive", tol=1e3,
                                         n_iter_no_change=1, max_iter=30)])
def test_stop_rules_as_scikit_learn(params):
    """tol / n_iter_no_change stop (or, adaptive, divide the rate by 5) where scikit-learn's do."""
    from sklearn.neural_network import MLPClassifier as Theirs
    X, labels = blobs()
    ours = MLPClassifier((4,), random_state=0, **params).fit(X, labels)
    theirs = Theirs((4,), random_state=0, **params).fit(X, labels)
    assert 1 < ours.n_iter_ == theirs.n_iter_ < ours.max_iter


@pytest.mark.parametrize("settings", [dict(solver="rmsprop"), dict(solver="adagrad"),
                                      dict(solver="adamw"), dict(activation="gelu"),
                                      dict(activation="leaky_relu", dropout=0.1)])
def test_fastbp_extras_train(settings):
    """fastbp's own solvers, activations and dropout, through the same estimator."""
    X, labels = blobs(300)
    clf = MLPClassifier((16,), max_iter=40, learning_rate_init=0.01, random_state=0,
                        **settings)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(X, labels)
    assert clf.loss_curve_[-1] < 0.5 * clf.loss_curve_[0]
    assert clf.score(X, labels) > 0.9


def test_the_module_is_optional(tmp_path):
    """import fastbp does not import scikit-learn."""
    import subprocess
    import sys
    code = "import sys, fastbp; print('sklearn' in sys.modules)"
    # (from another folder: the repository's fastbp/ holds sources, not the compiled modules)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd=tmp_path).stdout
    assert out.strip() == "False"
    assert "sklearn" not in fastbp.__all__
