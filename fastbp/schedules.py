"""Learning-rate schedules: the learning rate of each epoch, for every optimizer.

A schedule maps the network's epoch count (epochs trained so far, over all ``fit`` calls)
and the base learning rate to that epoch's rate. ``ReduceOnPlateau`` also watches the
figures of each finished epoch. The rate used in each epoch is recorded in ``History.lr``.

>>> from fastbp.schedules import Cosine
>>> round(Cosine(epochs=10).lr(5, base_lr=0.1), 4)
0.05
"""
from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


class Schedule:
    """Base class: a constant rate."""

    def lr(self, epoch: int, base_lr: float) -> float:
        """The learning rate of epoch `epoch` (0-based, counted over the network's life)."""
        return base_lr

    def observe(self, figures: Mapping[str, Any]) -> None:
        """See the figures (``loss``, ``val_loss``, …) of a finished epoch; stateless by default."""

    def to_dict(self) -> dict[str, Any]:
        return {"name": type(self).__name__, **{k: v for k, v in vars(self).items() if not k.startswith("_")}}


def _check(condition: bool, message: str) -> None:
    if not condition:
        raise ValueError(message)


@dataclass
class Constant(Schedule):
    """lr(t) = lr₀"""


@dataclass
class Step(Schedule):
    """lr(t) = lr₀ · gamma^⌊t / step_size⌋"""
    step_size: int = 10
    gamma: float = 0.1

    def __post_init__(self) -> None:
        _check(int(self.step_size) == self.step_size and self.step_size >= 1, "step_size must be an integer >= 1")
        _check(0 < self.gamma <= 1, "gamma must be in (0, 1]")

    def lr(self, epoch: int, base_lr: float) -> float:
        return base_lr * self.gamma ** (epoch // self.step_size)


@dataclass
class Exponential(Schedule):
    """lr(t) = lr₀ · gamma^t"""
    gamma: float = 0.95

    def __post_init__(self) -> None:
        _check(0 < self.gamma <= 1, "gamma must be in (0, 1]")

    def lr(self, epoch: int, base_lr: float) -> float:
        return base_lr * self.gamma ** epoch


@dataclass
class InverseScaling(Schedule):
    """lr(t) = lr₀ / (t + 1)^power_t   (scikit-learn's 'invscaling', per epoch)"""
    power_t: float = 0.5

    def __post_init__(self) -> None:
        _check(self.power_t >= 0, "power_t must be >= 0")

    def lr(self, epoch: int, base_lr: float) -> float:
        return base_lr / (epoch + 1) ** self.power_t  # type: ignore[no-any-return]


@dataclass
class Cosine(Schedule):
    """Linear warm-up over `warmup` epochs, then lr(t) = min_lr + ½(lr₀ − min_lr)(1 + cos(π·s)),
    s = (t − warmup) / (epochs − warmup), constant at min_lr after `epochs` (a rate of 0 ends
    training: History.stopped_because == "schedule")."""
    epochs: int = 100
    warmup: int = 0
    min_lr: float = 0.0

    def __post_init__(self) -> None:
        _check(self.epochs >= 1 and 0 <= self.warmup < self.epochs, "need epochs >= 1 and 0 <= warmup < epochs")
        _check(self.min_lr >= 0, "min_lr must be >= 0")

    def lr(self, epoch: int, base_lr: float) -> float:
        if epoch < self.warmup:
            return base_lr * (epoch + 1) / (self.warmup + 1)
        progress = min(1.0, (epoch - self.warmup) / (self.epochs - self.warmup))
        return self.min_lr + 0.5 * (base_lr - self.min_lr) * (1 + math.cos(math.pi * progress))


@dataclass
class ReduceOnPlateau(Schedule):
    """Multiply the rate by `factor` when `monitor` has not improved by `min_delta` for
    `patience` epochs (never below `min_lr`). `monitor` is ``"val_loss"`` (falls back to
    ``"loss"`` without validation data) or ``"loss"``."""
    factor: float = 0.1
    patience: int = 10
    min_delta: float = 1e-4
    monitor: str = "val_loss"
    min_lr: float = 0.0
    _scale: float = field(default=1.0, repr=False)
    _best: float = field(default=math.inf, repr=False)
    _wait: int = field(default=0, repr=False)

    def __post_init__(self) -> None:
        _check(0 < self.factor < 1, "factor must be in (0, 1)")
        _check(self.patience >= 0, "patience must be >= 0")
        _check(self.monitor in ("val_loss", "loss"), "monitor must be 'val_loss' or 'loss'")

    def lr(self, epoch: int, base_lr: float) -> float:
        return max(base_lr * self._scale, self.min_lr)

    def observe(self, figures: Mapping[str, Any]) -> None:
        value = figures.get(self.monitor)
        if value is None:
            value = figures["loss"]
        if value < self._best - self.min_delta:
            self._best, self._wait = value, 0
        else:
            self._wait += 1
            if self._wait > self.patience:
                self._scale *= self.factor
                self._wait = 0


NAMES: dict[str, type[Schedule]] = {"constant": Constant, "step": Step, "exponential": Exponential,
         "invscaling": InverseScaling, "cosine": Cosine, "plateau": ReduceOnPlateau}


def resolve(schedule: Schedule | str | None) -> Schedule:
    """None or a name (with default settings) or a Schedule instance → a Schedule."""
    if schedule is None:
        return Constant()
    if isinstance(schedule, Schedule):
        return schedule
    if isinstance(schedule, str) and schedule in NAMES:
        return NAMES[schedule]()
    raise ValueError(f"unknown schedule {schedule!r}; use a fastbp.schedules object or one of "
                     f"{', '.join(map(repr, NAMES))}")
