"""The gradient check: backpropagation against central finite differences of the loss."""
from __future__ import annotations

import warnings
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from fastbp import _validate
from fastbp._inspect.text import table
from fastbp._inspect.units import in_network_units
from fastbp._registry import (ACTIVATIONS, FIXED_OUTPUTS, HUBER_DELTA, KINKED_ACTIVATIONS,
                              KINKED_LOSSES)

if TYPE_CHECKING:
    from fastbp.network import Network  # (annotations only: the package never imports it)

# ----- gradient check tolerances --------------------------------------------------------
# Step of the central difference for parameter θ: h = DEFAULT_EPS·max(1, |θ|). Its error has
# two parts: truncation, h²/6·|L‴| (≈ 2e-11·|L‴|), and rounding, about u·|L|/h with
# u = 1.1e-16 the float64 unit roundoff (≈ 1e-11·|L|). 1e-5 balances the two (the textbook
# optimum is u^(1/3) ≈ 5e-6). Measured on every activation and loss of the tests, the worst
# per-layer error of a correct gradient is 2e-8 at 1e-5, 1.3e-7 at 1e-6 (rounding grows as
# 1/h) and 3e-8 at 1e-4 (truncation grows as h²).
DEFAULT_EPS = 1e-5
# A correct gradient gives a per-layer relative error ‖g − ĝ‖ / max(‖g‖, ‖ĝ‖) of 1e-11..2e-8
# (larger for layers whose gradient is small next to the loss, as deep in a sigmoid network);
# a wrong one (a missing σ', a transposed W, a lost 1/n, one entry off by 0.1 % of the
# layer's gradient norm) gives 1e-3 or more. 1e-6 sits between, with a margin of about 50
# below and 1000 above.
TOLERANCE = 1e-6
# A float32 network's own gradients against the float64 backpropagation of the same weights:
# float32 rounding (u ≈ 6e-8) over a few layers and a batch sum gives 1e-7..2e-6 (measured up
# to 200 examples and 3 layers); 1e-4 leaves room for moderate cancellation in the sums.
FLOAT32_TOLERANCE = 1e-4


class KinkWarning(RuntimeWarning):
    """A finite-difference step crossed a kink: a relu / leaky_relu / elu pre-activation
    across 0, or an mae residual across 0 / a huber residual across ±1. There the slope (or,
    for elu and huber, the curvature) jumps, and the central difference is unreliable."""


class GradientCheckError(AssertionError):
    """Raised by :meth:`GradientCheck.raise_if_failed`."""


# Where the loss or an activation is not smooth, a central difference across the point is off
# by O(h) instead of O(h²): for relu / leaky_relu (the slope jumps at 0) by up to the whole
# jump; for elu (its curvature jumps from 1 to 0 at 0) by about h/4 relative, 2.5e-6 at the
# default step for a unit on 0 — above TOLERANCE. The same holds for the losses: mae's slope
# jumps at a zero residual, huber's curvature at a residual of ±1. Which activations and
# losses have a kink is the registry's "kink" (KINKED_ACTIVATIONS, KINKED_LOSSES).


