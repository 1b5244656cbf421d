"""One ``fit`` call: the epoch loop and every decision taken between epochs.

The compiled trainer runs whole epochs (every batch, the optimizer step, dropout, clipping,
the time and update budgets, and its looks for Ctrl-C) with the GIL released; between epochs
this module records the history, validates, applies the learning-rate schedule, early stopping
and convergence tests, calls the callbacks and shows progress. Nothing here runs per batch.

An epoch cut short (Ctrl-C, max_updates, max_time) counts its updates and nothing else: no
history row, no validation, no best weights put back; an epoch that applied no update leaves
the random streams as they were. So a fit stopped by Ctrl-C after k updates leaves the network
``fit(..., max_updates=k)`` leaves (Network.fit, Raises).
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from collections.abc import Mapping
from typing import Any

import numpy as np
from numpy.typing import NDArray

from fastbp import _metrics, _validate
from fastbp._buffers import aligned_empty
from fastbp._progress import Progress
from fastbp._registry import l2_penalty
from fastbp._state import CHUNK_ROWS, Snapshot, TrainingState
from fastbp._train import DeferredCtrlC, Status, TrainOptions, is_finite, train_epoch
from fastbp.history import Callback, History, TrainingDiverged, callbacks_stop
from fastbp.schedules import Schedule


class NonFiniteTrainingInputs(_validate.NonFiniteInputs):
    """NaN or infinity in the X of a fit call, found by its first epoch (see Network.fit):
    `runner` tells which call, for Network.fit to undo that one (not an error a callback
    raised)."""

    def __init__(self, runner: EpochRunner) -> None:
        super().__init__(_validate.non_finite_message("X", runner.X))
        self.runner = runner


@dataclass
class Settings:
    """The between-epoch policy of one fit call (checked by Network.fit)."""
    epochs: int
    base_lr: float
    shuffle: bool
    schedule: Schedule
    # (X, Y, sample_weight) already prepared, or None
    validation: tuple[NDArray[Any], NDArray[Any], NDArray[Any] | None] | None = None
    early_stopping: bool = False
    monitor: str = "val_loss"
    patience: int = 10
    min_delta: float = 0.0
    tol: float | None = None
    n_iter_no_change: int = 10
    max_time: float | None = None
    max_updates: int | None = None
    callbacks: tuple[Callback, ...] = ()
    verbose: int = 0
    alpha: float = 0.0
    alpha_over_batch_size: bool = False  # alpha / each batch's Σ w (scikit-learn's convention)
    weight_scale: float = 1.0         # the sample weights' rescaling (Network._weights_of_samples)
    loss_name: str = "mse"            # for the metrics of the validation figures
    started: float = field(default_factory=time.monotonic)


class EpochRunner:
    """The buffers of one fit call (allocated once) and the compiled epoch that uses them."""

    def __init__(self, state: TrainingState, X: NDArray[Any], Y: NDArray[Any],
                 sample_weight: NDArray[Any] | None, batch_size: int, options: TrainOptions) -> None:
        self.state, self.X, self.Y, self.sample_weight = state, X, Y, sample_weight
        self.batch_size = batch_size
        self.n_rows = X.shape[0]  # samples per epoch (train_many's runners: their indices')
        self.chunk = min(batch_size, CHUNK_ROWS)
        self.work = state.workspace(self.chunk, options.has_dropout)
        self.grads = aligned_empty(state.n_params, state.dtype)
        self.options = options

    def run(self, order: NDArray[np.intp] | None, lr: float, updates_left: int | None,
            seconds_left: float | None) -> tuple[int, float, float, int]:
        """One epoch: (status, loss_sum, weight_sum, updates_done). The caller adds the updates
        to the state's step. Ctrl-C (DeferredCtrlC) stops it with STATUS_INTERRUPTED."""
        state = self.state
        self.options.step = state.step  # the state's count is the one kept
        self.options.max_updates = -1 if updates_left is None else updates_left
        self.options.max_seconds = math.inf if seconds_left is None else seconds_left
        if self.options.has_dropout:
            self.options.dropout_seed = int(state.dropout_rng.integers(0, 2**63))
        return train_epoch(state.architecture, state.params, self.grads, self.work,
                                  self.X, self.Y, order, self.batch_size, lr, self.chunk,
                                  self.options, state.optimizer_state, self.sample_weight)


