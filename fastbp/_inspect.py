"""Look inside a network: one traced backpropagation step, a gradient check and a summary.

Everything here is computed in plain float64 numpy from the network's current weights and
keeps every intermediate of the textbook algorithm, in the tutorials' notation:

    forward    z = W·a + b,  a' = σ(z)              (a⁰ = x; the last a is the prediction Ŷ)
    loss       L = ½·Σₖ(Ŷₖ − Yₖ)²                   (mse; or a cross entropy)
    backward   δ = ∂L/∂z = ∂L/∂a × σ'(z),  ∂L/∂a = Wᵀ·δ of the layer above   (the chain rule)
    gradient   ∂L/∂w = δ (of the unit it feeds) × a (of the unit it comes from),  ∂L/∂b = δ
    update     w ← w − η·∂L/∂w

Losses follow :mod:`fastbp.reference` (and so :class:`fastbp.Network`): per-example losses,
averaged over the examples of a batch; the classification losses take the logits z and
apply softmax / sigmoid themselves, so at their output δ = Ŷ − Y.
"""
import math
import warnings

import numpy as np

from fastbp import _validate
from fastbp.reference import ACTIVATIONS, sigmoid, softmax

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
        σ of this layer (``softmax`` / ``sigmoid`` for the classification losses' output).
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
        ``−η·∂L/∂W`` and ``−η·∂L/∂b``: what one ``fit`` step adds.
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
        """W after the step: W − η·∂L/∂W."""
        return self.W + self.update_W

    @property
    def b_new(self):
        """b after the step: b − η·∂L/∂b."""
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


class Trace:
    """One step of backpropagation with every intermediate kept; see :func:`trace`.

    Attributes
    ----------
    network : str
        repr of the traced network.
    loss_name : str
    dtype : str
        The network's dtype (the trace itself is computed in float64).
    lr : float
        The learning rate η.
    x : ndarray (n, n_in)
        The examples.
    y : ndarray (n, n_out)
        The targets as the loss reads them (labels become one-hot rows).
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
    """

    def __init__(self, network, loss_name, dtype, lr, x, y, sample_losses, dL_dyhat, layers):
        self.network = network
        self.loss_name = loss_name
        self.dtype = dtype
        self.lr = float(lr)
        self.x = np.array(x, dtype=np.float64)
        self.y = np.array(y, dtype=np.float64)
        self.sample_losses = np.array(sample_losses, dtype=np.float64)
        self.dL_dyhat = np.array(dL_dyhat, dtype=np.float64)
        self.layers = list(layers)

    @property
    def n_samples(self):
        return self.x.shape[0]

    @property
    def output(self):
        return self.layers[-1].a_out

    @property
    def loss(self):
        return float(np.mean(self.sample_losses))

    def gradients(self):
        """``[(∂L/∂W, ∂L/∂b)]`` per layer, as ``net.gradients(x, y)`` returns them."""
        return [(layer.grad_W.copy(), layer.grad_b.copy()) for layer in self.layers]

    def updates(self):
        """``[(−η·∂L/∂W, −η·∂L/∂b)]`` per layer."""
        return [(layer.update_W.copy(), layer.update_b.copy()) for layer in self.layers]

    def new_weights(self):
        """(weights, biases) after the step, ready for ``net.set_weights(*trace.new_weights())``."""
        return [layer.W_new for layer in self.layers], [layer.b_new for layer in self.layers]

    # ----- plain data ------------------------------------------------------------------
    def to_dict(self):
        """Everything as plain data: nested dicts and lists of fresh numpy arrays, floats,
        ints and strings; :meth:`from_dict` rebuilds the trace."""
        return {
            "network": self.network, "loss_name": self.loss_name, "dtype": self.dtype,
            "lr": self.lr, "n_samples": self.n_samples, "loss": self.loss,
            "x": self.x.copy(), "y": self.y.copy(), "output": self.output.copy(),
            "sample_losses": self.sample_losses.copy(), "dL_dyhat": self.dL_dyhat.copy(),
            "layers": [layer.to_dict() for layer in self.layers],
        }

    @classmethod
    def from_dict(cls, data):
        """The Trace that :meth:`to_dict` described."""
        layers = [LayerTrace(d["index"], d["activation"], d["is_output"],
                             **{name: d[name] for name in LayerTrace.FIELDS})
                  for d in data["layers"]]
        return cls(data["network"], data["loss_name"], data["dtype"], data["lr"], data["x"],
                   data["y"], data["sample_losses"], data["dL_dyhat"], layers)

    # ----- printing ---------------------------------------------------------------------
    def __repr__(self):
        examples = "example" if self.n_samples == 1 else "examples"
        return (f"<Trace of {self.n_samples} {examples} through {self.network}: "
                f"loss {self.loss:.6g}, lr {self.lr:g}>")

    def __str__(self):
        return self.format()

    def format(self, max_rows=MAX_ROWS):
        """The step as text: forward pass, loss, backward pass, then every weight's gradient and
        update. At most `max_rows` units or weights are shown per layer, then "… (N more)"."""
        return "\n".join(_TraceFormatter(self, max_rows).lines())


def trace(net, x, y, lr=0.01):
    """Trace one step of backpropagation on one example or a small batch.

    Computes, in float64 from the network's current weights, the forward pass, the loss,
    the backward pass and the update that
    ``net.fit(x, y, epochs=1, batch_size=len(x), lr=lr, shuffle=False)`` would apply
    (gradients averaged over the batch), keeping every intermediate. The network is not
    changed.

    Parameters
    ----------
    net : fastbp.Network
    x : array_like, shape (n_in,) for one example, or (n, n_in)
    y : array_like
        Targets as ``fit`` takes them; for one example also a scalar (a value, or a class
        label for cross_entropy) or a vector of the outputs.
    lr : float
        Learning rate η of the update ``w ← w − η·∂L/∂w``.

    Returns
    -------
    Trace
        ``str(trace)`` is a step-by-step table; ``trace.layers[l]`` holds layer l's arrays.

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
    lr = _validate.positive_float("lr", lr)
    n = X.shape[0]
    loss_name = net.loss_name
    names = list(net.activations) + [net.output]

    # forward pass: z = W·a + b, a' = σ(z)
    weights = [np.array(W, dtype=np.float64) for W in net.weights]
    biases = [np.array(b, dtype=np.float64) for b in net.biases]
    a_in, z, a_out = [], [], []
    a = X
    for W, b, name in zip(weights, biases, names):
        a_in.append(a)
        z.append(a @ W.T + b)
        a = softmax(z[-1]) if name == "softmax" else ACTIVATIONS[name][0](z[-1])
        a_out.append(a)

    # loss and its derivative at the output (per example, as in fastbp.reference)
    Z, Yhat = z[-1], a_out[-1]
    if loss_name == "mse":
        sample_losses = 0.5 * np.sum((Yhat - Y) ** 2, axis=1)
        dL_dyhat = Yhat - Y
        out_fprime = ACTIVATIONS[names[-1]][1](Z)
        out_delta = dL_dyhat * out_fprime
    elif loss_name == "cross_entropy":
        m = Z.max(axis=1, keepdims=True)
        sample_losses = m[:, 0] + np.log(np.exp(Z - m).sum(axis=1)) - np.sum(Y * Z, axis=1)
        with np.errstate(divide="ignore"):  # Ŷ may underflow to 0: ∂L/∂Ŷ is then infinite
            dL_dyhat = np.where(Y != 0, -Y / Yhat, 0.0)
        out_fprime = None  # the softmax Jacobian is not diagonal
        out_delta = Yhat - Y  # softmax and cross entropy together
    else:  # binary cross entropy on sigmoid outputs: softplus(z) − y·z
        sample_losses = np.sum(np.maximum(Z, 0) + np.log1p(np.exp(-np.abs(Z))) - Y * Z, axis=1)
        with np.errstate(divide="ignore"):
            dL_dyhat = np.where(Y == 1, -1.0 / Yhat, 1.0 / sigmoid(-Z))  # (Ŷ − Y) / (Ŷ(1 − Ŷ))
        out_fprime = Yhat * sigmoid(-Z)  # σ'(z) = σ(z)·(1 − σ(z))
        out_delta = Yhat - Y  # = ∂L/∂Ŷ × σ'(z), without the division

    # backward pass: δ of each layer from the one above, by the chain rule
    L = len(weights)
    dL_da, fprime, delta = [None] * L, [None] * L, [None] * L
    dL_da[-1], fprime[-1], delta[-1] = dL_dyhat, out_fprime, out_delta
    for l in range(L - 2, -1, -1):
        dL_da[l] = delta[l + 1] @ weights[l + 1]  # ∂L/∂a = Wᵀ·δ, one row per example
        fprime[l] = ACTIVATIONS[names[l]][1](z[l])
        delta[l] = dL_da[l] * fprime[l]

    layers = []
    for l in range(L):
        grad_W = delta[l].T @ a_in[l] / n  # mean over examples of δ ⊗ a
        grad_b = delta[l].sum(axis=0) / n
        layers.append(LayerTrace(
            l, names[l], l == L - 1, W=weights[l], b=biases[l], a_in=a_in[l], z=z[l],
            a_out=a_out[l], dL_da=dL_da[l], fprime=fprime[l], delta=delta[l],
            grad_W=grad_W, grad_b=grad_b, update_W=-lr * grad_W, update_b=-lr * grad_b))
    return Trace(repr(net), loss_name, net.dtype.name, lr, X, Y, sample_losses, dL_dyhat, layers)


def _examples(net, x, y):
    """(X, Y) as float64 (n, n_in), (n, n_out) copies, checked as fit checks them."""
    x, y = np.asarray(x), np.asarray(y)
    if x.ndim == 1:  # one example: y is a scalar, a label, or the vector of outputs
        x = x.reshape(1, -1)
        y = y.reshape(1) if y.size == 1 else y.reshape(1, -1)
    X = _validate.inputs(x, net.sizes[0], np.dtype(np.float64))
    Y = _validate.targets(y, X.shape[0], net.sizes[-1], net.loss_name, np.dtype(np.float64))
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
        out = [f"One step of backpropagation for {t.network}",
               f"{examples}, learning rate η = {t.lr:g}, computed in float64 from the network's "
               "current weights.",
               "Layer 0 is the input x; layer l uses net.weights[l-1] and net.biases[l-1]; units "
               "count from 1."]
        if self.batch:
            out.append(f"Values per example are listed [example 1, example 2, …]; the gradients "
                       f"are means over the {t.n_samples} examples, as fit averages a batch.")
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
                    note = " = Ŷ − Y" if t.loss_name == "binary_cross_entropy" else ""
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
        out = [f"Gradients and updates, η = {t.lr:g}: ∂L/∂w = δ (of the unit it feeds) × a "
               "(of the unit it comes from), Δw = −η·∂L/∂w",
               "  Wˡ[j,k] connects unit k of layer l−1 to unit j of layer l "
               "(net.weights[l-1][j-1, k-1]); bˡ[j] is a weight from a constant input 1."]
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
                           "Δw = −η·∂L/∂w", "w + Δw"], rows)
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
    """A finite-difference step moved a relu / leaky_relu pre-activation across 0, where the
    activation has a kink: the central difference there mixes two slopes and is unreliable."""


class GradientCheckError(AssertionError):
    """Raised by :meth:`GradientCheck.raise_if_failed`."""


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
        How many parameter perturbations moved a relu / leaky_relu pre-activation across 0.
    kink_units : list of (int, int)
        The (layer, unit) pairs, numbered from 1 as in the trace, whose pre-activation crossed.
    passed : bool
    """

    def __init__(self, network, n_samples, weight_errors, bias_errors, gradients, numeric,
                 tolerance, eps, dtype_errors=None, dtype_tolerance=FLOAT32_TOLERANCE, kinks=0,
                 kink_units=(), source="backpropagation"):
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
               f"h = {self.eps:g}·max(1, |θ|), all in float64",
               f"  relative error ‖g − ĝ‖ / max(‖g‖, ‖ĝ‖) per layer, tolerance {self.tolerance:g}"]
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
            out.append(f"  warning: {self.kinks} perturbation(s) moved a relu/leaky_relu "
                       "pre-activation across 0 (a kink): finite differences are unreliable there")
        return "\n".join(out)