class GradientCheck:
    """The result of :func:`check_gradients`.

    Attributes
    ----------
    network : str
        repr of the checked network.
    weight_errors, bias_errors : list of float
        Per layer, the relative error ``‖g − ĝ‖ / max(‖g‖, ‖ĝ‖, tiny)`` (Frobenius norms) of the
        checked gradient g against the central differences ĝ.
    gradients : list of (dW, db)
        The checked gradient g (float64).
    numeric : list of (dW, db)
        The central differences ĝ (float64).
    tolerance : float
        A layer passes when both its errors are at most this.
    eps : float
        Relative step: parameter θ was moved by ``±eps·max(1, |θ|)``.
    dtype_errors : list of (float, float) or None
        For a float32 network checked without ``gradients=``: per layer, the relative errors
        of its own float32 ``net.gradients`` against the float64 ones (tolerance
        ``dtype_tolerance``), so the float32 kernels are checked too. None otherwise.
    kinks : int
        How many parameter perturbations crossed a kink (see :class:`KinkWarning`).
    kink_units : list of (int, int)
        The (layer, unit) pairs, numbered from 1 as in the trace, whose pre-activation (hidden
        layers) or residual Ŷ − Y (the output layer, for mae and huber) crossed one.
    weighted : bool
        Whether the loss was weighted by ``sample_weight``.
    alpha : float
        The L2 penalty ½·alpha·Σ‖W‖² in the checked loss.
    passed : bool
    """

    def __init__(self, network: str, n_samples: int, weight_errors: Iterable[float],
                 bias_errors: Iterable[float], gradients: Sequence[Sequence[NDArray[Any]]],
                 numeric: Sequence[Sequence[NDArray[Any]]], tolerance: float, eps: float,
                 dtype_errors: list[tuple[float, float]] | None = None,
                 dtype_tolerance: float = FLOAT32_TOLERANCE, kinks: int = 0,
                 kink_units: Iterable[tuple[int, int]] = (), source: str = "backpropagation",
                 weighted: bool = False, alpha: float = 0.0,
                 kink_description: str = "relu/leaky_relu pre-activation across 0",
                 scaled: bool = False) -> None:
        self.network = network
        self.n_samples = n_samples
        self.weight_errors = list(weight_errors)
        self.bias_errors = list(bias_errors)
        self.gradients = gradients
        self.numeric = numeric
        self.tolerance = tolerance
        self.eps = eps
        self.dtype_errors = dtype_errors
        self.dtype_tolerance = dtype_tolerance
        self.kinks = kinks
        self.kink_units = list(kink_units)
        self.source = source
        self.weighted = bool(weighted)
        self.alpha = float(alpha)
        self.kink_description = kink_description
        self.scaled = bool(scaled)

    @property
    def max_error(self) -> float:
        """The largest relative error against the finite differences; NaN when any is NaN
        (a non-finite value in either gradient)."""
        return float(np.max(self.weight_errors + self.bias_errors))

    @property
    def passed(self) -> bool:
        """Every error within its tolerance; a NaN error (a NaN or inf in g or ĝ) fails."""
        # np.max, not max: Python's max skips a NaN that is not first
        ok = self.max_error <= self.tolerance
        if self.dtype_errors is not None:
            ok = ok and np.max(self.dtype_errors) <= self.dtype_tolerance
        return bool(ok)

    def raise_if_failed(self) -> GradientCheck:
        """Raise GradientCheckError (an AssertionError) with the report if the check failed;
        otherwise return the check."""
        if not self.passed:
            raise GradientCheckError("\n" + str(self))
        return self

    def __bool__(self) -> bool:
        return self.passed

    def __repr__(self) -> str:
        return (f"<GradientCheck {'passed' if self.passed else 'FAILED'}: max relative error "
                f"{self.max_error:.2e}, tolerance {self.tolerance:g}>")

    def __str__(self) -> str:
        def mark(error: float, tolerance: float) -> str:
            return f"{error:.2e}" + ("" if error <= tolerance else "  FAIL")

        examples = f"{self.n_samples} example" + ("s" if self.n_samples != 1 else "")
        out = [f"Gradient check {'PASSED' if self.passed else 'FAILED'}: {self.network}, {examples}",
               f"  g = {self.source}, ĝ = central differences (L(θ+h) − L(θ−h)) / 2h of the loss, "
               f"h = {self.eps:g}·max(1, |θ|), all in float64"]
        if self.weighted or self.alpha or self.scaled:
            loss = "the mean loss" + (" weighted by sample_weight" if self.weighted else "")
            if self.alpha:
                loss += f" + ½·alpha·Σ‖W‖² with alpha = {self.alpha:g}"
            if self.scaled:
                loss += ", in the network's standardised units"
            out.append(f"  L = {loss}")
        out.append(f"  relative error ‖g − ĝ‖ / max(‖g‖, ‖ĝ‖) per layer, tolerance {self.tolerance:g}")
        rows: list[list[str]] = []
        for l, ((dW, db), w_err, b_err) in enumerate(zip(self.gradients, self.weight_errors,
                                                         self.bias_errors)):
            rows.append([str(l + 1), "×".join(map(str, dW.shape)), f"{np.linalg.norm(dW):.3g}",
                         mark(w_err, self.tolerance), str(db.shape[0]), f"{np.linalg.norm(db):.3g}",
                         mark(b_err, self.tolerance)])
        out += table(["layer", "W", "‖∂L/∂W‖", "error", "b", "‖∂L/∂b‖", "error"], rows)
        if self.dtype_errors is not None:
            out.append(f"  float32 kernels: net.gradients in float32 against the float64 "
                       f"backpropagation, tolerance {self.dtype_tolerance:g}")
            out += table(["layer", "W error", "b error"],
                          [[str(l + 1), mark(w, self.dtype_tolerance), mark(b, self.dtype_tolerance)]
                           for l, (w, b) in enumerate(self.dtype_errors)])
        if self.kinks:
            out.append(f"  warning: {self.kinks} perturbation(s) moved a {self.kink_description} "
                       "(a kink): finite differences are unreliable there")
        return "\n".join(out)


