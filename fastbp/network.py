"""The Network: policy in Python (validation, initialisation, bookkeeping) over the compiled
trainer; and ``load``, which makes Networks from files."""
from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import IO, TYPE_CHECKING, Any

import numpy as np
from numpy.typing import ArrayLike, DTypeLike, NDArray

from fastbp import _fit, _init, _inspect, _lbfgs, _persist, _registry, _validate
from fastbp import optim, schedules
from fastbp._blas import limit_threads
from fastbp._scaling import Scaler, not_fitted, scaled
from fastbp._state import CHUNK_ROWS, TrainingState
from fastbp._threads import default_threads
from fastbp._train import Architecture, TrainOptions
from fastbp.history import History, TrainingDiverged  # noqa: F401  (public through fastbp)

if TYPE_CHECKING:
    from fastbp._inspect.trace import Trace
    from fastbp.history import Callback

# The names each argument accepts, from the registry of formulas.
HIDDEN_ACTIVATIONS = _registry.HIDDEN_ACTIVATIONS
REGRESSION_LOSSES = _registry.REGRESSION_LOSSES
REGRESSION_OUTPUTS = _registry.REGRESSION_OUTPUTS
# These losses fix the output: the loss kernel takes the logits and applies softmax,
# sigmoid or exp itself, fused with the log for stability.
FIXED_OUTPUTS = _registry.FIXED_OUTPUTS
CLASSIFICATION_LOSSES = _registry.CLASSIFICATION_LOSSES
LOSSES = tuple(_registry.LOSSES)
MAX_THREADS = 4096

# fit's class_weight: {class label: weight} or "balanced".
ClassWeight = dict[int, float] | str
# fit's validation_data: (X_val, y_val) or (X_val, y_val, sample_weight_val).
ValidationData = tuple[ArrayLike, ArrayLike] | tuple[ArrayLike, ArrayLike, ArrayLike | None]
# Where save writes and load reads: a path (str, bytes, path-like) or a binary file object.
PathOrFile = str | bytes | os.PathLike[str] | os.PathLike[bytes] | IO[bytes]


def _check_lbfgs_settings(settings: _fit.Settings, clip_norm: float | None, validation_data: object,
                          dropout: Sequence[float]) -> None:
    """L-BFGS takes whole-data steps of its own choosing: refuse what it would ignore."""
    ignored = [name for name, used in (
        ("schedule", not isinstance(settings.schedule, schedules.Constant)),
        ("clip_norm", clip_norm is not None),
        ("validation_data/validation_split", validation_data is not None),
        ("early_stopping", settings.early_stopping),
        ("tol", settings.tol is not None),
        ("max_time", settings.max_time is not None),
        ("max_updates", settings.max_updates is not None),
        ("dropout", any(dropout))) if used]
    if ignored:
        raise ValueError(f"optimizer 'lbfgs' does not support {', '.join(ignored)}; it takes "
                         "epochs (its iteration budget), alpha, sample and class weights and "
                         "callbacks")


# The owner of a network's lock while a C view holds it (fastbp.api.NetworkView).
C_VIEW_OWNER = "fastbp.api view"


