"""Optimizers: small frozen configurations naming an update rule and its hyper-parameters.

The update itself is one compiled kernel over the network's flat parameter, gradient and state
arrays (``fastbp._optim``); these objects only validate and carry what it needs. The update
rules follow PyTorch's ``torch.optim`` conventions:

========================  ==================================================================
``SGD()``                 θ ← θ − η·g
``SGD(momentum=μ)``       v ← μ·v + g;  θ ← θ − η·v
``SGD(μ, nesterov=True)`` v ← μ·v + g;  θ ← θ − η·(g + μ·v)
``Adam()``                m ← β₁m + (1−β₁)g;  v ← β₂v + (1−β₂)g²;  θ ← θ − η·m̂/(√v̂ + ε),
                          m̂ = m/(1−β₁ᵗ), v̂ = v/(1−β₂ᵗ)
``AdamW()``               θ ← (1 − ηλ)·θ, then the Adam step (decoupled weight decay)
``RMSprop()``             v ← ρ·v + (1−ρ)·g²;  θ ← θ − η·g/(√v + ε)
``Adagrad()``             s ← s + g²;  θ ← θ − η·g/(√s + ε)
``IRPropMinus()``         per-weight steps Δ grown by η⁺ while g keeps its sign, shrunk by η⁻
                          (and that weight left alone) when it flips;  θ ← θ − sign(g)·Δ
``LBFGS()``               full-batch quasi-Newton, run through ``scipy.optimize``
========================  ==================================================================

``SGD`` and ``Adam`` also take ``convention="sklearn"``, scikit-learn's forms (its MLP's
``SGDOptimizer`` and ``AdamOptimizer``, same arithmetic order): momentum as a velocity of
lr-scaled steps, v ← μ·v − η·g; θ ← θ + v (Nesterov: θ ← θ + μ·v − η·g with the new v), which
differs from PyTorch's when η changes between steps; Adam with ε added to the uncorrected √v,
θ ← θ − η_t·m/(√v + ε), η_t = η·√(1−β₂ᵗ)/(1−β₁ᵗ) in float64. Plain SGD is the same in both.

>>> from fastbp import optim
>>> optim.resolve("adam")
Adam(lr=None, beta1=0.9, beta2=0.999, eps=1e-08)
>>> optim.SGD(lr=0.1, momentum=0.9).name, optim.SGD(momentum=0.9).code.name
('sgd', 'MOMENTUM')
"""
from __future__ import annotations

import dataclasses
import math
import numbers
from collections.abc import Callable, Mapping
from typing import Any, ClassVar, Literal, Optional, TypeVar, cast

import numpy as np
from numpy.typing import ArrayLike, DTypeLike, NDArray

from fastbp import _validate
from fastbp._optim import Optimizer, init_state, state_size
from fastbp._buffers import aligned_empty
from fastbp._registry import OPTIMIZER_RULES

__all__ = ["SGD", "Adam", "AdamW", "RMSprop", "Adagrad", "IRPropMinus", "LBFGS",
           "resolve", "from_dict"]


# --- checks (each returns the normalised value: plain float, int or bool, as JSON wants) ---

def _real(what: str, value: Any) -> float:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise TypeError(f"{what} must be a real number, got {value!r}")
    number = float(value)
    if not math.isfinite(number):
        raise ValueError(f"{what} must be finite, got {value!r}")
    return number


def _positive(what: str, value: Any) -> float:
    number = _real(what, value)
    if not number > 0:
        raise ValueError(f"{what} must be > 0, got {value!r}")
    return number


def _fraction(what: str, value: Any, *, low_open: bool = False) -> float:
    """A number in [0, 1), or (0, 1) with low_open."""
    number = _real(what, value)
    if not ((number > 0 if low_open else number >= 0) and number < 1):
        raise ValueError(f"{what} must be in {'(' if low_open else '['}0, 1), got {value!r}")
    return number


def _lr(value: Any) -> float | None:
    return None if value is None else _positive("lr", value)


def _flag(what: str, value: Any) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{what} must be True or False, got {value!r}")
    return bool(value)


def _count(what: str, value: Any) -> int:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{what} must be an integer, got {value!r}")
    if value < 1:
        raise ValueError(f"{what} must be >= 1, got {value!r}")
    return int(value)


CONVENTIONS = ("torch", "sklearn")
Convention = Literal["torch", "sklearn"]