def run(state: TrainingState, runner: EpochRunner, settings: Settings) -> History:
    """Train for settings.epochs epochs (or until a stop rule fires); return the History.

    Ctrl-C is deferred (DeferredCtrlC) to the compiled loop's next look, or to the start of
    the next epoch, then raised as KeyboardInterrupt once the network is as max_updates would
    leave it (or, outside the main thread or under a handler of the user's, what that handler
    raised)."""
    history = History()
    history.metric_name = _metrics.name(settings.loss_name)
    n = runner.n_rows
    options = runner.options
    progress = Progress(settings.verbose, settings.epochs, n, settings.loss_name)
    before_epoch: Snapshot | None = None  # the state's WEIGHTS snapshot, taken afresh before each epoch
    best = _Best(settings, state) if settings.early_stopping else None
    stale_epochs, best_loss = 0, math.inf
    updates = 0
    cut_short = False  # the last epoch stopped before its end: no best weights put back
    try:
        with DeferredCtrlC(options) as ctrl_c:
            for epoch in range(1, settings.epochs + 1):
                if options.interrupt_requested:  # Ctrl-C between epochs: stop where max_updates does
                    history.stopped_because = "interrupted"
                    break
                if settings.max_updates is not None and updates >= settings.max_updates:
                    history.stopped_because = "max_updates"  # before drawing this epoch's order
                    break
                lr = settings.schedule.lr(state.epochs_trained, settings.base_lr)
                if lr == 0:  # e.g. Cosine after its epochs with min_lr = 0: nothing more to learn
                    history.stopped_because = "schedule"
                    break
                if not (math.isfinite(lr) and lr > 0):
                    state.history = history
                    raise ValueError(f"the schedule gave learning rate {lr!r} for epoch {epoch}")
                # Only a batch of several chunks can be cut short before its first update.
                streams = state.snapshot(STREAMS) if runner.batch_size > runner.chunk else None
                order = state.shuffle_rng.permutation(n).astype(np.intp, copy=False) if settings.shuffle else None
                before_epoch = state.snapshot(state.WEIGHTS, reuse=before_epoch)
                seconds_left = None
                if settings.max_time is not None:
                    seconds_left = settings.max_time - (time.monotonic() - settings.started)
                started = time.perf_counter()
                status, loss_sum, weight_sum, done = runner.run(
                    order, lr, None if settings.max_updates is None else settings.max_updates - updates,
                    seconds_left)
                seconds = time.perf_counter() - started
                updates += done
                state.step += done
                if runner.options.check_inputs:  # the first epoch: X checked as it was reached
                    if not _inputs_finite(runner, status):
                        state.restore(before_epoch)
                        raise NonFiniteTrainingInputs(runner)
                    runner.options.check_inputs = False
                if status == Status.STATUS_DIVERGED:
                    state.restore(before_epoch)
                    history.stopped_because = "diverged"
                    state.history = history
                    raise TrainingDiverged(
                        f"training diverged in epoch {epoch}: the loss became NaN or infinite "
                        f"(try a smaller lr, currently {lr:g}); the weights are those from before "
                        "that epoch", epoch=epoch - 1, history=history)
                if status != Status.STATUS_OK:  # cut short: Ctrl-C, max_updates, max_time
                    if done == 0:  # as if the epoch had not begun
                        state.restore(streams)  # type: ignore[arg-type]  # (not None here)
                    history.stopped_because = _STOPPED_BECAUSE[status]
                    cut_short = True
                    break
                state.epochs_trained += 1
                # (the compiled loop adds each batch's L2 penalty, at the weights that batch saw)
                figures = {"loss": loss_sum / weight_sum, "lr": lr, "seconds": seconds}
                if settings.validation is not None:
                    figures.update(_validation_figures(state, runner, settings))
                history.record(figures)
                progress.update(figures)
                settings.schedule.observe(figures)

                if best is not None and best.update(epoch, figures):
                    history.stopped_because = "early_stopping"
                    break
                if settings.tol is not None:
                    if figures["loss"] > best_loss - settings.tol:
                        stale_epochs += 1
                    else:
                        stale_epochs = 0
                    best_loss = min(best_loss, figures["loss"])
                    if stale_epochs >= settings.n_iter_no_change:
                        history.stopped_because = "tol"
                        break
                if settings.callbacks:
                    with ctrl_c.immediate():
                        if callbacks_stop(settings.callbacks, epoch, figures):
                            history.stopped_because = "callback"
                            break
                if settings.max_time is not None and time.monotonic() - settings.started >= settings.max_time:
                    history.stopped_because = "max_time"
                    break
            if options.interrupt_requested:  # (also after the last epoch: delivered now)
                history.stopped_because = "interrupted"
            if runner.options.check_inputs and not is_finite(runner.X.reshape(-1)):
                # (no epoch ran, e.g. the schedule's first rate was 0: nothing to put back)
                raise NonFiniteTrainingInputs(runner)
            if best is not None and not cut_short:
                history.best_epoch = best.restore()
            state.history = history
            if history.stopped_because == "interrupted":
                options.interrupt_requested = False
                error = options.interruption
                options.interruption = None
                if error is not None and not isinstance(error, KeyboardInterrupt):
                    raise error  # a signal handler of the user's raised it at a look
                raise KeyboardInterrupt(_interrupted_message(state, history, updates))
    except KeyboardInterrupt:
        # Ctrl-C (above), or in a callback or outside the main thread's deferral: the
        # history holds the completed epochs, the state every update applied.
        history.stopped_because = "interrupted"
        state.history = history
        raise
    finally:
        progress.close()
    return history


