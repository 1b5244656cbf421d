"""Every check of user input, and its message, in one place.

Python checks, C computes: the compiled kernels assume what these functions guarantee
(shapes, dtype, C order, finiteness, label ranges).
"""
from __future__ import annotations

import math
import numbers
import operator
from collections.abc import Callable, Collection, Iterable
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, DTypeLike, NDArray

from fastbp._train import is_finite

DTYPES = ("float32", "float64")


def choice(what: str, value: object, options: Collection[str]) -> str:
    """Return `value` if it is one of `options`, else raise a ValueError listing them."""
    if not isinstance(value, str) or value not in options:
        raise ValueError(f"unknown {what} {value!r}; choose one of {', '.join(map(repr, options))}")
    return value


def integer(what: str, value: Any, minimum: int) -> int:
    """An integer >= minimum (numpy integers accepted, bools and floats refused)."""
    if isinstance(value, bool):
        raise TypeError(f"{what} must be an integer, got {value!r}")
    try:
        number = operator.index(value)
    except TypeError:
        raise TypeError(f"{what} must be an integer, got {value!r}") from None
    if number < minimum:
        raise ValueError(f"{what} must be >= {minimum}, got {number}")
    return number


def real(what: str, value: Any, allow_zero: bool) -> float:
    """A finite real number > 0 (>= 0 with allow_zero), as a float."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{what} must be a real number, got {value!r}")
    number = float(value)
    if not (math.isfinite(number) and (number > 0 or (allow_zero and number == 0))):
        raise ValueError(f"{what} must be finite and {'>=' if allow_zero else '>'} 0, got {value!r}")
    return number


def positive_int(what: str, value: Any) -> int:
    return integer(what, value, 1)


def non_negative_int(what: str, value: Any) -> int:
    return integer(what, value, 0)


def positive_float(what: str, value: Any) -> float:
    return real(what, value, allow_zero=False)


def non_negative_float(what: str, value: Any) -> float:
    return real(what, value, allow_zero=True)


def boolean(what: str, value: object) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{what} must be True or False, got {value!r}")
    return bool(value)


def verbosity(value: Any) -> int:
    """fit's `verbose`: True / False (1 / 0) or a level >= 0."""
    if isinstance(value, (bool, np.bool_)):
        return int(value)
    return non_negative_int("verbose", value)


def callables(what: str, values: Iterable[Callable[..., Any]] | None) -> tuple[Callable[..., Any], ...]:
    values = tuple(values or ())
    for value in values:
        if not callable(value):
            raise TypeError(f"{what} must be callables, got {value!r}")
    return values


def split_off(X: ArrayLike, y: ArrayLike, fraction: Any, sample_weight: ArrayLike | None = None
              ) -> tuple[NDArray[Any], NDArray[Any], NDArray[np.float64] | None,
                         tuple[NDArray[Any], NDArray[Any], NDArray[np.float64] | None]]:
    """(X_train, y_train, w_train, (X_val, y_val, w_val)): the last ⌈fraction·n⌉ samples
    (and their weights, when given) held out."""
    fraction = positive_float("validation_split", fraction)
    if fraction >= 1:
        raise ValueError(f"validation_split must be in (0, 1), got {fraction}")
    X, y = np.asarray(X), np.asarray(y)
    n = len(X) if X.ndim else 0
    n_val = math.ceil(fraction * n)
    if n_val < 1 or n_val >= n:
        raise ValueError(f"validation_split={fraction} of {n} samples leaves no training or validation data")
    if len(y) != n:
        raise ValueError(f"y has {len(y)} rows, X has {n} samples")
    if sample_weight is None:
        return X[:-n_val], y[:-n_val], None, (X[-n_val:], y[-n_val:], None)
    weights = sample_weights(sample_weight, n)
    return X[:-n_val], y[:-n_val], weights[:-n_val], (X[-n_val:], y[-n_val:], weights[-n_val:])


