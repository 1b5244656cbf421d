"""Standardisation stored with the model: (x − mean) / std per column, learnt on the first fit."""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, DTypeLike, NDArray


class Scaler:
    """Per-column mean and standard deviation (float64); constant columns get std 1."""

    def __init__(self, mean: ArrayLike, std: ArrayLike) -> None:
        self.mean = np.asarray(mean, dtype=np.float64)
        self.std = np.asarray(std, dtype=np.float64)
        if self.mean.shape != self.std.shape or self.mean.ndim != 1:
            raise ValueError("scaling mean and std must be vectors of one shape")
        if not (np.all(np.isfinite(self.mean)) and np.all(np.isfinite(self.std)) and np.all(self.std > 0)):
            raise ValueError("scaling needs finite means and positive finite standard deviations")

    @classmethod
    def learn(cls, values: ArrayLike) -> Scaler:
        values = np.asarray(values, dtype=np.float64)
        std = values.std(axis=0)
        return cls(values.mean(axis=0), np.where(std > 0, std, 1.0))

    def transform(self, values: ArrayLike, dtype: DTypeLike) -> NDArray[Any]:
        """(values − mean) / std, as a new C-contiguous array of `dtype`."""
        return np.ascontiguousarray((np.asarray(values, np.float64) - self.mean) / self.std, dtype=dtype)

    def inverse(self, values: ArrayLike) -> NDArray[np.float64]:
        """values · std + mean, in float64."""
        return np.asarray(values, np.float64) * self.std + self.mean

    def to_dict(self) -> dict[str, list[float]]:
        return {"mean": self.mean.tolist(), "std": self.std.tolist()}

    @classmethod
    def from_dict(cls, data: Mapping[str, ArrayLike]) -> Scaler:
        return cls(data["mean"], data["std"])


def not_fitted(what: str) -> RuntimeError:
    """The error of using a network that scales its `what` ("inputs", "targets") before the
    first fit has learnt how."""
    return RuntimeError(f"this network scales its {what} but has not been fitted yet")


def scaled(scaler: Scaler | None, values: ArrayLike, dtype: DTypeLike, what: str) -> NDArray[Any]:
    """scaler.transform(values, dtype); the not_fitted error when there is no scaler yet."""
    if scaler is None:
        raise not_fitted(what)
    return scaler.transform(values, dtype)
