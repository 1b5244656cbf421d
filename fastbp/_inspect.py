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
themselves, so at their output δ = Ŷ − Y.
"""
import warnings

import numpy as np

from fastbp import _optim, _validate, optim
from fastbp.network import FIXED_OUTPUTS, REGRESSION_LOSSES, Network, _same_optimizer
from fastbp.reference import ACTIVATIONS, HUBER_DELTA, output_losses, sigmoid, softmax

__all__ = ["trace", "Trace", "LayerTrace", "check_gradients", "GradientCheck",
           "GradientCheckError", "KinkWarning", "summary",
           "DEFAULT_EPS", "TOLERANCE", "FLOAT32_TOLERANCE"]

# Rows of units / weights printed per layer before "… (N more)", and examples per cell.
MAX_ROWS = 16
MAX_EXAMPLES = 3

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


def _sup(number):
    return str(number).translate(str.maketrans("0123456789", "⁰¹²³⁴⁵⁶⁷⁸⁹"))


def _num(value):
    return f"{float(value):.6g}"


# ===== trace ===========================================================================

class LayerTrace:
    """Every intermediate of one layer in a traced step (layer ``number`` = ``index + 1``).

    Arrays hold one row per example of the traced batch (``n`` rows) unless noted.

    Attributes
    ----------
    index : int
        Position in ``net.weights`` / ``net.biases`` (0-based); the printed layer number is
        ``index + 1``, the input x being layer 0.
    activation : str
        σ of this layer (``softmax`` / ``sigmoid`` / ``exp`` for the output of the losses
        that fix it).
    is_output : bool
    W, b : ndarray (n_out, n_in), (n_out,)
        The weights and biases before the step.
    a_in : ndarray (n, n_in)
        The inputs a of the layer (x for the first layer).
    z : ndarray (n, n_out)
        Pre-activations ``z = W·a + b``.
    a_out : ndarray (n, n_out)
        Activations ``σ(z)`` (the prediction Ŷ at the output).
    dL_da : ndarray (n, n_out)
        ∂L/∂a of each example's own loss: ``∂L/∂Ŷ`` at the output, ``δ·W`` of the layer above
        elsewhere.
    fprime : ndarray (n, n_out) or None
        ``σ'(z)``; None for a softmax output, whose Jacobian is not diagonal.
    delta : ndarray (n, n_out)
        δ = ∂L/∂z of each example's own loss (no 1/n).
    grad_W, grad_b : ndarray (n_out, n_in), (n_out,)
        ∂L/∂W and ∂L/∂b of the batch's mean loss: the mean over examples of δ ⊗ a and δ.
    update_W, update_b : ndarray
        What one ``fit`` step adds: ``−η·∂L/∂W`` and ``−η·∂L/∂b`` for plain SGD, the
        optimizer's step otherwise.
    """

    FIELDS = ("W", "b", "a_in", "z", "a_out", "dL_da", "fprime", "delta",
              "grad_W", "grad_b", "update_W", "update_b")

    def __init__(self, index, activation, is_output, **arrays):
        self.index = int(index)
        self.activation = activation
        self.is_output = bool(is_output)
        for name in self.FIELDS:
            value = arrays[name]
            setattr(self, name, None if value is None else np.array(value, dtype=np.float64))

    @property
    def number(self):
        """The layer's number in the printed trace (1 for the first weight layer)."""
        return self.index + 1

    @property
    def weight_terms(self):
        """δⱼ × aₖ for each example, shape (n, n_out, n_in): the chain-rule factors of ∂L/∂W,
        whose mean over examples is ``grad_W``."""
        return self.delta[:, :, None] * self.a_in[:, None, :]

    @property
    def W_new(self):
        """W after the step: W + Δw (W − η·∂L/∂W for plain SGD)."""
        return self.W + self.update_W

    @property
    def b_new(self):
        """b after the step: b + Δb (b − η·∂L/∂b for plain SGD)."""
        return self.b + self.update_b

    def to_dict(self):
        out = {"index": self.index, "number": self.number, "activation": self.activation,
               "is_output": self.is_output}
        for name in self.FIELDS:
            value = getattr(self, name)
            out[name] = None if value is None else value.copy()
        out["weight_terms"] = self.weight_terms
        out["W_new"] = self.W_new
        out["b_new"] = self.b_new
        return out


# How each optimizer turns the gradient g into the step Δw (fastbp.optim's rules), by the
# kernel's code name.
OPTIMIZER_RULES = {
    "SGD": ("SGD", "Δw = −η·g"),
    "MOMENTUM": ("momentum", "v ← μ·v + g, Δw = −η·v"),
    "NESTEROV": ("Nesterov", "v ← μ·v + g, Δw = −η·(g + μ·v)"),
    "ADAM": ("Adam", "m ← β₁m + (1−β₁)g, v ← β₂v + (1−β₂)g², "
                     "Δw = −η·m̂/(√v̂ + ε) with m̂ = m/(1−β₁ᵗ), v̂ = v/(1−β₂ᵗ)"),
    "ADAMW": ("AdamW", "w ← (1 − ηλ)·w, then Adam: m ← β₁m + (1−β₁)g, v ← β₂v + (1−β₂)g², "
                       "w ← w − η·m̂/(√v̂ + ε) with m̂ = m/(1−β₁ᵗ), v̂ = v/(1−β₂ᵗ)"),
    "RMSPROP": ("RMSprop", "v ← ρ·v + (1−ρ)·g², Δw = −η·g/(√v + ε)"),
    "ADAGRAD": ("Adagrad", "s ← s + g², Δw = −η·g/(√s + ε)"),
    "IRPROP_MINUS": ("iRPROP−", "per weight, Δ ← η⁺·Δ while g keeps its sign, Δ ← η⁻·Δ and no "
                                "step when it flips; Δw = −sign(g)·Δ"),
}


