"""One step of backpropagation with every intermediate kept, in the tutorials' notation."""
from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, cast

import numpy as np
from numpy.typing import ArrayLike, NDArray

from fastbp import _registry, optim
from fastbp._optim import Optimizer
from fastbp._optim import step as optimizer_step
from fastbp._inspect import picture
from fastbp._inspect.text import number, superscript, table
from fastbp._inspect.units import examples
from fastbp._registry import ACTIVATIONS, HUBER_DELTA, OPTIMIZER_RULES, RULE_OF_CODE, sigmoid
from fastbp.reference import ReferenceNetwork, output_losses

if TYPE_CHECKING:  # (matplotlib is optional: only for the annotations)
    from matplotlib.figure import Figure

    from fastbp.network import Network

Array = NDArray[np.float64]
# (∂L/∂W, ∂L/∂b) or (ΔW, Δb) of one layer
LayerPair = tuple[Array, Array]

# Rows of units / weights printed per layer before "… (N more)", and examples per cell.
MAX_ROWS = 16
MAX_EXAMPLES = 3


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
    # (set from FIELDS in __init__)
    W: Array
    b: Array
    a_in: Array
    z: Array
    a_out: Array
    dL_da: Array
    fprime: Array | None
    delta: Array
    grad_W: Array
    grad_b: Array
    update_W: Array
    update_b: Array

    def __init__(self, index: int, activation: str, is_output: bool,
                 **arrays: ArrayLike | None) -> None:
        self.index = int(index)
        self.activation = activation
        self.is_output = bool(is_output)
        for name in self.FIELDS:
            value = arrays[name]
            setattr(self, name, None if value is None else np.array(value, dtype=np.float64))

    @property
    def number(self) -> int:
        """The layer's number in the printed trace (1 for the first weight layer)."""
        return self.index + 1

    @property
    def weight_terms(self) -> Array:
        """δⱼ × aₖ for each example, shape (n, n_out, n_in): the chain-rule factors of ∂L/∂W,
        whose mean over examples is ``grad_W``."""
        return self.delta[:, :, None] * self.a_in[:, None, :]

    @property
    def W_new(self) -> Array:
        """W after the step: W + Δw (W − η·∂L/∂W for plain SGD)."""
        return self.W + self.update_W

    @property
    def b_new(self) -> Array:
        """b after the step: b + Δb (b − η·∂L/∂b for plain SGD)."""
        return self.b + self.update_b

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"index": self.index, "number": self.number,
                               "activation": self.activation, "is_output": self.is_output}
        for name in self.FIELDS:
            value = getattr(self, name)
            out[name] = None if value is None else value.copy()
        out["weight_terms"] = self.weight_terms
        out["W_new"] = self.W_new
        out["b_new"] = self.b_new
        return out


