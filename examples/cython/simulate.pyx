"""A network embedded in a Cython simulation loop through fastbp's C API (fastbp.api): each
step the network predicts the next state of a damped oscillator, the oscillator moves, and the
network learns from what happened (one step of per-example SGD); no Python in the loop.

Build and run, with fastbp installed (setup.py puts fastbp.get_include() on the path):

    python setup.py build_ext --inplace
    python -c "import simulate; simulate.demo()"

The module functions are the building blocks (the tests call them): ``describe``,
``forward``, ``train`` and the ``Simulation`` class.
"""
from cython cimport floating
from libc.math cimport fabs

from fastbp.api cimport (
    fastbp_view, view_from_capsule, FASTBP_API_VERSION, FASTBP_FLOAT32, FASTBP_OK)

import numpy as np

# The C API version this module was built against (view_from_capsule refuses older ones).
BUILT_AGAINST = FASTBP_API_VERSION


cdef fastbp_view* typed_view(capsule, bint single) except NULL:
    """The view in `capsule`, checked to compute in float32 (single) or float64."""
    cdef fastbp_view* view = view_from_capsule(capsule)
    if (view.dtype == FASTBP_FLOAT32) != single:
        raise TypeError("the arrays' dtype is not the network's")
    return view


def describe(capsule):
    """What compiled code sees of the network: the struct's fields, as a dict."""
    cdef fastbp_view* view = view_from_capsule(capsule)
    cdef Py_ssize_t l
    return {
        "api_version": view.api_version,
        "dtype": "float32" if view.dtype == FASTBP_FLOAT32 else "float64",
        "sizes": [view.sizes[l] for l in range(view.n_layers + 1)],
        "activations": [view.activations[l] for l in range(view.n_layers)],
        "loss": view.loss,
        "n_params": view.n_params,
        "params": <size_t>view.params,
        "weights": [<size_t>view.weights[l] for l in range(view.n_layers)],
        "biases": [<size_t>view.biases[l] for l in range(view.n_layers)],
    }


def forward(capsule, floating[:, ::1] X):
    """The network's outputs for the rows of X, in one call of view.forward."""
    cdef fastbp_view* view = typed_view(capsule, floating is float)
    cdef Py_ssize_t rows = X.shape[0]
    cdef int status = FASTBP_OK
    if X.shape[1] != view.sizes[0]:
        raise ValueError(f"X must have {view.sizes[0]} columns")
    out = np.empty((rows, view.sizes[view.n_layers]),
                   dtype=np.float32 if floating is float else np.float64)
    cdef floating[:, ::1] out_rows = out
    if rows > 0:
        with nogil:
            status = view.forward(view, &X[0, 0], rows, &out_rows[0, 0])
    if status != FASTBP_OK:
        raise RuntimeError(f"forward returned {status}")
    return out


def train(capsule, floating[:, ::1] X, floating[:, ::1] Y, double lr):
    """One step of per-example SGD on each row of (X, Y) in order (an epoch of
    Network.fit(batch_size=1, shuffle=False) with plain SGD). Returns (status, steps, mean
    loss): it stops at the first step that is not FASTBP_OK."""
    cdef fastbp_view* view = typed_view(capsule, floating is float)
    cdef Py_ssize_t i, steps = 0
    cdef int status = FASTBP_OK
    cdef double loss, total = 0
    if (X.shape[1] != view.sizes[0] or Y.shape[1] != view.sizes[view.n_layers]
            or X.shape[0] != Y.shape[0]):
        raise ValueError("X and Y do not fit the network")
    with nogil:
        for i in range(X.shape[0]):
            status = view.sgd_step(view, &X[i, 0], &Y[i, 0], lr, &loss)
            if status != FASTBP_OK:
                break
            total += loss
            steps += 1
    return status, steps, total / steps if steps else float("nan")


cdef class Simulation:
    """A damped oscillator (position, velocity) and a network of 2 inputs and 2 outputs that
    learns its next state online. Holds the NetworkView (so the struct stays alive) and the
    view's pointer."""
    cdef object network_view
    cdef fastbp_view* view
    cdef double position, velocity
    cdef public double dt, damping

    def __init__(self, network_view, double position=1.0, double velocity=0.0):
        self.view = view_from_capsule(network_view.capsule)
        if self.view.sizes[0] != 2 or self.view.sizes[self.view.n_layers] != 2:
            raise ValueError("the oscillator needs a network of 2 inputs and 2 outputs")
        self.network_view = network_view
        self.position, self.velocity = position, velocity
        self.dt, self.damping = 0.1, 0.05

    def run(self, Py_ssize_t steps, double lr):
        """`steps` steps of predict, move, learn: (status, each step's |prediction error|
        summed over the two coordinates). Stops at the first call that is not FASTBP_OK."""
        errors = np.zeros(steps)
        cdef double[::1] error = errors
        cdef int status
        if self.view.dtype == FASTBP_FLOAT32:
            status = self.loop(<float>0, steps, lr, &error[0] if steps else NULL)
        else:
            status = self.loop(<double>0, steps, lr, &error[0] if steps else NULL)
        return status, errors

    cdef int loop(self, floating kind, Py_ssize_t steps, double lr, double* error):
        # The buffers, in the network's dtype, on the C stack: nothing allocated per step.
        cdef floating now[2]
        cdef floating predicted[2]
        cdef floating after[2]
        cdef Py_ssize_t t
        cdef int status = FASTBP_OK
        cdef double acceleration
        with nogil:
            for t in range(steps):
                now[0], now[1] = <floating>self.position, <floating>self.velocity
                status = self.view.forward(self.view, now, 1, predicted)
                if status != FASTBP_OK:
                    break
                acceleration = -self.position - self.damping * self.velocity
                self.velocity += self.dt * acceleration
                self.position += self.dt * self.velocity
                after[0], after[1] = <floating>self.position, <floating>self.velocity
                error[t] = fabs(predicted[0] - after[0]) + fabs(predicted[1] - after[1])
                status = self.view.sgd_step(self.view, now, after, lr, NULL)
                if status != FASTBP_OK:
                    break
                if fabs(self.position) + fabs(self.velocity) < 0.05:  # at rest: a new push
                    self.position = 1.0
        return status


def demo(steps=20000, lr=0.05):
    """Train a 2-16-2 tanh network online inside the simulation loop; print how its one-step
    predictions improve."""
    import fastbp
    import fastbp.api

    net = fastbp.Network([2, 16, 2], activation="tanh", dtype="float64", seed=0)
    with fastbp.api.open_view(net) as view:
        status, errors = Simulation(view).run(steps, lr)
    print(f"C API version {fastbp.api.API_VERSION}, status {status}")
    tenth = max(steps // 10, 1)
    print(f"mean |error| of the first {tenth} predictions: {errors[:tenth].mean():.4f}, "
          f"of the last {tenth}: {errors[-tenth:].mean():.4f}")
    return errors
