"""T1's C yardsticks, built with the C compiler at hand: the hand-fused training loop of the
design notes (bench/peer_fused_t1.c) and FANN 2.2 (bench/peer_fann_t1.c, when FANN's headers
and library are installed: Debian's libfann-dev).

Each source is built into a shared library in a temporary folder (once per process, with
``-O3 -march=native``: the design notes' flags for the fused loop) and called through ctypes;
one call trains every epoch, so ctypes costs nothing measurable. ``library`` returns None when
the build fails (no compiler, no FANN), and the benchmark is skipped.
"""
import atexit
import ctypes
import functools
import os
import shutil
import subprocess
import sysconfig
import tempfile
from pathlib import Path

import numpy as np

FLAGS = ["-O3", "-march=native"]
SIZES = (3, 8, 8, 1)


def compiler():
    """The C compiler Python was built with (its first word), or cc, or None."""
    configured = (sysconfig.get_config_var("CC") or "").split()
    for candidate in configured[:1] + ["cc", "gcc"]:
        if shutil.which(candidate):
            return candidate
    return None


@functools.lru_cache(maxsize=None)
def library(name, *libraries):
    """bench/peer_<name>.c built and loaded (linked with `libraries`), or None."""
    cc = compiler()
    if cc is None:
        return None
    folder = tempfile.mkdtemp(prefix="fastbp_peer_c_")
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    path = os.path.join(folder, f"peer_{name}.so")
    source = Path(__file__).with_name(f"peer_{name}.c")
    built = subprocess.run([cc, *FLAGS, "-shared", "-fPIC", str(source), "-o", path,
                            *(f"-l{lib}" for lib in libraries), "-lm"],
                           capture_output=True, text=True)
    return ctypes.CDLL(path) if built.returncode == 0 else None


def copies(weights, biases):
    """float32 C-contiguous copies of a network's parameters, trained in place."""
    if [W.shape for W in weights] != [(8, 3), (8, 8), (1, 8)]:
        raise ValueError("the C peers are written for T1's 3-8-8-1 network")
    return ([np.array(W, np.float32, order="C") for W in weights],
            [np.array(b, np.float32, order="C") for b in biases])


def _pointers(weights, biases):
    """W0, b0, W1, b1, W2, b2 as float pointers."""
    return [array.ctypes.data_as(ctypes.POINTER(ctypes.c_float))
            for pair in zip(weights, biases) for array in pair]


def _data(X, y):
    X = np.ascontiguousarray(X, np.float32)
    y = np.ascontiguousarray(np.reshape(y, -1), np.float32)
    return X, y


def train_fused(lib, weights, biases, X, y, epochs, lr):
    """The fused C loop: train the parameters (from `copies`) in place."""
    X, y = _data(X, y)
    lib.train_t1(*_pointers(weights, biases), X.ctypes.data_as(ctypes.POINTER(ctypes.c_float)),
                 y.ctypes.data_as(ctypes.POINTER(ctypes.c_float)), ctypes.c_long(len(X)),
                 ctypes.c_int(epochs), ctypes.c_float(lr))


class Fann:
    """A FANN network holding the parameters and the data (built outside the timing)."""

    def __init__(self, lib, weights, biases, X, y, lr):
        self.lib = lib
        lib.t1_fann_create.restype = ctypes.c_void_p
        self.X, self.y = _data(X, y)  # kept alive while FANN copies them
        self.handle = ctypes.c_void_p(lib.t1_fann_create(
            *_pointers(weights, biases), self.X.ctypes.data_as(ctypes.POINTER(ctypes.c_float)),
            self.y.ctypes.data_as(ctypes.POINTER(ctypes.c_float)), ctypes.c_uint(len(self.X)),
            ctypes.c_float(lr)))

    def train(self, epochs):
        self.lib.t1_fann_train(self.handle, ctypes.c_int(epochs))
        return self

    def parameters(self, weights, biases):
        """Copy FANN's weights into `weights` and `biases` (from `copies`), and free it."""
        self.lib.t1_fann_weights(self.handle, *_pointers(weights, biases))
        self.lib.t1_fann_free(self.handle)
        self.handle = None
        return weights, biases