# How each optimizer turns the gradient g into the step Δw (fastbp.optim's rules), by the


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

    def __init__(self, network: str, loss_name: str, dtype: str, lr: float | None, x: ArrayLike,
                 y: ArrayLike, sample_losses: ArrayLike, dL_dyhat: ArrayLike,
                 layers: Iterable[LayerTrace], optimizer: str = "SGD()",
                 optimizer_name: str = "SGD",
                 optimizer_rule: str = OPTIMIZER_RULES["sgd"].formula, optimizer_step: int = 1,
                 dropout: Iterable[float] = (), scaled_inputs: bool = False,
                 scaled_targets: bool = False) -> None:
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
    def n_samples(self) -> int:
        return cast(int, self.x.shape[0])

    @property
    def output(self) -> Array:
        return self.layers[-1].a_out

    @property
    def loss(self) -> float:
        return float(np.mean(self.sample_losses))

    @property
    def plain_sgd(self) -> bool:
        """True when the update is plain gradient descent, Δw = −η·∂L/∂w."""
        return self.optimizer_name == "SGD"

    def gradients(self) -> list[LayerPair]:
        """``[(∂L/∂W, ∂L/∂b)]`` per layer, as ``net.gradients(x, y)`` returns them."""
        return [(layer.grad_W.copy(), layer.grad_b.copy()) for layer in self.layers]

    def updates(self) -> list[LayerPair]:
        """``[(ΔW, Δb)]`` per layer: ``−η·∂L/∂W, −η·∂L/∂b`` for plain SGD, else the
        optimizer's step."""
        return [(layer.update_W.copy(), layer.update_b.copy()) for layer in self.layers]

    def new_weights(self) -> tuple[list[Array], list[Array]]:
        """(weights, biases) after the step, ready for ``net.set_weights(*trace.new_weights())``."""
        return [layer.W_new for layer in self.layers], [layer.b_new for layer in self.layers]

    # ----- plain data ------------------------------------------------------------------
    _SETTINGS = ("optimizer", "optimizer_name", "optimizer_rule", "optimizer_step", "dropout",
                 "scaled_inputs", "scaled_targets")

    def to_dict(self) -> dict[str, Any]:
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
    def from_dict(cls, data: Mapping[str, Any]) -> Trace:
        """The Trace that :meth:`to_dict` described (a dict without the optimizer, dropout and
        scaling entries, as older versions wrote, describes a plain SGD step)."""
        layers = [LayerTrace(d["index"], d["activation"], d["is_output"],
                             **{name: d[name] for name in LayerTrace.FIELDS})
                  for d in data["layers"]]
        settings = {name: data[name] for name in cls._SETTINGS if name in data}
        return cls(data["network"], data["loss_name"], data["dtype"], data["lr"], data["x"],
                   data["y"], data["sample_losses"], data["dL_dyhat"], layers, **settings)

    # ----- drawing ----------------------------------------------------------------------
    def plot(self, path: str | os.PathLike[str] | None = None, *,
             show: str = "forward") -> Figure:
        """Draw the step as the tutorials do: neurons as circles in columns, one per layer,
        weights as lines, the loss and the target at the output.

        Each circle is labelled with its unit's value (x at the inputs): a = σ(z) for
        ``show="forward"``, δ = ∂L/∂z for ``"backward"``, the bias's change Δb for
        ``"update"``. Each weight is a line coloured by its sign (blue positive, orange
        negative) and as wide as its size, scaled to the picture's largest: the weight w
        (forward), ∂L/∂w (backward) or its change Δw = −η·∂L/∂w, or the optimizer's step
        (update). A layer of more than 12 units shows its 8 of largest |value|, then "+ n
        more" (their lines are left out). Values are printed as ``print(trace)`` prints them.

        Parameters
        ----------
        path : str or os.PathLike, optional
            Save the picture there too, as PNG or SVG by the extension (``.png``, ``.svg``),
            through a temporary file renamed into place. A figure saved so is not kept by
            pyplot (``plt.show()`` does not show it; drawing many leaves none open); without
            a path the figure is pyplot's, shown in a notebook (``step.plot();`` shows it
            once) or by ``plt.show()``.
        show : {"forward", "backward", "update"}
            The view: the forward pass, the backward pass with the gradients, or the update.

        Returns
        -------
        matplotlib.figure.Figure

        Raises
        ------
        ImportError
            matplotlib is not installed (``pip install "fastbp[plot]"``).
        ValueError
            A bad `show` or extension, or a trace of several examples (trace one row).

        Examples
        --------
        >>> import fastbp
        >>> net = fastbp.Network([3, 4, 1], activation="sigmoid", seed=0)
        >>> step = net.trace([0.5, -1.0, 2.0], 0.7, lr=0.1)
        >>> figure = step.plot("step.svg", show="backward")  # doctest: +SKIP
        """
        return picture.draw(self, path, show=show)

    # ----- printing ---------------------------------------------------------------------
    def __repr__(self) -> str:
        examples = "example" if self.n_samples == 1 else "examples"
        step = f"lr {self.lr:g}" if self.lr is not None else "no lr"
        if not self.plain_sgd:
            step += f", {self.optimizer_name} step {self.optimizer_step}"
        return (f"<Trace of {self.n_samples} {examples} through {self.network}: "
                f"loss {self.loss:.6g}, {step}>")

    def __str__(self) -> str:
        return self.format()

    def format(self, max_rows: int = MAX_ROWS) -> str:
        """The step as text: forward pass, loss, backward pass, then every weight's gradient and
        update. At most `max_rows` units or weights are shown per layer, then "… (N more)"."""
        return "\n".join(_TraceFormatter(self, max_rows).lines())


