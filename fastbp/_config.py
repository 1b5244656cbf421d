"""Build and run-time configuration: what this installation of fastbp is made of."""
from __future__ import annotations

import os
import platform
import sys
from typing import Any

import numpy as np

from fastbp._blas import blas_info, thread_policy
from fastbp._kernels import (
    DISPATCH_LEVELS, Activation, Loss, avx512_kernels_run, dispatch_levels, simd_level)
from fastbp._threads import default_threads
from fastbp._train import (
    DEFAULT_BLAS_MIN_WORK, DEFAULT_FIRST_LAYER_TRANSPOSED_MIN_WORK, DEFAULT_INPLACE_GEMM_MIN_WORK,
    DEFAULT_PACKED_GEMM_MIN_WEIGHTS, DEFAULT_TRANSPOSE_MAX_WORK, Architecture, build_info, plan)
from fastbp._version import __version__

# A misspelt FASTBP_DISPATCH would otherwise test the default level in its name's place.
if dispatch_levels()["requested"] not in (None, *DISPATCH_LEVELS):
    raise ValueError(f"FASTBP_DISPATCH={dispatch_levels()['requested']!r}: expected one of "
                     f"{', '.join(reversed(DISPATCH_LEVELS))}, or unset (the best this CPU has)")


def get_include() -> str:
    """Return the folder of fastbp's public C header (``fastbp_api.h``), for the include path
    of compiled code that uses its C API (``from fastbp.api cimport ...``; see fastbp.api).

    Cython finds ``fastbp/api.pxd`` (and the private ``.pxd`` files beside it) through the
    installed package on ``sys.path``; the C compiler needs this folder::

        Extension("mymodule", ["mymodule.pyx"], include_dirs=[fastbp.get_include()])
    """
    return os.path.join(os.path.dirname(os.path.abspath(__file__)), "include")


def show_config(print_: bool = True) -> dict[str, Any]:
    """Print (and return as a dict) fastbp's version, build flags, compiler and platform.

    Parameters
    ----------
    print_ : bool
        Print the configuration; pass False to only get the dict.

    Returns
    -------
    dict
    """
    config = {
        "fastbp": __version__,
        **build_info(),
        "python": sys.version.split()[0],
        "numpy": np.__version__,
        "platform": platform.platform(),
        "machine": platform.machine(),
        "kernels": (f"compiled loops for small layers, BLAS above "
                    f"{DEFAULT_BLAS_MIN_WORK} multiply-adds "
                    "per layer and chunk (forward products up to "
                    f"{DEFAULT_TRANSPOSE_MAX_WORK:,} from the transposed input)"),
        "simd": simd_level(),
        "dispatch": _dispatch(),
        "own_gemm": _own_gemm(),
        "plans": _plans(),
        "blas": blas_info(),
        "threads": _threads(),
    }
    if print_:
        width = max(map(len, config))
        for key, value in config.items():
            print(f"{key:<{width}}  {value}")
    return config


def _dispatch() -> str:
    """The runtime dispatch's level in use here, and why."""
    levels = dispatch_levels()
    in_use, cpu, requested = levels["in_use"], levels["cpu"], levels["requested"]
    if in_use is None:
        return ("none: a portable build" if requested is None else
                f"none: a portable build (FASTBP_DISPATCH={requested} has no effect)")
    if requested is None:
        return f"{in_use} (this CPU's best; FASTBP_DISPATCH=avx2 or baseline forces a lower level)"
    if DISPATCH_LEVELS.index(requested) > DISPATCH_LEVELS.index(cpu):
        return (f"{in_use} (FASTBP_DISPATCH={requested} asks for more than this CPU has: "
                "its best instead)")
    return f"{in_use} (forced by FASTBP_DISPATCH={requested}; this CPU has {cpu})"


def _own_gemm() -> str:
    """Whether the largest float32 layers run on fastbp's own matrix kernels here."""

    if not avx512_kernels_run():
        requested = dispatch_levels()["requested"]
        if requested in ("avx2", "baseline"):
            return f"off: FASTBP_DISPATCH={requested} (BLAS computes every large layer)"
        return "off: this CPU has no AVX-512 (BLAS computes every large layer)"
    return (f"float32 layers above {DEFAULT_INPLACE_GEMM_MIN_WORK:,} multiply-adds per "
            "chunk (of at most 2^19 weights, chunks of at most 256 rows), and a first layer "
            "trained transposed by plain SGD above "
            f"{DEFAULT_FIRST_LAYER_TRANSPOSED_MIN_WORK:,} if its outputs are a multiple "
            "of 64 and an epoch has 4 batches or more: fastbp's AVX-512 in-place kernel; "
            f"float32 layers of {DEFAULT_PACKED_GEMM_MIN_WEIGHTS:,} weights or more: its "
            "packed kernel; with n_threads > 1 (while BLAS's layers hold at most half the "
            "work), either split over a team of n_threads threads, BLAS on one")


# Networks of the benchmarks (bench/): sizes, batch size.
_PLANNED = {"M1": ([64, 128, 10], 32), "M2": ([784, 256, 128, 10], 64),
            "L1": ([1024, 2048, 2048, 10], 256)}


def _plans() -> str:
    """The compiled planner's paths for the benchmarks' networks here: float32, an epoch of
    plain SGD of many batches, BLAS on one thread."""

    lines: list[str] = []
    for name, (sizes, batch) in _PLANNED.items():
        arch = Architecture(sizes, [Activation.RELU] * (len(sizes) - 2)
                                   + [Activation.IDENTITY], Loss.CROSS_ENTROPY)
        paths = plan(arch, batch, np.float32, epoch_rows=100 * batch, batch_size=batch,
                            plain_sgd=True, blas_threads=1)
        lines.append(f"{name} {'-'.join(map(str, sizes))} at batch {batch}: {', '.join(paths)}")
    return "; ".join(lines) + " (float32, plain SGD, one thread)"


def _threads() -> str:
    """How n_threads is applied on this machine, and its default here."""

    blas = f"BLAS layers: {thread_policy()}"
    return (f"n_threads default {default_threads()} (CPUs this process may use); "
            f"compiled loops: 1 thread; own matrix kernels: n_threads threads (output tiles "
            f"split, results independent of the count); {blas}")
