"""A hyper-parameter search of fastbp estimators on a real Dask cluster (two worker
processes on this machine), through joblib: the same results as the search run in-process."""
import numpy as np
import pytest

pytest.importorskip("sklearn")
distributed = pytest.importorskip("distributed")
joblib = pytest.importorskip("joblib")
from sklearn.model_selection import GridSearchCV  # noqa: E402

from fastbp.sklearn import MLPClassifier  # noqa: E402


def test_grid_search_on_a_local_cluster():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(240, 6))
    y = (X[:, 0] + X[:, 1] ** 2 > 1).astype(int)
    grid = {"hidden_layer_sizes": [(8,), (16,)], "alpha": [1e-4, 1e-2],
            "learning_rate_init": [1e-3, 1e-2]}  # 8 candidates
    # n_threads=1: Dask's workers run BLAS on one thread, and BLAS-backed layers round by
    # thread count (these layers are small, but the pin keeps the comparison honest).
    estimator = MLPClassifier(max_iter=30, random_state=0, n_threads=1)
    local = GridSearchCV(estimator, grid, cv=3, n_jobs=1).fit(X, y)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        with joblib.parallel_backend("dask"):
            remote = GridSearchCV(estimator, grid, cv=3, n_jobs=-1).fit(X, y)
        workers = client.run(lambda: 1)
    assert len(workers) == 2
    assert len(local.cv_results_["params"]) == 8
    for key in ("mean_test_score", "std_test_score", "rank_test_score"):
        np.testing.assert_array_equal(remote.cv_results_[key], local.cv_results_[key])
    assert remote.best_params_ == local.best_params_
    for mine, reference in zip(remote.best_estimator_.coefs_, local.best_estimator_.coefs_):
        np.testing.assert_array_equal(mine, reference)