def _relative_error(g, g_hat):
    norm = np.linalg.norm
    return float(norm(g - g_hat) / max(norm(g), norm(g_hat), np.finfo(np.float64).tiny))


def _float64_copy(net):
    """The same network (architecture and weights) in float64."""
    from fastbp.network import Network
    copy = Network(net.sizes, activation=list(net.activations),
                   output=net.output if net.loss_name == "mse" else None,
                   loss=net.loss_name, dtype="float64", seed=0)
    copy.set_weights(net.weights, net.biases)
    return copy


class _KinkWatch:
    """Notices perturbations that move a relu / leaky_relu pre-activation across 0.

    Re-runs the forward pass in numpy from the perturbed layer up to the last such layer and
    compares each unit's side of 0 (z > 0, as the derivative decides it) with the unperturbed
    one. A unit sitting exactly on 0 is caught by the perturbation of its own bias.
    """

    def __init__(self, net, X):
        self.kinked = [l for l, name in enumerate(net.activations) if name in ("relu", "leaky_relu")]
        self.crossings = 0
        self.units = set()  # (layer number, unit number), numbered as in the trace
        if not self.kinked:
            return
        self.names = list(net.activations)
        self.weights = [np.array(W, dtype=np.float64) for W in net.weights]
        self.biases = [np.array(b, dtype=np.float64) for b in net.biases]
        self.last = self.kinked[-1]
        self.a, self.z = [X], []
        for l in range(self.last + 1):
            self.z.append(self.a[-1] @ self.weights[l].T + self.biases[l])
            self.a.append(ACTIVATIONS[self.names[l]][0](self.z[-1]))

    def check(self, layer, kind, flat_index, change):
        """Record whether adding `change` to one parameter of `layer` crosses a kink."""
        if not self.kinked or layer > self.last:
            return
        n_in = self.weights[layer].shape[1]
        j, k = divmod(flat_index, n_in) if kind == "W" else (flat_index, None)
        column = self.z[layer][:, j] + (change * self.a[layer][:, k] if kind == "W" else change)
        crossed = False
        if layer in self.kinked:
            flipped = (column > 0) != (self.z[layer][:, j] > 0)
            if flipped.any():
                crossed = True
                self.units.add((layer + 1, j + 1))
        z = self.z[layer].copy()
        z[:, j] = column
        for l in range(layer + 1, self.last + 1):
            a = ACTIVATIONS[self.names[l - 1]][0](z)
            z = a @ self.weights[l].T + self.biases[l]
            if l in self.kinked:
                flipped = np.any((z > 0) != (self.z[l] > 0), axis=0)
                if flipped.any():
                    crossed = True
                    self.units.update((l + 1, int(u) + 1) for u in np.flatnonzero(flipped))
        self.crossings += crossed


