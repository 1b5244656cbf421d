"""Many networks of one architecture trained in one call (``train_many``), and ``Ensemble``.

Each network keeps its own everything (weights, optimizer state, random streams, scalers,
history); only X (and y) are shared: a network reads its rows through its index array, which
its shuffled order is composed with, so no network's X[idx] is ever copied. The networks run
on ``n_threads`` worker threads, each network's epochs on one thread with its own workspace,
through the same epoch loop as ``Network.fit`` (fastbp._fit): a network ends exactly as its own
``fit`` on its rows would have left it, whatever the thread count.
"""
from __future__ import annotations

import contextlib
import copy
import functools
import math
import signal
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import wait as wait_for_futures
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from fastbp import _fit, _validate, optim, schedules
from fastbp._blas import limit_threads
from fastbp._scaling import Scaler
from fastbp._state import TrainingState
from fastbp._threads import default_threads
from fastbp._kernels import per_example_loop
from fastbp._train import TrainOptions, lane_count, lanes_apply, train_epoch, train_lanes_epoch
from fastbp.history import History
from fastbp.network import MAX_THREADS, ClassWeight, Network

# fit's options that need Python between one network's epochs and run per call, not per
# network: refused, with what to do instead.
_REFUSED = {
    "validation_data": "compute each network's validation loss after training "
                       "(net.loss(X_val, y_val)), or train it alone with net.fit",
    "validation_split": "pass sample_indices that leave the validation rows out, then "
                        "net.loss on them",
    "early_stopping": "train the networks one by one with net.fit(..., early_stopping=True)",
    "monitor": "early stopping is not supported here: use net.fit",
    "patience": "early stopping is not supported here: use net.fit",
    "min_delta": "early stopping is not supported here: use net.fit",
    "callbacks": "read each network's history after the call (train_many returns them)",
}


# One lane's epoch handed to its group: (rows, lr, updates_left).
_Posted = tuple[NDArray[np.intp], float, int | None]
# An epoch's (status, loss_sum, weight_sum, updates), as train_epoch returns it.
_Result = tuple[int, float, float, int]


class _RowsRunner(_fit.EpochRunner):
    """The epoch runner of one network over the shared X: each epoch visits X's rows
    ``rows[order]`` (``rows`` when not shuffled), which are the rows ``X[rows]`` would present
    to fit in that order."""

    def __init__(self, state: TrainingState, X: NDArray[Any], Y: NDArray[Any],
                 sample_weight: NDArray[Any] | None,
                 batch_size: int, options: TrainOptions, rows: NDArray[np.intp]) -> None:
        super().__init__(state, X, Y, sample_weight, batch_size, options)
        self.rows = rows
        self.n_rows = rows.shape[0]

    def run(self, order: NDArray[np.intp] | None, lr: float, updates_left: int | None,
            seconds_left: float | None) -> tuple[int, float, float, int]:
        rows = self.rows if order is None else self.rows[order]
        state = self.state
        self.options.step = state.step
        self.options.max_updates = -1 if updates_left is None else updates_left
        self.options.max_seconds = math.inf if seconds_left is None else seconds_left
        if self.options.has_dropout:
            self.options.dropout_seed = int(state.dropout_rng.integers(0, 2**63))
        return train_epoch(state.architecture, state.params, self.grads, self.work, self.X,
                           self.Y, rows, self.batch_size, lr, self.chunk, self.options,
                           state.optimizer_state, self.sample_weight)


class _LaneRunner(_RowsRunner):
    """A network whose epochs run in a lane of its group's compiled loop (_LaneGroup): its
    run() hands the epoch to the group and waits for the group's call."""

    def __init__(self, state: TrainingState, X: NDArray[Any], Y: NDArray[Any], batch_size: int,
                 options: TrainOptions, rows: NDArray[np.intp], group: _LaneGroup | None) -> None:
        super().__init__(state, X, Y, None, batch_size, options, rows)
        self.group = group

    def run(self, order: NDArray[np.intp] | None, lr: float, updates_left: int | None,
            seconds_left: float | None) -> tuple[int, float, float, int]:
        rows = self.rows if order is None else self.rows[order]
        self.options.step = self.state.step
        return self.group.epoch(self, rows, lr, updates_left)  # type: ignore[union-attr]  # (its group, set by _tasks)


