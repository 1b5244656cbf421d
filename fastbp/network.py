"""The Network: policy in Python (validation, initialisation, bookkeeping) over the compiled trainer."""
import contextlib
import threading
import time

import numpy as np

from fastbp import _train, _validate
from fastbp._kernels import ACTIVATION_CODES, LOSS_CODES

# Rows per compiled forward/backward pass: bounds the workspace of predict, loss,
# gradients and large batches, whatever the number of samples.
CHUNK_ROWS = 256

HIDDEN_ACTIVATIONS = ("sigmoid", "tanh", "relu", "leaky_relu", "identity")
MSE_OUTPUTS = ("identity", "sigmoid", "tanh")
# The classification losses fix the output: the loss kernel takes the logits and applies
# softmax / sigmoid itself, fused with the log for stability.
FIXED_OUTPUTS = {"cross_entropy": "softmax", "binary_cross_entropy": "sigmoid"}
LOSSES = tuple(LOSS_CODES)
# Independent random streams spawned from the seed, by purpose. Adding a purpose later
# (a new child index) leaves the existing streams unchanged.
INIT_STREAM, SHUFFLE_STREAM, DROPOUT_STREAM = 0, 1, 2


class TrainingDiverged(ValueError):
    """The training loss or a parameter became NaN or infinite.

    The network keeps the weights it had at the start of the epoch that diverged;
    ``history`` holds the epochs completed before it.
    """

    def __init__(self, message, epoch, history):
        super().__init__(message)
        self.epoch = epoch
        self.history = history


class History:
    """What one ``fit`` call recorded, one entry per completed epoch.

    Attributes
    ----------
    loss : list of float
        Each epoch's mean of the batch losses seen during it (weighted by batch size).
    seconds : list of float
        Wall time of each epoch's training.
    """

    def __init__(self):
        self.loss = []
        self.seconds = []

    @property
    def epochs(self):
        """Number of completed epochs."""
        return len(self.loss)

    def __repr__(self):
        last = f", last loss {self.loss[-1]:.6g}" if self.loss else ""
        return f"<History {self.epochs} epochs{last}>"


