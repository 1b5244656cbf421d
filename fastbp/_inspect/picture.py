"""One traced step drawn as the tutorials draw it: neurons as circles in columns, one per layer,
weights as lines coloured by sign and as wide as their size.

:meth:`fastbp._inspect.trace.Trace.plot` draws here; matplotlib (the ``plot`` extra) is imported
only when a picture is drawn, and the module never chooses a backend. Every drawn element carries
an id (``gid``) that a saved SVG keeps, for readers and tests to find it:

    unit-L-J           the circle of unit J of layer L (layer 0: the inputs; units count from 1)
    label-L-J          its value: a (x at the inputs), δ, or Δb, as the printed trace prints it
    weight-L-J-K       the line of W^L[J, K], from unit K of layer L−1 to unit J of layer L
    more-L             "+ n more" under a layer summarised to its largest units
    prediction-J, target-J, slope-J, loss      Ŷ, Y, ∂L/∂Ŷ at the output and L
"""
from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any, cast

import numpy as np

from fastbp._inspect.text import number, superscript

if TYPE_CHECKING:  # (matplotlib is optional: only for the annotations)
    from matplotlib.figure import Figure

    from fastbp._inspect.trace import Trace

SHOWS = ("forward", "backward", "update")
FORMATS = ("png", "svg")
# A layer wider than MAX_UNITS shows its LARGE_LAYER_UNITS units of largest |value|.
MAX_UNITS = 12
LARGE_LAYER_UNITS = 8
# Okabe–Ito blue and orange: told apart with every common colour-vision deficiency.
POSITIVE, NEGATIVE, ZERO = "#0072B2", "#E69F00", "#999999"
POSITIVE_FILL, NEGATIVE_FILL, ZERO_FILL = "#D4E6F4", "#FBEBC8", "#FFFFFF"
MAX_WIDTH = 5.0  # points: the line of the largest |value| in the picture
MIN_WIDTH = 0.25  # points: a value near 0 stays a visible hairline
RADIUS = 0.27  # of a circle, in units of the vertical spacing between neurons
COLUMN_GAP = 3.4  # between layers, in the same units
INCH = 0.5  # inches per unit of spacing
OUTPUT_ROOM = 3.2  # right of the output column, for Ŷ, Y, ∂L/∂Ŷ and L (units of spacing)
TITLE_BAND, LEGEND_BAND = 0.65, 0.8  # inches above and below the network
MIN_FIGURE_WIDTH = 6.5  # inches: the title's and the legend's two lines fit
INSTALL = 'pip install "fastbp[plot]"'


def draw(trace: Trace, path: str | os.PathLike[str] | None = None, *,
         show: str = "forward") -> Figure:
    """The step of `trace` (a :class:`~fastbp._inspect.trace.Trace` of one example) as a
    matplotlib Figure; see :meth:`Trace.plot <fastbp._inspect.trace.Trace.plot>`."""
    if show not in SHOWS:
        raise ValueError(f"show={show!r}: expected one of {', '.join(map(repr, SHOWS))}")
    target = None if path is None else (path, _format(path))  # a bad extension fails first
    if trace.n_samples != 1:
        raise ValueError(f"plot draws the step of one example and this trace holds "
                         f"{trace.n_samples}: trace one row, e.g. net.trace(X[i], y[i])")
    try:
        import matplotlib  # noqa: F401  (first: a missing matplotlib fails here)
        from matplotlib.figure import Figure
    except ImportError:
        raise ImportError(f"Trace.plot draws with matplotlib, which is not installed: "
                          f"{INSTALL}") from None
    if path is None:  # pyplot keeps it: it shows in a notebook and with plt.show()
        import matplotlib.pyplot as plt
        figure = plt.figure()
    else:  # saved, not kept by pyplot: pictures drawn in a loop leave no figure open
        figure = Figure()
    _Drawing(trace, show, figure).draw()
    if target is not None:
        _save(figure, *target)
    return figure