def check_gradients(net, X, y, eps=None, gradients=None):
    """Check backpropagation against central finite differences of the loss.

    The network is copied to float64 (same architecture and weights); the gradient of that
    copy (``net.gradients(X, y)`` in float64) is compared with
    ``(L(θ + h) − L(θ − h)) / 2h`` of its ``loss(X, y)`` for every weight and bias θ, with
    ``h = eps·max(1, |θ|)``. For a float32 network the network's own float32 gradients are
    also compared with the float64 ones (tolerance ``FLOAT32_TOLERANCE``), so both kernel
    specialisations are checked. Costs two loss evaluations per parameter: meant for small
    networks and batches.

    Parameters
    ----------
    net : fastbp.Network
        Not changed.
    X, y : array_like
        Examples and targets, as ``net.loss`` takes them.
    eps : float or None
        Relative step of the differences; None means ``DEFAULT_EPS`` (1e-5).
    gradients : list of (dW, db) or None
        A gradient to check instead of the network's own (for instance a hand-derived or
        deliberately wrong one), shaped like ``net.gradients(X, y)``. If any of its arrays is
        float32 the tolerance is ``FLOAT32_TOLERANCE``: float32 rounding alone can exceed
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
        When a step moved a hidden relu / leaky_relu pre-activation across 0: the difference
        then straddles a kink, and a large error there says nothing about backpropagation.

    Examples
    --------
    >>> import numpy as np, fastbp
    >>> from fastbp import _inspect
    >>> net = fastbp.Network([3, 4, 1], activation="tanh", seed=0)
    >>> X, y = np.random.default_rng(0).normal(size=(5, 3)), np.zeros(5)
    >>> _inspect.check_gradients(net, X, y).passed
    True
    """
    step = DEFAULT_EPS if eps is None else _validate.positive_float("eps", eps)
    copy = _float64_copy(net)
    X = np.array(_validate.inputs(X, net.sizes[0], np.dtype(np.float64)))
    y = np.asarray(y)
    analytic = copy.gradients(X, y)  # also checks y
    tolerance = TOLERANCE
    if gradients is None:
        checked, source = analytic, "backpropagation (net.gradients of the float64 copy)"
    else:
        checked, in_float32 = _given_gradients(gradients, copy)
        source = "the given gradients" + (" (float32)" if in_float32 else "")
        if in_float32:  # their own rounding, not the differences, then sets the error floor
            tolerance = FLOAT32_TOLERANCE

    watch = _KinkWatch(copy, X)
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
                loss_up = copy.loss(X, y)
                flat[i] = down
                loss_down = copy.loss(X, y)
                flat[i] = saved
                g_hat[i] = (loss_up - loss_down) / (up - down)  # the step as actually rounded
                watch.check(layer, kind, i, up - saved)
                watch.check(layer, kind, i, down - saved)
            pair.append(g_hat.reshape(param.shape))
        numeric.append(tuple(pair))

    dtype_errors = None
    if gradients is None and net.dtype == np.float32:
        dtype_errors = [(_relative_error(np.asarray(dW, np.float64), aW),
                         _relative_error(np.asarray(db, np.float64), ab))
                        for (dW, db), (aW, ab) in zip(net.gradients(X, y), analytic)]

    result = GradientCheck(
        repr(net), X.shape[0],
        [_relative_error(g[0], n[0]) for g, n in zip(checked, numeric)],
        [_relative_error(g[1], n[1]) for g, n in zip(checked, numeric)],
        checked, numeric, tolerance, step, dtype_errors=dtype_errors,
        kinks=watch.crossings, kink_units=sorted(watch.units), source=source)
    if watch.crossings:
        where = ", ".join(f"layer {l} unit {j}" for l, j in sorted(watch.units)[:5])
        more = f" and {len(watch.units) - 5} more" if len(watch.units) > 5 else ""
        warnings.warn(KinkWarning(
            f"check_gradients: finite-difference steps moved relu/leaky_relu pre-activations "
            f"across 0 ({where}{more}); the differences straddle a kink there and their errors "
            "are not evidence against backpropagation. Check with inputs or biases that keep "
            "the hidden pre-activations away from 0."), stacklevel=2)
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

