# distutils: extra_compile_args = -fno-math-errno
# (sqrt without errno: only then does the compiler vectorise the loops that take square
# roots, Adam's, RMSprop's and Adagrad's, about 3x faster; nothing here reads errno.)
"""Optimizer steps over flat arrays (float32 and float64).

One call updates a run of parameters: all of a network's (one sweep), or one layer's W or b
as soon as its gradient is known (the fused trainer). ``params`` and ``grads`` share the flat
layout of the network's parameters, and each state array does too: the optimizer's state
slots lie `stride` elements apart (the network's parameter count), so that a layer's slice of
each slot is found at the layer's offset. The conventions are PyTorch's (torch.optim), so that
the update a user reads about there is the one they get here; the *_SKLEARN codes are
scikit-learn's forms (sklearn.neural_network's SGDOptimizer and AdamOptimizer), with its
arithmetic order, for fastbp.sklearn. The L2 penalty ½·α·‖θ‖² is
folded into each step: g + α·θ is the gradient the update sees. Arithmetic runs in the
arrays' dtype; Adam's bias-correction factors are computed in float64. Each kernel's
docstring is its one line of math (k indexes the elements; η = lr; g_k means g_k + α·θ_k).
"""
from libc.math cimport pow, sqrt, sqrtf

cdef extern from "fastbp_optim.h":
    double fbp_sum_of_squares_f(const float* x, Py_ssize_t n) noexcept nogil
    double fbp_sum_of_squares_d(const double* x, Py_ssize_t n) noexcept nogil
    double fbp_adam_f(float* theta, const float* g, Py_ssize_t n, float step, float inv_sqrt_c2,
                      float b1, float omb1, float b2, float omb2, float eps, float decay,
                      float alpha, float* m, float* v, int want_squares) noexcept nogil
    double fbp_adam_d(double* theta, const double* g, Py_ssize_t n, double step,
                      double inv_sqrt_c2, double b1, double omb1, double b2, double omb2,
                      double eps, double decay, double alpha, double* m, double* v,
                      int want_squares) noexcept nogil
    double fbp_adam_sklearn_f(float* theta, const float* g, Py_ssize_t n, double neg_step,
                              float b1, float omb1, float b2, float omb2, float eps, float alpha,
                              float* m, float* v, int want_squares) noexcept nogil
    double fbp_adam_sklearn_d(double* theta, const double* g, Py_ssize_t n, double neg_step,
                              double b1, double omb1, double b2, double omb2, double eps,
                              double alpha, double* m, double* v, int want_squares) noexcept nogil
    double fbp_momentum_sklearn_f(float* theta, const float* g, Py_ssize_t n, float lr, float mu,
                                  float alpha, float* v, int nesterov,
                                  int want_squares) noexcept nogil
    double fbp_momentum_sklearn_d(double* theta, const double* g, Py_ssize_t n, double lr,
                                  double mu, double alpha, double* v, int nesterov,
                                  int want_squares) noexcept nogil


cdef inline floating _sqrt(floating x) noexcept nogil:
    if floating is float:
        return sqrtf(x)
    else:
        return sqrt(x)


cdef inline floating _penalised(floating g, floating theta, floating alpha) noexcept nogil:
    """g + α·θ: the gradient of the loss plus that of the L2 penalty ½·α·θ² (α = 0: g itself,
    even where θ is not finite)"""
    return g + alpha * theta if alpha != 0 else g


cdef inline int _state_size(int code) noexcept nogil:
    """Number of n-element state arrays the optimizer keeps; -1 for an unknown code."""
    if code == SGD:
        return 0
    elif (code == MOMENTUM or code == NESTEROV or code == RMSPROP or code == ADAGRAD
          or code == MOMENTUM_SKLEARN or code == NESTEROV_SKLEARN):
        return 1
    elif code == ADAM or code == ADAMW or code == IRPROP_MINUS or code == ADAM_SKLEARN:
        return 2
    return -1