class Trace:
    """One step of backpropagation with every intermediate kept; see :func:`trace`.

    Attributes
    ----------
    network : str
        repr of the traced network.
    loss_name : str
    dtype : str
        The network's dtype (the trace itself is computed in float64).
    lr : float or None
        The learning rate η (None for iRPROP−, which sizes its own steps).
    x : ndarray (n, n_in)
        The examples (standardised when the network scales its inputs).
    y : ndarray (n, n_out)
        The targets as the loss reads them (labels become one-hot rows; standardised when
        the network scales its targets).
    output : ndarray (n, n_out)
        The prediction Ŷ (probabilities for the classification losses).
    sample_losses : ndarray (n,)
        Each example's loss.
    loss : float
        Their mean, the L that the gradients differentiate.
    dL_dyhat : ndarray (n, n_out)
        ∂L/∂Ŷ of each example's own loss.
    layers : list of LayerTrace
        ``layers[l]`` belongs to ``net.weights[l]``.
    optimizer : str
        repr of the optimizer whose step the updates are (``SGD(...)``: Δw = −η·∂L/∂w).
    optimizer_name : str
        Its short name (``"SGD"``, ``"momentum"``, ``"Adam"``, …).
    optimizer_rule : str
        Its update rule, from the gradient g to the step Δw.
    optimizer_step : int
        The number t of this update in the optimizer's count (Adam's bias correction).
    dropout : tuple of float
        The network's dropout rates, left out of the trace (a deterministic step).
    scaled_inputs, scaled_targets : bool
        Whether x and y are in the network's standardised units.
    """

    def __init__(self, network, loss_name, dtype, lr, x, y, sample_losses, dL_dyhat, layers,
                 optimizer="SGD()", optimizer_name="SGD", optimizer_rule=OPTIMIZER_RULES["SGD"][1],
                 optimizer_step=1, dropout=(), scaled_inputs=False, scaled_targets=False):
        self.network = network
        self.loss_name = loss_name
        self.dtype = dtype
        self.lr = None if lr is None else float(lr)
        self.x = np.array(x, dtype=np.float64)
        self.y = np.array(y, dtype=np.float64)
        self.sample_losses = np.array(sample_losses, dtype=np.float64)
        self.dL_dyhat = np.array(dL_dyhat, dtype=np.float64)
        self.layers = list(layers)
        self.optimizer = str(optimizer)
        self.optimizer_name = str(optimizer_name)
        self.optimizer_rule = str(optimizer_rule)
        self.optimizer_step = int(optimizer_step)
        self.dropout = tuple(float(rate) for rate in dropout)
        self.scaled_inputs = bool(scaled_inputs)
        self.scaled_targets = bool(scaled_targets)

    @property
    def n_samples(self):
        return self.x.shape[0]

    @property
    def output(self):
        return self.layers[-1].a_out

    @property
    def loss(self):
        return float(np.mean(self.sample_losses))

    @property
    def plain_sgd(self):
        """True when the update is plain gradient descent, Δw = −η·∂L/∂w."""
        return self.optimizer_name == "SGD"

    def gradients(self):
        """``[(∂L/∂W, ∂L/∂b)]`` per layer, as ``net.gradients(x, y)`` returns them."""
        return [(layer.grad_W.copy(), layer.grad_b.copy()) for layer in self.layers]

    def updates(self):
        """``[(ΔW, Δb)]`` per layer: ``−η·∂L/∂W, −η·∂L/∂b`` for plain SGD, else the
        optimizer's step."""
        return [(layer.update_W.copy(), layer.update_b.copy()) for layer in self.layers]

    def new_weights(self):
        """(weights, biases) after the step, ready for ``net.set_weights(*trace.new_weights())``."""
        return [layer.W_new for layer in self.layers], [layer.b_new for layer in self.layers]

    # ----- plain data ------------------------------------------------------------------
    _SETTINGS = ("optimizer", "optimizer_name", "optimizer_rule", "optimizer_step", "dropout",
                 "scaled_inputs", "scaled_targets")

    def to_dict(self):
        """Everything as plain data: nested dicts and lists of fresh numpy arrays, floats,
        ints, bools, strings and None; :meth:`from_dict` rebuilds the trace."""
        return {
            "network": self.network, "loss_name": self.loss_name, "dtype": self.dtype,
            "lr": self.lr, "n_samples": self.n_samples, "loss": self.loss,
            "x": self.x.copy(), "y": self.y.copy(), "output": self.output.copy(),
            "sample_losses": self.sample_losses.copy(), "dL_dyhat": self.dL_dyhat.copy(),
            "layers": [layer.to_dict() for layer in self.layers],
            "optimizer": self.optimizer, "optimizer_name": self.optimizer_name,
            "optimizer_rule": self.optimizer_rule,
            "optimizer_step": self.optimizer_step, "dropout": list(self.dropout),
            "scaled_inputs": self.scaled_inputs, "scaled_targets": self.scaled_targets,
        }

    @classmethod
    def from_dict(cls, data):
        """The Trace that :meth:`to_dict` described (a dict without the optimizer, dropout and
        scaling entries, as older versions wrote, describes a plain SGD step)."""
        layers = [LayerTrace(d["index"], d["activation"], d["is_output"],
                             **{name: d[name] for name in LayerTrace.FIELDS})
                  for d in data["layers"]]
        settings = {name: data[name] for name in cls._SETTINGS if name in data}
        return cls(data["network"], data["loss_name"], data["dtype"], data["lr"], data["x"],
                   data["y"], data["sample_losses"], data["dL_dyhat"], layers, **settings)

    # ----- printing ---------------------------------------------------------------------
    def __repr__(self):
        examples = "example" if self.n_samples == 1 else "examples"
        step = f"lr {self.lr:g}" if self.lr is not None else "no lr"
        if not self.plain_sgd:
            step += f", {self.optimizer_name} step {self.optimizer_step}"
        return (f"<Trace of {self.n_samples} {examples} through {self.network}: "
                f"loss {self.loss:.6g}, {step}>")

    def __str__(self):
        return self.format()

    def format(self, max_rows=MAX_ROWS):
        """The step as text: forward pass, loss, backward pass, then every weight's gradient and
        update. At most `max_rows` units or weights are shown per layer, then "… (N more)"."""
        return "\n".join(_TraceFormatter(self, max_rows).lines())