class _LaneGroup:
    """Up to lane_count networks of one data set and epoch length, trained in lockstep: each
    runs fit's epoch loop (fastbp._fit.run) in a thread of its own, which hands each epoch
    to the group; once every network still training has handed in its epoch, the group's
    thread (a worker of train_many's pool) runs them all in one compiled call. A network
    whose fit ends (its epochs done, a stop rule, divergence) leaves the group."""

    def __init__(self, jobs: list[_Job]) -> None:
        self.jobs = jobs
        self.condition = threading.Condition()
        self.active = len(jobs)
        self.posted: dict[_LaneRunner, _Posted] = {}  # runner -> (rows, lr, updates_left): this round's epochs
        self.results: dict[_LaneRunner, _Result | BaseException] = {}  # runner -> train_epoch's result

    def epoch(self, runner: _LaneRunner, rows: NDArray[np.intp], lr: float,
              updates_left: int | None) -> tuple[int, float, float, int]:
        with self.condition:
            self.posted[runner] = (rows, lr, updates_left)
            self.condition.notify_all()
            while runner not in self.results:
                self.condition.wait()
            result = self.results.pop(runner)
        if isinstance(result, BaseException):  # the group's call failed: this fit fails
            raise result
        return result

    def leave(self) -> None:
        with self.condition:
            self.active -= 1
            self.condition.notify_all()

    def run(self, stop: threading.Event) -> None:
        """The group's thread: start its networks' fits, then run their epochs as they come."""
        members = [threading.Thread(target=self._member, args=(job, stop), daemon=True,
                                    name=f"fastbp-many-{job.index}") for job in self.jobs]
        for member in members:
            member.start()
        try:
            while True:
                with self.condition:
                    while self.active > 0 and len(self.posted) < self.active:
                        self.condition.wait()
                    if self.active == 0:
                        break
                    posted, self.posted = self.posted, {}
                try:
                    results = self._call(posted)
                except BaseException as error:
                    results = dict.fromkeys(posted, error)
                with self.condition:
                    self.results.update(results)
                    self.condition.notify_all()
        finally:
            for member in members:
                member.join()

    @staticmethod
    def _call(posted: dict[_LaneRunner, _Posted]) -> dict[_LaneRunner, _Result | BaseException]:
        runners = list(posted)
        budgets = {updates_left for _, _, updates_left in posted.values()}
        if len(budgets) != 1:  # every network has applied as many updates: never met
            raise RuntimeError("train_many's lanes fell out of step")
        budget = budgets.pop()
        first = runners[0]
        out = train_lanes_epoch(
            first.state.architecture, [runner.state.params for runner in runners],
            first.X, first.Y, [posted[runner][0] for runner in runners],
            np.array([posted[runner][1] for runner in runners], np.float64),
            -1 if budget is None else budget, [runner.options for runner in runners])
        return dict(zip(runners, out))

    def _member(self, job: _Job, stop: threading.Event) -> None:
        try:
            _train(job, stop)
        finally:
            self.leave()


class _Job:
    """One network's part of a train_many call: its prepared data, runner and settings."""

    def __init__(self, index: int, net: Network) -> None:
        self.index, self.net = index, net
        self.runner: Any = None  # an EpochRunner, a _RowsRunner or a _LaneRunner
        self.settings: Any = None  # its _fit.Settings
        self.history: History | None = None
        self.error: BaseException | None = None
        self.data: Any = None  # _job_data's
        # Set once its fit begins (cleared if Ctrl-C stops it before its first update): one
        # never begun is restored on error.
        self.started = False


def _networks(networks: Iterable[Network]) -> list[Network]:
    nets = list(networks) if not isinstance(networks, Network) else None
    if nets is None or not nets:
        raise TypeError("networks must be a non-empty sequence of fastbp.Network")
    for k, net in enumerate(nets):
        if not isinstance(net, Network):
            raise TypeError(f"networks[{k}] is a {type(net).__name__}, not a fastbp.Network")
    first = nets[0]
    seen: dict[int, int] = {}
    for k, net in enumerate(nets):
        if id(net) in seen:
            raise ValueError(f"networks[{seen[id(net)]}] and networks[{k}] are the same network: "
                             "pass copies (net.copy()) to train one network's twins")
        seen[id(net)] = k
        for what in ("sizes", "activations", "output", "loss_name", "dtype"):
            if getattr(net, what) != getattr(first, what):
                raise ValueError(
                    f"train_many trains networks of one architecture: networks[{k}].{what} is "
                    f"{getattr(net, what)!r}, networks[0]'s {getattr(first, what)!r}")
    return nets


