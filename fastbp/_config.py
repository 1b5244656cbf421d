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
    from fastbp import __version__, _train

    config = {
        "fastbp": __version__,
        **_train.build_info(),
        "python": sys.version.split()[0],
        "numpy": np.__version__,
        "platform": platform.platform(),
        "machine": platform.machine(),
        "kernels": "portable compiled loops (no SIMD dispatch, no BLAS)",
        "threads": 1,
    }
    if print_:
        width = max(map(len, config))
        for key, value in config.items():
            print(f"{key:<{width}}  {value}")
    return config