def trace(net, x, y, lr=None, optimizer=None):
    """Trace one step of backpropagation on one example or a small batch.

    Computes, in float64 from the network's current weights, the forward pass, the loss,
    the backward pass and the update that
    ``net.fit(x, y, epochs=1, batch_size=len(x), lr=lr, shuffle=False, optimizer=optimizer)``
    would apply (gradients averaged over the batch), keeping every intermediate. The
    network is not changed.

    The update is that of the network's optimizer: ``−η·∂L/∂w`` for plain SGD; for the others
    (momentum, Adam, …) the optimizer's actual step, computed by its compiled kernel on
    float64 copies of the parameters and of the optimizer's current state (update number
    ``t = steps so far + 1``). Dropout is left out: the trace is the deterministic step, as if
    every unit were kept. A network that scales its inputs or targets is traced in its own,
    standardised units, which its first ``fit`` learns (before that, tracing it is an error).

    Parameters
    ----------
    net : fastbp.Network
    x : array_like, shape (n_in,) for one example, or (n, n_in)
    y : array_like
        Targets as ``fit`` takes them; for one example also a scalar (a value, or a class
        label for cross_entropy) or a vector of the outputs.
    lr : float or None
        Learning rate η, as ``fit`` takes it: None means the optimizer's own ``lr`` or its
        default (0.01 for SGD, 0.001 for Adam); iRPROP− takes none.
    optimizer : str or fastbp.optim configuration, optional
        As ``fit``'s: None traces the network's own optimizer, from its current state; the
        same optimizer continues from that state, another one starts afresh. L-BFGS has no
        single step to show (scipy's line searches choose them): pass another one.

    Returns
    -------
    Trace
        ``str(trace)`` is a step-by-step table; ``trace.layers[l]`` holds layer l's arrays.

    Raises
    ------
    ValueError
        Bad data or lr (as ``fit`` would say), or an L-BFGS optimizer.
    RuntimeError
        The network scales its inputs or targets but has not been fitted yet.

    Examples
    --------
    >>> import fastbp
    >>> from fastbp import _inspect
    >>> net = fastbp.Network([3, 2, 1], dtype="float64", seed=0)
    >>> step = _inspect.trace(net, [0.5, -1.0, 2.0], 0.7, lr=0.1)
    >>> [layer.delta.shape for layer in step.layers]
    [(1, 2), (1, 1)]
    >>> print(step)  # doctest: +ELLIPSIS
    One step of backpropagation for Network([3, 2, 1], ...
    """
    X, Y = _examples(net, x, y)
    config, lr, state, t = _step_plan(net, optimizer, lr)
    n = X.shape[0]
    loss_name = net.loss_name
    names = list(net.activations) + [net.output]

    # forward pass: z = W·a + b, a' = σ(z) (no dropout: the deterministic step)
    weights = [np.array(W, dtype=np.float64) for W in net.weights]
    biases = [np.array(b, dtype=np.float64) for b in net.biases]
    a_in, z, a_out = [], [], []
    a = X
    for W, b, name in zip(weights, biases, names):
        a_in.append(a)
        z.append(a @ W.T + b)
        a = _activate(name, z[-1])
        a_out.append(a)

    sample_losses, dL_dyhat, out_fprime, out_delta = _output_loss(
        loss_name, names[-1], z[-1], a_out[-1], Y)

    # backward pass: δ of each layer from the one above, by the chain rule
    L = len(weights)
    dL_da, fprime, delta = [None] * L, [None] * L, [None] * L
    dL_da[-1], fprime[-1], delta[-1] = dL_dyhat, out_fprime, out_delta
    for l in range(L - 2, -1, -1):
        dL_da[l] = delta[l + 1] @ weights[l + 1]  # ∂L/∂a = Wᵀ·δ, one row per example
        fprime[l] = ACTIVATIONS[names[l]][1](z[l])  # from z: gelu's σ' is not a function of a
        delta[l] = dL_da[l] * fprime[l]

    grads = [(delta[l].T @ a_in[l] / n, delta[l].sum(axis=0) / n)  # means of δ ⊗ a and δ
             for l in range(L)]
    updates = _updates(net, config, lr, state, t, weights, grads)
    layers = [LayerTrace(l, names[l], l == L - 1, W=weights[l], b=biases[l], a_in=a_in[l],
                         z=z[l], a_out=a_out[l], dL_da=dL_da[l], fprime=fprime[l],
                         delta=delta[l], grad_W=grads[l][0], grad_b=grads[l][1],
                         update_W=updates[l][0], update_b=updates[l][1])
              for l in range(L)]
    name, rule = OPTIMIZER_RULES[config.code.name]
    return Trace(repr(net), loss_name, net.dtype.name,
                 None if config.default_lr is None else lr, X, Y, sample_losses, dL_dyhat,
                 layers, optimizer=repr(config), optimizer_name=name, optimizer_rule=rule,
                 optimizer_step=t, dropout=net.dropout if any(net.dropout) else (),
                 scaled_inputs=net._scale_inputs, scaled_targets=net._scale_targets)


