"""Build description of fastbp's compiled extensions; all metadata lives in pyproject.toml.

Set FASTBP_DEBUG=1 in the environment to build with bounds checks, wraparound and
initialisation checks switched back on, no optimisation and debug symbols.

FASTBP_SANITIZE=1 builds with AddressSanitizer and UndefinedBehaviorSanitizer (-O1, debug
symbols; undefined behaviour aborts). Python itself is not instrumented: run the tests with the
sanitizer runtimes preloaded, as .ci/run does (LD_PRELOAD of gcc's libasan.so and libubsan.so,
ASAN_OPTIONS=detect_leaks=0).

FASTBP_BUILD_JOBS=N compiles at most N sources at once (default: the CPUs this process may
use; 1 compiles one after another). The C sources of every extension, and the extensions
themselves, compile in parallel: `pip install -v .` shows each compiler command as it starts.

FASTBP_NATIVE=1 adds -march=native (gcc/clang): a build for this CPU only, for comparing
against the portable build (bench/native_vs_portable.py). Never for wheels or anything
shipped: such a build may crash with an illegal instruction on another CPU.
"""
import glob
import multiprocessing
import os
import sys
import threading
from concurrent.futures import ThreadPoolExecutor

from Cython.Build import cythonize
from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

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


def build_jobs():
    """How many sources compile at once: FASTBP_BUILD_JOBS, else the CPUs we may use."""
    value = os.environ.get("FASTBP_BUILD_JOBS", "")
    if value:
        if not value.isdigit() or int(value) < 1:
            raise SystemExit(f"FASTBP_BUILD_JOBS must be a whole number >= 1, not {value!r}")
        return int(value)
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


class ParallelBuildExt(build_ext):
    """build_ext compiling every extension's sources in parallel, at most build_jobs() (or
    build_ext's own -j) compiler processes at a time; setuptools alone compiles an
    extension's sources one after another."""

    def build_extensions(self):
        self.check_extensions_list(self.extensions)
        jobs = self.parallel if isinstance(self.parallel, int) and self.parallel > 1 else None
        jobs = jobs or build_jobs()
        if jobs <= 1:
            return super().build_extensions()
        slots = threading.Semaphore(jobs)
        compile_serial = self.compiler.compile
        # A source that two extensions share (fastbp_dispatch.c) compiles once: the same
        # object file written twice at once could come out garbled.
        started, lock = {}, threading.Lock()

        def compile_one(source, *args, **kwargs):
            with slots:
                return compile_serial([source], *args, **kwargs)

        def compile_parallel(sources, *args, **kwargs):
            with ThreadPoolExecutor(len(sources)) as pool:
                futures = []
                for source in sources:
                    key = (source, repr(args), repr(sorted(kwargs.items())))
                    with lock:
                        if key not in started:
                            started[key] = pool.submit(compile_one, source, *args, **kwargs)
                    futures.append(started[key])
                return [obj for future in futures for obj in future.result()]

        self.compiler.compile = compile_parallel
        # Every extension in flight at once, so that the longest source (the first extension,
        # _train) starts first and the others fill the remaining slots around it.
        with ThreadPoolExecutor(len(self.extensions)) as pool:
            futures = [(ext, pool.submit(self.build_extension, ext)) for ext in self.extensions]
            for ext, future in futures:
                with self._filter_build_errors(ext):
                    future.result()


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


def cythonize_parallel(extensions, **options):
    """cythonize, the modules in parallel (build_jobs() forked processes, each taking the next
    module in turn) where the platform forks: they write the C files, then the cythonize here
    finds them up to date. (Cython's own nthreads starts its processes as multiprocessing's
    default does, which re-runs this script where that is not fork.)"""
    jobs = min(build_jobs(), len(extensions))
    if jobs > 1 and "fork" in multiprocessing.get_all_start_methods():
        context = multiprocessing.get_context("fork")
        taken = context.Value("i", 0)
        workers = [context.Process(target=cythonize_worker, args=(extensions, taken, options))
                   for _ in range(jobs)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
        if any(worker.exitcode for worker in workers):
            raise SystemExit("cythonize failed (its messages are above)")
    return cythonize(extensions, **options)


def cythonize_worker(extensions, taken, options):
    while True:
        with taken.get_lock():
            index = taken.value
            taken.value += 1
        if index >= len(extensions):
            return
        cythonize([extensions[index]], **options)


def dispatched(name):
    """A C file with runtime-dispatched kernels: its own unit (the baseline level, the
    resolvers, everything undispatched) and one unit per higher level (fastbp_dispatch.h)."""
    return [f"src_c/{name}.c", f"src_c/{name}_avx512.c", f"src_c/{name}_avx2.c"]


setup(
    ext_modules=cythonize_parallel(
        [
            # The longest compile first (ParallelBuildExt starts the sources in this order).
            extension("_train"),
            extension("_kernels", [*dispatched("fastbp_dense"), *dispatched("fastbp_lanes"),
                                  "src_c/fastbp_dispatch.c", "src_c/fastbp_math.c",
                                  "src_c/fastbp_gemm.c", "src_c/fastbp_gemm_packed.c",
                                  "src_c/fastbp_xent16.c", "src_c/fastbp_team.c"]),
            extension("_optim", [*dispatched("fastbp_optim"), "src_c/fastbp_dispatch.c"]),
            extension("_blas"),
        ],
        compiler_directives=DIRECTIVES,
    ),
    cmdclass={"build_ext": ParallelBuildExt},
)