def _convention(value: Any) -> str:
    if not isinstance(value, str) or value not in CONVENTIONS:
        raise ValueError(f"convention must be one of {', '.join(map(repr, CONVENTIONS))}, "
                         f"got {value!r}")
    return value


def _repr(config: Any) -> str:
    """The dataclass repr, naming `convention` only where it is not the default "torch" (the
    repr of every configuration before conventions existed stays as it was)."""
    shown = ", ".join(f"{field.name}={getattr(config, field.name)!r}"
                      for field in dataclasses.fields(config)
                      if field.name != "convention" or config.convention != "torch")
    return f"{type(config).__name__}({shown})"


def _non_negative(config: _Config, what: str, values: NDArray[Any]) -> None:
    if not np.all(values >= 0):
        raise ValueError(f"{config.name} state holds negative {what}")


def _set(obj: object, **values: Any) -> None:
    """Store normalised values on a frozen dataclass (validation runs before it is shared)."""
    for field, value in values.items():
        object.__setattr__(obj, field, value)


_C = TypeVar("_C", bound="_Config")


class _Config:
    """What every optimizer configuration offers: its name, saving and loading."""

    name: ClassVar[str]
    default_lr: ClassVar[Optional[float]] = None
    # Every configuration is a dataclass (for dataclasses.asdict, fields and replace).
    __dataclass_fields__: ClassVar[dict[str, dataclasses.Field[Any]]]

    def to_dict(self) -> dict[str, Any]:
        """The configuration as a JSON-able dict, ``name`` first (read back by :func:`from_dict`)."""
        return {"name": self.name, **dataclasses.asdict(self)}

    @classmethod
    def from_dict(cls: type[_C], data: Mapping[str, Any], *, complete: bool = False) -> _C:
        """The configuration that :meth:`to_dict` wrote; missing fields take their defaults
        (with ``complete=True``, as for a saved file, which holds them all, they are an error)."""
        data = dict(data)
        name = data.pop("name", cls.name)
        if name != cls.name:
            raise ValueError(f"{cls.__name__}.from_dict got the settings of {name!r}, "
                             f"not {cls.name!r}")
        known = [field.name for field in dataclasses.fields(cls)]
        unknown = sorted(set(data) - set(known), key=str)
        if unknown:
            raise ValueError(f"unknown {cls.__name__} settings {unknown}; "
                             f"known: {sorted(known)}")
        # Files written before conventions existed hold none: theirs is "torch", the default.
        missing = [field for field in known if field not in data and field != "convention"]
        if complete and missing:
            raise ValueError(f"{cls.__name__} settings lack {missing}")
        return cls(**data)

    def continues(self, previous: _Config) -> bool:
        """Whether this configuration carries on `previous`'s state: the same optimizer and
        settings, whatever the learning rate."""
        def without_lr(config: _Config) -> _Config:
            return dataclasses.replace(config, lr=None) if hasattr(config, "lr") else config
        return type(self) is type(previous) and without_lr(self) == without_lr(previous)


class _StepConfig(_Config):
    """An optimizer run by the compiled step kernel, one update per batch."""

    lr: Optional[float]  # every step configuration's field

    @property
    def code(self) -> Optimizer:
        """The kernel's optimizer code (an ``fastbp._optim.Optimizer``)."""
        return OPTIMIZER_RULES[self.name].code

    def hyper(self) -> NDArray[np.float64]:
        """The hyper-parameter array the kernel reads (float64, layout in ``_optim.pxd``)."""
        return np.array(self._hyper(), dtype=np.float64)

    @property
    def state_size(self) -> int:
        """Number of state arrays, each as long as the parameters, the optimizer keeps."""
        return state_size(self.code)

    def check_state(self, state: ArrayLike) -> None:
        """Refuse an optimizer state (e.g. read from a file) that no run of this optimizer
        produces: NaN or infinity anywhere, and what :meth:`_check_slots` refuses.

        Raises
        ------
        ValueError
            Naming the first problem.
        """
        state = np.asarray(state)
        if not np.all(np.isfinite(state)):
            raise ValueError(f"{self.name} state contains NaN or infinity")
        if self.state_size:
            self._check_slots(state.reshape(self.state_size, -1), state.dtype)

    def _check_slots(self, slots: NDArray[Any], dtype: np.dtype[Any]) -> None:
        """Refuse impossible values in the state arrays `slots` (one row per array)."""

    def new_state(self, n_params: int, dtype: DTypeLike) -> NDArray[Any]:
        """The optimizer state before the first step, for `n_params` parameters of `dtype`."""
        state = aligned_empty(self.state_size * n_params, dtype)
        init_state(self.code, self.hyper(), state)
        return state

    def _hyper(self) -> list[float]:
        raise NotImplementedError