def _activate(name, z):
    """σ(z) by name, including the outputs the losses fix (softmax, exp)."""
    if name == "softmax":
        return softmax(z)
    if name == "exp":
        return np.exp(z)
    return ACTIVATIONS[name][0](z)


def _output_loss(loss_name, output, Z, Yhat, Y):
    """(sample losses, ∂L/∂Ŷ, σ'(z) or None, δ) at the output, per example as in
    fastbp.reference."""
    if loss_name in REGRESSION_LOSSES:
        sample_losses = output_losses(loss_name, Yhat, Y)
        R = Yhat - Y
        if loss_name == "mse":
            dL_dyhat = R
        elif loss_name == "mae":
            dL_dyhat = np.sign(R)  # 0 at R = 0, as the kernel takes it
        else:  # huber: the slope is clipped to ±HUBER_DELTA beyond it
            dL_dyhat = np.clip(R, -HUBER_DELTA, HUBER_DELTA)
        out_fprime = ACTIVATIONS[output][1](Z)
        return sample_losses, dL_dyhat, out_fprime, dL_dyhat * out_fprime
    sample_losses = output_losses(loss_name, Z, Y)
    if loss_name == "poisson":  # Ŷ = e^z: L = Ŷ − Y·log Ŷ = e^z − Y·z
        with np.errstate(divide="ignore", invalid="ignore"):  # Ŷ may underflow to 0
            dL_dyhat = 1.0 - Y / Yhat
        return sample_losses, dL_dyhat, Yhat, Yhat - Y  # σ'(z) = e^z = Ŷ; δ without the division
    if loss_name == "cross_entropy":
        with np.errstate(divide="ignore"):  # Ŷ may underflow to 0: ∂L/∂Ŷ is then infinite
            dL_dyhat = np.where(Y != 0, -Y / Yhat, 0.0)
        return sample_losses, dL_dyhat, None, Yhat - Y  # the softmax Jacobian is not diagonal
    # binary cross entropy on sigmoid outputs: softplus(z) − y·z
    with np.errstate(divide="ignore"):
        dL_dyhat = np.where(Y == 1, -1.0 / Yhat, 1.0 / sigmoid(-Z))  # (Ŷ − Y) / (Ŷ(1 − Ŷ))
    out_fprime = Yhat * sigmoid(-Z)  # σ'(z) = σ(z)·(1 − σ(z))
    return sample_losses, dL_dyhat, out_fprime, Yhat - Y  # = ∂L/∂Ŷ × σ'(z), without the division


def _step_plan(net, optimizer, lr):
    """(config, lr, state, t): the optimizer, learning rate, float64 copy of the state and
    update number that ``fit(..., lr=lr, optimizer=optimizer)`` would step with."""
    config = net.optimizer if optimizer is None else optim.resolve(optimizer)
    if config.code is None:
        raise ValueError(
            f"trace shows one gradient step, and {config!r} has none to show: L-BFGS lets "
            "scipy choose line-searched steps over all the data. Pass another optimizer, e.g. "
            "trace(net, x, y, optimizer='sgd').")
    lr = Network._base_lr(config, lr)  # fit's rule, with its errors
    if _same_optimizer(config, net.optimizer):  # fit would carry on from the current state
        state, t = np.array(net._optimizer_state, dtype=np.float64), net._optimizer_step + 1
    else:
        state, t = config.new_state(net.n_params, np.float64), 1
    return config, lr, state, t


def _updates(net, config, lr, state, t, weights, grads):
    """[(ΔW, Δb)] per layer: what the optimizer's step adds (state is a scratch copy)."""
    if config.code == _optim.Optimizer.SGD:  # plain gradient descent, in the tutorials' form
        return [(-lr * gW, -lr * gb) for gW, gb in grads]
    slices = net._arch.weight_slices()  # the flat layout the optimizer state shares
    params = net._params.astype(np.float64)
    flat_grads = np.empty(net.n_params)
    for (w, b, end), (gW, gb) in zip(slices, grads):
        flat_grads[w:b], flat_grads[b:end] = gW.reshape(-1), gb
    stepped = params.copy()
    _optim.step(config.code, stepped, flat_grads, lr, config.hyper(), state, t)
    update = stepped - params
    return [(update[w:b].reshape(W.shape), update[b:end]) for (w, b, end), W in zip(slices, weights)]


def _examples(net, x, y):
    """(X, Y) as float64 (n, n_in), (n, n_out) copies, checked as fit checks them (one example
    may come as a vector and a scalar)."""
    x, y = np.asarray(x), np.asarray(y)
    if x.ndim == 1:  # one example: y is a scalar, a label, or the vector of outputs
        x = x.reshape(1, -1)
        y = y.reshape(1) if y.size == 1 else y.reshape(1, -1)
    return _in_network_units(net, x, y, "trace")


def _in_network_units(net, X, y, what):
    """(X, Y) as float64 (n, n_in), (n, n_out) arrays in the units the weights act on: the
    standardised ones (as the network's dtype rounds them) when the network scales them."""
    X = _validate.inputs(X, net.sizes[0], np.dtype(np.float64))
    try:
        if net._scale_inputs:
            X = net._inputs(X)
        if net._scale_targets:
            Y = net._targets(y, X.shape[0])
        else:
            Y = _validate.targets(y, X.shape[0], net.sizes[-1], net.loss_name, np.dtype(np.float64))
    except RuntimeError as exc:  # scaling not learnt yet
        raise RuntimeError(f"{what} works in the network's own, standardised units, which its "
                           f"first fit learns: {exc}") from None
    return np.array(X, dtype=np.float64), np.array(Y, dtype=np.float64)


