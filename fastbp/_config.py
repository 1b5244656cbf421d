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
                    "per layer and chunk"),
        "simd": _kernels.simd_level(),
        "blas": _blas.blas_info(),
        # No n_threads setting yet: the compiled loops run on one thread, the BLAS-backed layers
        # on the BLAS library's own pool (threadpoolctl limits it).
        "threads": "1 (compiled loops); BLAS layers: the BLAS pool's (see blas)",
    }
    if print_:
        width = max(map(len, config))
        for key, value in config.items():
            print(f"{key:<{width}}  {value}")
    return config