@dataclasses.dataclass(frozen=True)
class SGD(_StepConfig):
    """Stochastic gradient descent, optionally with (Nesterov) momentum, as ``torch.optim.SGD``.

    Parameters
    ----------
    lr : float or None
        Learning rate η > 0; None takes the one given to ``fit``, else ``default_lr`` (0.01).
    momentum : float
        μ in [0, 1): v ← μ·v + g; θ ← θ − η·v. 0 is plain SGD, θ ← θ − η·g.
    nesterov : bool
        Nesterov's form, θ ← θ − η·(g + μ·v) (needs momentum > 0, except in the "sklearn"
        convention, where momentum 0 is plain SGD whatever `nesterov` says, as there).
    convention : {"torch", "sklearn"}
        "torch": the forms above. "sklearn": scikit-learn's, v ← μ·v − η·g; θ ← θ + v, and
        for Nesterov θ ← θ + μ·v − η·g with the new v: the velocity holds lr-scaled steps, so
        a change of η acts from the next step on, not on the whole velocity. Plain SGD
        (momentum 0) is the same in both. Another convention is another optimizer: the
        velocity starts afresh.

    Examples
    --------
    >>> SGD(momentum=0.9, nesterov=True).code.name
    'NESTEROV'
    """

    name: ClassVar[str] = "sgd"
    default_lr: ClassVar[float] = 0.01

    lr: Optional[float] = None
    momentum: float = 0.0
    nesterov: bool = False
    convention: Convention = "torch"

    def __post_init__(self) -> None:
        momentum = _fraction("momentum", self.momentum)
        nesterov = _flag("nesterov", self.nesterov)
        convention = _convention(self.convention)
        if nesterov and momentum == 0 and convention == "torch":
            raise ValueError("nesterov=True needs momentum > 0 (Nesterov's look-ahead is a form "
                             "of momentum)")
        _set(self, lr=_lr(self.lr), momentum=momentum, nesterov=nesterov, convention=convention)

    __repr__ = _repr

    @property
    def code(self) -> Optimizer:
        sklearn = self.convention == "sklearn"
        if self.momentum == 0:  # plain SGD: one form in both conventions
            return Optimizer.SGD
        if self.nesterov:
            return Optimizer.NESTEROV_SKLEARN if sklearn else Optimizer.NESTEROV
        return Optimizer.MOMENTUM_SKLEARN if sklearn else Optimizer.MOMENTUM

    def _hyper(self) -> list[float]:
        return [self.momentum] if self.momentum > 0 else []


def _check_adam(config: Adam | AdamW) -> None:
    _set(config, lr=_lr(config.lr), beta1=_fraction("beta1", config.beta1),
         beta2=_fraction("beta2", config.beta2), eps=_positive("eps", config.eps))


@dataclasses.dataclass(frozen=True)
class Adam(_StepConfig):
    """Adam with bias correction (Kingma & Ba 2015), as ``torch.optim.Adam``.

    m ← β₁m + (1−β₁)g; v ← β₂v + (1−β₂)g²; θ ← θ − η·m̂/(√v̂ + ε), with the bias-corrected
    m̂ = m/(1−β₁ᵗ), v̂ = v/(1−β₂ᵗ) at step t = 1, 2, ...

    Parameters
    ----------
    lr : float or None
        Learning rate η > 0; None takes the one given to ``fit``, else ``default_lr`` (1e-3).
    beta1, beta2 : float
        Decay rates of the first and second moment estimates, in [0, 1).
    eps : float
        ε > 0, added to √v̂ (outside the square root) for stability.
    convention : {"torch", "sklearn"}
        "torch": the form above. "sklearn": scikit-learn's, ε added to the uncorrected √v
        and the bias correction folded into the step, θ ← θ − η_t·m/(√v + ε) with
        η_t = η·√(1−β₂ᵗ)/(1−β₁ᵗ) in float64 (in float32 the update is formed in float64 and
        rounded as it lands on θ, as scikit-learn's numpy code does). Another convention is
        another optimizer: t, m and v start afresh.
    """

    name: ClassVar[str] = "adam"
    default_lr: ClassVar[float] = 1e-3

    lr: Optional[float] = None
    beta1: float = 0.9
    beta2: float = 0.999
    eps: float = 1e-8
    convention: Convention = "torch"

    def __post_init__(self) -> None:
        _check_adam(self)
        _set(self, convention=_convention(self.convention))

    __repr__ = _repr

    @property
    def code(self) -> Optimizer:
        return Optimizer.ADAM_SKLEARN if self.convention == "sklearn" else Optimizer.ADAM

    def _hyper(self) -> list[float]:
        return [self.beta1, self.beta2, self.eps]

    def _check_slots(self, slots: NDArray[Any], dtype: np.dtype[Any]) -> None:
        _non_negative(self, "second moments v", slots[1])


