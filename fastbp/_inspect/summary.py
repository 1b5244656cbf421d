"""A table of a network's layers, like Keras' ``model.summary()``."""
from __future__ import annotations

import dataclasses

from typing import TYPE_CHECKING

import numpy as np

from fastbp._inspect.text import byte_size, table
from fastbp._registry import FIXED_OUTPUTS, LOSSES

if TYPE_CHECKING:
    from fastbp.network import Network


def summary(net: Network) -> str:
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
    rows: list[list[str]] = []
    total = 0
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
    lines = table(header, rows, indent="", left=5 + show_dropout)
    rule = "=" * max(len(line) for line in lines)
    dtype = np.dtype(net.dtype)
    lines = [repr(net), rule, lines[0], "-" * len(rule)] + lines[1:] + [
        rule,
        f"Total parameters: {total:,} ({byte_size(total * dtype.itemsize)} in {dtype.name})",
        f"Loss: {LOSSES[net.loss_name].description}",
        f"dtype: {dtype.name}",
        f"Optimizer: {_optimizer_line(net)}",
        f"Scaling: {_scaling_line(net)}"]
    if show_dropout:
        lines.append("Dropout: inverted dropout of each hidden layer's output during fit only "
                     "(predict, loss and gradients keep every unit)")
    return "\n".join(lines)


def _optimizer_line(net: Network) -> str:
    config = net.optimizer
    steps = net.state.step
    history = net.history
    used = sorted(set(history.lr)) if history is not None and history.lr else []
    if getattr(config, "lr", 0) is None and used:
        # lr given to fit rather than to the optimizer: show the one the last fit used
        config = dataclasses.replace(config, lr=used[-1] if len(used) == 1 else None)
    line = f"{config!r}, {steps:,} update{'s' if steps != 1 else ''} so far"
    if len(used) > 1:
        line += f"; the last fit's lr went from {history.lr[0]:g} to {history.lr[-1]:g}"  # type: ignore[union-attr]
    size = net.state.optimizer_state.size
    if size:
        per = size // net.n_params
        line += (f"; its state is {per} × {net.n_params:,} values "
                 f"({byte_size(size * net.state.optimizer_state.itemsize)})")
    return line


def _scaling_line(net: Network) -> str:
    scaled = [what for what, on in (("inputs", net.scale_inputs),
                                    ("targets", net.scale_targets)) if on]
    if not scaled:
        return "none"
    learnt = net.state.input_scaler is not None or net.state.target_scaler is not None
    return (f"{' and '.join(scaled)} standardised, (value − mean) / std, with the mean and std "
            + ("learnt by the first fit" if learnt else "that the first fit will learn"))
