"""Small synthetic data sets, generated from a seed: one generator per data set, shared by
the tests, the demo, the benchmarks and the examples."""
from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

HOUSE_FEATURES = ("size_sqft", "bedrooms", "age_years")


def standardize(values: ArrayLike) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
    """(values − mean) / std per column (per value for 1-D input), with the mean and std used."""
    values = np.asarray(values, dtype=np.float64)
    mean = values.mean(axis=0)
    std = values.std(axis=0)
    std = np.where(std > 0, std, 1.0)
    return (values - mean) / std, mean, std


_standardize = standardize  # house_prices' keyword of the same name hides the function


def house_prices(n: int = 1000, seed: int | None = 0,
                 standardize: bool = False) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """The tutorials' house prices: (size, bedrooms, age) → price in dollars.

    Price grows with size and bedrooms, falls with age, and new large houses carry a
    premium (a smooth nonlinear term); Gaussian noise of $15,000 is added.

    Parameters
    ----------
    n : int
        Number of houses.
    seed : int
        Seed of the generator; the same (n, seed) always gives the same data.
    standardize : bool
        Return every feature and the price standardised (zero mean, unit variance), as
        networks prefer them.

    Returns
    -------
    X : ndarray, shape (n, 3), float64
        Columns size in square feet, bedrooms, age in years (see ``HOUSE_FEATURES``).
    y : ndarray, shape (n,), float64
        Price in dollars.
    """
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    rng = np.random.default_rng(seed)
    size = rng.uniform(600.0, 3500.0, n)
    bedrooms = np.clip(np.round(size / 700.0 + rng.normal(0.0, 0.7, n)), 1, 6)
    age = rng.uniform(0.0, 80.0, n)
    price = (40_000.0 + 110.0 * size + 12_000.0 * bedrooms - 900.0 * age
             + 60.0 * size * np.exp(-age / 25.0)
             + rng.normal(0.0, 15_000.0, n))
    X = np.column_stack([size, bedrooms, age])
    if standardize:
        X = _standardize(X)[0]
        price = _standardize(price)[0]
    return X, price


def gaussian_classes(n: int, n_features: int, n_classes: int, seed: int | None = 0,
                     spread: float = 1.0) -> tuple[NDArray[np.float64], NDArray[np.int64]]:
    """n samples around n_classes Gaussian centres in n_features dimensions.

    Returns X (n, n_features) float64 and integer labels (n,). Centres are drawn with unit
    variance per coordinate; samples add noise of standard deviation `spread` × sqrt of the
    dimension's share, so classes stay separable but overlapping in every coordinate.
    """
    rng = np.random.default_rng(seed)
    centres = rng.normal(0.0, 1.0, (n_classes, n_features))
    labels = rng.integers(0, n_classes, n)
    X = centres[labels] + rng.normal(0.0, spread, (n, n_features))
    return X, labels
