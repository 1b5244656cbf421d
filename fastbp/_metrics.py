"""Per-epoch metrics: accuracy for classification, R² for regression."""
from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray


def score(loss_name: str, predicted: NDArray[Any], Y: NDArray[Any]) -> float:
    """accuracy (cross_entropy: argmax; binary_cross_entropy: p > ½ per output) or R²
    (uniform average over outputs) of `predicted` against the target matrix Y."""
    if loss_name == "cross_entropy":
        return float(np.mean(predicted.argmax(axis=1) == Y.argmax(axis=1)))
    if loss_name == "binary_cross_entropy":
        return float(np.mean((predicted > 0.5) == (Y > 0.5)))
    predicted = np.asarray(predicted, np.float64).reshape(Y.shape)
    Y = np.asarray(Y, np.float64)
    residual = np.sum((Y - predicted) ** 2, axis=0)
    total = np.sum((Y - Y.mean(axis=0)) ** 2, axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        r2 = np.where(total > 0, 1.0 - residual / total, np.where(residual > 0, 0.0, 1.0))
    return float(np.mean(r2))


def name(loss_name: str) -> str:
    """What :func:`score` computes for `loss_name`: "accuracy" or "R²"."""
    return "accuracy" if loss_name in ("cross_entropy", "binary_cross_entropy") else "R²"
