"""Inference: ``predict`` on one row (T1 3-8-8-1, M1 64-128-10, M2 784-256-128-10) and on 4,096
rows (M2), against PyTorch, scikit-learn and the numpy reference, all holding the same weights.

Each group times one workload: fastbp's ``Network.predict`` (float32), the same call forced
through its general, validating path (``predictor.max_rows = 0``: the path every call took
before the fast one), PyTorch eager under ``torch.inference_mode`` (numpy in, numpy out, as
fastbp), scikit-learn's ``predict`` / ``predict_proba`` of a fitted MLPRegressor /
MLPClassifier whose ``coefs_`` and ``intercepts_`` are fastbp's weights, and the float64
reference. Every entry's output is checked against the reference's (probabilities for the
classification workloads). The 4,096-row group adds the sgemm ceiling: the three forward
products alone, as single sgemm calls into scipy's BLAS. One-row groups time many calls a
round, so the table's samples/s is rows/s, its inverse the latency.

The weights are the networks' initial ones (seed 0): the time of a forward pass does not
depend on them (no denormals: they are of the order of 1/√n_in).
"""
import os
import warnings

import numpy as np
import pytest

import fastbp
from fastbp.reference import ReferenceNetwork

# float32 outputs against the float64 reference.
RTOL = 2e-4
WORKLOADS = {  # name: sizes, hidden activation, loss, output
    "T1": ((3, 8, 8, 1), "sigmoid", "mse", "identity"),
    "M1": ((64, 128, 10), "relu", "cross_entropy", None),
    "M2": ((784, 256, 128, 10), "relu", "cross_entropy", None),
}
THREADS = int(os.environ.get("FASTBP_BENCH_THREADS", "1"))  # as conftest reads it
ONE_ROW_CALLS = 2_000  # calls a round: rounds of a few milliseconds
MANY_ROWS = 4_096


class Case:
    """One group: a workload's network, its input rows and the reference's outputs."""

    def __init__(self, name, n_rows, threads):
        sizes, activation, loss, output = WORKLOADS[name]
        self.name, self.sizes, self.activation, self.loss = name, sizes, activation, loss
        self.net = fastbp.Network(sizes, activation=activation, loss=loss, output=output,
                                  dtype="float32", seed=0, n_threads=threads)
        self.X = np.random.default_rng(1).standard_normal((n_rows, sizes[0])).astype(np.float32)
        self.reference = ReferenceNetwork.like(self.net)
        self.expected = self.reference.predict(self.X.astype(np.float64)).reshape(n_rows, -1)
        self.iterations = ONE_ROW_CALLS if n_rows == 1 else 1
        self.rounds = 15 if n_rows == 1 else 30

    def time(self, measure, benchmark, implementation, predict, **more):
        measure.prediction(benchmark, f"{self.name} {self.X.shape[0]} row"
                           + ("s" if self.X.shape[0] > 1 else ""), implementation, predict,
                           self.X, self.expected, RTOL, rounds=self.rounds,
                           iterations=self.iterations, dtype="float32", **more)


def torch_model(case, peers_torch):
    """nn.Sequential with the case's weights, and softmax on top for cross-entropy."""
    import torch

    model = peers_torch.sequential_like(case.net, case.activation).eval()
    if case.loss == "cross_entropy":
        model = torch.nn.Sequential(model, torch.nn.Softmax(dim=1))
    return model


def sklearn_model(case):
    """A fitted MLPRegressor / MLPClassifier whose parameters are replaced by the case's."""
    from sklearn.neural_network import MLPClassifier, MLPRegressor

    activation = {"sigmoid": "logistic", "relu": "relu", "tanh": "tanh"}[case.activation]
    hidden = case.sizes[1:-1]
    rng = np.random.default_rng(0)
    X = rng.standard_normal((2 * case.sizes[-1] + 2, case.sizes[0]))
    kwargs = dict(hidden_layer_sizes=hidden, activation=activation, max_iter=1, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # one iteration does not converge: not the point
        if case.loss == "cross_entropy":
            model = MLPClassifier(**kwargs).fit(X, np.arange(X.shape[0]) % case.sizes[-1])
        else:
            model = MLPRegressor(**kwargs).fit(X, rng.standard_normal(X.shape[0]))
    model.coefs_ = [W.T.copy() for W in case.net.weights]
    model.intercepts_ = [b.copy() for b in case.net.biases]
    return model.predict_proba if case.loss == "cross_entropy" else model.predict


@pytest.fixture(scope="module", params=[("T1", 1), ("M1", 1), ("M2", 1), ("M2", MANY_ROWS)],
                ids=["T1-1", "M1-1", "M2-1", "M2-4096"])
def case(request):
    return Case(*request.param, threads=THREADS)


@pytest.fixture
def grouped(benchmark, case):
    benchmark.group = f"predict {case.name} {case.X.shape[0]}"
    return benchmark


def test_fastbp(grouped, measure, case):
    case.time(measure, grouped, "fastbp", case.net.predict, fastbp_version=fastbp.__version__)


def test_fastbp_general_path(grouped, measure, case):
    """The path these rows took before: for one row the validating path
    (``predictor.max_rows = 0``), for many rows training's forward passes
    (``predict_transposed = False``)."""
    state = case.net.state
    predictor = getattr(state, "predictor", None)
    if predictor is None:
        pytest.skip("this fastbp has no fast path")
    # (an object, attribute and value to set while timing, and the value to put back)
    target, name = (predictor, "max_rows") if predictor(case.X) is not None else (
        state, "predict_transposed")
    kept = getattr(target, name)
    setattr(target, name, 0 if name == "max_rows" else False)
    try:
        case.time(measure, grouped, "fastbp general path", case.net.predict)
    finally:
        setattr(target, name, kept)


def test_torch(grouped, measure, case, bench_module):
    torch = pytest.importorskip("torch")
    torch.set_num_threads(THREADS)
    model = torch_model(case, bench_module("peers_torch"))

    def predict(X):
        with torch.inference_mode():
            return model(torch.from_numpy(X)).numpy()

    case.time(measure, grouped, "torch", predict, torch_version=torch.__version__)


def test_sklearn(grouped, measure, case):
    sklearn = pytest.importorskip("sklearn")
    case.time(measure, grouped, "sklearn", sklearn_model(case),
              sklearn_version=sklearn.__version__)


def test_reference(grouped, measure, case):
    case.time(measure, grouped, "reference", lambda X: case.reference.predict(X.astype(np.float64)))


def test_sgemm_ceiling(grouped, measure, case):
    """The forward products alone, one sgemm call each into scipy's BLAS (Z = A·Wᵀ computed as
    Zᵀ = W·Aᵀ on F-ordered views, results into preallocated buffers): what predict would reach
    if it were nothing but its products. Many rows only."""
    if case.X.shape[0] == 1:
        pytest.skip("the ceiling of a matrix-vector product is memory, not sgemm")
    from scipy.linalg.blas import sgemm

    weights = [W.copy() for W in case.net.weights]
    acts = [case.X] + [np.empty((case.X.shape[0], W.shape[0]), np.float32) for W in weights]
    outputs = [a.T for a in acts]

    def products(X):
        for layer, W in enumerate(weights):
            sgemm(1.0, W.T, acts[layer].T, c=outputs[layer + 1], trans_a=True, overwrite_c=True)
        return case.expected  # (the products themselves are not checked)

    case.time(measure, grouped, "sgemm ceiling", products,
              gflops_per_row=2 * sum(a * b for a, b in zip(case.sizes, case.sizes[1:])) / 1e9)
