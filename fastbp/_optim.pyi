# Type stubs for the compiled module fastbp._optim (_optim.pyx, _optim.pxd): the names Python
# code uses.
import enum
from typing import Any

import numpy as np
from numpy.typing import NDArray

class Optimizer(enum.IntEnum):
    SGD = 0
    MOMENTUM = 1
    NESTEROV = 2
    ADAM = 3
    ADAMW = 4
    RMSPROP = 5
    ADAGRAD = 6
    IRPROP_MINUS = 7
    MOMENTUM_SKLEARN = 8
    NESTEROV_SKLEARN = 9
    ADAM_SKLEARN = 10

def state_size(code: int) -> int: ...
def hyper_size(code: int) -> int: ...
def step(code: int, params: NDArray[np.floating[Any]], grads: NDArray[np.floating[Any]],
         lr: float, hyper: NDArray[np.float64], state: NDArray[np.floating[Any]], t: int,
         alpha: float = ...) -> None: ...
def init_state(code: int, hyper: NDArray[np.float64],
               state: NDArray[np.floating[Any]]) -> None: ...
