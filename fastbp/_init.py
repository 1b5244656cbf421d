"""Weight initialisers, drawn in float64 from the network's init stream.

Each takes (rng, n_out, n_in, activation) and returns (W, b) in float64.
"""
from __future__ import annotations

from collections.abc import Callable

import numpy as np
from numpy.typing import NDArray

_Layer = tuple[NDArray[np.float64], NDArray[np.float64]]  # (W, b)
Initialiser = Callable[[np.random.Generator, int, int], _Layer]


def glorot_uniform(rng: np.random.Generator, n_out: int, n_in: int) -> _Layer:
    limit = np.sqrt(6.0 / (n_in + n_out))
    return rng.uniform(-limit, limit, size=(n_out, n_in)), np.zeros(n_out)


def glorot_normal(rng: np.random.Generator, n_out: int, n_in: int) -> _Layer:
    return rng.normal(0.0, np.sqrt(2.0 / (n_in + n_out)), size=(n_out, n_in)), np.zeros(n_out)


def he_uniform(rng: np.random.Generator, n_out: int, n_in: int) -> _Layer:
    limit = np.sqrt(6.0 / n_in)
    return rng.uniform(-limit, limit, size=(n_out, n_in)), np.zeros(n_out)


def he_normal(rng: np.random.Generator, n_out: int, n_in: int) -> _Layer:
    return rng.normal(0.0, np.sqrt(2.0 / n_in), size=(n_out, n_in)), np.zeros(n_out)


def lecun_normal(rng: np.random.Generator, n_out: int, n_in: int) -> _Layer:
    return rng.normal(0.0, np.sqrt(1.0 / n_in), size=(n_out, n_in)), np.zeros(n_out)


def nguyen_widrow(rng: np.random.Generator, n_out: int, n_in: int) -> _Layer:
    """Nguyen & Widrow (1990), as FANN uses it: each unit's weight vector gets the norm
    β = 0.7·n_out^(1/n_in), and its bias is uniform in ±β, spreading the units' active
    regions over the input range."""
    beta = 0.7 * n_out ** (1.0 / n_in)
    W = rng.uniform(-0.5, 0.5, size=(n_out, n_in))
    norms = np.linalg.norm(W, axis=1, keepdims=True)
    W *= beta / np.where(norms > 0, norms, 1.0)
    return W, rng.uniform(-beta, beta, size=n_out)


INITIALISERS: dict[str, Initialiser] = {
    "glorot_uniform": glorot_uniform,
    "glorot_normal": glorot_normal,
    "he_uniform": he_uniform,
    "he_normal": he_normal,
    "lecun_normal": lecun_normal,
    "nguyen_widrow": nguyen_widrow,
}
NAMES = ("auto",) + tuple(INITIALISERS)


def layer_initialiser(init: str, activation: str) -> Initialiser:
    """'auto' is He-uniform before relu-like units and Glorot-uniform elsewhere."""
    if init == "auto":
        return he_uniform if activation in ("relu", "leaky_relu") else glorot_uniform
    return INITIALISERS[init]