@dataclasses.dataclass(frozen=True)
class AdamW(_StepConfig):
    """Adam with decoupled weight decay (Loshchilov & Hutter 2019), as ``torch.optim.AdamW``.

    θ ← (1 − η·λ)·θ, then the :class:`Adam` step: the decay shrinks the weights directly
    instead of entering the gradient (and so the moment estimates).

    Parameters
    ----------
    lr, beta1, beta2, eps
        As for :class:`Adam`.
    weight_decay : float
        λ >= 0 (applied to every parameter, biases included).
    """

    name: ClassVar[str] = "adamw"
    default_lr: ClassVar[float] = 1e-3

    lr: Optional[float] = None
    beta1: float = 0.9
    beta2: float = 0.999
    eps: float = 1e-8
    weight_decay: float = 0.01

    def __post_init__(self) -> None:
        _check_adam(self)
        weight_decay = _real("weight_decay", self.weight_decay)
        if weight_decay < 0:
            raise ValueError(f"weight_decay must be >= 0, got {self.weight_decay!r}")
        _set(self, weight_decay=weight_decay)

    def _hyper(self) -> list[float]:
        return [self.beta1, self.beta2, self.eps, self.weight_decay]

    def _check_slots(self, slots: NDArray[Any], dtype: np.dtype[Any]) -> None:
        _non_negative(self, "second moments v", slots[1])


@dataclasses.dataclass(frozen=True)
class RMSprop(_StepConfig):
    """RMSprop (Hinton's lecture 6e), as ``torch.optim.RMSprop``.

    v ← ρ·v + (1−ρ)·g²; θ ← θ − η·g/(√v + ε).

    Parameters
    ----------
    lr : float or None
        Learning rate η > 0; None takes the one given to ``fit``, else ``default_lr`` (1e-2).
    rho : float
        Decay rate of the mean square, in [0, 1) (``alpha`` in PyTorch).
    eps : float
        ε > 0, added to √v.
    """

    name: ClassVar[str] = "rmsprop"
    default_lr: ClassVar[float] = 1e-2

    lr: Optional[float] = None
    rho: float = 0.99
    eps: float = 1e-8

    def __post_init__(self) -> None:
        _set(self, lr=_lr(self.lr), rho=_fraction("rho", self.rho),
             eps=_positive("eps", self.eps))

    def _hyper(self) -> list[float]:
        return [self.rho, self.eps]

    def _check_slots(self, slots: NDArray[Any], dtype: np.dtype[Any]) -> None:
        _non_negative(self, "mean squares v", slots[0])


@dataclasses.dataclass(frozen=True)
class Adagrad(_StepConfig):
    """Adagrad (Duchi, Hazan & Singer 2011), as ``torch.optim.Adagrad``.

    s ← s + g²; θ ← θ − η·g/(√s + ε).

    Parameters
    ----------
    lr : float or None
        Learning rate η > 0; None takes the one given to ``fit``, else ``default_lr`` (1e-2).
    eps : float
        ε > 0, added to √s.
    """

    name: ClassVar[str] = "adagrad"
    default_lr: ClassVar[float] = 1e-2

    lr: Optional[float] = None
    eps: float = 1e-10

    def __post_init__(self) -> None:
        _set(self, lr=_lr(self.lr), eps=_positive("eps", self.eps))

    def _hyper(self) -> list[float]:
        return [self.eps]

    def _check_slots(self, slots: NDArray[Any], dtype: np.dtype[Any]) -> None:
        _non_negative(self, "sums of squares s", slots[0])