def sample_weights(values: ArrayLike, n_samples: int) -> NDArray[np.float64]:
    """Per-sample weights: (n,), finite, >= 0, in float64."""
    weights = numeric_array("sample_weight", values)
    if weights.shape != (n_samples,):
        raise ValueError(f"sample_weight must have shape ({n_samples},), got {weights.shape}")
    weights = weights.astype(np.float64)
    if not np.all(np.isfinite(weights)) or np.any(weights < 0):
        raise ValueError("sample_weight must be finite and >= 0")
    return weights


def class_weights(class_weight: str | dict[int, float], Y: NDArray[Any],
                  loss: str) -> NDArray[np.float64]:
    """Per-sample weights from a {label: weight} dict or "balanced" (n / (k · count))."""
    labels = Y.argmax(axis=1) if loss == "cross_entropy" else (Y[:, 0] > 0.5).astype(np.intp)
    n_classes = Y.shape[1] if loss == "cross_entropy" else 2
    if loss == "binary_cross_entropy" and Y.shape[1] != 1:
        raise ValueError("class_weight with binary_cross_entropy needs a single output")
    counts = np.bincount(labels, minlength=n_classes)
    if isinstance(class_weight, str):
        if class_weight != "balanced":
            raise ValueError(f"class_weight must be a dict or 'balanced', got {class_weight!r}")
        table = np.where(counts > 0, len(labels) / (n_classes * np.maximum(counts, 1)), 0.0)
    elif isinstance(class_weight, dict):
        table = np.ones(n_classes)
        for label, weight in class_weight.items():
            if isinstance(label, bool) or not isinstance(label, (int, np.integer)) or not 0 <= label < n_classes:
                raise ValueError(f"class_weight has label {label!r} outside [0, {n_classes})")
            table[label] = non_negative_float(f"class_weight[{label}]", weight)
    else:
        raise TypeError(f"class_weight must be a dict or 'balanced', got {class_weight!r}")
    return table[labels]  # type: ignore[no-any-return]


def sizes(values: Iterable[Any]) -> tuple[int, ...]:
    """Layer widths: at least two integers, all >= 1."""
    try:
        widths = tuple(values)
    except TypeError:
        raise TypeError(f"sizes must be a sequence of layer widths, got {values!r}") from None
    if len(widths) < 2:
        raise ValueError(f"sizes needs at least an input and an output width, got {widths!r}")
    return tuple(positive_int(f"sizes[{k}]", w) for k, w in enumerate(widths))


def dtype(value: Any) -> np.dtype[np.floating[Any]]:
    """The network dtype: float32 or float64, by name or numpy dtype."""
    try:
        name = np.dtype(value).name
    except TypeError:
        name = None
    if name not in DTYPES:
        raise ValueError(f"dtype must be float32 or float64, got {value!r}")
    return np.dtype(name)  # type: ignore[no-any-return]


def numeric_array(what: str, values: ArrayLike) -> NDArray[Any]:
    array = np.asarray(values)
    if array.dtype.kind not in "biuf":
        raise TypeError(f"{what} must hold real numbers, got dtype {array.dtype}")
    return array


class NonFiniteInputs(ValueError):
    """X (or another array) holds NaN or infinity."""


def require_finite(what: str, array: NDArray[Any]) -> None:
    if not is_finite(array.reshape(-1)):
        raise NonFiniteInputs(non_finite_message(what, array))


def non_finite_message(what: str, array: NDArray[Any]) -> str:
    return f"{what} contains NaN or infinity (in {array.dtype})"


def inputs(X: ArrayLike, n_features: int, dtype: DTypeLike, check_finite: bool = True) -> NDArray[Any]:
    """X as a C-contiguous (n, n_features) array of `dtype`: no copy when it already is one.
    check_finite=False leaves the NaN/infinity check to the caller (fit's first epoch checks
    each batch as it reaches it)."""
    array = numeric_array("X", X)
    if array.ndim != 2:
        hint = " (for one sample use X.reshape(1, -1))" if array.ndim == 1 else ""
        raise ValueError(f"X must be 2-D (n_samples, n_features), got shape {array.shape}{hint}")
    if array.shape[0] == 0:
        raise ValueError("X is empty: it has no samples")
    if array.shape[1] != n_features:
        raise ValueError(f"X has {array.shape[1]} features, the network expects {n_features}")
    with np.errstate(over="ignore"):  # values beyond float32's range become inf: reported next
        array = np.ascontiguousarray(array, dtype=dtype)
    if check_finite:
        require_finite("X", array)
    return array