def _format(path: str | os.PathLike[str]) -> str:
    extension = os.path.splitext(os.fspath(path))[1].lower().lstrip(".")
    if extension not in FORMATS:
        raise ValueError(f"{os.fspath(path)}: the picture is saved as PNG or SVG, chosen by the "
                         f"extension: name a .png or .svg file")
    return extension


def _save(figure: Figure, path: str | os.PathLike[str], fmt: str) -> None:
    """Save through a temporary file renamed into place: an error leaves no partial picture."""
    from matplotlib import rc_context

    path = os.fspath(path)
    fd, tmp = _temporary_file(os.path.dirname(os.path.abspath(path)), fmt)
    try:
        # SVG text stays text (not outlines): searchable, smaller, and readable by tests
        with os.fdopen(fd, "wb") as handle, rc_context({"svg.fonttype": "none",
                                                        "svg.hashsalt": "fastbp"}):
            figure.savefig(handle, format=fmt, metadata=_metadata(fmt))
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def _temporary_file(folder: str, fmt: str) -> tuple[int, str]:
    """(descriptor, path) of a new file in `folder`, with the permissions the umask gives a new
    file (tempfile.mkstemp's would leave the picture readable by its owner only)."""
    import secrets

    while True:
        tmp = os.path.join(folder, f".fastbp-{secrets.token_hex(6)}.{fmt}.tmp")
        try:
            return os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666), tmp
        except FileExistsError:
            continue


def _metadata(fmt: str) -> dict[str, Any]:
    # No date or version stamps: the same step saves the same bytes (docs/ keeps one).
    if fmt == "svg":
        return {"Date": None, "Creator": None}
    return {"Software": None}


def _width(value: float, largest: float) -> float:
    if not np.isfinite(value) or largest == 0:
        return MIN_WIDTH
    return max(MIN_WIDTH, MAX_WIDTH * abs(value) / largest)


def _colour(value: float, positive: str = POSITIVE, negative: str = NEGATIVE,
            zero: str = ZERO) -> str:
    if not np.isfinite(value) or value == 0:
        return zero
    return positive if value > 0 else negative