class _TraceFormatter:
    def __init__(self, trace, max_rows):
        self.t = trace
        self.max_rows = max(1, int(max_rows))
        self.batch = trace.n_samples > 1

    def cell(self, column):
        """One value per example: a number, or [e1, e2, e3, …] for a batch."""
        if not self.batch:
            return _num(column[0])
        shown = ", ".join(_num(v) for v in column[:MAX_EXAMPLES])
        return f"[{shown}{', …' if len(column) > MAX_EXAMPLES else ''}]"

    def limited(self, count):
        return range(min(count, self.max_rows))

    def more(self, count, what, indent="    "):
        hidden = count - self.max_rows
        return [f"{indent}… ({hidden} more {what})"] if hidden > 0 else []

    def lines(self):
        t = self.t
        examples = f"{t.n_samples} example" + ("s" if t.n_samples > 1 else "")
        rate = (f"learning rate η = {t.lr:g}" if t.lr is not None
                else f"no learning rate ({t.optimizer_name} sizes its own steps)")
        out = [f"One step of backpropagation for {t.network}",
               f"{examples}, {rate}, computed in float64 from the network's current weights.",
               "Layer 0 is the input x; layer l uses net.weights[l-1] and net.biases[l-1]; units "
               "count from 1."]
        if self.batch:
            out.append(f"Values per example are listed [example 1, example 2, …]; the gradients "
                       f"are means over the {t.n_samples} examples, as fit averages a batch.")
        if not t.plain_sgd:
            out.append(f"Update: the optimizer's actual step, update t = {t.optimizer_step} of "
                       f"{t.optimizer}, from its current state (run on copies: the network "
                       "is unchanged).")
        if t.scaled_inputs or t.scaled_targets:
            scaled = " and ".join(what for what, on in (("x", t.scaled_inputs),
                                                       ("Y", t.scaled_targets)) if on)
            out.append(f"Units: the network's own, standardised ones: {scaled} = (value − mean) "
                       "/ std with the mean and std its first fit learnt"
                       + (", and Ŷ in the same units (predict maps it back)."
                          if t.scaled_targets else "."))
        if t.dropout:
            rates = ", ".join(f"{rate:g}" for rate in t.dropout)
            out.append(f"Dropout (rates {rates} of the hidden layers) is left out: this is the "
                       "deterministic step, with every unit kept; fit drops units at random.")
        out += [""] + self.forward() + [""] + self.loss() + [""] + self.backward() + [""] + self.updates()
        return out

    def forward(self):
        t = self.t
        out = ["Forward pass: z = W·a + b, then a = σ(z), layer by layer",
               "  layer 0 (input): a⁰ = x"]
        n_in = t.x.shape[1]
        out += _table(["unit", "x"], [[str(k + 1), self.cell(t.x[:, k])] for k in self.limited(n_in)])
        out += self.more(n_in, "inputs")
        for layer in t.layers:
            l = layer.number
            role = "output" if layer.is_output else "hidden"
            out.append(f"  layer {l} ({role}, {layer.activation}): z{_sup(l)} = W{_sup(l)}·a{_sup(l - 1)} "
                       f"+ b{_sup(l)}, a{_sup(l)} = {layer.activation}(z{_sup(l)})"
                       + (" = Ŷ" if layer.is_output else ""))
            a_name = "Ŷ = σ(z)" if layer.is_output else "a = σ(z)"
            n_out = layer.z.shape[1]
            out += _table(["unit", "z = W·a + b", a_name],
                          [[str(j + 1), self.cell(layer.z[:, j]), self.cell(layer.a_out[:, j])]
                           for j in self.limited(n_out)])
            out += self.more(n_out, "units")
        return out

    def loss(self):
        t = self.t
        formula = {
            "mse": ("L = ½·Σₖ(Ŷₖ − Yₖ)²", "∂L/∂Ŷ = Ŷ − Y"),
            "mae": ("L = Σₖ|Ŷₖ − Yₖ|", "∂L/∂Ŷ = sign(Ŷ − Y)"),
            "huber": ("L = Σₖ ½(Ŷₖ − Yₖ)² where |Ŷₖ − Yₖ| ≤ 1, |Ŷₖ − Yₖ| − ½ beyond",
                      "∂L/∂Ŷ = clip(Ŷ − Y, −1, 1)"),
            "poisson": ("L = Σₖ (Ŷₖ − Yₖ·log Ŷₖ), Ŷ = exp(z)", "∂L/∂Ŷ = 1 − Y/Ŷ"),
            "cross_entropy": ("L = −Σₖ Yₖ·log Ŷₖ, Ŷ = softmax(z) (labels as one-hot Y)", "∂L/∂Ŷ = −Y/Ŷ"),
            "binary_cross_entropy": ("L = −Σₖ [Yₖ·log Ŷₖ + (1 − Yₖ)·log(1 − Ŷₖ)], Ŷ = sigmoid(z)",
                                     "∂L/∂Ŷ = (Ŷ − Y)/(Ŷ·(1 − Ŷ))"),
        }[t.loss_name]
        mean = ", averaged over the batch" if self.batch else ""
        out = [f"Loss ({t.loss_name}): {formula[0]} per example{mean}"]
        n_out = t.y.shape[1]
        out += _table(["output", "Ŷ", "Y", formula[1]],
                      [[str(k + 1), self.cell(t.output[:, k]), self.cell(t.y[:, k]),
                        self.cell(t.dL_dyhat[:, k])] for k in self.limited(n_out)])
        out += self.more(n_out, "outputs")
        if self.batch:
            out.append(f"  L = mean of {self.cell(t.sample_losses)} = {_num(t.loss)}")
        else:
            out.append(f"  L = {_num(t.loss)}")
        return out

    def backward(self):
        t = self.t
        out = ["Backward pass: δ = ∂L/∂z by the chain rule, from the output back to layer 1"]
        for layer in reversed(t.layers):
            l = layer.number
            n_out = layer.z.shape[1]
            units = self.limited(n_out)
            if layer.is_output and layer.fprime is None:
                out.append(f"  layer {l} (output, softmax): δ{_sup(l)} = Ŷ − Y "
                           "(softmax and cross entropy together)")
                out += _table(["unit", "∂L/∂Ŷ", "δ = Ŷ − Y"],
                              [[str(j + 1), self.cell(layer.dL_da[:, j]), self.cell(layer.delta[:, j])]
                               for j in units])
            else:
                if layer.is_output:
                    source = "∂L/∂Ŷ"
                    note = " = Ŷ − Y" if t.loss_name in ("binary_cross_entropy", "poisson") else ""
                    out.append(f"  layer {l} (output, {layer.activation}): "
                               f"δ{_sup(l)} = ∂L/∂Ŷ × σ'(z{_sup(l)}){note}")
                else:
                    source = f"∂L/∂a = W{_sup(l + 1)}ᵀ·δ{_sup(l + 1)}"
                    out.append(f"  layer {l} (hidden, {layer.activation}): ∂L/∂a{_sup(l)} = "
                               f"W{_sup(l + 1)}ᵀ·δ{_sup(l + 1)}, δ{_sup(l)} = ∂L/∂a{_sup(l)} × σ'(z{_sup(l)})")
                out += _table(["unit", source, "σ'(z)", "δ = ∂L/∂a × σ'(z)"],
                              [[str(j + 1), self.cell(layer.dL_da[:, j]), self.cell(layer.fprime[:, j]),
                                self.cell(layer.delta[:, j])] for j in units])
            out += self.more(n_out, "units")
        return out

    def updates(self):
        t = self.t
        mean = "mean(δ × a)" if self.batch else "δ × a"
        if t.plain_sgd:
            out = [f"Gradients and updates, η = {t.lr:g}: ∂L/∂w = δ (of the unit it feeds) × a "
                   "(of the unit it comes from), Δw = −η·∂L/∂w"]
            step_header = "Δw = −η·∂L/∂w"
        else:
            rate = f"η = {t.lr:g}, " if t.lr is not None else ""
            out = ["Gradients and updates: ∂L/∂w = δ (of the unit it feeds) × a (of the unit it "
                   f"comes from), g = ∂L/∂w; Δw is the {t.optimizer_name} step "
                   f"({rate}t = {t.optimizer_step}):",
                   f"  {t.optimizer_rule}"]
            step_header = f"Δw ({t.optimizer_name})"
        out.append("  Wˡ[j,k] connects unit k of layer l−1 to unit j of layer l "
                   "(net.weights[l-1][j-1, k-1]); bˡ[j] is a weight from a constant input 1.")
        for layer in t.layers:
            l = layer.number
            n_out, n_in = layer.W.shape
            out.append(f"  layer {l}: W{_sup(l)} ({n_out}×{n_in}) and b{_sup(l)} ({n_out})")
            rows = []
            for flat in self.limited(n_out * n_in):
                j, k = divmod(flat, n_in)
                rows.append([f"W{_sup(l)}[{j + 1},{k + 1}]", _num(layer.W[j, k]),
                             self.cell(layer.delta[:, j]), self.cell(layer.a_in[:, k]),
                             _num(layer.grad_W[j, k]), _num(layer.update_W[j, k]),
                             _num(layer.W_new[j, k])])
            hidden_weights = n_out * n_in - self.max_rows
            if hidden_weights > 0:
                rows.append([f"… ({hidden_weights} more weights)"] + [""] * 6)
            ones = self.cell(np.ones(t.n_samples))
            for j in self.limited(n_out):
                rows.append([f"b{_sup(l)}[{j + 1}]", _num(layer.b[j]), self.cell(layer.delta[:, j]),
                             ones, _num(layer.grad_b[j]), _num(layer.update_b[j]), _num(layer.b_new[j])])
            hidden_biases = n_out - self.max_rows
            if hidden_biases > 0:
                rows.append([f"… ({hidden_biases} more biases)"] + [""] * 6)
            out += _table(["weight", "w", "δ (to)", "a (from)", f"∂L/∂w = {mean}",
                           step_header, "w + Δw"], rows)
        return out