def targets(y: ArrayLike, n_samples: int, n_outputs: int, loss: str, dtype: DTypeLike) -> NDArray[Any]:
    """y as a C-contiguous (n, n_outputs) array of `dtype`, as the loss expects it.

    mse, mae, huber, poisson: (n, n_out) or (n,) when n_out == 1, finite (poisson: >= 0). cross_entropy: integer labels (n,) in
    [0, n_out) (any integer dtype, or floats holding whole numbers), or one-hot rows
    (n, n_out). binary_cross_entropy: 0/1 values shaped like the output.
    """
    array = numeric_array("y", y)
    if array.ndim == 0 or array.shape[0] != n_samples:
        length = "a scalar" if array.ndim == 0 else f"{array.shape[0]} rows"
        raise ValueError(f"y has {length}, X has {n_samples} samples")
    if loss == "cross_entropy" and array.ndim == 1:
        return _one_hot(array, n_outputs, dtype)
    if array.ndim == 1 and n_outputs == 1:
        array = array.reshape(-1, 1)
    if array.ndim != 2 or array.shape[1] != n_outputs:
        raise ValueError(
            f"y must have shape ({n_samples}, {n_outputs})"
            + (f" or ({n_samples},)" if n_outputs == 1 else "")
            + f" for loss {loss!r}, got {array.shape}" + _labels_hint(array, n_outputs, loss))
    with np.errstate(over="ignore"):
        array = np.ascontiguousarray(array, dtype=dtype)
    require_finite("y", array)
    if loss == "poisson" and np.any(array < 0):
        raise ValueError("y for poisson must be >= 0 (counts or rates)")
    if loss == "cross_entropy" and not (
            np.all((array == 0) | (array == 1)) and np.all(array.sum(axis=1) == 1)):
        raise ValueError("y for cross_entropy must be integer labels (n,) or one-hot rows (n, n_out)")
    if loss == "binary_cross_entropy" and not np.all((array == 0) | (array == 1)):
        raise ValueError("y for binary_cross_entropy must hold only 0 and 1")
    return array


def _labels_hint(array: NDArray[Any], n_outputs: int, loss: str) -> str:
    """Why a regression loss refused y of one column for several outputs, when y looks like
    class labels."""
    if loss == "cross_entropy" or array.ndim != 1 or n_outputs < 2 or array.dtype.kind not in "iuf":
        return ""
    with np.errstate(invalid="ignore"):
        if not np.all(array == np.round(array)):
            return ""
    return ("; integer class labels want loss=\"cross_entropy\" (one output per class), and "
            "fastbp.sklearn.MLPClassifier takes labels of any kind")


def _one_hot(labels: NDArray[Any], n_classes: int, dtype: DTypeLike) -> NDArray[Any]:
    if labels.dtype.kind == "f":
        if not np.all(np.isfinite(labels)):
            raise ValueError("y contains NaN or infinity")
        if not np.all(labels == np.round(labels)):
            raise ValueError("class labels in y must be whole numbers")
    elif labels.dtype.kind == "b":
        raise TypeError("class labels in y must be integers, got booleans")
    low, high = labels.min(), labels.max()
    if low < 0 or high >= n_classes:
        bad = low if low < 0 else high
        raise ValueError(f"class label {bad} in y is out of range [0, {n_classes})")
    encoded = np.zeros((labels.shape[0], n_classes), dtype=dtype)
    encoded[np.arange(labels.shape[0]), labels.astype(np.intp)] = 1
    return encoded
