"""Full-batch L-BFGS through scipy.optimize, on fastbp's compiled loss and gradient.

For small data sets, where a quasi-Newton method converges in far fewer passes than
gradient descent (scikit-learn's MLP offers the same). scipy is an optional dependency here.
"""
import time

import numpy as np

from fastbp._train import loss_and_gradient as compiled_loss_and_gradient
from fastbp._buffers import aligned_empty
from fastbp._registry import l2_gradient, l2_penalty_flat
from fastbp._state import CHUNK_ROWS
from fastbp.history import History, TrainingDiverged, callbacks_stop


def run(state, X, Y, weights, settings, config):
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

    def loss_and_gradient(theta):
        state.params[...] = theta
        total, weight_sum = compiled_loss_and_gradient(state.architecture, state.params, grads,
                                                     work, X, Y, chunk, weights)
        loss = total / weight_sum + l2_penalty_flat(theta, weight_mask, alpha)
        gradient = grads.astype(np.float64)
        for w in weight_slices:  # at theta itself (float64), not its rounding to the dtype
            gradient[w] += l2_gradient(theta[w], alpha)
        return loss, gradient

    history = History()
    started = time.perf_counter()

    def record(intermediate_result):
        nonlocal started
        now = time.perf_counter()
        loss = float(intermediate_result.fun)
        figures = {"loss": loss, "lr": float("nan"), "seconds": now - started}
        history.record(figures)
        started = now
        if callbacks_stop(settings.callbacks, history.epochs, figures):
            raise StopIteration  # scipy >= 1.11 ends the minimisation cleanly on this

    before = state.snapshot(state.WEIGHTS)
    theta0 = state.params.astype(np.float64)
    with np.errstate(over="ignore", invalid="ignore"):
        result = minimize(loss_and_gradient, theta0, jac=True, method="L-BFGS-B", callback=record,
                          options={**config.scipy_options(),
                                   "maxiter": min(config.max_iter, settings.epochs)})
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