@dataclasses.dataclass(frozen=True)
class IRPropMinus(_StepConfig):
    """iRPROP− (Igel & Hüsken 2000): sign-based steps with a step size per weight.

    For each weight, with g' the gradient stored at the previous step (0 at the start):
    if g·g' > 0, Δ ← min(η⁺·Δ, Δmax); if g·g' < 0, Δ ← max(η⁻·Δ, Δmin) and g ← 0 (this
    weight skips the step, and the next one neither grows nor shrinks Δ); then
    θ ← θ − sign(g)·Δ and g' ← g. Only the gradient's sign is used, which makes the rule
    suited to full-batch training; mini-batch noise flips signs and shrinks the steps.

    Parameters
    ----------
    lr : None
        Not used: the steps Δ are the rule's own. Present so that every configuration has an
        ``lr``; anything other than None is an error rather than silently ignored.
    eta_plus : float
        Growth factor η⁺ > 1 (1.2).
    eta_minus : float
        Shrink factor η⁻ in (0, 1) (0.5).
    delta0 : float
        Initial step Δ₀ > 0, within [delta_min, delta_max] (0.1).
    delta_min, delta_max : float
        Bounds of the step sizes, 0 <= delta_min <= delta_max (0 and 50).
    """

    name: ClassVar[str] = "irprop-"
    default_lr: ClassVar[None] = None

    lr: None = None
    eta_plus: float = 1.2
    eta_minus: float = 0.5
    delta0: float = 0.1
    delta_min: float = 0.0
    delta_max: float = 50.0

    def __post_init__(self) -> None:
        if self.lr is not None:
            raise ValueError(f"iRPROP- takes no learning rate (got lr={self.lr!r}); its step "
                             "sizes come from delta0, eta_plus, eta_minus, delta_min, delta_max")
        eta_plus = _real("eta_plus", self.eta_plus)
        if not eta_plus > 1:
            raise ValueError(f"eta_plus must be > 1, got {self.eta_plus!r}")
        eta_minus = _fraction("eta_minus", self.eta_minus, low_open=True)
        delta0 = _positive("delta0", self.delta0)
        delta_min = _real("delta_min", self.delta_min)
        delta_max = _positive("delta_max", self.delta_max)
        if delta_min < 0:
            raise ValueError(f"delta_min must be >= 0, got {self.delta_min!r}")
        if not delta_min <= delta0 <= delta_max:
            raise ValueError(f"need delta_min <= delta0 <= delta_max, got delta_min={delta_min!r}, "
                             f"delta0={delta0!r}, delta_max={delta_max!r}")
        _set(self, eta_plus=eta_plus, eta_minus=eta_minus, delta0=delta0,
             delta_min=delta_min, delta_max=delta_max)

    def _hyper(self) -> list[float]:
        return [self.eta_plus, self.eta_minus, self.delta_min, self.delta_max, self.delta0]

    def _check_slots(self, slots: NDArray[Any], dtype: np.dtype[Any]) -> None:
        # The kernel clamps each step to [delta_min, delta_max] as rounded to the dtype.
        low, high = dtype.type(self.delta_min), dtype.type(self.delta_max)
        steps = slots[0]
        if not (np.all(steps >= low) and np.all(steps <= high)):
            raise ValueError(f"{self.name} step sizes must lie in [delta_min, delta_max] = "
                             f"[{self.delta_min}, {self.delta_max}]")


@dataclasses.dataclass(frozen=True)
class LBFGS(_Config):
    """Full-batch L-BFGS through ``scipy.optimize.minimize(method="L-BFGS-B")`` (needs scipy).

    A configuration only: it has no step kernel (``code`` is None); fastbp supplies the loss
    and gradient of all the data at once and scipy chooses the steps.

    Parameters
    ----------
    max_iter : int
        Most L-BFGS iterations (scipy's ``maxiter``) (200).
    tol : float
        Stop when the largest component of the gradient falls to `tol` (scipy's ``gtol``)
        (1e-5).
    """

    name: ClassVar[str] = "lbfgs"
    default_lr: ClassVar[None] = None
    code: ClassVar[None] = None

    max_iter: int = 200
    tol: float = 1e-5

    def __post_init__(self) -> None:
        _set(self, max_iter=_count("max_iter", self.max_iter), tol=_positive("tol", self.tol))

    def scipy_options(self) -> dict[str, Any]:
        """The ``options`` for ``scipy.optimize.minimize(..., method="L-BFGS-B")``."""
        return {"maxiter": self.max_iter, "gtol": self.tol}


