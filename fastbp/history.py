"""The record of a training run, and the ways to end one early."""
from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from matplotlib.axes import Axes

# A fit callback: callback(epoch, figures) → False (or StopTraining raised) to stop.
Callback = Callable[[int, dict[str, Any]], Any]


class StopTraining(Exception):
    """Raise from a callback to end training cleanly after the current epoch."""


class TrainingDiverged(ValueError):
    """The training loss or a parameter became NaN or infinite.

    The network keeps the weights (and optimizer state) it had at the start of the epoch
    that diverged; ``history`` holds the epochs completed before it.
    """

    def __init__(self, message: str, epoch: int, history: History) -> None:
        super().__init__(message)
        self.epoch = epoch
        self.history = history


def callbacks_stop(callbacks: Iterable[Callback], epoch: int, figures: Mapping[str, Any]) -> bool:
    """Call each callback(epoch, figures); True when one returns False or raises StopTraining."""
    for callback in callbacks:
        try:
            if callback(epoch, dict(figures)) is False:
                return True
        except StopTraining:
            return True
    return False


class History:
    """What one ``fit`` call recorded, one entry per completed epoch.

    Attributes
    ----------
    loss : list of float
        Each epoch's mean of the batch losses seen during it (weighted by batch size, or by
        sample weight), including the L2 penalty when ``alpha > 0``.
    val_loss, metric, val_metric : list of float
        Validation loss, and the metric (accuracy for classification, R² for regression) on
        the training and validation data; filled when validation data is given.
    lr : list of float
        The learning rate used in each epoch.
    seconds : list of float
        Wall time of each epoch's training.
    stopped_because : str
        ``"epochs"`` (ran them all), ``"early_stopping"``, ``"tol"``, ``"max_time"``,
        ``"max_updates"``, ``"callback"``, ``"schedule"`` (it gave a learning rate of 0),
        ``"interrupted"`` or ``"diverged"``.
    stopped_at_epoch : int
        Number of epochs completed when training stopped.
    best_epoch : int or None
        With early stopping, the 1-based epoch whose weights were restored.
    metric_name : str
        What ``metric`` holds: ``"accuracy"`` or ``"R²"``.
    """

    FIELDS = ("loss", "val_loss", "metric", "val_metric", "lr", "seconds")
    loss: list[float]
    val_loss: list[float]
    metric: list[float]
    val_metric: list[float]
    lr: list[float]
    seconds: list[float]
    stopped_because: str
    best_epoch: int | None
    metric_name: str

    def __init__(self) -> None:
        for name in self.FIELDS:
            setattr(self, name, [])
        self.stopped_because = "epochs"
        self.best_epoch = None
        self.metric_name = "metric"

    @property
    def epochs(self) -> int:
        """Number of completed epochs."""
        return len(self.loss)

    stopped_at_epoch = epochs

    def record(self, figures: Mapping[str, Any]) -> None:
        """Append one epoch's figures (a dict with some of FIELDS)."""
        for name in self.FIELDS:
            if name in figures:
                getattr(self, name).append(figures[name])

    def plot(self, ax: Axes | None = None) -> Axes:
        """Draw the loss curves with matplotlib and, when recorded, the metric (accuracy or R²,
        on a second y axis at the right); a dotted line marks the epoch whose weights early
        stopping restored. Returns the axes of the losses.
        """
        try:
            import matplotlib.pyplot as plt
        except ImportError:
            raise ImportError("History.plot needs matplotlib: pip install matplotlib") from None
        if ax is None:
            _, ax = plt.subplots()
        epochs = range(1, self.epochs + 1)
        lines = ax.plot(epochs, self.loss, label="loss")
        if self.val_loss:
            lines += ax.plot(epochs, self.val_loss, label="val_loss")
        ax.set_xlabel("epoch")
        ax.set_ylabel("loss")
        ax.set_yscale("log" if min(self.loss + self.val_loss, default=1) > 0 else "linear")
        if self.metric or self.val_metric:
            metric_ax = ax.twinx()
            for values, label, style in ((self.metric, self.metric_name, "--"),
                                         (self.val_metric, f"val_{self.metric_name}", ":")):
                if values:
                    lines += metric_ax.plot(epochs, values, style, label=label,
                                            color=f"C{len(lines)}")
            metric_ax.set_ylabel(self.metric_name)
        if self.best_epoch is not None:
            lines.append(ax.axvline(self.best_epoch, color="gray", linestyle=":",
                                    label=f"restored (epoch {self.best_epoch})"))
        ax.legend(handles=lines)
        return ax

    def __repr__(self) -> str:
        last = f", last loss {self.loss[-1]:.6g}" if self.loss else ""
        return f"<History {self.epochs} epochs{last}, stopped: {self.stopped_because}>"