class _Drawing:
    """The picture of one example's step in one of the three views."""

    def __init__(self, trace: Trace, show: str, figure: Figure) -> None:
        self.t, self.show, self.figure = trace, show, figure
        self.n_layers = len(trace.layers)
        self.unit_values = [self.values_of(l) for l in range(self.n_layers + 1)]
        self.drawn = [self.units_drawn(values) for values in self.unit_values]

    # ----- what is drawn ----------------------------------------------------------------
    def values_of(self, l: int) -> np.ndarray:
        """The value each unit of layer l is labelled with."""
        if l == 0:  # (the casts: numpy types a row of an array as Any)
            return cast(np.ndarray, self.t.x[0])
        layer = self.t.layers[l - 1]
        if self.show == "forward":
            return cast(np.ndarray, layer.a_out[0])
        if self.show == "backward":
            return cast(np.ndarray, layer.delta[0])
        return layer.update_b

    def line_values(self, l: int) -> np.ndarray:
        """The value each weight of layer l (1-based) is drawn as."""
        layer = self.t.layers[l - 1]
        return {"forward": layer.W, "backward": layer.grad_W, "update": layer.update_W}[self.show]

    @staticmethod
    def units_drawn(values: np.ndarray) -> np.ndarray:
        """The units drawn, in order: all of a small layer, the largest |values| of a big one."""
        if len(values) <= MAX_UNITS:
            return np.arange(len(values))
        magnitude = np.nan_to_num(np.abs(values), nan=np.inf)
        return np.sort(np.argsort(-magnitude, kind="stable")[:LARGE_LAYER_UNITS])

    def texts(self) -> tuple[str, str, str]:
        """(title, what the circles say, what the lines say)."""
        t = self.t
        if self.show == "forward":
            return ("Forward pass, left to right\nz = W·a + b, a = σ(z), layer by layer",
                    "circles: a = σ(z), x at the inputs", "lines: the weights w")
        if self.show == "backward":
            return ("Backward pass, right to left, by the chain rule\n"
                    "δ = ∂L/∂a × σ'(z), with ∂L/∂a = Wᵀ·δ of the layer above",
                    "circles: δ = ∂L/∂z (= ∂L/∂b), x at the inputs",
                    "lines: ∂L/∂w = δ (to) × a (from)")
        step = (f"Δw = −η·∂L/∂w, η = {t.lr:g}" if t.plain_sgd
                else f"Δw: the {t.optimizer_name} step t = {t.optimizer_step}")
        return (f"Update: w ← w + Δw\n{step}",
                "circles: Δb, the change of each bias; x at the inputs",
                "lines: Δw, the change of each weight")

    def header(self, l: int) -> str:
        if l == 0:
            return "layer 0: input\nx"
        layer = self.t.layers[l - 1]
        role = "output" if layer.is_output else "hidden"
        s = superscript(l)
        output = " = Ŷ" if layer.is_output else ""
        value = {"forward": f"a{s} = {layer.activation}(z{s}){output}",
                 "backward": f"δ{s} = ∂L/∂z{s}", "update": f"Δb{s}"}[self.show]
        return f"layer {l}: {role}\n{value}"

    # ----- where ------------------------------------------------------------------------
    def positions(self) -> list[dict[int, tuple[float, float]]]:
        """(x, y) of each drawn unit, per layer: columns left to right, each centred."""
        out = []
        for l, units in enumerate(self.drawn):
            top = (len(units) - 1) / 2
            out.append({int(j): (l * COLUMN_GAP, top - i) for i, j in enumerate(units)})
        return out

    # ----- drawing ------------------------------------------------------------------------
    def draw(self) -> None:
        from matplotlib.lines import Line2D
        from matplotlib.patches import Circle, FancyArrowPatch

        figure = self.figure
        where = self.positions()
        tallest = max(len(units) for units in self.drawn)
        half = max(tallest, 3) / 2
        # data units: the columns, the inputs' labels at the left, the output's numbers at the
        # right; headers above, "+ n more" below
        left, right = -1.2, self.n_layers * COLUMN_GAP + OUTPUT_ROOM
        low, high = -half - 0.9, half + 1.8
        plot_w, plot_h = (right - left) * INCH, (high - low) * INCH
        fig_w, fig_h = max(plot_w, MIN_FIGURE_WIDTH), plot_h + TITLE_BAND + LEGEND_BAND
        figure.set_size_inches(fig_w, fig_h)
        ax = figure.add_axes((0, LEGEND_BAND / fig_h, 1, plot_h / fig_h))
        ax.set_xlim(left, right)
        ax.set_ylim(low, high)
        ax.set_aspect("equal", adjustable="box")
        ax.axis("off")

        # lines first, under the circles; widths scaled to this picture's largest |value|
        values = [self.line_values(l) for l in range(1, self.n_layers + 1)]
        shown = [values[l - 1][np.ix_(self.drawn[l], self.drawn[l - 1])]
                 for l in range(1, self.n_layers + 1)]
        finite = np.concatenate([np.abs(v[np.isfinite(v)]) for v in shown])
        largest = float(finite.max()) if finite.size else 0.0
        for l in range(1, self.n_layers + 1):
            for j in self.drawn[l]:
                xj, yj = where[l][int(j)]
                for k in self.drawn[l - 1]:
                    xk, yk = where[l - 1][int(k)]
                    value = float(values[l - 1][j, k])
                    line = Line2D([xk + RADIUS, xj - RADIUS], [yk, yj],
                                  linewidth=_width(value, largest), color=_colour(value),
                                  solid_capstyle="butt", zorder=1)
                    line.set_gid(f"weight-{l}-{j + 1}-{k + 1}")
                    ax.add_line(line)

        for l, units in enumerate(self.drawn):
            values_l = self.unit_values[l]
            for j in units:
                x, y = where[l][int(j)]
                value = float(values_l[j])
                circle = Circle((x, y), RADIUS, zorder=2, linewidth=1.0, edgecolor="#333333",
                                facecolor=_colour(value, POSITIVE_FILL, NEGATIVE_FILL, ZERO_FILL))
                circle.set_gid(f"unit-{l}-{j + 1}")
                ax.add_patch(circle)
                label = ax.text(x, y + RADIUS + 0.06, number(value), ha="center", va="bottom",
                                fontsize=7.5, zorder=3,
                                bbox={"boxstyle": "round,pad=0.12", "facecolor": "white",
                                      "edgecolor": "none", "alpha": 0.85})
                label.set_gid(f"label-{l}-{j + 1}")
            column_top = (len(units) - 1) / 2
            ax.text(l * COLUMN_GAP, half + 0.75, self.header(l), ha="center", va="bottom",
                    fontsize=8.5, linespacing=1.3)
            hidden = len(values_l) - len(units)
            if hidden:
                more = ax.text(l * COLUMN_GAP, column_top - len(units) + 0.45,
                               f"+ {hidden} more", ha="center", va="top", fontsize=8,
                               style="italic")
                more.set_gid(f"more-{l}")

        self.draw_output(ax, where[-1])
        title, circles, lines = self.texts()
        figure.suptitle(title, fontsize=10, y=1 - 0.1 / fig_h, va="top", linespacing=1.4)
        if self.show != "update":  # the way the numbers flow: right forward, left backward
            x0, x1 = 0.1 * COLUMN_GAP, (self.n_layers - 0.1) * COLUMN_GAP
            start, end = (x0, x1) if self.show == "forward" else (x1, x0)
            arrow = FancyArrowPatch((start, half + 0.45), (end, half + 0.45), arrowstyle="-|>",
                                    mutation_scale=12, color="#666666", linewidth=1.0)
            arrow.set_gid("direction")
            ax.add_patch(arrow)

        scale = (f"width ∝ |value|, widest {number(largest)}" if largest
                 else "every value 0")
        handles = [Line2D([], [], color=POSITIVE, linewidth=3, label="positive"),
                   Line2D([], [], color=NEGATIVE, linewidth=3, label="negative"),
                   Line2D([], [], color="none", label=scale)]
        legend = figure.legend(handles=handles, loc="lower center", ncol=3, fontsize=8,
                               frameon=False, title=f"{circles}\n{lines}",
                               title_fontsize=8, bbox_to_anchor=(0.5, 0.0))
        legend.set_gid("legend")

    def draw_output(self, ax: Any, where: dict[int, tuple[float, float]]) -> None:
        """Ŷ and Y beside each drawn output (and ∂L/∂Ŷ going backward), L below them."""
        t = self.t
        for j, (x, y) in where.items():
            parts = [("prediction", "Ŷ", t.output[0, j]), ("target", "Y", t.y[0, j])]
            if self.show != "forward":
                parts.append(("slope", "∂L/∂Ŷ", t.dL_dyhat[0, j]))
            for i, (gid, name, value) in enumerate(parts):
                text = ax.text(x + RADIUS + 0.55, y + 0.3 - 0.3 * i, f"{name} = {number(value)}",
                               ha="left", va="center", fontsize=7.5)
                text.set_gid(f"{gid}-{j + 1}")
        x = self.n_layers * COLUMN_GAP
        lowest = min(y for _, y in where.values())
        loss = ax.text(x + RADIUS + 0.55, lowest - 0.7, f"L = {number(t.loss)}\n({t.loss_name})",
                       ha="left", va="top", fontsize=8.5)
        loss.set_gid("loss")