def trace(net: Network, x: ArrayLike, y: ArrayLike, lr: float | None = None,
          optimizer: optim.OptimizerLike | None = None) -> Trace:
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
    X, Y = examples(net, x, y)
    config, lr, state, t = _step_plan(net, optimizer, lr)
    n = X.shape[0]
    loss_name = net.loss_name
    names = list(net.activations) + [net.output]
    L = len(names)

    # The reference's passes, on float64 copies of the weights (no dropout: the
    # deterministic step): a[l] is layer l's input, z[l] its pre-activation, δ[l] = ∂L/∂z[l]
    # of each example's own loss (no 1/n).
    reference = ReferenceNetwork.like(net)
    a, z = reference.forward(X)
    delta = reference.backward(a, z, Y)
    a_out = a[1:-1] + [reference.outputs(a[-1])]  # the output's σ, in the loss for some
    sample_losses = output_losses(loss_name, a[-1], Y)
    dL_dyhat, out_fprime = _output_slopes(loss_name, names[-1], z[-1], a_out[-1], Y)
    dL_da = [delta[l + 1] @ reference.weights[l + 1] for l in range(L - 1)] + [dL_dyhat]  # Wᵀ·δ
    fprime = [ACTIVATIONS[names[l]].derivative(z[l]) for l in range(L - 1)] + [out_fprime]

    grads = [(delta[l].T @ a[l] / n, delta[l].sum(axis=0) / n)  # means of δ ⊗ a and δ
             for l in range(L)]
    updates = _updates(net, config, lr, state, t, reference.weights, grads)
    layers = [LayerTrace(l, names[l], l == L - 1, W=reference.weights[l], b=reference.biases[l],
                         a_in=a[l], z=z[l], a_out=a_out[l], dL_da=dL_da[l], fprime=fprime[l],
                         delta=delta[l], grad_W=grads[l][0], grad_b=grads[l][1],
                         update_W=updates[l][0], update_b=updates[l][1])
              for l in range(L)]
    rule = RULE_OF_CODE[config.code]
    return Trace(repr(net), loss_name, net.dtype.name,
                 None if config.default_lr is None else lr, X, Y, sample_losses, dL_dyhat,
                 layers, optimizer=repr(config), optimizer_name=rule.title,
                 optimizer_rule=rule.formula, optimizer_step=t,
                 dropout=net.dropout if any(net.dropout) else (),
                 scaled_inputs=net.scale_inputs, scaled_targets=net.scale_targets)


def _output_slopes(loss_name: str, output: str, Z: Array, Yhat: Array,
                   Y: Array) -> tuple[Array, Array | None]:
    """(∂L/∂Ŷ, σ'(z) or None) at the output, per example: the factors the printed chain rule
    shows (the reference's backward computes δ itself)."""
    if _registry.LOSSES[loss_name].fixed_output is None:
        R = Yhat - Y
        if loss_name == "mse":
            dL_dyhat = R
        elif loss_name == "mae":
            dL_dyhat = np.sign(R)  # 0 at R = 0, as the kernel takes it
        else:  # huber: the slope is clipped to ±HUBER_DELTA beyond it
            dL_dyhat = np.clip(R, -HUBER_DELTA, HUBER_DELTA)
        return dL_dyhat, ACTIVATIONS[output].derivative(Z)
    if loss_name == "poisson":  # Ŷ = e^z: L = Ŷ − Y·log Ŷ = e^z − Y·z
        with np.errstate(divide="ignore", invalid="ignore"):  # Ŷ may underflow to 0
            dL_dyhat = 1.0 - Y / Yhat
        return dL_dyhat, Yhat  # σ'(z) = e^z = Ŷ
    if loss_name == "cross_entropy":
        with np.errstate(divide="ignore"):  # Ŷ may underflow to 0: ∂L/∂Ŷ is then infinite
            dL_dyhat = np.where(Y != 0, -Y / Yhat, 0.0)
        return dL_dyhat, None  # the softmax Jacobian is not diagonal
    # binary cross entropy on sigmoid outputs: softplus(z) − y·z
    with np.errstate(divide="ignore"):
        dL_dyhat = np.where(Y == 1, -1.0 / Yhat, 1.0 / sigmoid(-Z))  # (Ŷ − Y) / (Ŷ(1 − Ŷ))
    return dL_dyhat, Yhat * sigmoid(-Z)  # σ'(z) = σ(z)·(1 − σ(z))