cdef inline int _hyper_size(int code) noexcept nogil:
    """Length of the hyper-parameter array the optimizer reads; -1 for an unknown code."""
    if code == SGD:
        return 0
    elif (code == MOMENTUM or code == NESTEROV or code == ADAGRAD
          or code == MOMENTUM_SKLEARN or code == NESTEROV_SKLEARN):
        return 1
    elif code == RMSPROP:
        return 2
    elif code == ADAM or code == ADAM_SKLEARN:
        return 3
    elif code == ADAMW:
        return 4
    elif code == IRPROP_MINUS:
        return 5
    return -1


cdef void _sgd(floating* theta, const floating* g, Py_ssize_t n, floating lr,
               floating alpha) noexcept nogil:
    """θ := θ − η·g"""
    cdef Py_ssize_t k
    for k in range(n):
        theta[k] -= lr * _penalised(g[k], theta[k], alpha)


cdef void _momentum(floating* theta, const floating* g, Py_ssize_t n, floating lr,
                    floating mu, floating alpha, floating* v) noexcept nogil:
    """v := μ·v + g; θ := θ − η·v"""
    cdef Py_ssize_t k
    for k in range(n):
        v[k] = mu * v[k] + _penalised(g[k], theta[k], alpha)
        theta[k] -= lr * v[k]


cdef void _nesterov(floating* theta, const floating* g, Py_ssize_t n, floating lr,
                    floating mu, floating alpha, floating* v) noexcept nogil:
    """v := μ·v + g; θ := θ − η·(g + μ·v)"""
    cdef Py_ssize_t k
    cdef floating gk
    for k in range(n):
        gk = _penalised(g[k], theta[k], alpha)
        v[k] = mu * v[k] + gk
        theta[k] -= lr * (gk + mu * v[k])


cdef double _adam(floating* theta, const floating* g, Py_ssize_t n, double lr, double beta1,
                  double beta2, floating eps, double weight_decay, floating alpha, floating* m,
                  floating* v, long long t, bint want_squares) noexcept nogil:
    """θ := (1 − ηλ)·θ; m := β₁m + (1−β₁)g; v := β₂v + (1−β₂)g²; θ := θ − η·m̂/(√v̂ + ε)
    (the element loop in src_c/fastbp_optim.c, dispatched by instruction set; with
    want_squares it returns Σθ² before the step, else 0)"""
    # The bias corrections 1 − βᵗ in float64: in float32, 1 − 0.999 keeps only ~4 digits,
    # an error of ~1e-5 in every early step's size.
    cdef double correction1 = 1 - pow(beta1, <double>t)
    cdef double correction2 = 1 - pow(beta2, <double>t)
    # m̂/(√v̂ + ε) = (m/c₁)/(√v/√c₂ + ε): both divisions fold into two per-step scalars.
    cdef floating step_size = <floating>(lr / correction1)
    cdef floating inv_sqrt_correction2 = <floating>(1 / sqrt(correction2))
    cdef floating b1 = <floating>beta1, one_minus_b1 = <floating>(1 - beta1)
    cdef floating b2 = <floating>beta2, one_minus_b2 = <floating>(1 - beta2)
    # AdamW's decoupled decay (λ = 0 for Adam, where the factor is exactly 1).
    cdef floating decay = <floating>(1 - lr * weight_decay)
    if floating is float:
        return fbp_adam_f(theta, g, n, step_size, inv_sqrt_correction2, b1, one_minus_b1, b2,
                          one_minus_b2, eps, decay, alpha, m, v, want_squares)
    else:
        return fbp_adam_d(theta, g, n, step_size, inv_sqrt_correction2, b1, one_minus_b1, b2,
                          one_minus_b2, eps, decay, alpha, m, v, want_squares)


cdef double _momentum_sklearn(floating* theta, const floating* g, Py_ssize_t n, floating lr,
                              floating mu, floating alpha, floating* v, bint nesterov,
                              bint want_squares) noexcept nogil:
    """v := μ·v − η·g; θ := θ + v, or with nesterov θ := θ + (μ·v − η·g) (the element loop in
    src_c/fastbp_optim.c; with want_squares it returns Σθ² before the step, else 0)"""
    if floating is float:
        return fbp_momentum_sklearn_f(theta, g, n, lr, mu, alpha, v, nesterov, want_squares)
    else:
        return fbp_momentum_sklearn_d(theta, g, n, lr, mu, alpha, v, nesterov, want_squares)