class Network:
    """A fully connected network trained by backpropagation.

    Parameters
    ----------
    sizes : sequence of int
        Input width, hidden widths, output width (at least two entries, all >= 1).
    activation : str or sequence of str
        Hidden-layer activation, one name for all or one per hidden layer: ``"sigmoid"``,
        ``"tanh"``, ``"relu"`` (derivative 0 at 0), ``"leaky_relu"`` (slope 0.01), ``"identity"``.
    output : str or None
        Output activation for ``loss="mse"``: ``"identity"`` (default), ``"sigmoid"`` or
        ``"tanh"``. The classification losses fix it (softmax, sigmoid): passing it is an error.
    loss : str
        ``"mse"`` (mean over samples of ½Σₖ(ŷₖ − yₖ)²), ``"cross_entropy"`` (softmax output,
        mean negative log-likelihood; needs >= 2 outputs) or ``"binary_cross_entropy"``
        (sigmoid outputs, summed over outputs).
    dtype : str
        ``"float32"`` or ``"float64"``: all layer arithmetic in that type; loss sums in float64.
    seed : int or None
        Seeds initialisation (Glorot-uniform, He-uniform for relu/leaky_relu; zero biases) and
        shuffling, from separate streams. None draws fresh entropy, recorded as ``net.seed``.

    Examples
    --------
    >>> import numpy as np, fastbp
    >>> X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=np.float32)
    >>> y = np.array([0, 1, 1, 0], dtype=np.float32)
    >>> net = fastbp.Network([2, 4, 1], activation="tanh", seed=1)
    >>> history = net.fit(X, y, epochs=2, batch_size=1, lr=0.1)
    >>> len(history.loss)
    2
    """

    def __init__(self, sizes, activation="sigmoid", output=None, loss="mse",
                 dtype="float32", seed=0):
        self._sizes = _validate.sizes(sizes)
        self._loss_name = _validate.choice("loss", loss, LOSSES)
        self._dtype = _validate.dtype(dtype)
        self._activations = self._hidden_activations(activation)
        self._output = self._output_activation(output)
        if self._loss_name == "cross_entropy" and self._sizes[-1] < 2:
            raise ValueError("cross_entropy needs at least 2 outputs (use binary_cross_entropy for one)")
        self._seed = self._check_seed(seed)
        self._streams = np.random.SeedSequence(self._seed).spawn(DROPOUT_STREAM + 1)
        self._shuffle_rng = np.random.Generator(np.random.PCG64(self._streams[SHUFFLE_STREAM]))

        output_code = ACTIVATION_CODES[self._output] if self._loss_name == "mse" else ACTIVATION_CODES["identity"]
        codes = [ACTIVATION_CODES[name] for name in self._activations] + [output_code]
        self._arch = _train.Architecture(self._sizes, codes, LOSS_CODES[self._loss_name])
        self._params = np.zeros(self._arch.n_params, dtype=self._dtype)
        slices = self._arch.weight_slices()
        self._weights = tuple(
            self._params[w:b].reshape(n_out, n_in)
            for (w, b, _), n_in, n_out in zip(slices, self._sizes[:-1], self._sizes[1:]))
        self._biases = tuple(self._params[b:end] for _, b, end in slices)
        self._initialise()
        self._lock = threading.Lock()
        self.history = None

    # ----- construction helpers -------------------------------------------------------
    def _hidden_activations(self, activation):
        n_hidden = len(self._sizes) - 2
        if isinstance(activation, str):
            names = (activation,) * n_hidden
        else:
            names = tuple(activation)
            if len(names) != n_hidden:
                raise ValueError(f"got {len(names)} activations for {n_hidden} hidden layers")
        return tuple(_validate.choice("activation", name, HIDDEN_ACTIVATIONS) for name in names)

    def _output_activation(self, output):
        if self._loss_name in FIXED_OUTPUTS:
            if output is not None:
                raise ValueError(
                    f"loss {self._loss_name!r} fixes the output activation "
                    f"({FIXED_OUTPUTS[self._loss_name]}); do not pass output=")
            return FIXED_OUTPUTS[self._loss_name]
        return _validate.choice("output activation", "identity" if output is None else output,
                                MSE_OUTPUTS)

    @staticmethod
    def _check_seed(seed):
        if seed is None:
            return int(np.random.SeedSequence().entropy)
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
            raise ValueError(f"seed must be a non-negative integer or None, got {seed!r}")
        return int(seed)

    def _initialise(self):
        """Glorot-uniform weights (He-uniform before relu/leaky_relu), zero biases, in float64
        from the init stream, then rounded to the network's dtype."""
        rng = np.random.Generator(np.random.PCG64(self._streams[INIT_STREAM]))
        for W, activation in zip(self._weights, self._activations + (self._output,)):
            n_out, n_in = W.shape
            if activation in ("relu", "leaky_relu"):
                limit = np.sqrt(6.0 / n_in)
            else:
                limit = np.sqrt(6.0 / (n_in + n_out))
            W[...] = rng.uniform(-limit, limit, size=W.shape)
        for b in self._biases:
            b[...] = 0

    # ----- read-only description --------------------------------------------------------
    sizes = property(lambda self: self._sizes, doc="Layer widths, input first.")
    activations = property(lambda self: self._activations, doc="Hidden-layer activations.")
    output = property(lambda self: self._output, doc="Output activation (softmax/sigmoid fixed by the classification losses).")
    loss_name = property(lambda self: self._loss_name, doc="The loss: mse, cross_entropy or binary_cross_entropy.")
    dtype = property(lambda self: self._dtype, doc="numpy dtype of parameters and arithmetic.")
    seed = property(lambda self: self._seed, doc="The seed of initialisation and shuffling.")
    n_params = property(lambda self: self._params.size, doc="Number of weights and biases.")

    @property
    def weights(self):
        """Tuple of writable views into the parameters: ``weights[l]`` has shape (sizes[l+1], sizes[l])."""
        return self._weights

    @property
    def biases(self):
        """Tuple of writable views into the parameters: ``biases[l]`` has shape (sizes[l+1],)."""
        return self._biases

    def __repr__(self):
        activation = self._activations[0] if len(set(self._activations)) == 1 else list(self._activations)
        return (f"Network({list(self._sizes)}, activation={activation!r}, output={self._output!r}, "
                f"loss={self._loss_name!r}, dtype={self._dtype.name!r}, seed={self._seed})")

    # ----- computing ----------------------------------------------------------------------
    def _workspace(self, chunk):
        return np.empty(self._arch.workspace_size(chunk), dtype=self._dtype)

    def _data(self, X, y):
        X = _validate.inputs(X, self._sizes[0], self._dtype)
        Y = _validate.targets(y, X.shape[0], self._sizes[-1], self._loss_name, self._dtype)
        return X, Y

    def predict(self, X):
        """Output-layer activations for each row of X: (n, n_out), or (n,) when n_out == 1.

        For the classification losses these are probabilities (softmax rows, or sigmoids).
        """
        X = _validate.inputs(X, self._sizes[0], self._dtype)
        chunk = min(X.shape[0], CHUNK_ROWS)
        out = np.empty((X.shape[0], self._sizes[-1]), dtype=self._dtype)
        _train.predict(self._arch, self._params, self._workspace(chunk), X, out, chunk)
        return out.reshape(-1) if self._sizes[-1] == 1 else out

    def _loss_and_gradient(self, X, y, want_gradient):
        X, Y = self._data(X, y)
        chunk = min(X.shape[0], CHUNK_ROWS)
        grads = np.empty_like(self._params) if want_gradient else None
        total = _train.loss_and_gradient(self._arch, self._params, grads, self._workspace(chunk),
                                          X, Y, chunk)
        return total / X.shape[0], grads

    def loss(self, X, y):
        """Mean loss over the samples of (X, y), as a Python float."""
        return float(self._loss_and_gradient(X, y, want_gradient=False)[0])

    def gradients(self, X, y):
        """Gradients of ``loss(X, y)``: a list of fresh ``(dW, db)`` arrays, one pair per layer."""
        grads = self._loss_and_gradient(X, y, want_gradient=True)[1]
        return [(grads[w:b].reshape(W.shape).copy(), grads[b:end].copy())
                for (w, b, end), W in zip(self._arch.weight_slices(), self._weights)]

    @contextlib.contextmanager
    def _exclusive(self):
        """One trainer at a time: a second thread gets an error instead of a race."""
        if not self._lock.acquire(blocking=False):
            raise RuntimeError("this network is already being trained or modified in another thread")
        try:
            yield
        finally:
            self._lock.release()

    def fit(self, X, y, epochs=10, batch_size=32, lr=0.01, shuffle=True):
        """Train by gradient descent; continue from the current weights.

        Parameters
        ----------
        X : array_like, shape (n, sizes[0])
        y : array_like
            Targets as the loss expects them (see :class:`Network`).
        epochs : int
            Passes over the data (>= 1).
        batch_size : int or None
            1: per-example (stochastic) gradient descent; k: mini-batches of k (the last one
            partial); None or >= n: full batch. Gradients are averaged over each batch.
        lr : float
            Learning rate η of ``W ← W − η·∂L/∂W``.
        shuffle : bool
            Visit the samples in a new random order each epoch (from the network's shuffle
            stream, which continues across calls and is saved with the model), or in order.

        Returns
        -------
        History

        Raises
        ------
        TrainingDiverged
            The loss or a parameter became non-finite; the weights are those from before
            the failing epoch.
        """
        X, Y = self._data(X, y)
        epochs = _validate.positive_int("epochs", epochs)
        lr = _validate.positive_float("lr", lr)
        n = X.shape[0]
        batch = n if batch_size is None else min(_validate.positive_int("batch_size", batch_size), n)
        if not isinstance(shuffle, (bool, np.bool_)):
            raise TypeError(f"shuffle must be True or False, got {shuffle!r}")
        chunk = min(batch, CHUNK_ROWS)
        history = History()
        with self._exclusive():
            work = self._workspace(chunk)
            grads = np.empty_like(self._params)
            before_epoch = np.empty_like(self._params)
            for epoch in range(epochs):
                order = self._shuffle_rng.permutation(n).astype(np.intp, copy=False) if shuffle else None
                np.copyto(before_epoch, self._params)
                started = time.perf_counter()
                status, loss_sum = _train.train_epoch(self._arch, self._params, grads, work, X, Y,
                                                      order, batch, lr, chunk)
                if status != _train.Status.STATUS_OK:
                    np.copyto(self._params, before_epoch)
                    self.history = history
                    raise TrainingDiverged(
                        f"training diverged in epoch {epoch + 1}: the loss became NaN or infinite "
                        f"(try a smaller lr, currently {lr:g}); the weights are those from before "
                        "that epoch", epoch=epoch, history=history)
                history.seconds.append(time.perf_counter() - started)
                history.loss.append(loss_sum / n)
        self.history = history
        return history

    # ----- looking inside ------------------------------------------------------------------
    def trace(self, x, y, lr=0.01):
        """One step of backpropagation with every intermediate kept (see ``fastbp._inspect.trace``).

        ``print(net.trace(x, y, lr=0.1))`` shows the forward pass, the loss, the backward pass
        and the update that ``fit(x, y, epochs=1, batch_size=len(x), lr=lr, shuffle=False)``
        would apply. The network is not changed.
        """
        from fastbp import _inspect
        return _inspect.trace(self, x, y, lr=lr)

    def summary(self):
        """Print a table of the layers: widths, activation, shapes and parameter counts."""
        from fastbp import _inspect
        print(_inspect.summary(self))

    # ----- parameters ----------------------------------------------------------------------
    def set_weights(self, weights, biases):
        """Replace all weights and biases, after checking count, shapes and finiteness.

        Values are converted to the network's dtype; the network is unchanged on error.
        """
        weights, biases = list(weights), list(biases)
        n_layers = len(self._weights)
        if len(weights) != n_layers or len(biases) != n_layers:
            raise ValueError(f"expected {n_layers} weight matrices and {n_layers} bias vectors, "
                             f"got {len(weights)} and {len(biases)}")
        converted = []
        for kind, new_values, current in (("weights", weights, self._weights),
                                          ("biases", biases, self._biases)):
            for layer, (value, target) in enumerate(zip(new_values, current)):
                array = _validate.numeric_array(f"{kind}[{layer}]", value)
                if array.shape != target.shape:
                    raise ValueError(f"{kind}[{layer}] must have shape {target.shape}, got {array.shape}")
                array = np.ascontiguousarray(array, dtype=self._dtype)
                _validate.require_finite(f"{kind}[{layer}]", array)
                converted.append((target, array))
        with self._exclusive():
            for target, array in converted:
                target[...] = array

    def copy(self):
        """An independent network with the same configuration, weights and shuffle state."""
        from fastbp import _persist
        return _persist.from_state(*_persist.state(self))

    def __reduce__(self):
        from fastbp import _persist
        return _persist.from_state, _persist.state(self)

    def save(self, path):
        """Save the network to `path` (an .npz archive; the name is used as given).

        The file is written beside `path` and renamed into place, so a failed save never
        destroys an existing file.
        """
        from fastbp import _persist
        _persist.save(self, path)