# Any optimizer configuration, and what resolve() takes: a name or a configuration.
Config = _StepConfig | LBFGS
OptimizerLike = str | _Config

_CLASSES: dict[str, type[Config]] = {
    cls.name: cls for cls in (SGD, Adam, AdamW, RMSprop, Adagrad, IRPropMinus, LBFGS)}
# Names resolve() accepts, and the configuration each stands for.
_NAMED: dict[str, Callable[[], Config]] = {
    "sgd": SGD,
    "momentum": lambda: SGD(momentum=0.9),
    "nesterov": lambda: SGD(momentum=0.9, nesterov=True),
    "adam": Adam,
    "adamw": AdamW,
    "rmsprop": RMSprop,
    "adagrad": Adagrad,
    "irprop-": IRPropMinus,
    "lbfgs": LBFGS,
}


def resolve(optimizer: OptimizerLike) -> Config:
    """The configuration object for an optimizer name or configuration.

    Parameters
    ----------
    optimizer : str or optimizer configuration
        One of ``"sgd"``, ``"momentum"`` (SGD with momentum 0.9), ``"nesterov"`` (the same,
        Nesterov's form), ``"adam"``, ``"adamw"``, ``"rmsprop"``, ``"adagrad"``,
        ``"irprop-"``, ``"lbfgs"`` (each with its default settings); or a configuration such
        as ``Adam(lr=1e-3)``, returned as it is.

    Examples
    --------
    >>> resolve("nesterov")
    SGD(lr=None, momentum=0.9, nesterov=True)
    >>> resolve(RMSprop(rho=0.9)).rho
    0.9
    """
    if isinstance(optimizer, _Config):
        return optimizer  # type: ignore[return-value]  # (every configuration is one of Config)
    if isinstance(optimizer, str):
        try:
            return _NAMED[optimizer]()
        except KeyError:
            raise ValueError(f"unknown optimizer {optimizer!r}; choose one of "
                             f"{', '.join(map(repr, _NAMED))}") from None
    if isinstance(optimizer, type) and issubclass(optimizer, _Config):
        raise TypeError(f"pass an optimizer configuration, e.g. {optimizer.__name__}(), "
                        f"not the class {optimizer.__name__}")
    raise TypeError(f"optimizer must be a name ({', '.join(map(repr, _NAMED))}) or a "
                    f"configuration from fastbp.optim, got {optimizer!r}")


def base_lr(config: _Config, lr: float | None) -> float:
    """The learning rate a fit with `config` and ``lr=lr`` steps with (1.0 for the optimizers
    that choose their own steps), after checking that the two agree."""
    config = cast(_StepConfig, config)  # (lr is read only from those with a default lr)
    if config.default_lr is None:  # iRPROP− and L-BFGS choose their own steps
        if lr is not None:
            raise ValueError(f"optimizer {config.name!r} takes no learning rate")
        return 1.0
    if lr is None:
        return config.lr if config.lr is not None else config.default_lr
    lr = _validate.positive_float("lr", lr)
    if config.lr is not None and config.lr != lr:
        raise ValueError(f"lr={lr!r} conflicts with the optimizer's lr={config.lr!r}; give one")
    return lr


def from_dict(data: Mapping[str, Any], *, complete: bool = False) -> Config:
    """The configuration saved by ``to_dict()``, whichever optimizer it names (with
    ``complete=True`` every setting must be present, as in a saved file).

    Examples
    --------
    >>> from_dict(AdamW(weight_decay=0.1).to_dict())
    AdamW(lr=None, beta1=0.9, beta2=0.999, eps=1e-08, weight_decay=0.1)
    """
    try:
        cls = _CLASSES[data["name"]]
    except (KeyError, TypeError):
        raise ValueError(f"not a saved optimizer configuration (a dict with a known 'name': "
                         f"{', '.join(map(repr, _CLASSES))}): {data!r}") from None
    return cls.from_dict(data, complete=complete)
