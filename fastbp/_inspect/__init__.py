"""Look inside a network: one traced backpropagation step, a gradient check and a summary.

Everything here is computed in plain float64 numpy from the network's current weights and
keeps every intermediate of the textbook algorithm, in the tutorials' notation:

    forward    z = W·a + b,  a' = σ(z)              (a⁰ = x; the last a is the prediction Ŷ)
    loss       L = ½·Σₖ(Ŷₖ − Yₖ)²                   (mse; or mae, huber, poisson, a cross entropy)
    backward   δ = ∂L/∂z = ∂L/∂a × σ'(z),  ∂L/∂a = Wᵀ·δ of the layer above   (the chain rule)
    gradient   ∂L/∂w = δ (of the unit it feeds) × a (of the unit it comes from),  ∂L/∂b = δ
    update     w ← w − η·∂L/∂w                      (or the step of the network's optimizer)

Losses follow :mod:`fastbp.reference` (and so :class:`fastbp.Network`): per-example losses,
averaged over the examples of a batch; the losses that fix the output (cross entropy,
binary cross entropy, poisson) take the logits z and apply softmax / sigmoid / exp
themselves, so at their output δ = Ŷ − Y. The trace runs the reference's own forward and
backward passes; each activation's formula and kink come from :mod:`fastbp._registry`.

The package reads a network through its public API and its ``state``; it never imports
:mod:`fastbp.network` (the float64 copy of the gradient check is made by ``type(net)``).
"""
from fastbp._inspect.gradient_check import (DEFAULT_EPS, FLOAT32_TOLERANCE, TOLERANCE,
                                            GradientCheck, GradientCheckError, KinkWarning,
                                            check_gradients)
from fastbp._inspect.summary import summary
from fastbp._inspect.trace import MAX_ROWS, LayerTrace, Trace, trace

__all__ = ["trace", "Trace", "LayerTrace", "check_gradients", "GradientCheck",
           "GradientCheckError", "KinkWarning", "summary",
           "DEFAULT_EPS", "TOLERANCE", "FLOAT32_TOLERANCE", "MAX_ROWS"]
