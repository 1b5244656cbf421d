"""fastbp.sklearn against scikit-learn's own MLP, and GridSearchCV on the threading backend.

Estimators: the same estimator settings (scikit-learn's defaults: adam or sgd with Nesterov's
momentum 0.9, alpha 1e-4, batches of min(200, n), shuffled) on the same data in the same
dtype (both follow X), timed per epoch. One group per shape, solver and dtype
(sklearn-digits-adam-float32, ...), scikit-learn's entry first: the fastbp entry's extra_info
holds the ratio (scikit-learn's median time per epoch / fastbp's), also printed at the end.
Shapes: digits-like (1437 × 64 digits images, one hidden layer of 100, 10 classes) and
M2-like (784-256-128-10 on Gaussian classes; 10 000 rows, fewer than M2's 60 000, to keep
scikit-learn's rounds short). Every run's loss must fall, and fastbp's training accuracy
must be scikit-learn's within SAME_ACCURACY.

Threading: GridSearchCV of 4 candidates × 3 folds (digits, one hidden layer of 256, 30
epochs) with n_jobs=2 on the threading backend against n_jobs=1 (n_threads=1 each): fit
releases the GIL for its epochs, so two jobs use two cores (what holds the GIL is scikit-learn's
validation and scoring, a few ms a fit). Needs two CPUs: run with FASTBP_BENCH_THREADS=2
(skipped otherwise).

FASTBP_BENCH_SMOKE=1 shrinks rows and epochs.
"""
import os
import warnings

import numpy as np
import pytest

neural_network = pytest.importorskip("sklearn.neural_network")
from sklearn.datasets import load_digits  # noqa: E402
from sklearn.exceptions import ConvergenceWarning  # noqa: E402
from sklearn.model_selection import GridSearchCV  # noqa: E402

import fastbp  # noqa: E402
from fastbp import sklearn as fastbp_sklearn  # noqa: E402

SMOKE = os.environ.get("FASTBP_BENCH_SMOKE", "") == "1"
ROUNDS = 1 if SMOKE else 3
SHAPES = {  # name: (hidden_layer_sizes, epochs)
    "digits": ((100,), 2 if SMOKE else 20),
    "M2": ((256, 128), 1 if SMOKE else 3),
}
# fastbp's training accuracy is within this of scikit-learn's in the same group (seen: within
# 0.01; the two shuffle differently), and every run's loss falls.
SAME_ACCURACY = 0.05
_accuracy = {}  # group: scikit-learn's training accuracy
_per_epoch = {}  # group: {implementation: median seconds per epoch}
_grid_seconds = {}  # n_jobs: median seconds of the search


def _data(shape, dtype):
    if shape == "digits":
        digits = load_digits()
        rows = np.random.default_rng(0).permutation(len(digits.data))[:1437]
        X, y = digits.data[rows] / 16.0, digits.target[rows]
    else:
        X, y = fastbp.datasets.gaussian_classes(1_024 if SMOKE else 10_000, 784, 10, seed=0)
    return np.ascontiguousarray(X, dtype=dtype), y


def _estimator(implementation, shape, solver, **more):
    module = fastbp_sklearn if implementation == "fastbp" else neural_network
    hidden, epochs = SHAPES[shape]
    # tol's stop rule off (n_iter_no_change above max_iter): every run trains its epochs
    return module.MLPClassifier(hidden, solver=solver, max_iter=epochs,
                                n_iter_no_change=epochs + 1, random_state=0, **more)


def _fit(estimator, X, y):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return estimator.fit(X, y)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("solver", ["adam", "sgd"])
@pytest.mark.parametrize("shape", ["digits", "M2"])
@pytest.mark.parametrize("implementation", ["scikit-learn", "fastbp"])
def test_estimator_per_epoch(benchmark, implementation, shape, solver, dtype):
    group = f"sklearn-{shape}-{solver}-{dtype}"
    benchmark.group = group
    X, y = _data(shape, dtype)
    extra = {"n_threads": 1} if implementation == "fastbp" else {}
    fitted = benchmark.pedantic(
        _fit, setup=lambda: ((_estimator(implementation, shape, solver, **extra), X, y), {}),
        rounds=ROUNDS, iterations=1)
    epochs = SHAPES[shape][1]
    assert fitted.n_iter_ == epochs and fitted.coefs_[0].dtype == dtype
    assert epochs == 1 or fitted.loss_curve_[-1] < fitted.loss_curve_[0]
    accuracy = fitted.score(X, y)
    if implementation == "scikit-learn":
        _accuracy[group] = accuracy
    elif group in _accuracy:
        assert abs(accuracy - _accuracy[group]) < SAME_ACCURACY, \
            f"fastbp reached accuracy {accuracy}, scikit-learn {_accuracy[group]}"
    if benchmark.stats is None:  # --benchmark-disable: checked, not timed
        return
    per_epoch = benchmark.stats.stats.median / epochs
    times = _per_epoch.setdefault(group, {})
    times[implementation] = per_epoch
    benchmark.extra_info.update(per_epoch_seconds=per_epoch, accuracy=accuracy, epochs=epochs)
    if implementation == "fastbp" and "scikit-learn" in times:
        benchmark.extra_info["speedup_vs_sklearn"] = times["scikit-learn"] / per_epoch


@pytest.fixture(scope="module", autouse=True)
def _ratios(request):
    """The ratios at the end of the module, on the terminal."""
    yield
    lines = [f"{group}: fastbp {times['scikit-learn'] / times['fastbp']:.1f}x scikit-learn "
             f"per epoch ({times['fastbp'] * 1e3:.2f} ms vs {times['scikit-learn'] * 1e3:.2f} ms)"
             for group, times in sorted(_per_epoch.items()) if len(times) == 2]
    if 1 in _grid_seconds and 2 in _grid_seconds:
        speedup = _grid_seconds[1] / _grid_seconds[2]
        lines.append(f"GridSearchCV, threading backend: 2 jobs {speedup:.2f}x 1 job")
    plugins = request.config.pluginmanager
    reporter, capture = plugins.get_plugin("terminalreporter"), plugins.get_plugin("capturemanager")
    if lines and reporter is not None and capture is not None:
        with capture.global_and_fixture_disabled():  # (pytest captures teardown's output)
            reporter.write_line("")
            for line in lines:
                reporter.write_line(line)


@pytest.mark.parametrize("n_jobs", [1, 2])
def test_grid_search_threads(benchmark, n_jobs):
    if len(os.sched_getaffinity(0)) < 2:
        pytest.skip("needs two CPUs: run with FASTBP_BENCH_THREADS=2")
    import joblib
    benchmark.group = "sklearn-grid-search-threading"
    X, y = _data("digits", "float64")
    grid = {"alpha": [1e-4, 1e-3], "learning_rate_init": [1e-3, 3e-3]}
    base = fastbp_sklearn.MLPClassifier((256,), max_iter=2 if SMOKE else 30, n_iter_no_change=100,
                                        random_state=0, n_threads=1)

    def search():
        with joblib.parallel_backend("threading", n_jobs=n_jobs):
            return _fit(GridSearchCV(base, grid, cv=3, n_jobs=n_jobs), X, y)

    result = benchmark.pedantic(search, rounds=ROUNDS, iterations=1)
    assert len(result.cv_results_["params"]) == 4
    assert result.best_score_ > 0.5
    if benchmark.stats is not None:
        times = _grid_seconds
        times[n_jobs] = benchmark.stats.stats.median
        if 1 in times and 2 in times:
            benchmark.extra_info["speedup_2_jobs"] = times[1] / times[2]