def _table(header, rows, indent="    ", left=1):
    """Text columns: the first `left` left-aligned, the others right-aligned. A row whose other
    cells are all empty (a "… (N more)" note) does not widen the first column."""
    notes = {i for i, row in enumerate(rows) if not any(row[1:])}
    widths = [max([len(header[c])] + [len(row[c]) for i, row in enumerate(rows)
                                      if not (c == 0 and i in notes)])
              for c in range(len(header))]
    lines = []
    for i, row in enumerate([header] + rows):
        if i - 1 in notes:
            lines.append(indent + row[0])
            continue
        cells = [cell.ljust(w) if c < left else cell.rjust(w)
                 for c, (cell, w) in enumerate(zip(row, widths))]
        lines.append((indent + "  ".join(cells)).rstrip())
    return lines


# ===== gradient check ======================================================================

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
# jumps at a zero residual, huber's curvature at a residual of ±1.
KINKED_ACTIVATIONS = ("relu", "leaky_relu", "elu")
KINKED_LOSSES = {"mae": "across 0", "huber": f"across ±{HUBER_DELTA:g}"}


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

    def __init__(self, network, n_samples, weight_errors, bias_errors, gradients, numeric,
                 tolerance, eps, dtype_errors=None, dtype_tolerance=FLOAT32_TOLERANCE, kinks=0,
                 kink_units=(), source="backpropagation", weighted=False, alpha=0.0,
                 kink_description="relu/leaky_relu pre-activation across 0", scaled=False):
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
    def max_error(self):
        """The largest relative error against the finite differences."""
        return max(self.weight_errors + self.bias_errors)

    @property
    def passed(self):
        ok = self.max_error <= self.tolerance
        if self.dtype_errors is not None:
            ok = ok and max(max(pair) for pair in self.dtype_errors) <= self.dtype_tolerance
        return bool(ok)

    def raise_if_failed(self):
        """Raise GradientCheckError (an AssertionError) with the report if the check failed;
        otherwise return the check."""
        if not self.passed:
            raise GradientCheckError("\n" + str(self))
        return self

    def __bool__(self):
        return self.passed

    def __repr__(self):
        return (f"<GradientCheck {'passed' if self.passed else 'FAILED'}: max relative error "
                f"{self.max_error:.2e}, tolerance {self.tolerance:g}>")

    def __str__(self):
        def mark(error, tolerance):
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
        rows = []
        for l, ((dW, db), w_err, b_err) in enumerate(zip(self.gradients, self.weight_errors,
                                                         self.bias_errors)):
            rows.append([str(l + 1), "×".join(map(str, dW.shape)), f"{np.linalg.norm(dW):.3g}",
                         mark(w_err, self.tolerance), str(db.shape[0]), f"{np.linalg.norm(db):.3g}",
                         mark(b_err, self.tolerance)])
        out += _table(["layer", "W", "‖∂L/∂W‖", "error", "b", "‖∂L/∂b‖", "error"], rows)
        if self.dtype_errors is not None:
            out.append(f"  float32 kernels: net.gradients in float32 against the float64 "
                       f"backpropagation, tolerance {self.dtype_tolerance:g}")
            out += _table(["layer", "W error", "b error"],
                          [[str(l + 1), mark(w, self.dtype_tolerance), mark(b, self.dtype_tolerance)]
                           for l, (w, b) in enumerate(self.dtype_errors)])
        if self.kinks:
            out.append(f"  warning: {self.kinks} perturbation(s) moved a {self.kink_description} "
                       "(a kink): finite differences are unreliable there")
        return "\n".join(out)


