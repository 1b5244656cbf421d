# Type stubs for the compiled module fastbp._train (_train.pyx with _plan.pxi, _layers.pxi,
# _epoch.pxi, _lanes.pxi, _predict.pxi): the names Python code uses.
import enum
from collections.abc import Sequence
from types import TracebackType
from typing import Any, Literal

import numpy as np
from numpy.typing import ArrayLike, DTypeLike, NDArray

_Floats = NDArray[np.floating[Any]]

DEFAULT_BLAS_MIN_WORK: int
DEFAULT_TRANSPOSE_MAX_WORK: int
DEFAULT_INPLACE_GEMM_MIN_WORK: int
DEFAULT_FIRST_LAYER_TRANSPOSED_MIN_WORK: int
DEFAULT_PACKED_GEMM_MIN_WEIGHTS: int
DEFAULT_FAST_PREDICT_MAX_ROWS: int
PATH_NAMES: tuple[str, ...]

class Status(enum.IntEnum):
    STATUS_OK = 0
    STATUS_DIVERGED = 1
    STATUS_INTERRUPTED = 2
    STATUS_TIME_UP = 3
    STATUS_UPDATES_DONE = 4
    STATUS_NONFINITE_INPUT = 5

class Architecture:
    @property
    def n_layers(self) -> int: ...
    @property
    def n_params(self) -> int: ...
    @property
    def loss(self) -> int: ...
    fuse_per_example: bool
    fuse_optimizer_step: bool
    first_layer_transposed: bool
    blas_min_work: int
    transpose_max_work: int
    inplace_gemm_min_work: int
    first_layer_transposed_min_work: int
    packed_gemm_min_weights: int
    @property
    def last_plan(self) -> list[str] | None: ...
    @property
    def last_team_threads(self) -> int: ...
    def __init__(self, sizes: Sequence[int] | NDArray[np.integer[Any]],
                 activation_codes: Sequence[int] | NDArray[np.integer[Any]], loss: int) -> None: ...
    def weight_slices(self) -> list[tuple[int, int, int]]: ...
    def workspace_size(self, chunk: int, dropout: bool = ...) -> int: ...

def plan(arch: Architecture, chunk: int, dtype: DTypeLike, *, epoch_rows: int = ...,
         batch_size: int = ..., plain_sgd: bool = ..., blas_threads: int | None = ...) -> list[str]: ...

class TrainOptions:
    optimizer: int
    step: int
    alpha: float
    alpha_over_batch_size: bool
    clip_norm: float
    has_dropout: bool
    dropout_seed: int
    max_updates: int
    max_seconds: float
    check_inputs: bool
    interrupt_requested: bool
    interruption: BaseException | None
    work_since_look: int
    data_loss_scale: float
    loss_mean_over_rows: bool
    clip_log_loss: bool
    def __init__(self, optimizer: int = ..., hyper: ArrayLike | None = ..., step: int = ...,
                 alpha: float = ..., clip_norm: float = ...,
                 dropout: Sequence[float] | NDArray[np.float64] | None = ...) -> None: ...

class _Immediately:
    def __init__(self, ctrl_c: DeferredCtrlC) -> None: ...
    def __enter__(self) -> None: ...
    def __exit__(self, error_type: type[BaseException] | None, error: BaseException | None,
                 traceback: TracebackType | None) -> Literal[False]: ...

class DeferredCtrlC:
    deferring: bool
    def __init__(self, options: TrainOptions) -> None: ...
    def __enter__(self) -> DeferredCtrlC: ...
    def __exit__(self, error_type: type[BaseException] | None, error: BaseException | None,
                 traceback: TracebackType | None) -> Literal[False]: ...
    def immediate(self) -> _Immediately: ...

def train_epoch(arch: Architecture, params: _Floats, grads: _Floats, work: _Floats,
                X: _Floats, Y: _Floats, order: NDArray[np.intp] | None, batch_size: int,
                lr: float, chunk: int, options: TrainOptions | None = ...,
                state: _Floats | None = ...,
                sample_weight: _Floats | None = ...) -> tuple[int, float, float, int]: ...
def loss_and_gradient(arch: Architecture, params: _Floats, grads: _Floats | None,
                      work: _Floats, X: _Floats, Y: _Floats, chunk: int,
                      sample_weight: _Floats | None = ..., options: TrainOptions | None = ...,
                      clip_log_loss: bool = ...) -> tuple[float, float]: ...
def predict(arch: Architecture, params: _Floats, work: _Floats, X: _Floats, out: _Floats,
            chunk: int) -> None: ...
def is_finite(values: _Floats, chunk: int = ...) -> bool: ...
def build_info() -> dict[str, Any]: ...

def lane_count(dtype: DTypeLike) -> int: ...
def lanes_apply(arch: Architecture, options: TrainOptions, n_rows: int, batch_size: int,
                weighted: bool, dtype: DTypeLike) -> bool: ...
def train_lanes_epoch(arch: Architecture, params: list[_Floats], X: _Floats, Y: _Floats,
                      orders: list[NDArray[np.intp]], lr: NDArray[np.float64],
                      max_updates: int,
                      options: list[TrainOptions]) -> list[tuple[int, float, float, int]]: ...

class Predictor:
    max_rows: int
    def __new__(cls, arch: Architecture, params: _Floats) -> Predictor: ...
    def __call__(self, X: object) -> _Floats | None: ...

def uses_blas_at(arch: Architecture, chunk: int) -> bool: ...
def predicts_transposed(arch: Architecture, n_rows: int, chunk: int, dtype: DTypeLike) -> bool: ...
def predict_transposed(arch: Architecture, params: NDArray[np.float32], X: NDArray[np.float32],
                       out: NDArray[np.float32], chunk: int) -> None: ...

VIEW_API_VERSION: int

class View:
    capsule: object
    def __init__(self, network: Architecture, params: _Floats) -> None: ...
    @property
    def closed(self) -> bool: ...
    def close(self) -> None: ...
    def forward(self, X: _Floats, out: _Floats) -> int: ...
    def sgd_step(self, x: _Floats, y: _Floats, lr: float) -> tuple[int, float]: ...