def summary(net):
    """A table of the layers, like Keras' ``model.summary()``.

    One row per layer (its widths, activation, weight and bias shapes, parameter count),
    then the total number of parameters, the loss and the dtype.

    Examples
    --------
    >>> import fastbp
    >>> from fastbp import _inspect
    >>> print(_inspect.summary(fastbp.Network([3, 4, 4, 1], seed=0)))  # doctest: +ELLIPSIS
    Network([3, 4, 4, 1], ...
    """
    names = list(net.activations) + [net.output]
    rows, total = [], 0
    for l, (W, b, name) in enumerate(zip(net.weights, net.biases, names)):
        count = int(W.size + b.size)
        total += count
        if l == len(names) - 1 and net.loss_name != "mse":
            name = f"{name} (in the loss)"
        rows.append([f"Dense {l + 1}", f"{W.shape[1]} → {W.shape[0]}", name, str(W.shape),
                     str(b.shape), f"{count:,}"])
    table = _table(["Layer", "Units", "Activation", "Weights", "Biases", "Parameters"], rows, indent="", left=5)
    rule = "=" * max(len(line) for line in table)
    itemsize = np.dtype(net.dtype).itemsize
    loss = {"mse": "mse, ½·Σₖ(ŷₖ − yₖ)² averaged over examples",
            "cross_entropy": "cross_entropy, softmax outputs, averaged over examples",
            "binary_cross_entropy": "binary_cross_entropy, sigmoid outputs, averaged over examples",
            }[net.loss_name]
    return "\n".join([repr(net), rule, table[0], "-" * len(rule)] + table[1:] + [
        rule,
        f"Total parameters: {total:,} ({_bytes(total * itemsize)} in {np.dtype(net.dtype).name})",
        f"Loss: {loss}",
        f"dtype: {np.dtype(net.dtype).name}"])


def _bytes(count):
    for unit in ("B", "KB", "MB", "GB"):
        if count < 1024 or unit == "GB":
            return f"{count:,} {unit}" if unit == "B" else f"{count:.2f} {unit}"
        count /= 1024