def _relative_error(g, g_hat):
    norm = np.linalg.norm
    return float(norm(g - g_hat) / max(norm(g), norm(g_hat), np.finfo(np.float64).tiny))


def _float64_copy(net):
    """The same network (architecture and weights) in float64, without dropout or scaling:
    loss and gradients never drop, and the check hands it data already in the network's units."""
    copy = Network(net.sizes, activation=list(net.activations),
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

    def __init__(self, net, X, Y):
        self.names = list(net.activations) + [net.output]
        self.kinked = [l for l, name in enumerate(net.activations) if name in KINKED_ACTIVATIONS]
        self.loss_name = net.loss_name if net.loss_name in KINKED_LOSSES else None
        self.output = len(net.weights) - 1
        self.crossings = 0
        self.units = set()  # (layer number, unit number) of hidden pre-activations
        self.residuals = set()  # (layer number, output number) of loss residuals
        self.last = self.output if self.loss_name else (self.kinked[-1] if self.kinked else -1)
        if self.last < 0:
            return
        self.Y = Y
        self.weights = [np.array(W, dtype=np.float64) for W in net.weights]
        self.biases = [np.array(b, dtype=np.float64) for b in net.biases]
        self.a, self.z = [X], []
        for l in range(self.last + 1):
            self.z.append(self.a[-1] @ self.weights[l].T + self.biases[l])
            self.a.append(ACTIVATIONS[self.names[l]][0](self.z[-1]))
        if self.loss_name:
            self.region = self._region(self.z[self.output])

    def _region(self, z):
        """Which side of the loss's kink each residual r = Ŷ − Y lies on."""
        r = ACTIVATIONS[self.names[-1]][0](z) - self.Y
        if self.loss_name == "mae":
            return np.sign(r)
        return np.where(r > HUBER_DELTA, 1, np.where(r < -HUBER_DELTA, -1, 0))

    def check(self, layer, kind, flat_index, change):
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
                z = ACTIVATIONS[self.names[l - 1]][0](z) @ self.weights[l].T + self.biases[l]
            if l in self.kinked:
                flipped = np.flatnonzero(np.any((z > 0) != (self.z[l] > 0), axis=0))
                self.units.update((l + 1, int(u) + 1) for u in flipped)
                crossed |= flipped.size > 0
            if self.loss_name and l == self.output:
                flipped = np.flatnonzero(np.any(self._region(z) != self.region, axis=0))
                self.residuals.update((l + 1, int(u) + 1) for u in flipped)
                crossed |= flipped.size > 0
        self.crossings += crossed

    def description(self):
        """What was crossed, in words, naming up to five places of each kind."""
        def places(pairs, name):
            shown = ", ".join(name(l, j) for l, j in sorted(pairs)[:5])
            return shown + (f" and {len(pairs) - 5} more" if len(pairs) > 5 else "")

        parts = []
        if self.units:
            kinds = "/".join(sorted({self.names[l - 1] for l, _ in self.units},
                                    key=KINKED_ACTIVATIONS.index))
            parts.append(f"{kinds} pre-activation across 0 "
                         f"({places(self.units, lambda l, j: f'layer {l} unit {j}')})")
        if self.residuals:
            parts.append(f"{self.loss_name} residual Ŷ − Y {KINKED_LOSSES[self.loss_name]} "
                         f"({places(self.residuals, lambda l, j: f'output {j}')})")
        return "; ".join(parts)


def check_gradients(net, X, y, eps=None, sample_weight=None, alpha=0.0, gradients=None):
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
        for a float32 network, its own gradients are within ``FLOAT32_TOLERANCE``);
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
    data, targets = _in_network_units(net, X, y, "check_gradients")
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
    numeric = []
    for layer, (W, b) in enumerate(zip(copy.weights, copy.biases)):
        pair = []
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
        kink_description=kinks, scaled=net._scale_inputs or net._scale_targets)
    if watch.crossings:
        warnings.warn(KinkWarning(
            f"check_gradients: finite-difference steps crossed kinks: {kinks}. The differences "
            "straddle a kink there and their errors are not evidence against backpropagation. "
            "Check with inputs, biases or targets that keep the pre-activations and residuals "
            "away from their kinks."), stacklevel=2)
    return result