def _per_network_lr(lr: float | Sequence[float] | None, k: int) -> list[Any]:
    if lr is None or np.ndim(lr) == 0:
        return [lr] * k
    values = list(lr)  # type: ignore[arg-type]
    if len(values) != k:
        raise ValueError(f"lr must be one value or one per network ({k}), got {len(values)}")
    return values


def _indices(sample_indices: Any, k: int, n: int) -> list[NDArray[np.intp] | None]:
    """One intp index array per network (None: every row, in order)."""
    if sample_indices is None:
        return [None] * k
    if isinstance(sample_indices, np.ndarray) and sample_indices.ndim == 2:
        sample_indices = list(sample_indices)
    try:
        arrays = list(sample_indices)
    except TypeError:
        raise TypeError("sample_indices must be one index array per network") from None
    if len(arrays) != k:
        raise ValueError(f"sample_indices must hold one index array per network ({k}), "
                         f"got {len(arrays)}")
    out: list[NDArray[np.intp] | None] = []
    for j, values in enumerate(arrays):
        if values is None:
            out.append(None)
            continue
        array = np.asarray(values)
        if array.ndim != 1 or array.shape[0] == 0 or not (
                np.issubdtype(array.dtype, np.integer)):
            raise ValueError(f"sample_indices[{j}] must be a non-empty 1-D array of integer "
                             "row indices (a boolean mask: np.flatnonzero(mask))")
        if array.min() < 0 or array.max() >= n:
            raise ValueError(f"sample_indices[{j}] holds indices outside [0, {n}) (X has {n} "
                             "rows; negative indices are not taken)")
        out.append(np.ascontiguousarray(array, dtype=np.intp))
    return out


def _sample_weights(sample_weight: ArrayLike | None, k: int,
                    n: int) -> list[NDArray[np.float64]] | list[None]:
    """None, or one float64 array per network (one shared (n,) array, or (k, n))."""
    if sample_weight is None:
        return [None] * k
    array = _validate.numeric_array("sample_weight", sample_weight)
    if array.ndim == 2 and array.shape == (k, n):
        return [_validate.sample_weights(row, n) for row in array]
    return [_validate.sample_weights(array, n)] * k


