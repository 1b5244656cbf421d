"""The one owner of what a ``fit`` changes: parameters, optimizer, counts, random streams,
scalers and history; ``snapshot()`` / ``restore()`` are the only way back.

A :class:`~fastbp.Network` holds one :class:`TrainingState` (``net.state``); the training loop,
L-BFGS, the file format and the inspection work on it through its public attributes.
"""
from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import DTypeLike, NDArray

from fastbp._train import loss_and_gradient as compiled_loss_and_gradient
from fastbp._train import predict as compiled_predict
from fastbp._train import Architecture, Predictor, predict_transposed, predicts_transposed, uses_blas_at
from fastbp._buffers import aligned_empty, aligned_zeros

if TYPE_CHECKING:
    from fastbp._scaling import Scaler
    from fastbp.history import History
    from fastbp.optim import Config

# Independent random streams spawned from the seed, by purpose. Adding a purpose later
# (a new child index) leaves the existing streams unchanged.
INIT_STREAM, SHUFFLE_STREAM, DROPOUT_STREAM = 0, 1, 2
# Rows per compiled forward/backward pass: bounds the workspace of predict, loss, gradients
# and large batches, whatever the number of samples.
CHUNK_ROWS = 256
# Rows per pass of a float32 predict through fastbp's kernels with transposed weights (its
# activations stay in L2 beside the Wᵀs: bench_predict).
PREDICT_CHUNK_ROWS = 256


class Snapshot:
    """Copies of some fields of a :class:`TrainingState`, for :meth:`TrainingState.restore`."""

    __slots__ = ("values",)

    def __init__(self, values: dict[str, Any]) -> None:
        self.values = values

    @property
    def fields(self) -> tuple[str, ...]:
        """The names of the fields held."""
        return tuple(self.values)


