"""Every check of user input, and its message, in one place.

Python checks, C computes: the compiled kernels assume what these functions guarantee
(shapes, dtype, C order, finiteness, label ranges).
"""
import math
import numbers
import operator

import numpy as np

from fastbp import _train

DTYPES = ("float32", "float64")


def choice(what, value, options):
    """Return `value` if it is one of `options`, else raise a ValueError listing them."""
    if not isinstance(value, str) or value not in options:
        raise ValueError(f"unknown {what} {value!r}; choose one of {', '.join(map(repr, options))}")
    return value


def positive_int(what, value):
    """An integer >= 1 (numpy integers accepted, bools and floats refused)."""
    if isinstance(value, bool):
        raise TypeError(f"{what} must be an integer, got {value!r}")
    try:
        number = operator.index(value)
    except TypeError:
        raise TypeError(f"{what} must be an integer, got {value!r}") from None
    if number < 1:
        raise ValueError(f"{what} must be >= 1, got {number}")
    return number


def positive_float(what, value):
    """A finite real number > 0."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{what} must be a real number, got {value!r}")
    number = float(value)
    if not (math.isfinite(number) and number > 0):
        raise ValueError(f"{what} must be finite and > 0, got {value!r}")
    return number


def sizes(values):
    """Layer widths: at least two integers, all >= 1."""
    try:
        widths = tuple(values)
    except TypeError:
        raise TypeError(f"sizes must be a sequence of layer widths, got {values!r}") from None
    if len(widths) < 2:
        raise ValueError(f"sizes needs at least an input and an output width, got {widths!r}")
    return tuple(positive_int(f"sizes[{k}]", w) for k, w in enumerate(widths))


def dtype(value):
    """The network dtype: float32 or float64, by name or numpy dtype."""
    try:
        name = np.dtype(value).name
    except TypeError:
        name = None
    if name not in DTYPES:
        raise ValueError(f"dtype must be float32 or float64, got {value!r}")
    return np.dtype(name)


def _numeric_array(what, values):
    array = np.asarray(values)
    if array.dtype.kind not in "biuf":
        raise TypeError(f"{what} must hold real numbers, got dtype {array.dtype}")
    return array


def _require_finite(what, array):
    if not _train.is_finite(array.reshape(-1)):
        raise ValueError(f"{what} contains NaN or infinity (in {array.dtype})")


def inputs(X, n_features, dtype):
    """X as a C-contiguous (n, n_features) array of `dtype`: no copy when it already is one."""
    array = _numeric_array("X", X)
    if array.ndim != 2:
        hint = " (for one sample use X.reshape(1, -1))" if array.ndim == 1 else ""
        raise ValueError(f"X must be 2-D (n_samples, n_features), got shape {array.shape}{hint}")
    if array.shape[0] == 0:
        raise ValueError("X is empty: it has no samples")
    if array.shape[1] != n_features:
        raise ValueError(f"X has {array.shape[1]} features, the network expects {n_features}")
    with np.errstate(over="ignore"):  # values beyond float32's range become inf: reported next
        array = np.ascontiguousarray(array, dtype=dtype)
    _require_finite("X", array)
    return array


def targets(y, n_samples, n_outputs, loss, dtype):
    """y as a C-contiguous (n, n_outputs) array of `dtype`, as the loss expects it.

    mse: (n, n_out) or (n,) when n_out == 1, finite. cross_entropy: integer labels (n,) in
    [0, n_out) (any integer dtype, or floats holding whole numbers), or one-hot rows
    (n, n_out). binary_cross_entropy: 0/1 values shaped like the output.
    """
    array = _numeric_array("y", y)
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
            + f" for loss {loss!r}, got {array.shape}")
    with np.errstate(over="ignore"):
        array = np.ascontiguousarray(array, dtype=dtype)
    _require_finite("y", array)
    if loss == "cross_entropy" and not (
            np.all((array == 0) | (array == 1)) and np.all(array.sum(axis=1) == 1)):
        raise ValueError("y for cross_entropy must be integer labels (n,) or one-hot rows (n, n_out)")
    if loss == "binary_cross_entropy" and not np.all((array == 0) | (array == 1)):
        raise ValueError("y for binary_cross_entropy must hold only 0 and 1")
    return array


def _one_hot(labels, n_classes, dtype):
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
