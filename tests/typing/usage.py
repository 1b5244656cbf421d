"""A user's typed code over fastbp's public API, checked by ``mypy`` (pyproject's [tool.mypy]
lists this folder; pytest does not collect it, tests/test_typing.py runs mypy on it).

Each result goes into a variable of the type the API promises, so a wrong hint fails here.
The misuse functions (never run) hold calls and assignments that must be refused, each marked
``# type: ignore[code]``: mypy's warn_unused_ignores (part of --strict) fails when one is
accepted, e.g. when a result the API types is Any. The rest runs:
``python tests/typing/usage.py``.
"""
from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

import fastbp
from fastbp import cli, optim, schedules
from fastbp.datasets import gaussian_classes, house_prices
from fastbp.history import History
from fastbp.network import Network
from fastbp.optim import Adam, Config
from fastbp.schedules import Schedule


def stop_after_two(epoch: int, figures: dict[str, Any]) -> bool:
    return epoch < 2


def regression() -> None:
    data: tuple[NDArray[np.float64], NDArray[np.float64]] = house_prices(200, seed=0,
                                                                       standardize=True)
    X, y = data
    net: Network = fastbp.Network([3, 8, 1], activation="tanh", seed=0, dtype=np.float64)
    history: History = net.fit(X, y, epochs=3, batch_size=16, lr=0.05, optimizer="adam",
                               schedule=schedules.Cosine(epochs=3), callbacks=[stop_after_two],
                               validation_split=0.2)
    losses: list[float] = history.loss
    val_losses: list[float] = history.val_loss
    stopped: str = history.stopped_because
    best: int | None = history.best_epoch
    epochs: int = history.epochs
    predicted: NDArray[np.floating[Any]] = net.predict(X[:5])
    loss: float = net.loss(X, y)
    gradients: list[tuple[NDArray[Any], NDArray[Any]]] = net.gradients(X[:4], y[:4])
    weights: tuple[NDArray[Any], ...] = net.weights
    sizes: tuple[int, ...] = net.sizes
    n_params: int = net.n_params
    optimizer: Config = net.optimizer
    last: History | None = net.history
    twin: Network = net.copy()
    again: History = twin.partial_fit(X[:32], y[:32], batch_size=8)
    lr: float = schedules.Step(step_size=2).lr(3, base_lr=0.1)
    schedule: Schedule = schedules.resolve("cosine")
    config: Config = optim.resolve(Adam(lr=1e-3))
    check: bool = fastbp.check_gradients(net, X[:3], y[:3]).passed
    step = net.trace(X[0], y[0])
    step_loss: float = step.loss
    deltas: NDArray[np.float64] = step.layers[-1].delta
    updates: list[tuple[NDArray[np.float64], NDArray[np.float64]]] = step.updates()
    text: str = step.format(max_rows=4)
    print(losses[-1], val_losses[-1], stopped, best, epochs, predicted.shape, loss,
          len(gradients), len(weights), sizes, n_params, optimizer, last is history, again.epochs,
          lr, schedule, config, check, step_loss, deltas.shape, len(updates), len(text))


def misuse(net: Network, history: History, X: NDArray[np.float64], y: NDArray[np.float64]) -> None:
    """Calls the hints must refuse (checked by mypy only: each would raise if run)."""
    net.fit(X, y, epochs="ten")  # type: ignore[arg-type]
    net.fit(X, y, optimizer=42)  # type: ignore[arg-type]
    net.predict(X).not_an_array_method()  # type: ignore[attr-defined]
    fastbp.Network([3, 1], seed="zero")  # type: ignore[arg-type]
    history.loss = "low"  # type: ignore[assignment]
    schedules.Step(step_size=2).lr("3", base_lr=0.1)  # type: ignore[arg-type]
    # Results of a known type (not Any): a wrong annotation is refused.
    not_history: int = net.fit(X, y)  # type: ignore[assignment]
    not_array: str = net.predict(X)  # type: ignore[assignment]
    not_count: str = net.n_params  # type: ignore[assignment]
    not_sizes: str = net.sizes  # type: ignore[assignment]
    not_losses: str = history.loss  # type: ignore[assignment]
    not_loaded: str = fastbp.load("net.npz")  # type: ignore[assignment]
    not_config: str = optim.resolve("adam")  # type: ignore[assignment]
    not_ensemble: str = fastbp.Ensemble([net]).predict(X)  # type: ignore[assignment]
    not_trace_loss: str = net.trace(X[0], y[0]).loss  # type: ignore[assignment]
    not_layer: str = net.trace(X[0], y[0]).layers[0]  # type: ignore[assignment]
    net.trace(X[0], y[0]).format(max_rows="all")  # type: ignore[arg-type]
    not_exit_code: str = cli.main(["info", "net.npz"])  # type: ignore[assignment]
    cli.main(["predict", 3])  # type: ignore[list-item]


def classification() -> None:
    X, labels = gaussian_classes(300, 4, 3, seed=1)
    members: list[Network] = [Network([4, 6, 3], loss="cross_entropy", seed=s) for s in range(2)]
    histories: list[History] = fastbp.train_many(members, X, labels, epochs=2, lr=0.1)
    ensemble = fastbp.Ensemble(members)
    mean: NDArray[np.float64] = ensemble.predict(X[:4])
    spread: NDArray[np.float64] = ensemble.spread(X[:4])
    print(len(histories), mean.shape, spread.shape)


def estimators() -> None:
    from fastbp.sklearn import MLPClassifier, MLPRegressor

    X, labels = gaussian_classes(120, 4, 3, seed=2)
    clf: MLPClassifier = MLPClassifier(hidden_layer_sizes=(8,), max_iter=5).fit(X, labels)
    probabilities: NDArray[np.floating[Any]] = clf.predict_proba(X[:3])
    classes: NDArray[Any] = clf.predict(X[:3])
    network: Network = clf.network_
    coefs: list[NDArray[Any]] = clf.coefs_
    reg: MLPRegressor = MLPRegressor(hidden_layer_sizes=(4,), solver="lbfgs").fit(X, X[:, 0])
    print(probabilities.shape, classes, network.sizes, len(coefs), reg.predict(X[:2]))


def estimator_misuse() -> None:
    """Calls the hints must refuse (checked by mypy only)."""
    from fastbp.sklearn import MLPClassifier

    MLPClassifier(hidden_layer_sizes=(8,), max_iter="many")  # type: ignore[arg-type]
    MLPClassifier().fit([[0.0]], [0], sample_weight={0: 1.0})  # type: ignore[arg-type]
    # (an estimator's class derives from scikit-learn's untyped ones: assignable to anything)
    not_network: str = MLPClassifier().network_  # type: ignore[assignment]
    not_probabilities: str = MLPClassifier().predict_proba([[0.0]])  # type: ignore[assignment]


if __name__ == "__main__":
    regression()
    classification()
    estimators()