cdef double _adam_sklearn(floating* theta, const floating* g, Py_ssize_t n, double lr,
                          double beta1, double beta2, floating eps, floating alpha, floating* m,
                          floating* v, long long t, bint want_squares) noexcept nogil:
    """m := β₁m + (1−β₁)g; v := β₂v + (1−β₂)g²; θ := θ − η·√(1−β₂ᵗ)/(1−β₁ᵗ)·m/(√v + ε)
    (the element loop in src_c/fastbp_optim.c; with want_squares it returns Σθ² before the
    step, else 0)"""
    # scikit-learn's step size, a float64 scalar in its numpy code: its float32 updates are
    # float64 too (m and √v + ε widened), rounded to float32 only as they land on θ.
    cdef double neg_step = -(lr * sqrt(1 - pow(beta2, <double>t)) / (1 - pow(beta1, <double>t)))
    cdef floating b1 = <floating>beta1, one_minus_b1 = <floating>(1 - beta1)
    cdef floating b2 = <floating>beta2, one_minus_b2 = <floating>(1 - beta2)
    if floating is float:
        return fbp_adam_sklearn_f(theta, g, n, neg_step, b1, one_minus_b1, b2, one_minus_b2, eps,
                                  alpha, m, v, want_squares)
    else:
        return fbp_adam_sklearn_d(theta, g, n, neg_step, b1, one_minus_b1, b2, one_minus_b2, eps,
                                  alpha, m, v, want_squares)


cdef void _rmsprop(floating* theta, const floating* g, Py_ssize_t n, floating lr, double rho,
                   floating eps, floating alpha, floating* v) noexcept nogil:
    """v := ρ·v + (1−ρ)·g²; θ := θ − η·g/(√v + ε)"""
    cdef Py_ssize_t k
    cdef floating r = <floating>rho, one_minus_r = <floating>(1 - rho)
    cdef floating gk
    for k in range(n):
        gk = _penalised(g[k], theta[k], alpha)
        v[k] = r * v[k] + one_minus_r * gk * gk
        theta[k] -= lr * gk / (_sqrt(v[k]) + eps)


cdef void _adagrad(floating* theta, const floating* g, Py_ssize_t n, floating lr, floating eps,
                   floating alpha, floating* s) noexcept nogil:
    """s := s + g²; θ := θ − η·g/(√s + ε)"""
    cdef Py_ssize_t k
    cdef floating gk
    for k in range(n):
        gk = _penalised(g[k], theta[k], alpha)
        s[k] += gk * gk
        theta[k] -= lr * gk / (_sqrt(s[k]) + eps)


cdef void _irprop_minus(floating* theta, const floating* g, Py_ssize_t n, floating eta_plus,
                        floating eta_minus, floating delta_min, floating delta_max,
                        floating alpha, floating* delta, floating* g_prev) noexcept nogil:
    """Δ := min(η⁺Δ, Δmax) if g·g' > 0, max(η⁻Δ, Δmin) and g := 0 if g·g' < 0; θ := θ − sign(g)·Δ; g' := g"""
    cdef Py_ssize_t k
    cdef floating gk, gp
    for k in range(n):
        gk = _penalised(g[k], theta[k], alpha)
        gp = g_prev[k]
        # Signs compared directly, not through g·g', whose product of two tiny float32
        # gradients can underflow to 0 and hide a sign change.
        if (gk > 0 and gp > 0) or (gk < 0 and gp < 0):
            delta[k] = min(delta[k] * eta_plus, delta_max)
        elif (gk > 0 and gp < 0) or (gk < 0 and gp > 0):
            # The last step jumped over a minimum: shrink the step, and skip this update
            # (iRPROP− does not take the step back, unlike RPROP with backtracking).
            delta[k] = max(delta[k] * eta_minus, delta_min)
            gk = 0
        if gk > 0:
            theta[k] -= delta[k]
        elif gk < 0:
            theta[k] += delta[k]
        # A stored 0 after a sign change makes the next step neither grow nor shrink Δ.
        g_prev[k] = gk