def train_many(networks: Iterable[Network], X: ArrayLike, y: ArrayLike, *,
               sample_indices: Iterable[ArrayLike | None] | NDArray[np.integer[Any]] | None = None,
               sample_weight: ArrayLike | None = None,
               lr: float | Sequence[float] | None = None, n_threads: int | None = None,
               epochs: int = 10, batch_size: int | None = 32, shuffle: bool = True,
               optimizer: optim.OptimizerLike | None = None,
               schedule: schedules.Schedule | str | None = None, alpha: float = 0.0,
               clip_norm: float | None = None, class_weight: ClassWeight | None = None,
               tol: float | None = None, n_iter_no_change: int = 10,
               max_time: float | None = None, max_updates: int | None = None,
               verbose: int = 0, lanes: bool = True, **refused: Any) -> list[History]:
    """Train several networks of one architecture on one shared data set, in one call.

    Network k ends exactly as ``net.fit(X[idx], y[idx], lr=lr[k], **options)`` would have
    left it (idx = ``sample_indices[k]``), bit for bit: weights, optimizer state and step,
    epoch count, random streams, scalers and ``net.history``. Each network shuffles and
    drops out from its own streams (its own seed). X is converted once and shared: a network
    reads its rows through its index array, never a copy of X[idx].

    Parameters
    ----------
    networks : sequence of Network
        Distinct networks with the same sizes, activations, output, loss and dtype (seeds,
        initialisers, dropout rates, scaling and optimizer state may differ).
    X, y : array_like
        The shared data, as for ``Network.fit``.
    sample_indices : sequence of index arrays, optional
        One 1-D integer array per network (or None for all rows): its rows of X, in that
        order, repeats allowed (folds, bootstrap samples).
    sample_weight : array_like, (n,) or (len(networks), n), optional
        One weight per row of X, shared or one row per network; each network takes its
        indices' weights, as ``fit(..., sample_weight=w[idx])``.
    lr : float or sequence of float, optional
        One learning rate for all, or one per network.
    n_threads : int, optional
        Worker threads (default: the CPUs this process may use). Each network trains on one
        thread at a time, its BLAS-backed layers on one BLAS thread: the results are those of
        ``fit`` with ``n_threads=1`` and do not depend on this count.
    epochs, batch_size, shuffle, optimizer, schedule, alpha, clip_norm, class_weight, tol, \
n_iter_no_change, max_updates
        As for ``Network.fit``, for every network (a schedule object is copied for each).
    max_time : float, optional
        Seconds allowed to each network, counted from the start of its own training.
    verbose : int
        0 only (no progress bars from several threads).
    lanes : bool
        Let tiny networks (every layer at most 8 wide) trained by plain per-example SGD on
        the squared error, without sample weights, scaling or max_time, run side by side in
        one compiled loop, 16 float32 (8 float64) networks per call, one per vector lane
        (the same weights either way; False: each network alone, for comparisons).

    Returns
    -------
    list of History
        One per network, as its ``fit`` returns it.

    Raises
    ------
    ValueError, TypeError
        Bad arguments or data: nothing trained, every network left as it was. Refused:
        validation_data, validation_split, early stopping and callbacks (the message says
        what to do instead), verbose > 0 and the optimizer 'lbfgs'. NaN or infinity anywhere
        in X is refused before training (fit would check only its own rows).
    TrainingDiverged
        A network diverged: every network is trained as far as its own fit goes, then the
        first failing network's error is raised (its network's index in the message's note),
        that network left as its fit leaves it.
    KeyboardInterrupt
        Ctrl-C: every network that had begun stops at its next look, left as
        ``fit(..., max_updates=k)`` leaves it for its own k updates (``net.history`` holds its
        completed epochs, ``stopped_because == "interrupted"``); networks not yet begun, or
        stopped before their first update, are unchanged. (A network that finished before
        the Ctrl-C keeps its whole fit; the Ctrl-C is raised all the same.)
    """
    for name in refused:
        if name in _REFUSED:
            raise ValueError(f"train_many does not support {name}: {_REFUSED[name]}")
        raise TypeError(f"train_many() got an unexpected keyword argument {name!r}")
    nets = _networks(networks)
    k = len(nets)
    threads = default_threads() if n_threads is None else _validate.positive_int("n_threads", n_threads)
    if threads > MAX_THREADS:
        raise ValueError(f"n_threads must be at most {MAX_THREADS}, got {threads}")
    if _validate.non_negative_int("verbose", verbose) > 0:
        raise ValueError("train_many shows no progress bar: pass verbose=0")
    lanes = _validate.boolean("lanes", lanes) and max_time is None
    lrs = _per_network_lr(lr, k)
    first = nets[0]
    dtype = first.dtype
    epochs = _validate.positive_int("epochs", epochs)
    shuffle = _validate.boolean("shuffle", shuffle)
    schedule = schedules.resolve(schedule)
    alpha = _validate.non_negative_float("alpha", alpha)
    clip_norm = None if clip_norm is None else _validate.positive_float("clip_norm", clip_norm)
    tol = None if tol is None else _validate.non_negative_float("tol", tol)
    n_iter_no_change = _validate.positive_int("n_iter_no_change", n_iter_no_change)
    max_time = None if max_time is None else _validate.positive_float("max_time", max_time)
    max_updates = None if max_updates is None else _validate.positive_int("max_updates", max_updates)
    if batch_size is not None:
        batch_size = _validate.positive_int("batch_size", batch_size)
    configs = [net.state.optimizer if optimizer is None else optim.resolve(optimizer)
               for net in nets]
    for j, config in enumerate(configs):
        if config.name == "lbfgs":
            raise ValueError(f"networks[{j}]: train_many does not run the optimizer 'lbfgs' "
                             "(its iterations run in scipy, in Python): use net.fit per network")
    base_lrs = [optim.base_lr(config, rate) for config, rate in zip(configs, lrs)]

    # The shared data, converted once: X in the networks' dtype (float64 for networks that
    # scale it, each transforming its own rows), y likewise.
    X_checked = _validate.inputs(X, first.sizes[0], dtype)
    n = X_checked.shape[0]
    indices = _indices(sample_indices, k, n)
    weights_of = _sample_weights(sample_weight, k, n)
    scaling = any(net.scale_inputs or net.scale_targets for net in nets)
    X64 = _validate.inputs(X, first.sizes[0], np.float64) if scaling else None
    Y_dtype = _validate.targets(y, n, first.sizes[-1], first.loss_name, dtype)
    Y64 = _validate.targets(y, n, first.sizes[-1], first.loss_name, np.float64) if scaling else None

    jobs = [_Job(j, net) for j, net in enumerate(nets)]
    with contextlib.ExitStack() as stack:
        for net in nets:
            stack.enter_context(net._exclusive())
        befores = [net.state.snapshot(net.state.BOOKKEEPING) for net in nets]
        try:
            for job, idx, weights, base_lr in zip(jobs, indices, weights_of, base_lrs):
                job.data = _job_data(job.net, idx, n, X_checked, X64, Y_dtype, Y64, weights,
                                     class_weight)
                job.settings = _fit.Settings(
                    epochs=epochs, base_lr=base_lr, shuffle=shuffle,
                    schedule=copy.deepcopy(schedule), tol=tol,
                    n_iter_no_change=n_iter_no_change, max_time=max_time,
                    max_updates=max_updates, alpha=alpha, loss_name=first.loss_name)
            for job, config in zip(jobs, configs):
                job.runner = _runner(job, config, batch_size, alpha, clip_norm)
            _run(_tasks(jobs, X_checked, Y_dtype, lanes), jobs, threads)
        except BaseException:
            # Bad data or Ctrl-C: a network that never began gets back the scalers and the
            # optimizer set here for it (one that began stays as its fit leaves it).
            for job, before in zip(jobs, befores):
                if not job.started:
                    job.net.state.restore(before)
            raise
    return [job.history for job in jobs]  # type: ignore[misc]  # (each set, or its error raised)


