# Type stubs for the compiled module fastbp._kernels (_kernels.pyx, _kernels.pxd): the names
# Python code uses.
import enum
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray

class Activation(enum.IntEnum):
    IDENTITY = 0
    SIGMOID = 1
    TANH = 2
    RELU = 3
    LEAKY_RELU = 4
    ELU = 5
    SOFTPLUS = 6
    GELU = 7

class Loss(enum.IntEnum):
    MSE = 0
    CROSS_ENTROPY = 1
    BINARY_CROSS_ENTROPY = 2
    MAE = 3
    HUBER = 4
    POISSON = 5

def avx512_kernels_run() -> bool: ...
def simd_level() -> str: ...
DISPATCH_LEVELS: tuple[str, ...]
def dispatch_levels() -> dict[str, str | None]: ...
def per_example_loop(sizes: Any) -> Literal["tiny", "general"]: ...
def team_split(m: int, n: int, parts: int) -> Any: ...
def transposed(A: NDArray[np.floating[Any]], inplace: bool = ...) -> NDArray[np.floating[Any]]: ...
