"""The fused C loop of T1 (bench/peer_fused_t1.c), built with the C compiler at hand.

The design notes measure T1 against a hand-fused C training loop compiled with
``-O3 -march=native``; this builds that file into a shared library in a temporary folder
(once per process) and calls it through ctypes: one call trains every epoch, so ctypes costs
nothing measurable. ``build`` returns None when there is no working C compiler.
"""
import ctypes
import functools
import os
import shutil
import subprocess
import sysconfig
import tempfile
from pathlib import Path

import numpy as np

SOURCE = Path(__file__).with_name("peer_fused_t1.c")
FLAGS = ["-O3", "-march=native", "-shared", "-fPIC"]


def compiler():
    """The C compiler Python was built with (its first word), or cc."""
    configured = (sysconfig.get_config_var("CC") or "").split()
    for candidate in configured[:1] + ["cc", "gcc"]:
        if shutil.which(candidate):
            return candidate
    return None


@functools.lru_cache(maxsize=None)
def build():
    """The compiled train_t1 function, or None without a working compiler."""
    cc = compiler()
    if cc is None:
        return None
    folder = tempfile.mkdtemp(prefix="fastbp_peer_c_")
    library = os.path.join(folder, "peer_fused_t1.so")
    result = subprocess.run([cc, *FLAGS, str(SOURCE), "-o", library, "-lm"],
                            capture_output=True, text=True)
    if result.returncode != 0:
        return None
    train = ctypes.CDLL(library).train_t1
    pointer = ctypes.POINTER(ctypes.c_float)
    train.argtypes = [pointer] * 8 + [ctypes.c_long, ctypes.c_int, ctypes.c_float]
    train.restype = None
    return train


def copies(weights, biases):
    """float32 C-contiguous copies of a network's parameters, trained in place."""
    return ([np.array(W, np.float32, order="C") for W in weights],
            [np.array(b, np.float32, order="C") for b in biases])


def train_t1(train, weights, biases, X, y, epochs, lr):
    """Train the 3-8-8-1 parameters in place on float32 X (n×3) and y (n or n×1)."""
    X = np.ascontiguousarray(X, np.float32)
    y = np.ascontiguousarray(np.reshape(y, -1), np.float32)
    if X.shape[1] != 3 or [W.shape for W in weights] != [(8, 3), (8, 8), (1, 8)]:
        raise ValueError("the fused C loop is written for T1's 3-8-8-1 network")

    def p(array):
        return array.ctypes.data_as(ctypes.POINTER(ctypes.c_float))
    (W0, W1, W2), (b0, b1, b2) = weights, biases
    train(p(W0), p(b0), p(W1), p(b1), p(W2), p(b2), p(X), p(y), len(X), epochs, lr)
