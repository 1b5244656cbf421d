"""Backpropagation in plain numpy float64, written to be read.

This is the algorithm of the tutorials, one formula per line, with nothing fused or
optimised: the textbook for learners, the independent oracle for fastbp's tests, and the
baseline of its benchmarks. It follows the same conventions as :class:`fastbp.Network`:

* layer l computes ``z = W·a + b`` then ``a' = f(z)``; ``W`` has shape (n_out, n_in); each
  activation f and its derivative f′ are in ``fastbp._registry.ACTIVATIONS``, beside their
  formulas;
* losses are means over samples: mse = ½Σₖ(ŷₖ − yₖ)², mae = Σₖ|ŷₖ − yₖ|, huber, poisson
  on ŷ = exp(z), cross entropy on softmax outputs, binary cross entropy on sigmoid outputs
  (summed over outputs);
* gradient descent visits the samples in order (or in a given order), in batches whose
  gradients are averaged; the last batch may be smaller.
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from fastbp import _registry
from fastbp._registry import HUBER_DELTA, ArrayFunction, gelu, gelu_derivative, sigmoid  # noqa: F401

if TYPE_CHECKING:
    from fastbp.network import Network

# name: (f(z), f'(z))
ACTIVATIONS: dict[str, tuple[ArrayFunction, ArrayFunction]] = {name: (entry.f, entry.derivative) for name, entry in _registry.ACTIVATIONS.items()}


def softmax(z: NDArray[np.float64]) -> NDArray[np.float64]:
    shifted = z - z.max(axis=1, keepdims=True)
    e = np.exp(shifted)
    return e / e.sum(axis=1, keepdims=True)  # type: ignore[no-any-return]


def one_hot(labels: NDArray[np.integer[Any]], n_classes: int) -> NDArray[np.float64]:
    Y = np.zeros((len(labels), n_classes))
    Y[np.arange(len(labels)), labels] = 1.0
    return Y


def output_losses(loss_name: str, out: NDArray[np.float64], Y: NDArray[np.float64]) -> NDArray[np.float64]:
    """The loss of each sample from the output layer's values `out`: the prediction ŷ for the
    regression losses, z (before softmax, σ or e^z) for the others."""
    if loss_name == "mse":
        return 0.5 * np.sum((out - Y) ** 2, axis=1)  # type: ignore[no-any-return]
    if loss_name == "mae":
        return np.sum(np.abs(out - Y), axis=1)  # type: ignore[no-any-return]
    if loss_name == "huber":  # ½r² near zero, linear beyond HUBER_DELTA
        r = np.abs(out - Y)
        return np.sum(np.where(r <= HUBER_DELTA, 0.5 * r * r, HUBER_DELTA * (r - 0.5 * HUBER_DELTA)), axis=1)  # type: ignore[no-any-return]
    if loss_name == "poisson":  # ŷ = e^z, loss = ŷ − y·log ŷ
        return np.sum(np.exp(out) - Y * out, axis=1)  # type: ignore[no-any-return]
    if loss_name == "cross_entropy":
        m = out.max(axis=1, keepdims=True)
        log_sum_exp = m[:, 0] + np.log(np.exp(out - m).sum(axis=1))
        return log_sum_exp - np.sum(Y * out, axis=1)  # type: ignore[no-any-return]
    # binary cross entropy: −y·log σ(z) − (1−y)·log(1−σ(z)) = softplus(z) − y·z
    softplus = np.maximum(out, 0) + np.log1p(np.exp(-np.abs(out)))
    return np.sum(softplus - Y * out, axis=1)  # type: ignore[no-any-return]


class ReferenceNetwork:
    """A multilayer perceptron in float64 numpy.

    Parameters
    ----------
    weights, biases : lists of arrays
        ``weights[l]`` (n_out, n_in) and ``biases[l]`` (n_out,) per layer; copied to float64.
    activations : list of str
        Hidden-layer activation names, one per hidden layer.
    loss : str
        ``"mse"``, ``"mae"``, ``"huber"`` (the regression losses, on the `output`
        activation), ``"poisson"`` (exp outputs), ``"cross_entropy"`` (softmax outputs) or
        ``"binary_cross_entropy"`` (sigmoid outputs).
    output : str
        Output activation for the regression losses (identity, sigmoid or tanh); the other
        losses fix theirs.
    """

    def __init__(self, weights: Iterable[ArrayLike], biases: Iterable[ArrayLike],
                 activations: Iterable[str], loss: str = "mse", output: str = "identity") -> None:
        self.weights = [np.array(W, dtype=np.float64) for W in weights]
        self.biases = [np.array(b, dtype=np.float64) for b in biases]
        self.loss_name = loss
        if _registry.LOSSES[loss].fixed_output is None:
            output_activation = output
        else:  # these losses read the logits: softmax/sigmoid/exp live in the loss
            output_activation = "identity"
        self.activations = list(activations) + [output_activation]

    @classmethod
    def like(cls, net: Network) -> ReferenceNetwork:
        """A reference copy of a fastbp.Network (its weights, activations and loss)."""
        return cls(net.weights, net.biases, net.activations, net.loss_name,
                   net.output if _registry.LOSSES[net.loss_name].fixed_output is None else "identity")

    def targets(self, y: ArrayLike) -> NDArray[np.float64]:
        """y as a float64 matrix: labels become one-hot rows; a vector becomes a column."""
        y = np.asarray(y)
        n_out = self.weights[-1].shape[0]
        if self.loss_name == "cross_entropy" and y.ndim == 1:
            return one_hot(y.astype(int), n_out)
        return np.asarray(y, dtype=np.float64).reshape(len(y), n_out)

    # forward pass: a[0] = x, z[l] = a[l]·Wᵀ + b, a[l+1] = f(z[l])
    def forward(self, X: ArrayLike) -> tuple[list[NDArray[np.float64]], list[NDArray[np.float64]]]:
        """Return the lists (a, z): the activations a[0..L] (a[0] = X) and pre-activations z[0..L-1]."""
        a = [np.asarray(X, dtype=np.float64)]
        z: list[NDArray[np.float64]] = []
        for W, b, name in zip(self.weights, self.biases, self.activations):
            z.append(a[-1] @ W.T + b)
            a.append(ACTIVATIONS[name][0](z[-1]))
        return a, z

    def predict(self, X: ArrayLike) -> NDArray[np.float64]:
        return self.outputs(self.forward(X)[0][-1])

    def outputs(self, out: NDArray[np.float64]) -> NDArray[np.float64]:
        """The prediction Ŷ from the last layer's values: softmax, σ or e^z of the logits for
        the losses that fix the output, the values themselves for the others."""
        if self.loss_name == "cross_entropy":
            return softmax(out)
        if self.loss_name == "binary_cross_entropy":
            return sigmoid(out)
        if self.loss_name == "poisson":
            return np.exp(out)
        return out

    def sample_losses(self, X: ArrayLike, y: ArrayLike) -> NDArray[np.float64]:
        """The loss of each sample."""
        return output_losses(self.loss_name, self.forward(X)[0][-1], self.targets(y))

    def loss(self, X: ArrayLike, y: ArrayLike,
             sample_weight: NDArray[Any] | Sequence[float] | None = None) -> float:
        """The (weighted) mean of the sample losses."""
        return float(np.average(self.sample_losses(X, y), weights=sample_weight))

    # backward pass: δ[L-1] = ∂loss/∂z at the output, δ[l-1] = (δ[l]·W[l]) ⊙ f'(z[l-1])
    def backward(self, a: Sequence[NDArray[np.float64]], z: Sequence[NDArray[np.float64]], Y: NDArray[np.float64],
                 share: NDArray[np.float64] | None = None) -> list[NDArray[np.float64]]:
        """Return the list δ[0..L-1] (one row per sample) from forward's (a, z) and the targets Y:
        each sample's own ∂loss/∂z, or with `share` (a column of each sample's weight in the
        mean) its part of the mean loss's."""
        out = a[-1]
        output_slope = ACTIVATIONS[self.activations[-1]][1](z[-1])
        if self.loss_name == "mse":
            delta = (out - Y) * output_slope
        elif self.loss_name == "mae":
            delta = np.sign(out - Y) * output_slope
        elif self.loss_name == "huber":
            delta = np.clip(out - Y, -HUBER_DELTA, HUBER_DELTA) * output_slope
        else:  # the output the loss fixes (softmax, σ or e^z of the logits) minus Y
            delta = self.outputs(out) - Y
        if share is not None:
            delta = delta * share
        deltas = [delta]
        for l in range(len(self.weights) - 1, 0, -1):
            delta = (delta @ self.weights[l]) * ACTIVATIONS[self.activations[l - 1]][1](z[l - 1])
            deltas.insert(0, delta)
        return deltas

    def gradients(self, X: ArrayLike, y: ArrayLike, sample_weight: ArrayLike | None = None
                  ) -> list[tuple[NDArray[np.float64], NDArray[np.float64]]]:
        """[(dW, db)] per layer: the gradient of the (weighted) mean loss over (X, y)."""
        Y = self.targets(y)
        a, z = self.forward(X)
        weights = np.ones(len(Y)) if sample_weight is None else np.asarray(sample_weight, np.float64)
        deltas = self.backward(a, z, Y, share=(weights / weights.sum())[:, None])
        return [(delta.T @ a_in, delta.sum(axis=0))  # ∂L/∂W = δᵀ·a, ∂L/∂b = Σ δ
                for delta, a_in in zip(deltas, a)]

    def fit(self, X: ArrayLike, y: ArrayLike, epochs: int = 1, batch_size: int | None = None,
            lr: float = 0.01, order: ArrayLike | None = None) -> list[float]:
        """Gradient descent W ← W − lr·∂L/∂W over batches of `batch_size` (None: full batch).

        `order` is the visiting order of the samples (default: as given). Returns each
        epoch's mean loss of the batches seen, as fastbp's History.loss.
        """
        X = np.asarray(X, dtype=np.float64)
        y = np.asarray(y)
        n = len(X)
        batch_size = n if batch_size is None else min(batch_size, n)
        order = np.arange(n) if order is None else np.asarray(order)
        epoch_losses: list[float] = []
        for _ in range(epochs):
            total = 0.0
            for start in range(0, n, batch_size):
                rows = order[start:start + batch_size]
                total += self.sample_losses(X[rows], y[rows]).sum()
                for (dW, db), W, b in zip(self.gradients(X[rows], y[rows]), self.weights, self.biases):
                    W -= lr * dW
                    b -= lr * db
            epoch_losses.append(total / n)
        return epoch_losses
