"""Full-batch L-BFGS through scipy.optimize, on fastbp's compiled loss and gradient.

For small data sets, where a quasi-Newton method converges in far fewer passes than
gradient descent (scikit-learn's MLP offers the same). scipy is an optional dependency here.
"""
import time

import numpy as np

from fastbp import _fit, _train
from fastbp._buffers import aligned_empty


def run(net, X, Y, weights, settings, config):
    """Minimise the mean (weighted) loss + L2 penalty over all of (X, Y); one History entry per
    L-BFGS iteration. settings.epochs bounds the iterations together with config.max_iter."""
    try:
        from scipy.optimize import minimize
    except ImportError:
        raise ImportError("optimizer 'lbfgs' needs scipy: pip install scipy") from None
    chunk = min(X.shape[0], net.CHUNK_ROWS)
    work = net._workspace(chunk)
    grads = aligned_empty(net._params.size, net.dtype)
    weight_mask = np.zeros(net._params.size, dtype=np.float64)
    for w_start, b_start, _ in net._arch.weight_slices():
        weight_mask[w_start:b_start] = 1.0
    alpha = settings.alpha

    def loss_and_gradient(theta):
        net._params[...] = theta
        total, weight_sum = _train.loss_and_gradient(net._arch, net._params, grads, work, X, Y,
                                                     chunk, weights)
        loss = total / weight_sum + 0.5 * alpha * float(np.sum(weight_mask * theta * theta))
        return loss, grads.astype(np.float64) + alpha * weight_mask * theta

    history = _fit.History()
    started = time.perf_counter()

    def record(intermediate_result):
        nonlocal started
        now = time.perf_counter()
        loss = float(intermediate_result.fun)
        figures = {"loss": loss, "lr": float("nan"), "seconds": now - started}
        history.record(figures)
        started = now
        if _fit._callbacks_stop(settings.callbacks, history.epochs, figures):
            raise StopIteration  # scipy >= 1.11 ends the minimisation cleanly on this

    theta0 = net._params.astype(np.float64)
    with np.errstate(over="ignore", invalid="ignore"):
        result = minimize(loss_and_gradient, theta0, jac=True, method="L-BFGS-B", callback=record,
                          options={**config.scipy_options(),
                                   "maxiter": min(config.max_iter, settings.epochs)})
    if not np.all(np.isfinite(result.x)):
        net._params[...] = theta0
        raise _fit.TrainingDiverged("L-BFGS diverged: the loss became NaN or infinite",
                                    epoch=history.epochs, history=history)
    net._params[...] = result.x
    net._epochs_trained += history.epochs
    history.stopped_because = "callback" if "callback" in str(result.message).lower() else (
        "tol" if result.success else "epochs")
    net.history = history
    return history
