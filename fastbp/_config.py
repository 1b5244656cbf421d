"""Build and run-time configuration: what this installation of fastbp is made of."""
import os
import platform
import sys

import numpy as np


def get_include():
    """Return the folder holding fastbp's ``.pxd`` files, for other Cython code's include path."""
    return os.path.dirname(os.path.abspath(__file__))


def show_config(print_=True):
    """Print (and return as a dict) fastbp's version, build flags, compiler and platform.

    Parameters
    ----------
    print_ : bool
        Print the configuration; pass False to only get the dict.

    Returns
    -------
    dict
    """
    from fastbp import __version__, _blas, _kernels, _train

    config = {
        "fastbp": __version__,
        **_train.build_info(),
        "python": sys.version.split()[0],
        "numpy": np.__version__,
        "platform": platform.platform(),
        "machine": platform.machine(),
        "kernels": (f"compiled loops for small layers, BLAS above "
                    f"{_train.DEFAULT_BLAS_MIN_WORK} multiply-adds "
                    "per layer and chunk (forward products up to "
                    f"{_train.DEFAULT_TRANSPOSE_MAX_WORK:,} from the transposed input)"),
        "simd": _kernels.simd_level(),
        "own_gemm": _own_gemm(),
        "plans": _plans(),
        "blas": _blas.blas_info(),
        "threads": _threads(),
    }
    if print_:
        width = max(map(len, config))
        for key, value in config.items():
            print(f"{key:<{width}}  {value}")
    return config


def _own_gemm():
    """Whether the largest float32 layers run on fastbp's own matrix kernels here."""
    from fastbp import _kernels, _train

    if not _kernels.avx512_kernels_run():
        return "off: this CPU has no AVX-512 (BLAS computes every large layer)"
    return (f"float32 layers above {_train.DEFAULT_INPLACE_GEMM_MIN_WORK:,} multiply-adds per "
            "chunk (of at most 2^19 weights, chunks of at most 256 rows), and a first layer "
            "trained transposed by plain SGD above "
            f"{_train.DEFAULT_FIRST_LAYER_TRANSPOSED_MIN_WORK:,} if its outputs are a multiple "
            "of 64 and an epoch has 4 batches or more: fastbp's AVX-512 in-place kernel; "
            f"float32 layers of {_train.DEFAULT_PACKED_GEMM_MIN_WEIGHTS:,} weights or more: its "
            "packed kernel; either when BLAS would run on one thread")


# Networks of the benchmarks (bench/): sizes, batch size.
_PLANNED = {"M1": ([64, 128, 10], 32), "M2": ([784, 256, 128, 10], 64),
            "L1": ([1024, 2048, 2048, 10], 256)}


def _plans():
    """The compiled planner's paths for the benchmarks' networks here: float32, an epoch of
    plain SGD of many batches, BLAS on one thread."""
    from fastbp import _kernels, _train

    lines = []
    for name, (sizes, batch) in _PLANNED.items():
        arch = _train.Architecture(sizes, [_kernels.Activation.RELU] * (len(sizes) - 2)
                                   + [_kernels.Activation.IDENTITY], _kernels.Loss.CROSS_ENTROPY)
        paths = _train.plan(arch, batch, np.float32, epoch_rows=100 * batch, batch_size=batch,
                            plain_sgd=True, blas_threads=1)
        lines.append(f"{name} {'-'.join(map(str, sizes))} at batch {batch}: {', '.join(paths)}")
    return "; ".join(lines) + " (float32, plain SGD, one thread)"


def _threads():
    """How n_threads is applied on this machine, and its default here."""
    from fastbp import _blas
    from fastbp.network import default_threads

    control = _blas.thread_control()
    blas = (f"BLAS layers: n_threads BLAS threads (set through {control})" if control else
            "BLAS layers: the BLAS library's own thread count (fastbp found no setter for it)")
    return (f"n_threads default {default_threads()} (CPUs this process may use); "
            f"compiled loops: 1 thread; {blas}")