class Network:
    """A fully connected network trained by backpropagation.

    Parameters
    ----------
    sizes : sequence of int
        Input width, hidden widths, output width (at least two entries, all >= 1).
    activation : str or sequence of str
        Hidden-layer activation, one name for all or one per hidden layer: ``"sigmoid"``,
        ``"tanh"``, ``"relu"`` (derivative 0 at 0), ``"leaky_relu"`` (slope 0.01),
        ``"identity"``, ``"elu"`` (α = 1), ``"softplus"``, ``"gelu"`` (exact, erf form).
    output : str or None
        Output activation for the regression losses (mse, mae, huber): ``"identity"``
        (default), ``"sigmoid"`` or ``"tanh"``. The other losses fix it (softmax for
        cross_entropy, sigmoid for binary_cross_entropy, exp for poisson): passing it is an error.
    loss : str
        ``"mse"`` (mean over samples of ½Σₖ(ŷₖ − yₖ)²), ``"mae"`` (Σₖ|ŷₖ − yₖ|), ``"huber"``
        (Σₖ ½r² for |r| ≤ 1, |r| − ½ beyond), ``"poisson"`` (Σₖ ŷₖ − yₖ·log ŷₖ with ŷ = exp(z),
        y ≥ 0), ``"cross_entropy"`` (softmax output, mean negative log-likelihood; needs >= 2
        outputs) or ``"binary_cross_entropy"`` (sigmoid outputs, summed over outputs).
    dtype : str
        ``"float32"`` or ``"float64"``: all layer arithmetic in that type; loss sums in float64.
    seed : int or None
        Seeds initialisation, shuffling and dropout, from separate streams. None draws fresh
        entropy, recorded as ``net.seed``.
    init : str
        ``"auto"`` (He-uniform before relu/leaky_relu, Glorot-uniform elsewhere; zero biases),
        ``"glorot_uniform"``, ``"glorot_normal"``, ``"he_uniform"``, ``"he_normal"``,
        ``"lecun_normal"`` or ``"nguyen_widrow"``.
    dropout : float or sequence of float or None
        Inverted-dropout rate of each hidden layer's output during ``fit`` (one rate for all or
        one per hidden layer, each in [0, 1)); ``predict``, ``loss`` and ``gradients`` never drop.
    scale_inputs, scale_targets : bool
        Standardise X (and, for the regression losses, y) with the mean and standard deviation
        of the data of the first ``fit``; ``predict`` applies it and returns targets in their
        own units. The scaling is saved with the model. ``loss`` and ``gradients`` are those
        of the network on the standardised targets.
    n_threads : int or None
        Threads for ``fit``, ``predict``, ``loss`` and ``gradients`` (settable later as
        ``net.n_threads``). None: the CPUs this process may run on (``os.sched_getaffinity``,
        else ``os.cpu_count()``). Layers large enough for BLAS run their matrix products on
        this many BLAS threads (scipy's OpenBLAS, set for the duration of each call and
        restored after); fastbp's own kernels for small layers always run on one thread, so a
        network whose layers are all small computes the same whatever n_threads is. On a CPU
        with AVX-512, large float32 layers take fastbp's own matrix kernels instead of BLAS;
        with n_threads > 1 each product's output tiles are split over a team of n_threads
        threads (in calls large enough to pay for starting them; BLAS's layers then run on
        one thread), and the weights are the same bit for bit as on one thread.
        BLAS-backed layers are deterministic for a fixed n_threads, but may round differently
        for another.
        A property of the machine, not of the model: not saved with it (``load`` and
        unpickling take the default of the machine they run on; ``copy`` keeps it).

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

    # Rows per compiled forward/backward pass (see fastbp._state).
    CHUNK_ROWS = CHUNK_ROWS

    def __init__(self, sizes: Sequence[int], activation: str | Sequence[str] = "sigmoid",
                 output: str | None = None, loss: str = "mse", dtype: DTypeLike = "float32",
                 seed: int | None = 0, *, init: str = "auto",
                 dropout: float | Sequence[float] | None = None, scale_inputs: bool = False,
                 scale_targets: bool = False, n_threads: int | None = None) -> None:
        self._sizes = _validate.sizes(sizes)
        self._loss_name = _validate.choice("loss", loss, LOSSES)
        self._dtype = _validate.dtype(dtype)
        self._activations = self._hidden_activations(activation)
        self._output = self._output_activation(output)
        if self._loss_name == "cross_entropy" and self._sizes[-1] < 2:
            raise ValueError("cross_entropy needs at least 2 outputs (use binary_cross_entropy for one)")
        self._init = _validate.choice("init", init, _init.NAMES)
        self._dropout = self._dropout_rates(dropout)
        if not isinstance(scale_inputs, bool) or not isinstance(scale_targets, bool):
            raise TypeError("scale_inputs and scale_targets must be True or False")
        if scale_targets and self._loss_name not in REGRESSION_LOSSES:
            raise ValueError(f"scale_targets is for the regression losses {REGRESSION_LOSSES}, "
                             f"not {self._loss_name!r}")
        self._scale_inputs, self._scale_targets = scale_inputs, scale_targets
        self._seed = self._check_seed(seed)
        self.n_threads = n_threads

        # The losses that fix the output apply it themselves, to the logits.
        output = self._output if self._loss_name in REGRESSION_LOSSES else "identity"
        codes = [_registry.ACTIVATIONS[name].code for name in self._activations + (output,)]
        self._arch = Architecture(self._sizes, codes, _registry.LOSSES[self._loss_name].code)
        self._state = TrainingState(self._arch, self._dtype, self._seed, optim.SGD())
        self._initialise()
        self._lock = threading.Lock()
        self._owner: int | str | None = None  # the thread holding _lock, or C_VIEW_OWNER
        self._metadata: dict[str, Any] = dict.fromkeys(_persist.METADATA_KEYS)  # all unknown

    # ----- construction helpers -------------------------------------------------------
    def _hidden_activations(self, activation: str | Sequence[str]) -> tuple[str, ...]:
        n_hidden = len(self._sizes) - 2
        if isinstance(activation, str):
            names = (activation,) * n_hidden
        else:
            names = tuple(activation)
            if len(names) != n_hidden:
                raise ValueError(f"got {len(names)} activations for {n_hidden} hidden layers")
        return tuple(_validate.choice("activation", name, HIDDEN_ACTIVATIONS) for name in names)

    def _output_activation(self, output: str | None) -> str:
        if self._loss_name in FIXED_OUTPUTS:
            if output is not None:
                raise ValueError(
                    f"loss {self._loss_name!r} fixes the output activation "
                    f"({FIXED_OUTPUTS[self._loss_name]}); do not pass output=")
            return FIXED_OUTPUTS[self._loss_name]
        return _validate.choice("output activation", "identity" if output is None else output,
                                REGRESSION_OUTPUTS)

    def _dropout_rates(self, dropout: Any) -> tuple[float, ...]:
        n_hidden = len(self._sizes) - 2
        if dropout is None:
            return (0.0,) * n_hidden
        if n_hidden == 0 and np.ndim(dropout) == 0 and dropout != 0:
            raise ValueError("dropout applies to hidden layers; this network has none")
        rates = (dropout,) * n_hidden if np.ndim(dropout) == 0 else tuple(dropout)
        if len(rates) != n_hidden:
            raise ValueError(f"got {len(rates)} dropout rates for {n_hidden} hidden layers")
        for rate in rates:
            if isinstance(rate, bool) or not isinstance(rate, (int, float, np.floating, np.integer)) \
                    or not 0 <= rate < 1:
                raise ValueError(f"dropout rates must be numbers in [0, 1), got {rate!r}")
        return tuple(float(rate) for rate in rates)

    @staticmethod
    def _check_seed(seed: Any) -> int:
        if seed is None:
            return int(np.random.SeedSequence().entropy)  # type: ignore[arg-type]  # (an int here)
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
            raise ValueError(f"seed must be a non-negative integer or None, got {seed!r}")
        return int(seed)

    def _initialise(self) -> None:
        """Weights and biases from the init stream (in float64, then rounded to the dtype)."""
        rng = np.random.Generator(np.random.PCG64(self._state.init_stream))
        for W, b, activation in zip(self.weights, self.biases, self._activations + (self._output,)):
            W[...], b[...] = _init.layer_initialiser(self._init, activation)(rng, *W.shape)

    # ----- read-only description --------------------------------------------------------
    @property
    def sizes(self) -> tuple[int, ...]:
        """Layer widths, input first."""
        return self._sizes

    @property
    def activations(self) -> tuple[str, ...]:
        """Hidden-layer activations."""
        return self._activations

    @property
    def output(self) -> str:
        """Output activation (fixed by some losses)."""
        return self._output

    @property
    def loss_name(self) -> str:
        """The loss, by name."""
        return self._loss_name

    @property
    def dtype(self) -> np.dtype[np.floating[Any]]:
        """numpy dtype of parameters and arithmetic."""
        return self._dtype

    @property
    def seed(self) -> int:
        """The seed of initialisation, shuffling and dropout."""
        return self._seed

    @property
    def init(self) -> str:
        """The initialiser's name."""
        return self._init

    @property
    def dropout(self) -> tuple[float, ...]:
        """Dropout rate of each hidden layer."""
        return self._dropout

    @property
    def scale_inputs(self) -> bool:
        """Whether the inputs are standardised (learnt by the first fit)."""
        return self._scale_inputs

    @property
    def scale_targets(self) -> bool:
        """Whether the targets are standardised (learnt by the first fit)."""
        return self._scale_targets

    @property
    def optimizer(self) -> optim.Config:
        """The optimizer whose state the network holds."""
        return self._state.optimizer

    @property
    def n_params(self) -> int:
        """Number of weights and biases."""
        return self._state.n_params

    @property
    def epochs_trained(self) -> int:
        """Epochs of training so far, over all fit calls."""
        return self._state.epochs_trained

    @property
    def state(self) -> TrainingState:
        """The :class:`~fastbp._state.TrainingState`: everything ``fit`` changes (parameters,
        optimizer state and step, epoch count, random streams, scalers, history), with
        ``snapshot()`` / ``restore()``. Read it freely; change it only between fits."""
        return self._state

    @property
    def architecture(self) -> Architecture:
        """The compiled layer layout and path planner (thresholds settable for tests and tuning)."""
        return self._arch

    @property
    def history(self) -> History | None:
        """The :class:`History` of the last ``fit`` (None before the first)."""
        return self._state.history

    @history.setter
    def history(self, value: History | None) -> None:
        self._state.history = value

    @property
    def metadata(self) -> dict[str, Any]:
        """What the network's data were, saved with it (file format version 2): a dict of
        ``feature_names`` (one per input), ``target_names``, ``classes`` (the labels of a
        classifier's outputs), ``task`` ("regression" or "classification") and ``training``
        (settings, a dict of up to 64 numbers, texts or short lists), None where unknown.

        Assign a dict of some of these keys (``net.metadata = {"feature_names": [...]}``;
        the keys not given become None): it is checked then, and again by ``save`` (after edits in place); fastbp itself only
        stores it.
        """
        return self._metadata

    @metadata.setter
    def metadata(self, value: Mapping[str, Any]) -> None:
        self._metadata = _persist.check_metadata(value, self._sizes, self._loss_name)

    @property
    def n_threads(self) -> int:
        """Threads of the BLAS-backed layers (fastbp's own kernels use one); see :class:`Network`."""
        return self._n_threads

    @n_threads.setter
    def n_threads(self, value: int | None) -> None:
        threads = default_threads() if value is None else _validate.positive_int("n_threads", value)
        if threads > MAX_THREADS:
            raise ValueError(f"n_threads must be at most {MAX_THREADS}, got {threads}")
        self._n_threads = threads

    @property
    def weights(self) -> tuple[NDArray[Any], ...]:
        """Tuple of writable views into the parameters: ``weights[l]`` has shape (sizes[l+1], sizes[l])."""
        return self._state.weights

    @property
    def biases(self) -> tuple[NDArray[Any], ...]:
        """Tuple of writable views into the parameters: ``biases[l]`` has shape (sizes[l+1],)."""
        return self._state.biases

    def __repr__(self) -> str:
        activation = self._activations[0] if len(set(self._activations)) == 1 else list(self._activations)
        extras = "".join(f", {name}={value!r}" for name, value, default in (
            ("init", self._init, "auto"),
            ("dropout", list(self._dropout), [0.0] * len(self._dropout)),
            ("scale_inputs", self._scale_inputs, False),
            ("scale_targets", self._scale_targets, False)) if value != default)
        output = self._output if self._loss_name in REGRESSION_LOSSES else None
        return (f"Network({list(self._sizes)}, activation={activation!r}, output={output!r}, "
                f"loss={self._loss_name!r}, dtype={self._dtype.name!r}, seed={self._seed}{extras})")

    # ----- data -----------------------------------------------------------------------------
    def _inputs(self, X: ArrayLike, learn_scaling: bool = False,
                check_finite: bool = True) -> NDArray[Any]:
        """X validated and converted (and scaled). check_finite=False defers the NaN/infinity
        check to fit's first epoch, except when scaling (its statistics need finite X)."""
        state = self._state
        if self._scale_inputs and (state.input_scaler is not None or learn_scaling):
            X = _validate.inputs(X, self._sizes[0], np.float64)
            if state.input_scaler is None:
                state.input_scaler = Scaler.learn(X)
            return scaled(state.input_scaler, X, self._dtype, "inputs")
        if self._scale_inputs:
            raise not_fitted("inputs")
        return _validate.inputs(X, self._sizes[0], self._dtype, check_finite)

    def _targets(self, y: ArrayLike, n: int, learn_scaling: bool = False) -> NDArray[Any]:
        Y = _validate.targets(y, n, self._sizes[-1], self._loss_name,
                              np.float64 if self._scale_targets else self._dtype)
        if not self._scale_targets:
            return Y
        if self._state.target_scaler is None and learn_scaling:
            self._state.target_scaler = Scaler.learn(Y)
        return scaled(self._state.target_scaler, Y, self._dtype, "targets")

    def _weights_of_samples(self, sample_weight: ArrayLike | None, class_weight: ClassWeight | None,
                            Y: NDArray[Any], n: int) -> NDArray[Any] | None:
        """Per-sample weights (None when uniform), combining sample_weight and class_weight."""
        weights = self._unscaled_weights(sample_weight, class_weight, Y, n)
        if weights is None:
            return None
        if not weights.sum() > 0:
            raise ValueError("the sample weights sum to zero")
        # Only ratios matter (means are weighted means): scaled to a maximum of 1, weights of
        # any magnitude survive the conversion to float32.
        return np.ascontiguousarray(weights / weights.max(), dtype=self._dtype)

    def _weight_scale(self, sample_weight: ArrayLike | None, class_weight: ClassWeight | None,
                      Y: NDArray[Any], n: int) -> float:
        """The factor _weights_of_samples divided the weights by (their maximum)."""
        return float(self._unscaled_weights(sample_weight, class_weight, Y, n).max())  # type: ignore[union-attr]

    def _unscaled_weights(self, sample_weight: ArrayLike | None, class_weight: ClassWeight | None,
                          Y: NDArray[Any], n: int) -> NDArray[np.float64] | None:
        """sample_weight × class_weight as given (None when both are None)."""
        weights = None if sample_weight is None else _validate.sample_weights(sample_weight, n)
        if class_weight is not None:
            if self._loss_name not in CLASSIFICATION_LOSSES:
                raise ValueError("class_weight is for the classification losses")
            per_class = _validate.class_weights(class_weight, Y, self._loss_name)
            weights = per_class if weights is None else weights * per_class
        return weights

    def _data(self, X: ArrayLike, y: ArrayLike, sample_weight: ArrayLike | None = None,
              class_weight: ClassWeight | None = None, learn_scaling: bool = False,
              check_inputs: bool = True) -> tuple[NDArray[Any], NDArray[Any], NDArray[Any] | None]:
        """Validated, converted (and scaled) X, Y and sample weights. With `learn_scaling`, the
        scalers of a first fit are learnt here: the caller (fit) restores them on error.
        check_inputs=False: see _inputs."""
        X = self._inputs(X, learn_scaling, check_inputs)
        Y = self._targets(y, X.shape[0], learn_scaling)
        weights = self._weights_of_samples(sample_weight, class_weight, Y, X.shape[0])
        return X, Y, weights

    # ----- computing ----------------------------------------------------------------------
    def _workspace(self, chunk: int) -> NDArray[Any]:
        return self._state.workspace(chunk)

    def _raw_predict(self, X: NDArray[Any]) -> NDArray[Any]:
        """Output activations for prepared X, in the network's own (scaled) units."""
        state = self._state
        if not state.uses_blas(X.shape[0]):  # the thread count changes nothing: left alone
            return state.predict(X)
        with limit_threads(self._n_threads):
            return state.predict(X)

    def predict(self, X: ArrayLike) -> NDArray[np.floating[Any]]:
        """Output-layer activations for each row of X: (n, n_out), or (n,) when n_out == 1.

        For the classification losses these are probabilities (softmax rows, or sigmoids);
        for poisson the predicted means exp(z); with ``scale_targets`` values in the targets' units.

        Up to 8 rows given as a C-contiguous numpy array of the network's dtype (without
        scaling) are checked and computed in one compiled call, a matrix-vector product per
        layer and row; any other X is validated and converted first. Float32 predictions of
        512 rows or more run fastbp's own matrix kernels on each large layer's transposed W
        (with ``n_threads=1`` on a CPU with AVX-512). Both agree with the general path to
        float rounding (exactly, where the layers are small enough for the compiled loops).
        """
        if not (self._scale_inputs or self._scale_targets):
            # A few rows of the right array: checked and computed in one compiled call
            # (state.predictor); anything else is None there and takes the validating path.
            out = self._state.predictor(X)
            if out is not None:
                return out
        target_scaler = self._state.target_scaler
        if self._scale_targets and target_scaler is None:
            raise not_fitted("targets")
        out = self._raw_predict(self._inputs(X))
        if target_scaler is not None:
            out = target_scaler.inverse(out).astype(self._dtype)
        return out.reshape(-1) if self._sizes[-1] == 1 else out

    def _loss_and_gradient(self, X: NDArray[Any], Y: NDArray[Any], weights: NDArray[Any] | None,
                           want_gradient: bool) -> tuple[float, NDArray[Any] | None]:
        state = self._state
        if not state.uses_blas(X.shape[0]):  # the thread count changes nothing: left alone
            return state.loss_and_gradient(X, Y, weights, want_gradient)
        with limit_threads(self._n_threads):
            return state.loss_and_gradient(X, Y, weights, want_gradient)

    def _mean_loss(self, X: NDArray[Any], Y: NDArray[Any],
                   weights: NDArray[Any] | None = None) -> float:
        return float(self._loss_and_gradient(X, Y, weights, want_gradient=False)[0])

    def loss(self, X: ArrayLike, y: ArrayLike, sample_weight: ArrayLike | None = None,
             alpha: float = 0.0) -> float:
        """Mean loss over the samples of (X, y) (weighted by `sample_weight`), plus the L2
        penalty ½·alpha·Σ‖W‖², as a Python float."""
        alpha = _validate.non_negative_float("alpha", alpha)
        X, Y, weights = self._data(X, y, sample_weight)
        return self._mean_loss(X, Y, weights) + _registry.l2_penalty(self.weights, alpha)

    def gradients(self, X: ArrayLike, y: ArrayLike, sample_weight: ArrayLike | None = None,
                  alpha: float = 0.0) -> list[tuple[NDArray[Any], NDArray[Any]]]:
        """Gradients of ``loss(X, y, sample_weight, alpha)``: a list of fresh ``(dW, db)``
        arrays, one pair per layer."""
        alpha = _validate.non_negative_float("alpha", alpha)
        X, Y, weights = self._data(X, y, sample_weight)
        grads = self._loss_and_gradient(X, Y, weights, want_gradient=True)[1]
        return [(grads[w:b].reshape(W.shape) + _registry.l2_gradient(W, alpha), grads[b:end].copy())  # type: ignore[index]
                for (w, b, end), W in zip(self._arch.weight_slices(), self.weights)]

    @contextlib.contextmanager
    def _exclusive(self) -> Iterator[None]:
        """One trainer at a time: a second thread gets an error instead of a race."""
        if not self._lock.acquire(blocking=False):
            if self._owner == threading.get_ident():
                raise RuntimeError("this network cannot be modified from inside its own fit "
                                   "(a callback may read it, save it or copy it)")
            if self._owner == C_VIEW_OWNER:
                raise RuntimeError("this network is held by a C view; close it first (fastbp.api)")
            raise RuntimeError("this network is already being trained or modified in another thread")
        self._owner = threading.get_ident()
        try:
            yield
        finally:
            self._owner = None
            self._lock.release()

    @contextlib.contextmanager
    def _reading(self) -> Iterator[None]:
        """A consistent read: exclusive, except for the thread that is training the network
        (its callbacks run between epochs, when the network is consistent)."""
        if self._owner == threading.get_ident():
            yield
        else:
            with self._exclusive():
                yield

    # ----- training -------------------------------------------------------------------------
    def fit(self, X: ArrayLike, y: ArrayLike, epochs: int = 10, batch_size: int | None = 32,
            lr: float | None = None, shuffle: bool = True, *,
            optimizer: optim.OptimizerLike | None = None,
            schedule: schedules.Schedule | str | None = None, alpha: float = 0.0,
            alpha_over_batch_size: bool = False, clip_norm: float | None = None,
            sample_weight: ArrayLike | None = None, class_weight: ClassWeight | None = None,
            validation_data: ValidationData | None = None, validation_split: float | None = None,
            early_stopping: bool = False, monitor: str = "val_loss", patience: int = 10,
            min_delta: float = 0.0, tol: float | None = None, n_iter_no_change: int = 10,
            max_time: float | None = None, max_updates: int | None = None,
            callbacks: Iterable[Callback] = (), verbose: int | bool = 0) -> History:
        """Train by gradient descent; continue from the current weights and optimizer state.

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
        lr : float or None
            Base learning rate η (default: the optimizer's ``lr`` or its default, 0.01 for SGD).
        shuffle : bool
            Visit the samples in a new random order each epoch (from the network's shuffle
            stream, which continues across calls and is saved with the model), or in order.
        optimizer : str or fastbp.optim config, optional
            ``"sgd"``, ``"momentum"``, ``"nesterov"``, ``"adam"``, ``"adamw"``, ``"rmsprop"``,
            ``"adagrad"``, ``"irprop-"``, ``"lbfgs"`` or an object such as
            ``fastbp.optim.Adam(beta2=0.99)``. None keeps the network's optimizer (SGD at first).
            The same optimizer (any lr) continues from its state; another one starts afresh.
        schedule : str or fastbp.schedules.Schedule, optional
            The learning rate of each epoch (``"cosine"``, ``Step(10, 0.5)``, …), by the
            network's epoch count; recorded in ``history.lr``.
        alpha : float
            L2 penalty ½·alpha·Σ‖W‖² on the weights (not biases), in the reported loss.
        alpha_over_batch_size : bool
            scikit-learn's convention for `alpha`: each batch's step sees g + (alpha/n_b)·W and
            its loss adds ½·(alpha/n_b)·Σ‖W‖², n_b the batch's row count (the last, partial
            batch's too; with sample weights, its sum of the weights as given, as
            scikit-learn's MLP divides by it). L-BFGS's one batch is the whole data set; the
            validation loss takes alpha / its row count.
        clip_norm : float or None
            Rescale each batch's gradient to this Euclidean norm when it is larger.
        sample_weight : array_like (n,), optional
            Non-negative weights: each batch's loss and gradient are weighted means.
        class_weight : dict or "balanced", optional
            Weights per class label (classification losses), multiplied into sample_weight.
        validation_data : (X_val, y_val) or (X_val, y_val, sample_weight_val), optional
        validation_split : float, optional
            Hold out this last fraction of (X, y) (and of sample_weight) as validation data
            instead.
        early_stopping : bool
            Stop when `monitor` (``"val_loss"`` or ``"val_metric"``) has not improved by
            `min_delta` for `patience` epochs, and restore the best weights.
        tol : float, optional
            Stop when the training loss has not improved by `tol` for `n_iter_no_change` epochs.
        max_time : float, optional
            Seconds of training allowed (checked inside the compiled loop, at its looks; an
            epoch it cuts short is treated as under `max_updates`).
        max_updates : int, optional
            Parameter updates (batches) allowed in this call. Running out in the middle of an
            epoch cuts that epoch short, which changes, field by field: the weights and the
            optimizer state, by each update applied; the optimizer's step (Adam's t, saved
            with the model), which counts every update applied; and nothing else:
            ``epochs_trained`` counts completed epochs only, the cut-short epoch adds no
            history row, runs no validation, and no best weights are put back
            (`early_stopping`); an epoch that applied no update leaves the random streams as
            they were. An epoch whose last batch uses up the budget is complete (its row,
            validation, then the best weights as at any end).
        callbacks : sequence of callables
            Each called as ``callback(epoch, figures)`` after every epoch (epoch counts from 1 in
            this call; figures holds loss, lr, seconds and the validation figures); returning
            False or raising ``fastbp.StopTraining`` ends training cleanly.
        verbose : int or bool
            0 / False silent; 1 / True a progress bar over epochs (tqdm when installed) with
            the loss, the metric and their validation figures.

        Returns
        -------
        History

        Raises
        ------
        ValueError, TypeError
            Bad arguments or data; the network is left as it was. NaN or infinity in X is
            found as the first epoch reaches each batch (no pass over X beforehand): the
            batches before it are undone with the rest of the call.
        TrainingDiverged
            The loss or a parameter became non-finite; the weights are those from before
            the failing epoch.
        KeyboardInterrupt
            Ctrl-C. The network is then exactly the one ``fit(..., max_updates=k)`` leaves for
            the k updates this call applied (the message gives k), field by field as under
            `max_updates`: weights and optimizer state after the k-th update (a batch
            interrupted part-way, e.g. a full batch between its chunks, is not applied); the
            optimizer's step counts all k; ``epochs_trained`` counts the completed epochs;
            ``net.history`` holds this call's completed epochs, with ``stopped_because ==
            "interrupted"``; the epoch cut short adds no row, runs no validation and puts back
            no best weights; random streams as that fit leaves them. Ctrl-C at an epoch's end
            (during its validation, or between epochs) stops where `max_updates` would stop
            there. The compiled loops look for Ctrl-C once 2**26 multiply-adds of work have
            been done since their last look, between batches and between the chunks (256 rows)
            of a batch: within a few tens of milliseconds. L-BFGS keeps its last accepted
            iterate (never a line search's trial point) and its completed iterations in
            ``net.history`` and ``epochs_trained``: what ``fit(..., epochs=m)`` leaves for
            those m iterations. Ctrl-C while a callback runs raises there, the epoch already
            recorded. Under a signal handler of your own, an exception it raises at a look
            stops the fit the same way and is raised instead of KeyboardInterrupt. (Python runs
            signal handlers in the main thread only: a fit in another thread runs on.)
        """
        config = self._state.optimizer if optimizer is None else optim.resolve(optimizer)
        base_lr = optim.base_lr(config, lr)
        settings = _fit.Settings(
            epochs=_validate.positive_int("epochs", epochs), base_lr=base_lr,
            shuffle=_validate.boolean("shuffle", shuffle), schedule=schedules.resolve(schedule),
            early_stopping=_validate.boolean("early_stopping", early_stopping),
            monitor=_validate.choice("monitor", monitor, ("val_loss", "val_metric")),
            patience=_validate.non_negative_int("patience", patience),
            min_delta=_validate.non_negative_float("min_delta", min_delta),
            tol=None if tol is None else _validate.non_negative_float("tol", tol),
            n_iter_no_change=_validate.positive_int("n_iter_no_change", n_iter_no_change),
            max_time=None if max_time is None else _validate.positive_float("max_time", max_time),
            max_updates=None if max_updates is None else _validate.positive_int("max_updates", max_updates),
            callbacks=_validate.callables("callbacks", callbacks),
            verbose=_validate.verbosity(verbose),
            alpha=_validate.non_negative_float("alpha", alpha), loss_name=self._loss_name,
            alpha_over_batch_size=_validate.boolean("alpha_over_batch_size",
                                                    alpha_over_batch_size))
        clip_norm = None if clip_norm is None else _validate.positive_float("clip_norm", clip_norm)
        if validation_data is not None and validation_split is not None:
            raise ValueError("pass validation_data or validation_split, not both")
        if validation_split is not None:
            X, y, sample_weight, validation_data = _validate.split_off(X, y, validation_split,
                                                                       sample_weight)
        if settings.early_stopping and validation_data is None:
            raise ValueError("early_stopping needs validation_data or validation_split")

        if batch_size is not None:
            batch_size = _validate.positive_int("batch_size", batch_size)
        if config.name == "lbfgs":
            _check_lbfgs_settings(settings, clip_norm, validation_data, self._dropout)

        # X's NaN/infinity check: in the compiled first epoch, each batch's rows as it reaches
        # them (the rows then come into the cache for the batch's first product), rather than
        # a pass over X first: M2's one-epoch fit 1.5-2 % faster. L-BFGS and scaled inputs
        # check first, as before.
        defer_check = config.name != "lbfgs" and not self._scale_inputs
        with self._exclusive():
            state = self._state
            # What this call changes besides the weights its epochs train (an epoch that fails
            # puts those back itself): put back if the data turn out bad.
            before_call = state.snapshot(state.BOOKKEEPING)
            try:
                X, Y, weights = self._data(X, y, sample_weight, class_weight, learn_scaling=True,
                                           check_inputs=not defer_check)
                if validation_data is not None:
                    settings.validation = self._validation(validation_data)
            except BaseException:
                state.restore(before_call)  # the scalers a first fit learnt, unchanged on error
                raise
            n = X.shape[0]
            batch = n if batch_size is None else min(batch_size, n)
            if settings.alpha_over_batch_size and weights is not None:
                # The kernels divide by Σ of the rescaled weights: undo the rescaling.
                settings.weight_scale = self._weight_scale(sample_weight, class_weight, Y, n)
            state.continue_or_set_optimizer(config)
            if config.name == "lbfgs":
                with limit_threads(self._n_threads):
                    return _lbfgs.run(state, X, Y, weights, settings, config)  # type: ignore[arg-type]
            options = TrainOptions(  # (config is a step configuration here, not L-BFGS)
                optimizer=config.code, hyper=config.hyper(), alpha=settings.alpha,  # type: ignore[arg-type, union-attr]
                clip_norm=0.0 if clip_norm is None else clip_norm,
                dropout=None if not any(self._dropout) else np.array(self._dropout, np.float64),
                step=state.step)
            if settings.alpha_over_batch_size:
                options.alpha_over_batch_size = True
                options.alpha = settings.alpha / settings.weight_scale
            options.check_inputs = defer_check
            runner = _fit.EpochRunner(state, X, Y, weights, batch, options)
            with limit_threads(self._n_threads):
                try:
                    return _fit.run(state, runner, settings)
                except _fit.NonFiniteTrainingInputs as error:
                    # Found in the first epoch: _fit.run has put the weights and the optimizer
                    # state back; the rest is put back here, as if X had been checked first.
                    if error.runner is runner:
                        state.restore(before_call)
                    raise

    def partial_fit(self, X: ArrayLike, y: ArrayLike, batch_size: int | None = 32,
                    lr: float | None = None, *, optimizer: optim.OptimizerLike | None = None,
                    shuffle: bool = False, alpha: float = 0.0, clip_norm: float | None = None,
                    sample_weight: ArrayLike | None = None,
                    class_weight: ClassWeight | None = None,
                    alpha_over_batch_size: bool = False) -> History:
        """One pass over (X, y), keeping the optimizer state: for streams of data.

        Over chunks whose lengths are multiples of `batch_size` (shuffle off, no dropout), a
        sequence of partial_fit calls equals one epoch of fit over their concatenation.
        """
        return self.fit(X, y, epochs=1, batch_size=batch_size, lr=lr, shuffle=shuffle,
                        optimizer=optimizer, alpha=alpha, clip_norm=clip_norm,
                        sample_weight=sample_weight, class_weight=class_weight,
                        alpha_over_batch_size=alpha_over_batch_size)

    def _validation(self, validation_data: ValidationData
                    ) -> tuple[NDArray[Any], NDArray[Any], NDArray[Any] | None]:
        """(X, Y, weights) of validation_data: (X_val, y_val) or (X_val, y_val, weights)."""
        try:
            X_val, y_val, *weights = validation_data
            if len(weights) > 1:
                raise ValueError
        except (TypeError, ValueError):
            raise ValueError("validation_data must be (X_val, y_val) or (X_val, y_val, "
                             "sample_weight_val)") from None
        return self._data(X_val, y_val, weights[0] if weights else None)

    # ----- looking inside ------------------------------------------------------------------
    def trace(self, x: ArrayLike, y: ArrayLike, lr: float | None = None) -> Trace:
        """One step of backpropagation with every intermediate kept (see ``fastbp._inspect.trace``).

        ``print(net.trace(x, y, lr=0.1))`` shows the forward pass, the loss, the backward pass
        and the update that ``fit(x, y, epochs=1, batch_size=len(x), lr=lr, shuffle=False)``
        would apply with the network's optimizer (lr None: the optimizer's own or default).
        The network is not changed.
        """
        return _inspect.trace(self, x, y, lr=lr)

    def summary(self) -> None:
        """Print a table of the layers: widths, activation, shapes and parameter counts."""
        print(_inspect.summary(self))

    # ----- parameters ----------------------------------------------------------------------
    def set_weights(self, weights: Iterable[ArrayLike], biases: Iterable[ArrayLike]) -> None:
        """Replace all weights and biases, after checking count, shapes and finiteness.

        Values are converted to the network's dtype; the network is unchanged on error.
        Arrays that share memory with the network's own parameters (``net.weights`` in
        another order, views of them) are read before any is written.
        """
        weights, biases = list(weights), list(biases)
        n_layers = len(self.weights)
        if len(weights) != n_layers or len(biases) != n_layers:
            raise ValueError(f"expected {n_layers} weight matrices and {n_layers} bias vectors, "
                             f"got {len(weights)} and {len(biases)}")
        converted = []
        for kind, new_values, current in (("weights", weights, self.weights),
                                          ("biases", biases, self.biases)):
            for layer, (value, target) in enumerate(zip(new_values, current)):
                array = _validate.numeric_array(f"{kind}[{layer}]", value)
                if array.shape != target.shape:
                    raise ValueError(f"{kind}[{layer}] must have shape {target.shape}, got {array.shape}")
                array = np.ascontiguousarray(array, dtype=self._dtype)
                _validate.require_finite(f"{kind}[{layer}]", array)
                # a view of the parameters (net.weights reordered) must not change before it is read
                if np.may_share_memory(array, self._state.params):
                    array = array.copy()
                converted.append((target, array))
        with self._exclusive():
            for target, array in converted:
                target[...] = array

    def copy(self) -> Network:
        """An independent network with the same configuration, weights, optimizer, scaling and
        random-stream states."""
        twin = from_record(*self._record())
        twin.n_threads = self._n_threads  # same machine: n_threads is not part of the state
        return twin

    def __reduce__(self) -> tuple[Any, ...]:
        return from_record, self._record()

    def save(self, path: PathOrFile) -> None:
        """Save the network to `path` (str, bytes or path-like; an .npz archive; the name is
        used as given), or to a binary file object (``io.BytesIO``, an open file) as it is.

        The file is written to a temporary file beside `path` (``.fastbp-<hash of the
        name>-<host>-<pid>-<random>.tmp``) and renamed into place, so a failed save never
        destroys an existing file; a temporary file that a killed save left behind is removed
        by the next save of the same `path`.
        """
        _persist.save(path, *self._record())

    def _record(self) -> _persist.Record:
        """(header, params, optimizer_state) of the file format: copies, read consistently."""
        with self._reading():
            return _persist.record(self, self._state)


def from_record(header: Mapping[str, Any], params: Any, optimizer_state: Any = None) -> Network:
    """The Network a file-format record describes (see fastbp._persist), checked part by part
    before anything is built."""
    layout = _persist.check_header(header)
    params, optimizer_state = _persist.check_arrays(layout, params, optimizer_state)
    net = Network(**_persist.network_arguments(header))
    _persist.restore(net.state, header, layout, params, optimizer_state)
    net._metadata = layout.metadata
    return net


def load(path: PathOrFile) -> Network:
    """Load a network saved by :meth:`Network.save` from `path` (str, bytes or path-like),
    or from a binary file object (``io.BytesIO``, an open file) from its current position.

    Files may come from anywhere: nothing is built or allocated before the header has been
    checked field by field and every array's declared size against what the header implies,
    so a damaged or hostile file costs no more memory than a valid file of its header.

    Raises
    ------
    FileNotFoundError
        `path` does not exist.
    ValueError
        The file is damaged, not a fastbp network, from an unsupported format version, or
        holds values no saved network has (the message names the problem).
    """
    return _persist.load(path, from_record)


__all__ = ["Network", "History", "TrainingDiverged", "load"]
