"""One registry per formula family: every activation, loss and optimizer rule fastbp knows.

Each entry names its compiled kernel's code (the enums of ``_kernels`` and ``_optim``, whose
member names are the registry names upper-cased), its formula, and what the Python side needs
to know about it. Every list of names elsewhere (the Network's choices, the reference's
activations, the inspection's kinks and texts) derives from these tables. The activations'
numpy f and f′ here are the float64 twins of the kernels: the reference network computes with
them and the tests hold the kernels to them.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from fastbp._kernels import Activation as ActivationCode
from fastbp._kernels import Loss as LossCode
from fastbp._optim import Optimizer as OptimizerCode

# huber: quadratic within HUBER_DELTA of the target, linear beyond (the kernel's constant).
HUBER_DELTA = 1.0

# An activation or its derivative, elementwise over a float64 array.
ArrayFunction = Callable[[NDArray[np.float64]], NDArray[np.float64]]


# ----- activations ----------------------------------------------------------------------------
_erf: Callable[[NDArray[np.float64]], NDArray[np.float64]] = np.vectorize(math.erf, otypes=[np.float64])


def sigmoid(z: NDArray[np.float64]) -> NDArray[np.float64]:
    return 1.0 / (1.0 + np.exp(-z))


def gelu(z: NDArray[np.float64]) -> NDArray[np.float64]:
    return 0.5 * z * (1.0 + _erf(z / np.sqrt(2.0)))


def gelu_derivative(z: NDArray[np.float64]) -> NDArray[np.float64]:
    slope: NDArray[np.float64] = (0.5 * (1.0 + _erf(z / np.sqrt(2.0)))
                                  + z * np.exp(-0.5 * z * z) / np.sqrt(2.0 * np.pi))
    return slope


@dataclass(frozen=True)
class Activation:
    """One activation σ: its kernel code, formula, float64 numpy twin and derivative.

    ``kink``: σ's slope (relu, leaky_relu) or curvature (elu) jumps at z = 0, where a central
    finite difference across 0 is unreliable (the gradient check warns there).
    ``regression_output``: allowed as the output of the regression losses.
    """
    name: str
    code: ActivationCode
    formula: str
    derivative_formula: str
    f: ArrayFunction
    derivative: ArrayFunction
    description: str
    kink: bool = False
    regression_output: bool = False


def _activations(*entries: Activation) -> dict[str, Activation]:
    return {entry.name: entry for entry in entries}


# In the order the Network documents them (and lists them in its error messages).
ACTIVATIONS = _activations(
    Activation("sigmoid", ActivationCode.SIGMOID, "σ(z) = 1 / (1 + e^−z)",
               "σ′(z) = σ(z)·(1 − σ(z))", sigmoid, lambda z: sigmoid(z) * (1.0 - sigmoid(z)),
               "the logistic function, (0, 1)", regression_output=True),
    Activation("tanh", ActivationCode.TANH, "tanh(z)", "1 − tanh²(z)",
               np.tanh, lambda z: 1.0 - np.tanh(z) ** 2, "hyperbolic tangent, (−1, 1)",
               regression_output=True),
    Activation("relu", ActivationCode.RELU, "max(z, 0)", "1 for z > 0, else 0",
               lambda z: np.maximum(z, 0.0), lambda z: (z > 0).astype(np.float64),
               "rectified linear unit (derivative 0 at 0)", kink=True),
    Activation("leaky_relu", ActivationCode.LEAKY_RELU, "z for z > 0, else 0.01·z",
               "1 for z > 0, else 0.01",
               lambda z: np.where(z > 0, z, 0.01 * z), lambda z: np.where(z > 0, 1.0, 0.01),
               "relu with slope 0.01 below 0", kink=True),
    Activation("identity", ActivationCode.IDENTITY, "z", "1",
               lambda z: z, lambda z: np.ones_like(z), "no activation (linear)",
               regression_output=True),
    Activation("elu", ActivationCode.ELU, "z for z > 0, else e^z − 1",
               "1 for z > 0, else e^z",
               lambda z: np.where(z > 0, z, np.expm1(np.minimum(z, 0))),
               lambda z: np.where(z > 0, 1.0, np.exp(np.minimum(z, 0))),
               "exponential linear unit (α = 1)", kink=True),
    Activation("softplus", ActivationCode.SOFTPLUS, "log(1 + e^z)", "σ(z)",
               lambda z: np.maximum(z, 0) + np.log1p(np.exp(-np.abs(z))), sigmoid,
               "a smooth relu"),
    Activation("gelu", ActivationCode.GELU, "½·z·(1 + erf(z/√2))", "Φ(z) + z·φ(z)",
               gelu, gelu_derivative, "Gaussian error linear unit (exact, erf form)"),
)
HIDDEN_ACTIVATIONS = tuple(ACTIVATIONS)
# identity, the default, first: in kernel-code order.
REGRESSION_OUTPUTS = tuple(sorted((name for name, entry in ACTIVATIONS.items()
                                   if entry.regression_output),
                                  key=lambda name: ACTIVATIONS[name].code))
KINKED_ACTIVATIONS = tuple(name for name, entry in ACTIVATIONS.items() if entry.kink)


# ----- losses ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class Loss:
    """One loss: its kernel code, the output activation it fixes (None: the regression losses,
    which take the network's ``output``), its formulas and where it has a kink.

    The losses that fix the output take the logits z and apply softmax / sigmoid / exp
    themselves, fused with the log for stability. ``kink`` says where the residual r = Ŷ − Y
    crosses one (None: smooth).
    """
    name: str
    code: LossCode
    fixed_output: str | None
    classification: bool
    formula: str
    gradient_formula: str
    description: str
    kink: str | None = None


def _losses(*entries: Loss) -> dict[str, Loss]:
    return {entry.name: entry for entry in sorted(entries, key=lambda entry: entry.code)}


# In kernel-code order.
LOSSES = _losses(
    Loss("mse", LossCode.MSE, None, False, "L = ½·Σₖ(Ŷₖ − Yₖ)²", "∂L/∂Ŷ = Ŷ − Y",
         "mse, ½·Σₖ(ŷₖ − yₖ)² averaged over examples"),
    Loss("cross_entropy", LossCode.CROSS_ENTROPY, "softmax", True,
         "L = −Σₖ Yₖ·log Ŷₖ, Ŷ = softmax(z) (labels as one-hot Y)", "∂L/∂Ŷ = −Y/Ŷ",
         "cross_entropy, softmax outputs, averaged over examples"),
    Loss("binary_cross_entropy", LossCode.BINARY_CROSS_ENTROPY, "sigmoid", True,
         "L = −Σₖ [Yₖ·log Ŷₖ + (1 − Yₖ)·log(1 − Ŷₖ)], Ŷ = sigmoid(z)",
         "∂L/∂Ŷ = (Ŷ − Y)/(Ŷ·(1 − Ŷ))",
         "binary_cross_entropy, sigmoid outputs, averaged over examples"),
    Loss("mae", LossCode.MAE, None, False, "L = Σₖ|Ŷₖ − Yₖ|", "∂L/∂Ŷ = sign(Ŷ − Y)",
         "mae, Σₖ|ŷₖ − yₖ| averaged over examples", kink="across 0"),
    Loss("huber", LossCode.HUBER, None, False,
         "L = Σₖ ½(Ŷₖ − Yₖ)² where |Ŷₖ − Yₖ| ≤ 1, |Ŷₖ − Yₖ| − ½ beyond",
         "∂L/∂Ŷ = clip(Ŷ − Y, −1, 1)",
         f"huber (δ = {HUBER_DELTA:g}), Σₖ ½rₖ² where |rₖ| ≤ {HUBER_DELTA:g}, "
         f"|rₖ| − ½ beyond (r = ŷ − y), averaged over examples",
         kink=f"across ±{HUBER_DELTA:g}"),
    Loss("poisson", LossCode.POISSON, "exp", False,
         "L = Σₖ (Ŷₖ − Yₖ·log Ŷₖ), Ŷ = exp(z)", "∂L/∂Ŷ = 1 − Y/Ŷ",
         "poisson, exp outputs ŷ = e^z, Σₖ ŷₖ − yₖ·log ŷₖ averaged over examples"),
)
REGRESSION_LOSSES = tuple(name for name, entry in LOSSES.items() if entry.fixed_output is None)
CLASSIFICATION_LOSSES = tuple(name for name, entry in LOSSES.items() if entry.classification)
FIXED_OUTPUTS = {name: entry.fixed_output for name, entry in LOSSES.items()
                 if entry.fixed_output is not None}
KINKED_LOSSES = {name: entry.kink for name, entry in LOSSES.items() if entry.kink}


# ----- optimizer rules ------------------------------------------------------------------------
@dataclass(frozen=True)
class OptimizerRule:
    """One update rule of the compiled step kernel: its code, its name in print and its formula
    from the gradient g to the step Δw (the configurations live in ``fastbp.optim``)."""
    name: str
    code: OptimizerCode
    title: str
    formula: str


def _rule(name: str, title: str, formula: str) -> OptimizerRule:
    return OptimizerRule(name, OptimizerCode[name.upper().replace("-", "_MINUS")], title, formula)


OPTIMIZER_RULES = {rule.name: rule for rule in (
    _rule("sgd", "SGD", "Δw = −η·g"),
    _rule("momentum", "momentum", "v ← μ·v + g, Δw = −η·v"),
    _rule("nesterov", "Nesterov", "v ← μ·v + g, Δw = −η·(g + μ·v)"),
    _rule("adam", "Adam", "m ← β₁m + (1−β₁)g, v ← β₂v + (1−β₂)g², "
                          "Δw = −η·m̂/(√v̂ + ε) with m̂ = m/(1−β₁ᵗ), v̂ = v/(1−β₂ᵗ)"),
    _rule("adamw", "AdamW", "w ← (1 − ηλ)·w, then Adam: m ← β₁m + (1−β₁)g, v ← β₂v + (1−β₂)g², "
                            "w ← w − η·m̂/(√v̂ + ε) with m̂ = m/(1−β₁ᵗ), v̂ = v/(1−β₂ᵗ)"),
    _rule("rmsprop", "RMSprop", "v ← ρ·v + (1−ρ)·g², Δw = −η·g/(√v + ε)"),
    _rule("adagrad", "Adagrad", "s ← s + g², Δw = −η·g/(√s + ε)"),
    _rule("irprop-", "iRPROP−", "per weight, Δ ← η⁺·Δ while g keeps its sign, Δ ← η⁻·Δ and no "
                                "step when it flips; Δw = −sign(g)·Δ"),
    # scikit-learn's forms (SGD(convention="sklearn"), Adam(convention="sklearn")).
    _rule("momentum_sklearn", "momentum (scikit-learn)", "v ← μ·v − η·g, Δw = v"),
    _rule("nesterov_sklearn", "Nesterov (scikit-learn)", "v ← μ·v − η·g, Δw = μ·v − η·g"),
    _rule("adam_sklearn", "Adam (scikit-learn)", "m ← β₁m + (1−β₁)g, v ← β₂v + (1−β₂)g², "
                                                 "Δw = −η·√(1−β₂ᵗ)/(1−β₁ᵗ)·m/(√v + ε)"),
)}
RULE_OF_CODE = {rule.code: rule for rule in OPTIMIZER_RULES.values()}


# ----- the L2 penalty -------------------------------------------------------------------------
def l2_penalty(weights: Iterable[NDArray[Any]], alpha: float) -> float:
    """½·alpha·Σ‖W‖² over the weight matrices (the biases are not penalised), as a float.

    Each layer's ‖W‖² is summed in its array's dtype; the compiled trainer adds the same term
    (and alpha·W to each ∂L/∂W, see :func:`l2_gradient`) batch by batch.
    """
    if alpha == 0:
        return 0.0
    return 0.5 * alpha * sum(float(np.dot(W.ravel(), W.ravel())) for W in weights)


def l2_penalty_flat(theta: NDArray[np.float64], weight_mask: NDArray[np.float64], alpha: float) -> float:
    """:func:`l2_penalty` over a flat float64 parameter vector `theta` (L-BFGS's), with
    `weight_mask` 1 on the weights and 0 on the biases, summed as one vector: L-BFGS's line
    search steers by this value, so its rounding is kept as it is."""
    return 0.5 * alpha * float(np.sum(weight_mask * theta * theta))


def l2_gradient(W: NDArray[Any], alpha: float) -> NDArray[Any]:
    """∂/∂W of :func:`l2_penalty`: alpha·W."""
    return alpha * W