def _given_gradients(gradients, net):
    """The gradients as float64 (dW, db) pairs shaped like net's, and whether any was float32."""
    pairs = list(gradients)
    if len(pairs) != len(net.weights):
        raise ValueError(f"gradients has {len(pairs)} layers, the network {len(net.weights)}")
    checked, in_float32 = [], False
    for l, (pair, W, b) in enumerate(zip(pairs, net.weights, net.biases)):
        in_float32 |= any(np.asarray(g).dtype == np.float32 for g in pair)
        dW, db = (np.array(g, dtype=np.float64) for g in pair)
        if dW.shape != W.shape or db.shape != b.shape:
            raise ValueError(f"gradients[{l}] has shapes {dW.shape}, {db.shape}; "
                             f"expected {W.shape}, {b.shape}")
        checked.append((dW, db))
    return checked, in_float32


# ===== summary ==============================================================================

LOSS_DESCRIPTIONS = {
    "mse": "mse, ½·Σₖ(ŷₖ − yₖ)² averaged over examples",
    "mae": "mae, Σₖ|ŷₖ − yₖ| averaged over examples",
    "huber": f"huber (δ = {HUBER_DELTA:g}), Σₖ ½rₖ² where |rₖ| ≤ {HUBER_DELTA:g}, "
             f"|rₖ| − ½ beyond (r = ŷ − y), averaged over examples",
    "poisson": "poisson, exp outputs ŷ = e^z, Σₖ ŷₖ − yₖ·log ŷₖ averaged over examples",
    "cross_entropy": "cross_entropy, softmax outputs, averaged over examples",
    "binary_cross_entropy": "binary_cross_entropy, sigmoid outputs, averaged over examples",
}


def summary(net):
    """A table of the layers, like Keras' ``model.summary()``.

    One row per layer (its widths, activation, dropout when the network has any, weight and
    bias shapes, parameter count), then the total number of parameters, the loss, the dtype,
    the optimizer (with its step count and the size of its state, which is not counted among
    the parameters) and the input / target scaling.

    Examples
    --------
    >>> import fastbp
    >>> from fastbp import _inspect
    >>> print(_inspect.summary(fastbp.Network([3, 4, 4, 1], seed=0)))  # doctest: +ELLIPSIS
    Network([3, 4, 4, 1], ...
    """
    names = list(net.activations) + [net.output]
    dropout = list(net.dropout) + [0.0]  # of each layer's output; never the network's output
    show_dropout = any(dropout)
    rows, total = [], 0
    for l, (W, b, name) in enumerate(zip(net.weights, net.biases, names)):
        count = int(W.size + b.size)
        total += count
        if l == len(names) - 1 and net.loss_name in FIXED_OUTPUTS:
            name = f"{name} (in the loss)"
        row = [f"Dense {l + 1}", f"{W.shape[1]} → {W.shape[0]}", name]
        if show_dropout:
            row.append(f"{dropout[l]:g}" if l < len(names) - 1 else "-")
        rows.append(row + [str(W.shape), str(b.shape), f"{count:,}"])
    header = ["Layer", "Units", "Activation"] + (["Dropout"] if show_dropout else []) + [
        "Weights", "Biases", "Parameters"]
    table = _table(header, rows, indent="", left=5 + show_dropout)
    rule = "=" * max(len(line) for line in table)
    dtype = np.dtype(net.dtype)
    lines = [repr(net), rule, table[0], "-" * len(rule)] + table[1:] + [
        rule,
        f"Total parameters: {total:,} ({_bytes(total * dtype.itemsize)} in {dtype.name})",
        f"Loss: {LOSS_DESCRIPTIONS[net.loss_name]}",
        f"dtype: {dtype.name}",
        f"Optimizer: {_optimizer_line(net)}",
        f"Scaling: {_scaling_line(net)}"]
    if show_dropout:
        lines.append("Dropout: inverted dropout of each hidden layer's output during fit only "
                     "(predict, loss and gradients keep every unit)")
    return "\n".join(lines)


def _optimizer_line(net):
    config = net.optimizer
    steps = net._optimizer_step
    line = f"{config!r}, {steps:,} update{'s' if steps != 1 else ''} so far"
    size = net._optimizer_state.size
    if size:
        per = size // net.n_params
        line += (f"; its state is {per} × {net.n_params:,} values "
                 f"({_bytes(size * net._optimizer_state.itemsize)})")
    return line


def _scaling_line(net):
    scaled = [what for what, on in (("inputs", net._scale_inputs),
                                    ("targets", net._scale_targets)) if on]
    if not scaled:
        return "none"
    learnt = net._input_scaler is not None or net._target_scaler is not None
    return (f"{' and '.join(scaled)} standardised, (value − mean) / std, with the mean and std "
            + ("learnt by the first fit" if learnt else "that the first fit will learn"))


def _bytes(count):
    for unit in ("B", "KB", "MB", "GB"):
        if count < 1024 or unit == "GB":
            return f"{count:,} {unit}" if unit == "B" else f"{count:.2f} {unit}"
        count /= 1024