def _relative_error(g: NDArray[Any], g_hat: NDArray[Any]) -> float:
    if not (np.isfinite(g).all() and np.isfinite(g_hat).all()):
        return float("nan")  # nothing to measure: the layer fails
    norm = np.linalg.norm
    return float(norm(g - g_hat) / max(norm(g), norm(g_hat), np.finfo(np.float64).tiny))


def _float64_copy(net: Network) -> Network:
    """The same network (architecture and weights) in float64, without dropout or scaling:
    loss and gradients never drop, and the check hands it data already in the network's units."""
    copy = type(net)(net.sizes, activation=list(net.activations),
                   output=None if net.loss_name in FIXED_OUTPUTS else net.output,
                   loss=net.loss_name, dtype="float64", seed=0)
    copy.set_weights(net.weights, net.biases)
    return copy


class _KinkWatch:
    """Notices perturbations that cross a kink: a relu / leaky_relu / elu pre-activation
    across 0, or (mae, huber) an output residual Ŷ − Y across the loss's kink.

    Re-runs the forward pass in numpy from the perturbed layer up to the last layer that has
    a kink and compares each unit's side (z > 0, as the derivative decides it; the residual's
    region for the loss) with the unperturbed one. A unit sitting exactly on a kink is caught
    by the perturbation of its own bias. Only the examples that count (non-zero weight) are
    watched.
    """

    def __init__(self, net: Network, X: NDArray[np.float64], Y: NDArray[np.float64]) -> None:
        self.names = list(net.activations) + [net.output]
        self.kinked = [l for l, name in enumerate(net.activations) if name in KINKED_ACTIVATIONS]
        self.loss_name = net.loss_name if net.loss_name in KINKED_LOSSES else None
        self.output = len(net.weights) - 1
        self.crossings = 0
        self.units: set[tuple[int, int]] = set()  # (layer number, unit number) of hidden pre-activations
        self.residuals: set[tuple[int, int]] = set()  # (layer number, output number) of loss residuals
        self.last = self.output if self.loss_name else (self.kinked[-1] if self.kinked else -1)
        if self.last < 0:
            return
        self.Y = Y
        self.weights = [np.array(W, dtype=np.float64) for W in net.weights]
        self.biases = [np.array(b, dtype=np.float64) for b in net.biases]
        self.a: list[NDArray[np.float64]] = [X]
        self.z: list[NDArray[np.float64]] = []
        for l in range(self.last + 1):
            self.z.append(self.a[-1] @ self.weights[l].T + self.biases[l])
            self.a.append(ACTIVATIONS[self.names[l]].f(self.z[-1]))
        if self.loss_name:
            self.region = self._region(self.z[self.output])

    def _region(self, z: NDArray[np.float64]) -> NDArray[Any]:
        """Which side of the loss's kink each residual r = Ŷ − Y lies on."""
        r = ACTIVATIONS[self.names[-1]].f(z) - self.Y
        if self.loss_name == "mae":
            return np.sign(r)
        return np.where(r > HUBER_DELTA, 1, np.where(r < -HUBER_DELTA, -1, 0))

    def check(self, layer: int, kind: str, flat_index: int, change: float) -> None:
        """Record whether adding `change` to one parameter of `layer` crosses a kink."""
        if layer > self.last:
            return
        n_in = self.weights[layer].shape[1]
        j, k = divmod(flat_index, n_in) if kind == "W" else (flat_index, None)
        z = self.z[layer].copy()
        z[:, j] += change * self.a[layer][:, k] if kind == "W" else change
        crossed = False
        for l in range(layer, self.last + 1):
            if l > layer:
                z = ACTIVATIONS[self.names[l - 1]].f(z) @ self.weights[l].T + self.biases[l]
            if l in self.kinked:
                flipped = np.flatnonzero(np.any((z > 0) != (self.z[l] > 0), axis=0))
                self.units.update((l + 1, int(u) + 1) for u in flipped)
                crossed |= flipped.size > 0
            if self.loss_name and l == self.output:
                flipped = np.flatnonzero(np.any(self._region(z) != self.region, axis=0))
                self.residuals.update((l + 1, int(u) + 1) for u in flipped)
                crossed |= flipped.size > 0
        self.crossings += crossed

    def description(self) -> str:
        """What was crossed, in words, naming up to five places of each kind."""
        def places(pairs: set[tuple[int, int]], name: Callable[[int, int], str]) -> str:
            shown = ", ".join(name(l, j) for l, j in sorted(pairs)[:5])
            return shown + (f" and {len(pairs) - 5} more" if len(pairs) > 5 else "")

        parts: list[str] = []
        if self.units:
            kinds = "/".join(sorted({self.names[l - 1] for l, _ in self.units},
                                    key=KINKED_ACTIVATIONS.index))
            parts.append(f"{kinds} pre-activation across 0 "
                         f"({places(self.units, lambda l, j: f'layer {l} unit {j}')})")
        if self.residuals:
            parts.append(f"{self.loss_name} residual Ŷ − Y {KINKED_LOSSES[self.loss_name]} "  # type: ignore[index]
                         f"({places(self.residuals, lambda l, j: f'output {j}')})")
        return "; ".join(parts)