class TrainingState:
    """Everything a ``fit`` changes, under public names.

    Attributes
    ----------
    architecture : fastbp._train.Architecture
        The compiled layer layout (fixed for the network's life).
    dtype : numpy.dtype
    params : ndarray
        All weights and biases, one contiguous array (64-byte aligned).
    weights, biases : tuple of ndarray
        Per-layer views into ``params``: ``weights[l]`` (n_out, n_in), ``biases[l]`` (n_out,).
    optimizer : fastbp.optim configuration
    optimizer_state : ndarray
        The optimizer's state arrays, flat, in the layout of ``params`` (empty for SGD and
        L-BFGS).
    step : int
        Updates applied so far by this optimizer (Adam's t). Counted here only: each compiled
        epoch is told it and the state adds the updates it made.
    epochs_trained : int
    shuffle_rng, dropout_rng : numpy.random.Generator
        The streams of the shuffled order and of the dropout masks.
    predictor : fastbp._train.Predictor
        predict's compiled fast path for a few rows over ``params`` (``predictor.max_rows = 0``
        sends every call to the general path).
    predict_transposed : bool
        Whether a float32 predict of more rows takes fastbp's kernels with each large layer's
        W transposed once per call, where they run (True; False: the path of training's
        forward passes, for the tests).
    input_scaler, target_scaler : fastbp._scaling.Scaler or None
        Learnt by the first fit of a network that scales its inputs / targets.
    history : fastbp.History or None
        The last fit's record.
    init_stream : numpy.random.SeedSequence
        The stream the initial weights were drawn from (fixed; not part of a snapshot).

    ``FIELDS`` lists what :meth:`snapshot` copies and :meth:`restore` puts back; ``WEIGHTS``
    and ``BOOKKEEPING`` are the two parts a fit undoes separately.
    """

    FIELDS = ("params", "optimizer", "optimizer_state", "step", "epochs_trained",
              "shuffle_rng", "dropout_rng", "input_scaler", "target_scaler", "history")
    # What an epoch's batches change: undone when an epoch fails, kept for early stopping.
    WEIGHTS = ("params", "optimizer_state", "step")
    # What a fit call changes besides its epochs' weights: undone when its data turn out bad.
    # ("optimizer" holds the optimizer's configuration and its state array itself.) The
    # arrays' values are not copied: nothing trains before the first epoch, whose WEIGHTS
    # snapshot undoes it, and a copy per call would slow partial_fit on small chunks.
    BOOKKEEPING = ("optimizer", "step", "epochs_trained", "shuffle_rng", "dropout_rng",
                   "input_scaler", "target_scaler", "history")

    def __init__(self, architecture: Architecture, dtype: DTypeLike, seed: int | None,
                 optimizer: Config) -> None:
        self.architecture = architecture
        self.dtype = np.dtype(dtype)
        self.params = aligned_zeros(architecture.n_params, self.dtype)
        layers = architecture.weight_slices()
        self.weights = tuple(self.params[w:b].reshape(end - b, (b - w) // (end - b))
                             for w, b, end in layers)
        self.biases = tuple(self.params[b:end] for _, b, end in layers)
        self.predictor = Predictor(architecture, self.params)  # params is never reallocated
        self.predict_transposed = True
        streams = np.random.SeedSequence(seed).spawn(DROPOUT_STREAM + 1)
        self.init_stream = streams[INIT_STREAM]  # drawn from once, for the initial weights
        self.shuffle_rng = np.random.Generator(np.random.PCG64(streams[SHUFFLE_STREAM]))
        self.dropout_rng = np.random.Generator(np.random.PCG64(streams[DROPOUT_STREAM]))
        self.set_optimizer(optimizer)
        self.epochs_trained = 0
        self.input_scaler: Scaler | None = None
        self.target_scaler: Scaler | None = None
        self.history: History | None = None

    @property
    def n_params(self) -> int:
        """Number of weights and biases."""
        return self.params.size

    # ----- the optimizer -------------------------------------------------------------------
    def set_optimizer(self, config: Config) -> None:
        """Adopt an optimizer with fresh state (zeros; iRPROP− starts its steps at delta0)."""
        self.optimizer = config
        if config.code is None:  # L-BFGS keeps no state between fit calls
            self.optimizer_state = np.zeros(0, dtype=self.dtype)
        else:
            self.optimizer_state = config.new_state(self.params.size, self.dtype)
        self.step = 0

    def continue_or_set_optimizer(self, config: Config) -> None:
        """The same optimizer (any lr) carries on from its state; another one starts afresh."""
        if config.continues(self.optimizer):
            self.optimizer = config  # e.g. a new lr: the state carries on
        else:
            self.set_optimizer(config)

    # ----- undo ----------------------------------------------------------------------------
    def snapshot(self, fields: Iterable[str] = FIELDS, reuse: Snapshot | None = None) -> Snapshot:
        """Copies of `fields` (all by default; see WEIGHTS and BOOKKEEPING) for :meth:`restore`.

        `reuse`: an earlier snapshot of the same fields whose arrays are overwritten instead
        of allocated afresh (the training loop takes one per epoch).
        """
        old: dict[str, Any] = {} if reuse is None else reuse.values
        values: dict[str, Any] = {}
        for field in fields:
            if field in ("params", "optimizer_state"):
                array = getattr(self, field)
                kept = old.get(field)
                if kept is None or kept.shape != array.shape or kept.dtype != array.dtype:
                    kept = np.empty_like(array)
                np.copyto(kept, array)
                values[field] = kept
            elif field == "optimizer":  # replaced, never changed in place: kept as it is
                values[field] = (self.optimizer, self.optimizer_state)
            elif field in ("shuffle_rng", "dropout_rng"):
                values[field] = getattr(self, field).bit_generator.state
            else:  # ints, and objects that are replaced rather than changed
                values[field] = getattr(self, field)
        return Snapshot(values)

    def restore(self, snapshot: Snapshot) -> None:
        """Put back the fields `snapshot` holds, as they were when it was taken."""
        values = snapshot.values
        if "optimizer" in values:  # first: the optimizer state's values go into its array
            self.optimizer, self.optimizer_state = values["optimizer"]
        for field, value in values.items():
            if field in ("params", "optimizer_state"):
                np.copyto(getattr(self, field), value)
            elif field in ("shuffle_rng", "dropout_rng"):
                getattr(self, field).bit_generator.state = value
            elif field != "optimizer":
                setattr(self, field, value)

    # ----- computing with the parameters ---------------------------------------------------
    def workspace(self, chunk: int, has_dropout: bool = False) -> NDArray[Any]:
        """Scratch memory for compiled passes over chunks of `chunk` rows."""
        size = (self.architecture.workspace_size(chunk, has_dropout) if has_dropout
                else self.architecture.workspace_size(chunk))
        return aligned_empty(size, self.dtype)

    def uses_blas(self, n_rows: int) -> bool:
        """Whether a pass over n_rows rows would call BLAS in any layer (if not, its thread
        count need not be set)."""
        return uses_blas_at(self.architecture, min(n_rows, max(CHUNK_ROWS, PREDICT_CHUNK_ROWS)))

    def predict(self, X: NDArray[Any]) -> NDArray[Any]:
        """Output activations for prepared X (the network's dtype and units), (n, n_out)."""
        out = self.predictor(X)
        if out is not None:
            return out.reshape(X.shape[0], -1)
        out = np.empty((X.shape[0], self.biases[-1].size), dtype=self.dtype)
        chunk = min(X.shape[0], PREDICT_CHUNK_ROWS)
        if self.predict_transposed and predicts_transposed(self.architecture, X.shape[0], chunk,
                                                           self.dtype):
            predict_transposed(self.architecture, self.params, X, out, chunk)
            return out
        chunk = min(X.shape[0], CHUNK_ROWS)
        compiled_predict(self.architecture, self.params, self.workspace(chunk), X, out, chunk)
        return out

    def loss_and_gradient(self, X: NDArray[Any], Y: NDArray[Any], sample_weight: NDArray[Any] | None, want_gradient: bool,
                          clip_log_loss: bool = False) -> tuple[float, NDArray[Any] | None]:
        """(mean loss, flat gradient or None) of prepared (X, Y), without the L2 penalty;
        clip_log_loss: scikit-learn's clipped log-loss (the gradient unchanged)."""
        chunk = min(X.shape[0], CHUNK_ROWS)
        grads = aligned_empty(self.params.size, self.dtype) if want_gradient else None
        total, weight_sum = compiled_loss_and_gradient(self.architecture, self.params, grads,
                                                     self.workspace(chunk), X, Y, chunk,
                                                     sample_weight, clip_log_loss=clip_log_loss)
        return total / weight_sum, grads
