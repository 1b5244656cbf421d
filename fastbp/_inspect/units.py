"""The examples the inspection works on, in the units the network's weights act on."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from fastbp import _validate
from fastbp._scaling import scaled

if TYPE_CHECKING:
    from fastbp.network import Network


def examples(net: Network, x: ArrayLike,
             y: ArrayLike) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """(X, Y) as float64 (n, n_in), (n, n_out) copies, checked as fit checks them (one example
    may come as a vector and a scalar)."""
    x, y = np.asarray(x), np.asarray(y)
    if x.ndim == 1:  # one example: y is a scalar, a label, or the vector of outputs
        x = x.reshape(1, -1)
        y = y.reshape(1) if y.size == 1 else y.reshape(1, -1)
    return in_network_units(net, x, y, "trace")


def in_network_units(net: Network, X: ArrayLike, y: ArrayLike,
                     what: str) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """(X, Y) as float64 (n, n_in), (n, n_out) arrays in the units the weights act on: the
    standardised ones (as the network's dtype rounds them) when the network scales them."""
    X = _validate.inputs(X, net.sizes[0], np.dtype(np.float64))
    state = net.state
    try:
        if net.scale_inputs:
            X = scaled(state.input_scaler, X, net.dtype, "inputs")
        if net.scale_targets:
            Y = scaled(state.target_scaler,
                       _validate.targets(y, X.shape[0], net.sizes[-1], net.loss_name, np.float64),
                       net.dtype, "targets")
        else:
            Y = _validate.targets(y, X.shape[0], net.sizes[-1], net.loss_name, np.dtype(np.float64))
    except RuntimeError as exc:  # scaling not learnt yet
        raise RuntimeError(f"{what} works in the network's own, standardised units, which its "
                           f"first fit learns: {exc}") from None
    return np.array(X, dtype=np.float64), np.array(Y, dtype=np.float64)