def check_gradients(net: Network, X: ArrayLike, y: ArrayLike, eps: float | None = None,
                    sample_weight: ArrayLike | None = None, alpha: float = 0.0,
                    gradients: Iterable[Sequence[ArrayLike]] | None = None) -> GradientCheck:
    """Check backpropagation against central finite differences of the loss.

    The network is copied to float64 (same architecture and weights); the gradient of that
    copy (``net.gradients(X, y, sample_weight, alpha)`` in float64) is compared with
    ``(L(θ + h) − L(θ − h)) / 2h`` of its ``loss(X, y, sample_weight, alpha)`` for every weight
    and bias θ, with ``h = eps·max(1, |θ|)``. For a float32 network the network's own float32
    gradients are also compared with the float64 ones (tolerance ``FLOAT32_TOLERANCE``), so
    both kernel specialisations are checked. A network that scales its inputs or targets is
    checked in its own, standardised units (as its ``loss`` and ``gradients`` work). Costs two
    loss evaluations per parameter: meant for small networks and batches.

    Parameters
    ----------
    net : fastbp.Network
        Not changed.
    X, y : array_like
        Examples and targets, as ``net.loss`` takes them.
    eps : float or None
        Relative step of the differences; None means ``DEFAULT_EPS`` (1e-5).
    sample_weight : array_like (n,), optional
        Non-negative weights of the examples, passed to both ``net.gradients`` and
        ``net.loss``: the checked loss is their weighted mean.
    alpha : float
        L2 penalty ½·alpha·Σ‖W‖² added to the checked loss (and so alpha·W to ∂L/∂W).
    gradients : list of (dW, db) or None
        A gradient to check instead of the network's own (for instance a hand-derived or
        deliberately wrong one), shaped like ``net.gradients(X, y)`` (and including the
        sample weights and alpha·W when those are given). If any of its arrays is float32
        the tolerance is ``FLOAT32_TOLERANCE``: float32 rounding alone can exceed
        ``TOLERANCE``.

    Returns
    -------
    GradientCheck
        ``.passed`` is True when every layer's relative error is at most ``TOLERANCE`` (and,
        for a float32 network, its own gradients are within ``FLOAT32_TOLERANCE``); a NaN or
        inf anywhere in the checked or the numeric gradient fails it;
        ``str()`` is a per-layer report; ``.raise_if_failed()`` raises when it failed.

    Warns
    -----
    KinkWarning
        When a step crossed a kink: a hidden relu / leaky_relu / elu pre-activation across 0,
        an mae residual Ŷ − Y across 0 or a huber residual across ±1. The difference then
        straddles the kink, and a large error there says nothing about backpropagation.

    Examples
    --------
    >>> import numpy as np, fastbp
    >>> from fastbp import _inspect
    >>> net = fastbp.Network([3, 4, 1], activation="tanh", seed=0)
    >>> X, y = np.random.default_rng(0).normal(size=(5, 3)), np.zeros(5)
    >>> _inspect.check_gradients(net, X, y).passed
    True
    >>> _inspect.check_gradients(net, X, y, sample_weight=[1, 2, 0, 1, 1], alpha=0.1).passed
    True
    """
    step = DEFAULT_EPS if eps is None else _validate.positive_float("eps", eps)
    copy = _float64_copy(net)
    data, targets = in_network_units(net, X, y, "check_gradients")
    weights = None if sample_weight is None else np.asarray(sample_weight)
    analytic = copy.gradients(data, targets, sample_weight=weights, alpha=alpha)  # checks both
    tolerance = TOLERANCE
    if gradients is None:
        checked, source = analytic, "backpropagation (net.gradients of the float64 copy)"
    else:
        checked, in_float32 = _given_gradients(gradients, copy)
        source = "the given gradients" + (" (float32)" if in_float32 else "")
        if in_float32:  # their own rounding, not the differences, then sets the error floor
            tolerance = FLOAT32_TOLERANCE

    counted = slice(None) if weights is None else np.asarray(weights, dtype=np.float64) > 0
    watch = _KinkWatch(copy, data[counted], targets[counted])
    numeric: list[tuple[NDArray[Any], ...]] = []
    for layer, (W, b) in enumerate(zip(copy.weights, copy.biases)):
        pair: list[NDArray[Any]] = []
        for kind, param in (("W", W), ("b", b)):
            flat = param.reshape(-1)  # a view into the copy's parameters
            g_hat = np.empty(flat.size)
            for i in range(flat.size):
                saved = float(flat[i])
                h = step * max(1.0, abs(saved))
                up, down = saved + h, saved - h
                flat[i] = up
                loss_up = copy.loss(data, targets, sample_weight=weights, alpha=alpha)
                flat[i] = down
                loss_down = copy.loss(data, targets, sample_weight=weights, alpha=alpha)
                flat[i] = saved
                g_hat[i] = (loss_up - loss_down) / (up - down)  # the step as actually rounded
                watch.check(layer, kind, i, up - saved)
                watch.check(layer, kind, i, down - saved)
            pair.append(g_hat.reshape(param.shape))
        numeric.append(tuple(pair))

    dtype_errors = None
    if gradients is None and net.dtype == np.float32:
        own = net.gradients(X, y, sample_weight=sample_weight, alpha=alpha)
        dtype_errors = [(_relative_error(np.asarray(dW, np.float64), aW),
                         _relative_error(np.asarray(db, np.float64), ab))
                        for (dW, db), (aW, ab) in zip(own, analytic)]

    kinks = watch.description()
    result = GradientCheck(
        repr(net), data.shape[0],
        [_relative_error(g[0], n[0]) for g, n in zip(checked, numeric)],
        [_relative_error(g[1], n[1]) for g, n in zip(checked, numeric)],
        checked, numeric, tolerance, step, dtype_errors=dtype_errors,
        kinks=watch.crossings, kink_units=sorted(watch.units | watch.residuals), source=source,
        weighted=weights is not None, alpha=_validate.non_negative_float("alpha", alpha),
        kink_description=kinks, scaled=net.scale_inputs or net.scale_targets)
    if watch.crossings:
        warnings.warn(KinkWarning(
            f"check_gradients: finite-difference steps crossed kinks: {kinks}. The differences "
            "straddle a kink there and their errors are not evidence against backpropagation. "
            "Check with inputs, biases or targets that keep the pre-activations and residuals "
            "away from their kinks."), stacklevel=2)
    return result


def _given_gradients(gradients: Iterable[Sequence[ArrayLike]], net: Network
                     ) -> tuple[list[tuple[NDArray[np.float64], NDArray[np.float64]]], bool]:
    """The gradients as float64 (dW, db) pairs shaped like net's, and whether any was float32."""
    pairs = list(gradients)
    if len(pairs) != len(net.weights):
        raise ValueError(f"gradients has {len(pairs)} layers, the network {len(net.weights)}")
    checked: list[tuple[NDArray[np.float64], NDArray[np.float64]]] = []
    in_float32 = False
    for l, (pair, W, b) in enumerate(zip(pairs, net.weights, net.biases)):
        in_float32 |= any(np.asarray(g).dtype == np.float32 for g in pair)
        dW, db = (np.array(g, dtype=np.float64) for g in pair)
        if dW.shape != W.shape or db.shape != b.shape:
            raise ValueError(f"gradients[{l}] has shapes {dW.shape}, {db.shape}; "
                             f"expected {W.shape}, {b.shape}")
        checked.append((dW, db))
    return checked, in_float32
