"""Arrays for the compiled kernels, starting on a 64-byte boundary.

numpy's large allocations start 16 bytes past a page boundary (glibc's block header), so a
kernel's 64-byte vector loads and stores over them each straddled two cache lines: M2's
matrix products ran 10–15 % slower on the network's parameters and workspace than on aligned
copies. The parameters, gradients, optimizer state and workspaces are allocated here instead.
"""
from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import DTypeLike, NDArray

ALIGNMENT = 64  # bytes: a cache line, an AVX-512 register


def aligned_empty(n: int, dtype: DTypeLike) -> NDArray[Any]:
    """A 1-D array of `n` uninitialised elements of `dtype` whose data starts on a multiple of
    ALIGNMENT bytes (a view into a slightly larger array, which it keeps alive)."""
    dtype = np.dtype(dtype)
    raw = np.empty(n + ALIGNMENT // dtype.itemsize, dtype)
    start = (-raw.ctypes.data % ALIGNMENT) // dtype.itemsize
    return raw[start:start + n]


def aligned_zeros(n: int, dtype: DTypeLike) -> NDArray[Any]:
    """aligned_empty, filled with zeros."""
    array = aligned_empty(n, dtype)
    array[...] = 0
    return array