def _step_plan(net: Network, optimizer: optim.OptimizerLike | None,
               lr: float | None) -> tuple[optim._StepConfig, float, Array, int]:
    """(config, lr, state, t): the optimizer, learning rate, float64 copy of the state and
    update number that ``fit(..., lr=lr, optimizer=optimizer)`` would step with."""
    config = net.optimizer if optimizer is None else optim.resolve(optimizer)
    if config.code is None:
        raise ValueError(
            f"trace shows one gradient step, and {config!r} has none to show: L-BFGS lets "
            "scipy choose line-searched steps over all the data. Pass another optimizer, e.g. "
            "trace(net, x, y, optimizer='sgd').")
    lr = optim.base_lr(config, lr)  # fit's rule, with its errors
    if config.continues(net.optimizer):  # fit would carry on from the current state
        state, t = np.array(net.state.optimizer_state, dtype=np.float64), net.state.step + 1
    else:
        state, t = config.new_state(net.n_params, np.float64), 1
    return config, lr, state, t


def _updates(net: Network, config: optim._StepConfig, lr: float, state: Array, t: int,
             weights: list[Array], grads: list[LayerPair]) -> list[LayerPair]:
    """[(ΔW, Δb)] per layer: what the optimizer's step adds (state is a scratch copy)."""
    if config.code == Optimizer.SGD:  # plain gradient descent, in the tutorials' form
        return [(-lr * gW, -lr * gb) for gW, gb in grads]
    slices = net.state.architecture.weight_slices()  # the flat layout the optimizer state shares
    params = net.state.params.astype(np.float64)
    flat_grads = np.empty(net.n_params)
    for (w, b, end), (gW, gb) in zip(slices, grads):
        flat_grads[w:b], flat_grads[b:end] = gW.reshape(-1), gb
    stepped = params.copy()
    optimizer_step(config.code, stepped, flat_grads, lr, config.hyper(), state, t)
    update = stepped - params
    return [(update[w:b].reshape(W.shape), update[b:end]) for (w, b, end), W in zip(slices, weights)]