cdef void optimizer_step(int code, floating* params, const floating* grads, Py_ssize_t n,
                         double lr, const double* hyper, floating* state, Py_ssize_t stride,
                         long long t, double alpha) noexcept nogil:
    """θ := update(θ, g + α·θ, state) for the optimizer `code` (see _optim.pxd for hyper and
    state)"""
    cdef floating a = <floating>alpha
    if code == SGD:
        _sgd(params, grads, n, <floating>lr, a)
    elif code == MOMENTUM:
        _momentum(params, grads, n, <floating>lr, <floating>hyper[0], a, state)
    elif code == NESTEROV:
        _nesterov(params, grads, n, <floating>lr, <floating>hyper[0], a, state)
    elif code == ADAM:
        _adam(params, grads, n, lr, hyper[0], hyper[1], <floating>hyper[2], 0.0, a,
              state, state + stride, t, False)
    elif code == ADAMW:
        _adam(params, grads, n, lr, hyper[0], hyper[1], <floating>hyper[2], hyper[3], a,
              state, state + stride, t, False)
    elif code == RMSPROP:
        _rmsprop(params, grads, n, <floating>lr, hyper[0], <floating>hyper[1], a, state)
    elif code == ADAGRAD:
        _adagrad(params, grads, n, <floating>lr, <floating>hyper[0], a, state)
    elif code == IRPROP_MINUS:
        _irprop_minus(params, grads, n, <floating>hyper[0], <floating>hyper[1],
                      <floating>hyper[2], <floating>hyper[3], a, state, state + stride)
    elif code == MOMENTUM_SKLEARN or code == NESTEROV_SKLEARN:
        _momentum_sklearn(params, grads, n, <floating>lr, <floating>hyper[0], a, state,
                          code == NESTEROV_SKLEARN, False)
    elif code == ADAM_SKLEARN:
        _adam_sklearn(params, grads, n, lr, hyper[0], hyper[1], <floating>hyper[2], a,
                      state, state + stride, t, False)


cdef double optimizer_step_squares(int code, floating* params, const floating* grads,
                                  Py_ssize_t n, double lr, const double* hyper, floating* state,
                                  Py_ssize_t stride, long long t, double alpha) noexcept nogil:
    """optimizer_step, returning Σθ² over the n parameters before the step (float64, in
    sum_of_squares' order): Adam, AdamW and scikit-learn's forms square each element as their
    loop reads it, the others take a pass of their own first"""
    cdef double squares
    if code == ADAM or code == ADAMW:
        return _adam(params, grads, n, lr, hyper[0], hyper[1], <floating>hyper[2],
                     hyper[3] if code == ADAMW else 0.0, <floating>alpha, state,
                     state + stride, t, True)
    if code == ADAM_SKLEARN:
        return _adam_sklearn(params, grads, n, lr, hyper[0], hyper[1], <floating>hyper[2],
                             <floating>alpha, state, state + stride, t, True)
    if code == MOMENTUM_SKLEARN or code == NESTEROV_SKLEARN:
        return _momentum_sklearn(params, grads, n, <floating>lr, <floating>hyper[0],
                                 <floating>alpha, state, code == NESTEROV_SKLEARN, True)
    squares = sum_of_squares(params, n)
    optimizer_step(code, params, grads, n, lr, hyper, state, stride, t, alpha)
    return squares


cdef double sum_of_squares(const floating* x, Py_ssize_t n) noexcept nogil:
    """Σ x² in float64, element k going to partial sum k mod 16, the partial sums then added
    pairwise (src_c/fastbp_optim.c, dispatched by instruction set)"""
    if floating is float:
        return fbp_sum_of_squares_f(x, n)
    else:
        return fbp_sum_of_squares_d(x, n)


cdef void optimizer_init_state(int code, const double* hyper, floating* state,
                               Py_ssize_t n) noexcept nogil:
    """state := 0, except iRPROP−'s Δ := Δ₀"""
    cdef Py_ssize_t k, size = _state_size(code)
    if size <= 0:
        return
    for k in range(size * n):
        state[k] = 0
    if code == IRPROP_MINUS:
        for k in range(n):
            state[k] = <floating>hyper[4]