def _job_data(net: Network, idx: NDArray[np.intp] | None, n: int, X_checked: NDArray[Any],
              X64: NDArray[Any] | None, Y_dtype: NDArray[Any], Y64: NDArray[Any] | None,
              weights: NDArray[Any] | None, class_weight: ClassWeight | None
              ) -> tuple[NDArray[Any], NDArray[Any], NDArray[Any] | None, NDArray[np.intp] | None]:
    """(X, Y, sample_weight, rows) of one network, as its fit(X[idx], y[idx]) prepares them:
    X and Y shared and read through `rows` where nothing is scaled; a network that scales
    its inputs trains on its own transformed copy of its rows (rows None)."""
    state = net.state
    rows = np.arange(n, dtype=np.intp) if idx is None else idx
    n_rows = rows.shape[0]
    if net.scale_targets:
        if state.target_scaler is None:
            state.target_scaler = Scaler.learn(Y64[rows])  # type: ignore[index]  # (X64 and Y64 given when scaling)
        Y = state.target_scaler.transform(Y64, net.dtype)  # type: ignore[arg-type]
    else:
        Y = Y_dtype
    sub_weights = None if weights is None else weights[rows]
    w = net._weights_of_samples(sub_weights, class_weight, Y[rows], n_rows)
    if net.scale_inputs:
        X_rows = X64[rows]  # type: ignore[index]
        if state.input_scaler is None:
            state.input_scaler = Scaler.learn(X_rows)
        return state.input_scaler.transform(X_rows, net.dtype), Y[rows], w, None
    if w is not None:  # indexed by X's rows; a repeated row has one weight, so this is exact
        full = np.zeros(n, net.dtype)
        full[rows] = w
        w = full
    return X_checked, Y, w, (None if idx is None else rows)