class _TraceFormatter:
    def __init__(self, trace: Trace, max_rows: int) -> None:
        self.t = trace
        self.max_rows = max(1, int(max_rows))
        self.batch = trace.n_samples > 1

    def cell(self, column: Array) -> str:
        """One value per example: a number, or [e1, e2, e3, …] for a batch."""
        if not self.batch:
            return number(column[0])
        shown = ", ".join(number(v) for v in column[:MAX_EXAMPLES])
        return f"[{shown}{', …' if len(column) > MAX_EXAMPLES else ''}]"

    def limited(self, count: int) -> range:
        return range(min(count, self.max_rows))

    def more(self, count: int, what: str, indent: str = "    ") -> list[str]:
        hidden = count - self.max_rows
        return [f"{indent}… ({hidden} more {what})"] if hidden > 0 else []

    def lines(self) -> list[str]:
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

    def forward(self) -> list[str]:
        t = self.t
        out = ["Forward pass: z = W·a + b, then a = σ(z), layer by layer",
               "  layer 0 (input): a⁰ = x"]
        n_in = t.x.shape[1]
        out += table(["unit", "x"], [[str(k + 1), self.cell(t.x[:, k])] for k in self.limited(n_in)])
        out += self.more(n_in, "inputs")
        for layer in t.layers:
            l = layer.number
            role = "output" if layer.is_output else "hidden"
            out.append(f"  layer {l} ({role}, {layer.activation}): z{superscript(l)} = W{superscript(l)}·a{superscript(l - 1)} "
                       f"+ b{superscript(l)}, a{superscript(l)} = {layer.activation}(z{superscript(l)})"
                       + (" = Ŷ" if layer.is_output else ""))
            a_name = "Ŷ = σ(z)" if layer.is_output else "a = σ(z)"
            n_out = layer.z.shape[1]
            out += table(["unit", "z = W·a + b", a_name],
                          [[str(j + 1), self.cell(layer.z[:, j]), self.cell(layer.a_out[:, j])]
                           for j in self.limited(n_out)])
            out += self.more(n_out, "units")
        return out

    def loss(self) -> list[str]:
        t = self.t
        entry = _registry.LOSSES[t.loss_name]
        formula = (entry.formula, entry.gradient_formula)
        mean = ", averaged over the batch" if self.batch else ""
        out = [f"Loss ({t.loss_name}): {formula[0]} per example{mean}"]
        n_out = t.y.shape[1]
        out += table(["output", "Ŷ", "Y", formula[1]],
                      [[str(k + 1), self.cell(t.output[:, k]), self.cell(t.y[:, k]),
                        self.cell(t.dL_dyhat[:, k])] for k in self.limited(n_out)])
        out += self.more(n_out, "outputs")
        if self.batch:
            out.append(f"  L = mean of {self.cell(t.sample_losses)} = {number(t.loss)}")
        else:
            out.append(f"  L = {number(t.loss)}")
        return out

    def backward(self) -> list[str]:
        t = self.t
        out = ["Backward pass: δ = ∂L/∂z by the chain rule, from the output back to layer 1"]
        for layer in reversed(t.layers):
            l = layer.number
            n_out = layer.z.shape[1]
            units = self.limited(n_out)
            if layer.is_output and layer.fprime is None:
                out.append(f"  layer {l} (output, softmax): δ{superscript(l)} = Ŷ − Y "
                           "(softmax and cross entropy together)")
                out += table(["unit", "∂L/∂Ŷ", "δ = Ŷ − Y"],
                              [[str(j + 1), self.cell(layer.dL_da[:, j]), self.cell(layer.delta[:, j])]
                               for j in units])
            else:
                if layer.is_output:
                    source = "∂L/∂Ŷ"
                    note = " = Ŷ − Y" if t.loss_name in ("binary_cross_entropy", "poisson") else ""
                    out.append(f"  layer {l} (output, {layer.activation}): "
                               f"δ{superscript(l)} = ∂L/∂Ŷ × σ'(z{superscript(l)}){note}")
                else:
                    source = f"∂L/∂a = W{superscript(l + 1)}ᵀ·δ{superscript(l + 1)}"
                    out.append(f"  layer {l} (hidden, {layer.activation}): ∂L/∂a{superscript(l)} = "
                               f"W{superscript(l + 1)}ᵀ·δ{superscript(l + 1)}, δ{superscript(l)} = ∂L/∂a{superscript(l)} × σ'(z{superscript(l)})")
                fprime = cast(Array, layer.fprime)  # (None only at a softmax output, above)
                out += table(["unit", source, "σ'(z)", "δ = ∂L/∂a × σ'(z)"],
                              [[str(j + 1), self.cell(layer.dL_da[:, j]), self.cell(fprime[:, j]),
                                self.cell(layer.delta[:, j])] for j in units])
            out += self.more(n_out, "units")
        return out

    def updates(self) -> list[str]:
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
            out.append(f"  layer {l}: W{superscript(l)} ({n_out}×{n_in}) and b{superscript(l)} ({n_out})")
            rows = []
            for flat in self.limited(n_out * n_in):
                j, k = divmod(flat, n_in)
                rows.append([f"W{superscript(l)}[{j + 1},{k + 1}]", number(layer.W[j, k]),
                             self.cell(layer.delta[:, j]), self.cell(layer.a_in[:, k]),
                             number(layer.grad_W[j, k]), number(layer.update_W[j, k]),
                             number(layer.W_new[j, k])])
            hidden_weights = n_out * n_in - self.max_rows
            if hidden_weights > 0:
                rows.append([f"… ({hidden_weights} more weights)"] + [""] * 6)
            ones = self.cell(np.ones(t.n_samples))
            for j in self.limited(n_out):
                rows.append([f"b{superscript(l)}[{j + 1}]", number(layer.b[j]), self.cell(layer.delta[:, j]),
                             ones, number(layer.grad_b[j]), number(layer.update_b[j]), number(layer.b_new[j])])
            hidden_biases = n_out - self.max_rows
            if hidden_biases > 0:
                rows.append([f"… ({hidden_biases} more biases)"] + [""] * 6)
            out += table(["weight", "w", "δ (to)", "a (from)", f"∂L/∂w = {mean}",
                           step_header, "w + Δw"], rows)
        return out