# What a fit's random streams are, for an epoch that applied no update to put back.
STREAMS = ("shuffle_rng", "dropout_rng")

_STOPPED_BECAUSE: dict[int, str] = {Status.STATUS_INTERRUPTED: "interrupted",
                    Status.STATUS_TIME_UP: "max_time",
                    Status.STATUS_UPDATES_DONE: "max_updates"}


def _interrupted_message(state: TrainingState, history: History, updates: int) -> str:
    return (f"training interrupted after {updates} updates in this call: the network holds "
            f"the weights and optimizer state after the last of them (step {state.step}), "
            f"{state.epochs_trained} epochs trained in all, and net.history the "
            f"{history.epochs} epochs this call completed; fit(..., max_updates={updates}) "
            "leaves the same network")


def _inputs_finite(runner: EpochRunner, status: int) -> bool:
    """After a first epoch that checked each batch of X before training on it: whether X is
    finite. An epoch that stopped early (a budget, divergence) did not reach every row: the
    rest are checked here, so that a bad row is reported whatever stopped the epoch (not
    after Ctrl-C, which stops the fit at once)."""
    if status == Status.STATUS_NONFINITE_INPUT:
        return False
    if status in (Status.STATUS_OK, Status.STATUS_INTERRUPTED):
        return True
    return is_finite(runner.X.reshape(-1))


def _validation_figures(state: TrainingState, runner: EpochRunner,
                        settings: Settings) -> dict[str, float]:
    X_val, Y_val, w_val = settings.validation  # type: ignore[misc]  # (called with validation only)
    val_loss = state.loss_and_gradient(X_val, Y_val, w_val, want_gradient=False)[0]
    alpha = settings.alpha / X_val.shape[0] if settings.alpha_over_batch_size else settings.alpha
    figures = {"val_loss": float(val_loss) + l2_penalty(state.weights, alpha)}
    figures["val_metric"] = _metrics.score(settings.loss_name, state.predict(X_val), Y_val)
    figures["metric"] = _metrics.score(settings.loss_name, state.predict(runner.X), runner.Y)
    return figures


class _Best:
    """Early stopping: remembers the best weights by the monitored figure, counts patience."""

    def __init__(self, settings: Settings, state: TrainingState) -> None:
        self.state = state
        self.monitor = settings.monitor
        self.higher_is_better = self.monitor.endswith("metric")
        self.patience, self.min_delta = settings.patience, settings.min_delta
        self.best_value: float | None = None
        self.best_epoch: int | None = None
        self.wait = 0
        self.weights: Snapshot | None = None  # the state's WEIGHTS snapshot after the best epoch

    def update(self, epoch: int, figures: Mapping[str, float]) -> bool:
        """Record this epoch; True when patience has run out."""
        value = figures[self.monitor]
        sign = -1.0 if self.higher_is_better else 1.0
        if self.best_value is None or sign * value < sign * self.best_value - self.min_delta:
            self.best_value, self.best_epoch, self.wait = value, epoch, 0
            self.weights = self.state.snapshot(self.state.WEIGHTS, reuse=self.weights)
            return False
        self.wait += 1
        return self.wait > self.patience

    def restore(self) -> int | None:
        if self.best_epoch is not None:  # the optimizer goes back with the weights
            self.state.restore(self.weights)  # type: ignore[arg-type]  # (taken with best_epoch)
        return self.best_epoch