def _runner(job: _Job, config: optim.Config, batch_size: int | None, alpha: float,
            clip_norm: float | None) -> _fit.EpochRunner:
    """The network's epoch runner, its optimizer set or continued as its fit would."""
    net, state = job.net, job.net.state
    X, Y, w, rows = job.data
    job.data = None
    n_rows = X.shape[0] if rows is None else rows.shape[0]
    batch = n_rows if batch_size is None else min(batch_size, n_rows)
    state.continue_or_set_optimizer(config)
    options = TrainOptions(
        optimizer=config.code, hyper=config.hyper(), alpha=alpha,  # type: ignore[arg-type, union-attr]  # (never L-BFGS)
        clip_norm=0.0 if clip_norm is None else clip_norm,
        dropout=None if not any(net.dropout) else np.array(net.dropout, np.float64),
        step=state.step)
    if rows is None:
        return _fit.EpochRunner(state, X, Y, w, batch, options)
    return _RowsRunner(state, X, Y, w, batch, options, rows)


def _tasks(jobs: list[_Job], X: NDArray[Any], Y: NDArray[Any],
           lanes: bool) -> list[Callable[[threading.Event], None]]:
    """What the pool runs: lane groups (networks whose epochs can share one compiled loop:
    the shared X and Y, the same epoch length) and single networks."""
    singles: list[_Job] = []
    grouped: dict[int, list[_Job]] = {}
    for job in jobs:
        runner = job.runner
        if lanes and _in_lanes(job, X, Y):
            state = job.net.state
            job.runner = _LaneRunner(state, X, Y, 1, runner.options, _all_rows(runner), None)
            grouped.setdefault(job.runner.n_rows, []).append(job)
        else:
            singles.append(job)
    tasks: list[Callable[[threading.Event], None]] = []
    for members in grouped.values():
        size = lane_count(members[0].net.dtype)
        for first in range(0, len(members), size):
            group = _LaneGroup(members[first:first + size])
            for job in group.jobs:
                job.runner.group = group
            tasks.append(group.run)
    return tasks + [functools.partial(_train, job) for job in singles]


def _all_rows(runner: _fit.EpochRunner) -> NDArray[np.intp]:
    return runner.rows if isinstance(runner, _RowsRunner) else np.arange(runner.n_rows, dtype=np.intp)


def _in_lanes(job: _Job, X: NDArray[Any], Y: NDArray[Any]) -> bool:
    runner, net = job.runner, job.net
    if runner.X is not X or runner.Y is not Y or runner.sample_weight is not None:
        return False
    if per_example_loop(net.sizes) != "tiny":
        return False
    with limit_threads(1):  # the plan of the worker threads
        return lanes_apply(net.state.architecture, runner.options, runner.n_rows,
                           runner.batch_size, False, net.dtype)


def _train(job: _Job, stop: threading.Event) -> None:
    """One network's fit, in a worker thread (its BLAS on one thread)."""
    if stop.is_set():
        return
    job.started = True
    state = job.net.state
    step = state.step
    try:
        with limit_threads(1):
            job.settings.started = time.monotonic()
            job.history = _fit.run(state, job.runner, job.settings)
    except BaseException as error:  # raised in the calling thread, after the others finish
        job.error = error
        job.history = state.history
        if isinstance(error, KeyboardInterrupt) and state.step == step:
            job.started = False  # stopped before its first update: put back as never begun
    finally:
        job.runner = None  # its workspace freed as soon as the network is done


# How often the calling thread wakes while the networks train: a Ctrl-C that lands just as it
# goes to sleep on a lock is otherwise handled only when that lock is released.
_WAKE_SECONDS = 0.05


class _Stop:
    """Stops every network of a train_many call at its next look (called, it sets the event
    its tasks check before they begin and each network's interrupt_requested).

    Entered in the main thread while Python's default SIGINT handler is in place, it replaces
    that handler for the call: Ctrl-C then stops the networks and sets ``ctrl_c`` instead of
    raising wherever the calling thread happens to be (between two submissions, say)."""

    def __init__(self, jobs: list[_Job]) -> None:
        self.jobs = jobs
        self.event = threading.Event()
        self.ctrl_c = False
        self.previous: Any = None

    def __call__(self) -> None:
        self.event.set()
        for job in self.jobs:
            runner = job.runner
            if runner is not None:
                runner.options.interrupt_requested = True

    def _handler(self, signum: int, frame: Any) -> None:
        self.ctrl_c = True
        self()

    def __enter__(self) -> _Stop:
        if (threading.current_thread() is threading.main_thread()
                and signal.getsignal(signal.SIGINT) is signal.default_int_handler):
            self.previous = signal.signal(signal.SIGINT, self._handler)
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self.previous is not None:
            signal.signal(signal.SIGINT, self.previous)
            self.previous = None


