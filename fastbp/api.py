"""fastbp's C API for compiled code: a view of a live Network that Cython or C code predicts
with and trains one example at a time, without the GIL and without linking to fastbp.

>>> import numpy as np, fastbp, fastbp.api
>>> net = fastbp.Network([2, 4, 1], activation="tanh", seed=0)
>>> with fastbp.api.open_view(net) as view:   # net's training lock held until close
...     status, loss = view.sgd_step(np.ones(2, np.float32), np.ones(1, np.float32), lr=0.1)
>>> status == fastbp.api.OK
True

In compiled code the view is its capsule (``view.capsule``), whose pointer is the C struct
``fastbp_view`` of ``fastbp/include/fastbp_api.h`` (``fastbp.get_include()``); from Cython::

    from fastbp.api cimport fastbp_view, view_from_capsule

    cdef fastbp_view* v = view_from_capsule(view.capsule)
    with nogil:
        v.forward(v, &X[0, 0], rows, &out[0, 0])       # outputs into your buffer
        v.sgd_step(v, &x[0], &y[0], 0.01, &loss)       # one step of per-example SGD

What stays valid for how long:

- From open to ``close()`` (or the end of the ``with`` block): the struct, its parameter
  pointers (the network's own memory, ``net.weights`` and ``net.biases`` are views of it:
  changes either way are seen at once) and its functions. The network's training lock is held
  all that time: ``fit``, ``partial_fit``, ``set_weights``, ``train_many``, ``copy``,
  ``save`` and pickling raise ``RuntimeError`` ("held by a C view; close it first");
  ``predict``, ``loss`` and reading ``net.weights`` work (between C calls, or they race them).
- ``close()`` frees the view's workspace and releases the lock; the struct stays readable while
  the NetworkView object lives, its parameter pointers NULL, and each function returns
  ``FASTBP_ERR_CLOSED`` (``CLOSED``). Keep the NetworkView alive as long as C code holds the
  pointer: the struct lives inside it. A view dropped unclosed is closed when collected.
- One thread at a time per view: forward and sgd_step share the view's workspace (the caller
  serialises calls from several threads; ``close()`` must not race a call).
- After close the network is consistent for ``predict``, ``fit``, ``save``: the C steps changed
  its parameters only. They are plain SGD: the network's optimizer, its state and step count,
  ``epochs_trained`` and ``history`` are neither used nor changed; dropout is not applied.

Networks that standardise inputs or targets (``scale_inputs``/``scale_targets``) are refused:
the C functions compute in the network's own units, which for those networks are not the
caller's.
"""
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from fastbp._train import VIEW_API_VERSION, View
from fastbp.network import C_VIEW_OWNER, Network

#: The C API's version (``FASTBP_API_VERSION`` of the header, ``fastbp_view.api_version``):
#: it counts additions; code built against version N runs with any fastbp of version >= N.
API_VERSION: int = VIEW_API_VERSION

#: The functions' return codes (FASTBP_OK, ... in the header).
OK: int = 0
NOT_APPLIED: int = 1
CLOSED: int = -1
BAD_ARGUMENT: int = -2


class NetworkView:
    """A C view of ``net``: its capsule, and the network's training lock held until
    :meth:`close` (a context manager: ``with open_view(net) as view:``).

    Parameters
    ----------
    net : fastbp.Network
        A network without ``scale_inputs`` or ``scale_targets``, not being trained.

    Raises
    ------
    TypeError
        `net` is not a Network.
    ValueError
        `net` standardises its inputs or targets.
    RuntimeError
        `net` is being trained or modified, or another view holds it.

    Attributes
    ----------
    network : fastbp.Network
        The network viewed (referenced as long as this object lives).
    capsule : PyCapsule
        Named ``"fastbp.api.view"``; its pointer is a ``fastbp_view *``.
    """

    def __init__(self, net: Network) -> None:
        if not isinstance(net, Network):
            raise TypeError(f"open_view takes a fastbp.Network, got {type(net).__name__}")
        if net._scale_inputs or net._scale_targets:
            raise ValueError("the C view computes in the network's own units: open it on a "
                             "network without scale_inputs/scale_targets (standardise in "
                             "your own code)")
        self.network = net
        self._view: Any = None  # the compiled View, once the lock is held
        self._hold: Any = net._exclusive()
        self._hold.__enter__()  # RuntimeError when the network is busy
        try:
            net._owner = C_VIEW_OWNER
            self._view = View(net.state.architecture, net.state.params)
        except BaseException:
            self._release()
            raise

    @property
    def capsule(self) -> Any:
        """The capsule of the ``fastbp_view`` struct (``ValueError`` once closed)."""
        if self.closed:
            raise ValueError("the view is closed")
        return self._view.capsule

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` has run."""
        return self._view is None or self._view.closed

    def close(self) -> None:
        """Free the workspace and release the network's lock (again: nothing)."""
        if self._view is not None and not self._view.closed:
            self._view.close()
            self._release()

    def _release(self) -> None:
        hold, self._hold = self._hold, None
        if hold is not None:
            hold.__exit__(None, None, None)

    def __enter__(self) -> "NetworkView":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __del__(self) -> None:
        # (An unclosed view would keep the network locked for good.)
        if getattr(self, "_view", None) is not None:
            self.close()

    def __repr__(self) -> str:
        state = "closed" if self.closed else "open"
        return f"<fastbp.api.NetworkView of {self.network!r}, {state}>"

    # The struct's functions, called through its pointers as compiled code calls them.
    def forward(self, X: ArrayLike) -> NDArray[Any]:
        """The struct's ``forward`` on the rows of X (a C-contiguous array of the network's
        dtype): a new (rows, n_outputs) array, what ``Network.predict`` gives."""
        X = np.asarray(X)
        if X.ndim != 2:
            raise ValueError("X must be 2-D: (rows, n_inputs)")
        out = np.empty((X.shape[0], self.network.sizes[-1]), self.network.dtype)
        if X.shape[0] == 0:
            return out
        self._check(self._view.forward(X, out))
        return out

    def sgd_step(self, x: NDArray[Any], y: NDArray[Any], lr: float) -> tuple[int, float]:
        """The struct's ``sgd_step`` on one example (arrays of the network's dtype, sizes[0]
        and sizes[-1] values): ``(status, loss)``, status OK or NOT_APPLIED (a loss that is
        not finite; the parameters unchanged)."""
        status, loss = self._view.sgd_step(x, y, lr)  # ValueError once closed
        if status < 0:
            self._check(status)
        return int(status), float(loss)

    def _check(self, status: int) -> int:
        if status == CLOSED:
            raise ValueError("the view is closed")
        if status == BAD_ARGUMENT:
            raise ValueError("bad argument (lr must be finite and > 0)")
        return status


def open_view(net: Network) -> NetworkView:
    """A C view of `net` (see :class:`NetworkView` and the module's docstring)."""
    return NetworkView(net)


__all__ = ["API_VERSION", "NetworkView", "open_view", "OK", "NOT_APPLIED", "CLOSED",
           "BAD_ARGUMENT"]
