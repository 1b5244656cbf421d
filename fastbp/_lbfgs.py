"""Full-batch L-BFGS through scipy.optimize, on fastbp's compiled loss and gradient.

For small data sets, where a quasi-Newton method converges in far fewer passes than
gradient descent (scikit-learn's MLP offers the same). scipy is an optional dependency here.

Ctrl-C (deferred: DeferredCtrlC) stops the minimisation at the compiled loss's next look, or at
the next evaluation or iteration; the network then holds the last accepted iterate (never a
line search's trial point) and the history its completed iterations, as
``fit(..., epochs=<iterations>)`` would leave them.
"""
from __future__ import annotations

import time

from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from fastbp._train import DeferredCtrlC, TrainOptions
from fastbp._train import loss_and_gradient as compiled_loss_and_gradient
from fastbp._buffers import aligned_empty
from fastbp._registry import l2_gradient, l2_penalty_flat
from fastbp._state import CHUNK_ROWS
from fastbp.history import History, TrainingDiverged, callbacks_stop

if TYPE_CHECKING:
    from fastbp._fit import Settings
    from fastbp._state import TrainingState
    from fastbp.optim import LBFGS


def run(state: TrainingState, X: NDArray[Any], Y: NDArray[Any], weights: NDArray[Any] | None,
        settings: Settings, config: LBFGS) -> History:
    """Minimise the mean (weighted) loss + L2 penalty over all of (X, Y); one History entry per
    L-BFGS iteration. settings.epochs bounds the iterations together with config.max_iter."""
    try:
        from scipy.optimize import minimize
    except ImportError:
        raise ImportError("optimizer 'lbfgs' needs scipy: pip install scipy") from None
    chunk = min(X.shape[0], CHUNK_ROWS)
    work = state.workspace(chunk)
    grads = aligned_empty(state.n_params, state.dtype)
    weight_slices = [slice(w, b) for w, b, _ in state.architecture.weight_slices()]
    weight_mask = np.zeros(state.n_params, dtype=np.float64)
    for w in weight_slices:
        weight_mask[w] = 1.0
    alpha = settings.alpha
    options = TrainOptions()  # only its deferred Ctrl-C

    def loss_and_gradient(theta: NDArray[np.float64]) -> tuple[float, NDArray[np.float64]]:
        if options.interrupt_requested:
            raise KeyboardInterrupt
        state.params[...] = theta
        total, weight_sum = compiled_loss_and_gradient(state.architecture, state.params, grads,
                                                     work, X, Y, chunk, weights, options)
        # alpha_over_batch_size: the whole data set is the one batch.
        batch_alpha = (settings.alpha / (settings.weight_scale * weight_sum)
                       if settings.alpha_over_batch_size else alpha)
        loss = total / weight_sum + l2_penalty_flat(theta, weight_mask, batch_alpha)
        gradient = grads.astype(np.float64)
        for w in weight_slices:  # at theta itself (float64), not its rounding to the dtype
            gradient[w] += l2_gradient(theta[w], batch_alpha)
        return loss, gradient

    history = History()
    started = time.perf_counter()
    accepted: NDArray[np.float64] | None = None  # the last iterate L-BFGS accepted, for Ctrl-C

    def record(intermediate_result: Any) -> None:
        nonlocal started, accepted
        now = time.perf_counter()
        loss = float(intermediate_result.fun)
        figures = {"loss": loss, "lr": float("nan"), "seconds": now - started}
        accepted = intermediate_result.x.copy()
        history.record(figures)
        started = now
        with ctrl_c.immediate():
            if callbacks_stop(settings.callbacks, history.epochs, figures):
                raise StopIteration  # scipy >= 1.11 ends the minimisation cleanly on this
        if options.interrupt_requested:
            raise KeyboardInterrupt

    before = state.snapshot(state.WEIGHTS)
    theta0 = state.params.astype(np.float64)
    try:
        with DeferredCtrlC(options) as ctrl_c, np.errstate(over="ignore", invalid="ignore"):
            result = minimize(loss_and_gradient, theta0, jac=True, method="L-BFGS-B",
                              callback=record,
                              options={**config.scipy_options(),
                                       "maxiter": min(config.max_iter, settings.epochs)})
    except BaseException as error:  # Ctrl-C, or what a signal handler or callback raised
        if accepted is None:
            state.restore(before)
        else:
            state.params[...] = accepted
        state.epochs_trained += history.epochs
        state.history = history
        if not isinstance(error, KeyboardInterrupt):
            raise
        history.stopped_because = "interrupted"
        if type(error) is not KeyboardInterrupt or error.args:
            raise
        raise KeyboardInterrupt(
            f"L-BFGS interrupted after {history.epochs} iterations: the network holds the "
            "last accepted iterate and net.history those iterations, as fit(..., "
            f"epochs={history.epochs}) leaves them") from None
    if not np.all(np.isfinite(result.x)):
        state.restore(before)
        raise TrainingDiverged("L-BFGS diverged: the loss became NaN or infinite",
                               epoch=history.epochs, history=history)
    state.params[...] = result.x
    state.epochs_trained += history.epochs
    history.stopped_because = "callback" if "callback" in str(result.message).lower() else (
        "tol" if result.success else "epochs")
    state.history = history
    return history