def _run(tasks: list[Callable[[threading.Event], None]], jobs: list[_Job],
         threads: int) -> None:
    """Every task on `threads` worker threads; Ctrl-C stops them all at their next look, and
    is raised once every task has ended (also when it came after the last one ended: it is
    never lost)."""
    with _Stop(jobs) as stop:
        pool = ThreadPoolExecutor(max_workers=min(threads, len(tasks)),
                                  thread_name_prefix="fastbp-many")
        try:
            futures = [pool.submit(task, stop.event) for task in tasks]
            for future in futures:  # (one at a time: a wake-up costs the same for any count)
                while not wait_for_futures((future,), _WAKE_SECONDS).done:
                    pass
                future.result()
        except KeyboardInterrupt:  # raised here by a SIGINT handler of the user's (left in place)
            stop.ctrl_c = True
            stop()
        except BaseException:  # an error of this thread's: the networks stop too
            stop()
            raise
        finally:
            pool.shutdown(wait=True)
    if stop.ctrl_c:
        raise KeyboardInterrupt(
            "train_many interrupted: each network that had begun holds what "
            "fit(..., max_updates=k) leaves for its own k updates (its net.history ends "
            "with stopped_because == 'interrupted'), or its whole fit if it had finished; "
            "networks not begun, or stopped before their first update, are unchanged")
    for job in jobs:
        if job.error is not None:
            error = job.error
            if hasattr(error, "add_note"):  # Python >= 3.11; 3.10 raises the error unannotated
                error.add_note(f"(network {job.index} of train_many; the other networks are "
                               "trained, each as its own fit leaves it)")
            raise error


class Ensemble:
    """Networks of one architecture used together: each one's predictions, their mean and
    their spread.

    Parameters
    ----------
    networks : sequence of Network
        The members (the same sizes, activations, output, loss and dtype).

    Examples
    --------
    >>> import fastbp
    >>> X, y = fastbp.datasets.house_prices(200, seed=0, standardize=True)
    >>> ensemble = fastbp.Ensemble.from_seeds(range(4), [3, 8, 1], activation="tanh")
    >>> histories = ensemble.fit(X, y, epochs=2, batch_size=1, lr=0.01)
    >>> ensemble.predict(X[:5]).shape, ensemble.spread(X[:5]).shape
    ((5,), (5,))
    """

    def __init__(self, networks: Iterable[Network]) -> None:
        self.networks = _networks(networks)

    @classmethod
    def from_seeds(cls, seeds: Iterable[int], sizes: Sequence[int],
                   **network_options: Any) -> Ensemble:
        """One ``Network(sizes, seed=s, **network_options)`` per seed."""
        return cls([Network(sizes, seed=seed, **network_options) for seed in seeds])

    def __len__(self) -> int:
        return len(self.networks)

    def fit(self, X: ArrayLike, y: ArrayLike, **options: Any) -> list[History]:
        """``train_many(self.networks, X, y, **options)``: the members' Histories."""
        return train_many(self.networks, X, y, **options)

    def predict_all(self, X: ArrayLike) -> NDArray[np.floating[Any]]:
        """Each member's predictions, stacked: (n_networks, n) or (n_networks, n, n_out)."""
        # .networks is a plain list a user may extend: members are checked again, not averaged
        # across architectures.
        return np.stack([net.predict(X) for net in _networks(self.networks)])

    def predict(self, X: ArrayLike) -> NDArray[np.float64]:
        """The mean of the members' predictions, in float64."""
        return self.predict_all(X).mean(axis=0, dtype=np.float64)  # type: ignore[no-any-return]

    def spread(self, X: ArrayLike) -> NDArray[np.float64]:
        """The standard deviation of the members' predictions (ddof=1; 0 for one member),
        in float64."""
        values = self.predict_all(X).astype(np.float64)
        if len(self.networks) < 2:
            return np.zeros(values.shape[1:])
        return values.std(axis=0, ddof=1)  # type: ignore[no-any-return]


__all__ = ["train_many", "Ensemble"]
