"""Build description of fastbp's compiled extensions; all metadata lives in pyproject.toml.

Set FASTBP_DEBUG=1 in the environment to build with bounds checks, wraparound and
initialisation checks switched back on, no optimisation and debug symbols.

FASTBP_SANITIZE=1 builds with AddressSanitizer and UndefinedBehaviorSanitizer (-O1, debug
symbols; undefined behaviour aborts). Python itself is not instrumented: run the tests with the
sanitizer runtimes preloaded, as .ci/run does (LD_PRELOAD of gcc's libasan.so and libubsan.so,
ASAN_OPTIONS=detect_leaks=0).

FASTBP_NATIVE=1 adds -march=native (gcc/clang): a build for this CPU only, for comparing
against the portable build (bench/native_vs_portable.py). Never for wheels or anything
shipped: such a build may crash with an illegal instruction on another CPU.
"""
import glob
import os
import sys
import sysconfig

from Cython.Build import cythonize
from setuptools import Extension, setup

DEBUG = os.environ.get("FASTBP_DEBUG", "") not in ("", "0")
NATIVE = os.environ.get("FASTBP_NATIVE", "") not in ("", "0")
SANITIZE = os.environ.get("FASTBP_SANITIZE", "") not in ("", "0")
SANITIZER_FLAGS = ["-fsanitize=address,undefined", "-fno-sanitize-recover=undefined",
                   "-fno-omit-frame-pointer"] if SANITIZE else []


def compile_args():
    """Portable optimisation flags for the compiler at hand: never -march=native (unless
    FASTBP_NATIVE asks for a local comparison build), never -ffast-math."""
    if sys.platform == "win32" and "GCC" not in sys.version:
        return ["/Od", "/Zi"] if DEBUG else ["/O2"]
    # No fused multiply-adds from contraction: each runtime-dispatched variant of a kernel
    # (AVX-512, AVX2, baseline) and each inlined copy of it then rounds the same operations
    # the same way.
    flags = (["-O0", "-g"] if DEBUG else ["-O1", "-g"] if SANITIZE else ["-O3"]) + ["-ffp-contract=off"]
    flags += SANITIZER_FLAGS
    return flags + ["-march=native"] if NATIVE else flags


COMPILE_ARGS = compile_args()
DIRECTIVES = {
    "language_level": 3,
    "boundscheck": DEBUG,
    "wraparound": DEBUG,
    "initializedcheck": DEBUG,
    "cdivision": True,
    "embedsignature": True,
}
MACROS = [
    # Reported by fastbp.show_config(): what this build was compiled with.
    ("FASTBP_COMPILE_ARGS", '"%s"' % " ".join(COMPILE_ARGS)),
    ("FASTBP_DEBUG_BUILD", "1" if DEBUG else "0"),
]


def extension(name, sources=()):
    return Extension(
        f"fastbp.{name}",
        [f"fastbp/{name}.pyx", *sources],
        include_dirs=["src_c", "fastbp/include"],  # fastbp/include: the public C API
        depends=sorted(glob.glob("src_c/*.h")),  # rebuild when a C header or template changes
        define_macros=MACROS,
        extra_compile_args=COMPILE_ARGS,
        extra_link_args=SANITIZER_FLAGS,
        libraries=[] if sys.platform == "win32" else ["m", "pthread"],
    )


setup(
    ext_modules=cythonize(
        [
            extension("_kernels", ["src_c/fastbp_math.c", "src_c/fastbp_dense.c",
                                  "src_c/fastbp_gemm.c", "src_c/fastbp_gemm_packed.c",
                                  "src_c/fastbp_xent16.c", "src_c/fastbp_lanes.c",
                                  "src_c/fastbp_team.c"]),
            extension("_blas"),
            extension("_train"),
            extension("_optim", ["src_c/fastbp_optim.c"]),
        ],
        compiler_directives=DIRECTIVES,
    ),
)