def state_size(int code):
    """Number of state arrays (each as long as the parameters) the optimizer `code` keeps.

    Examples
    --------
    >>> from fastbp import _optim
    >>> _optim.state_size(_optim.Optimizer.ADAM)
    2
    """
    return _known(code, _state_size(code))


def hyper_size(int code):
    """Length of the hyper-parameter array the optimizer `code` reads (see _optim.pxd)."""
    return _known(code, _hyper_size(code))


cdef int _known(int code, int size) except -1:
    if size < 0:
        raise ValueError(f"unknown optimizer code {code}; known codes are "
                         f"{sorted(int(c) for c in Optimizer)}")
    return size


def _check_hyper(int code, Py_ssize_t length):
    expected = hyper_size(code)
    if length != expected:
        raise ValueError(f"optimizer code {code} reads {expected} hyper-parameters, got {length}")


def step(int code, floating[::1] params not None, const floating[::1] grads not None,
         double lr, const double[::1] hyper not None, floating[::1] state not None,
         long long t, double alpha=0.0):
    """Apply one update of optimizer `code` to `params` in place (state updated in place).

    Parameters
    ----------
    code : int
        An ``Optimizer`` code (``fastbp._registry`` names them).
    params, grads : 1-D C-contiguous float32 or float64 arrays of length n (same dtype)
    lr : float
        Learning rate η (ignored by iRPROP−, which sizes its steps itself).
    hyper : 1-D float64 array
        The optimizer's hyper-parameters, in the layout documented in ``_optim.pxd``.
    state : 1-D array of length ``state_size(code) * n``, the dtype of `params`
        The optimizer's state, from :func:`init_state` before the first step.
    t : int
        1-based number of this step (Adam's bias correction).
    alpha : float
        The L2 penalty ½·alpha·‖θ‖² on every element of `params`: the update sees
        ``grads + alpha * params`` (0: none).

    Examples
    --------
    >>> import numpy as np
    >>> from fastbp import _optim
    >>> theta, g = np.ones(3), np.array([1.0, -2.0, 0.5])
    >>> _optim.step(_optim.Optimizer.SGD, theta, g, 0.1, np.empty(0), np.empty(0), 1)
    >>> theta
    array([0.9 , 1.2 , 0.95])
    """
    cdef Py_ssize_t n = params.shape[0]
    cdef int size = _known(code, _state_size(code))
    _check_hyper(code, hyper.shape[0])
    if grads.shape[0] != n:
        raise ValueError(f"grads has {grads.shape[0]} elements, params has {n}")
    if state.shape[0] != size * n:
        raise ValueError(f"state must hold {size} x {n} = {size * n} elements, got {state.shape[0]}")
    if t < 1:
        raise ValueError(f"the step counter t is 1-based, got {t}")
    if n == 0:
        return
    cdef const double* hyper_ptr = &hyper[0] if hyper.shape[0] else NULL
    cdef floating* state_ptr = &state[0] if size else NULL
    with nogil:
        optimizer_step(code, &params[0], &grads[0], n, lr, hyper_ptr, state_ptr, n, t, alpha)


def init_state(int code, const double[::1] hyper not None, floating[::1] state not None):
    """Fill `state` (``state_size(code) * n`` elements) with the state before the first step.

    Zeros, except iRPROP−'s per-weight step sizes, which start at Δ₀ (``hyper[4]``).
    """
    cdef int size = _known(code, _state_size(code))
    _check_hyper(code, hyper.shape[0])
    if size == 0:
        if state.shape[0]:
            raise ValueError(f"optimizer code {code} keeps no state, got {state.shape[0]} elements")
        return
    if state.shape[0] % size:
        raise ValueError(f"state must hold {size} arrays of equal length, got {state.shape[0]} elements")
    if state.shape[0] == 0:
        return
    cdef const double* hyper_ptr = &hyper[0]
    with nogil:
        optimizer_init_state(code, hyper_ptr, &state[0], state.shape[0] // size)
