"""Row-major GEMM over scipy's BLAS: the only module of fastbp that touches BLAS.

scipy.linalg.cython_blas exports Fortran sgemm/dgemm (column-major, arguments by pointer).
A row-major matrix is the column-major view of its transpose, so the row-major product
C = op(A)·op(B) is computed as the column-major Cᵀ = op(B)ᵀ·op(A)ᵀ: operands swapped, flags
kept (as sklearn/utils/_cython_blas.pyx does). The function pointers are read once, at
import, from the module's C-API capsules, so building fastbp does not need scipy.

The same library's thread count is what ``n_threads`` sets: :class:`limit_threads` changes it
for the duration of a call and puts it back afterwards.
"""
import glob
import os
import threading

from cpython.pycapsule cimport PyCapsule_GetName, PyCapsule_GetPointer

from scipy.linalg import cython_blas

ctypedef void (*sgemm_t)(char* transa, char* transb, int* m, int* n, int* k, float* alpha,
                         float* a, int* lda, float* b, int* ldb, float* beta, float* c,
                         int* ldc) noexcept nogil
ctypedef void (*dgemm_t)(char* transa, char* transb, int* m, int* n, int* k, double* alpha,
                         double* a, int* lda, double* b, int* ldb, double* beta, double* c,
                         int* ldc) noexcept nogil


cdef void* _capi(name) except NULL:
    capsule = cython_blas.__pyx_capi__[name]
    return PyCapsule_GetPointer(capsule, PyCapsule_GetName(capsule))


cdef sgemm_t _sgemm = <sgemm_t>_capi("sgemm")
cdef dgemm_t _dgemm = <dgemm_t>_capi("dgemm")


cdef void gemm(bint trans_a, bint trans_b, int m, int n, int k, floating alpha,
               const floating* A, int lda, const floating* B, int ldb, floating beta,
               floating* C, int ldc) noexcept nogil:
    """C := alpha·op(A)·op(B) + beta·C, row-major; C is m×n, op(A) m×k, op(B) k×n"""
    cdef char ta = b"T" if trans_a else b"N"
    cdef char tb = b"T" if trans_b else b"N"
    if floating is float:
        _sgemm(&tb, &ta, &n, &m, &k, &alpha, <float*>B, &ldb, <float*>A, &lda, &beta, C, &ldc)
    elif floating is double:
        _dgemm(&tb, &ta, &n, &m, &k, &alpha, <double*>B, &ldb, <double*>A, &lda, &beta, C, &ldc)


def blas_info():
    """Which BLAS the large layers use: scipy's, and (with threadpoolctl installed) its
    library, kernel and thread count."""
    import scipy
    info = f"scipy {scipy.__version__} cython_blas (sgemm/dgemm)"
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return info
    for pool in threadpool_info():
        # numpy's wheels bring their own copy of OpenBLAS (under numpy.libs): not ours.
        folder = os.path.dirname(pool.get("filepath", ""))
        if pool.get("user_api") == "blas" and "numpy" not in folder:
            return (f"{info}: {pool.get('internal_api')} {pool.get('version')}, "
                    f"{pool.get('architecture')} kernels, {pool.get('num_threads')} threads")
    return info


# ----- threads ---------------------------------------------------------------------------------
# fastbp sets the thread count of the BLAS that scipy.linalg.cython_blas calls, through that
# library's own setter, found once with ctypes: dlsym on cython_blas's handle searches the
# libraries it links to, which finds the OpenBLAS of scipy's PyPI wheels (symbols prefixed
# "scipy_", with a "64_" suffix in ILP64 builds), a system OpenBLAS, or MKL. Windows looks
# symbols up in one DLL only, so scipy's bundled OpenBLAS is also looked for by file name.
# Not threadpoolctl: it would be one more dependency; it walks every loaded library on each
# call (a cost a predict on a few rows would pay every time, where this is two C calls); and
# it limits every BLAS in the process (numpy's, torch's) where fastbp needs only its own.
ctypedef int (*get_threads_t)() noexcept nogil
ctypedef void (*set_threads_t)(int) noexcept nogil

# (getter, setter) pairs, most specific first.
THREAD_CONTROLS = (
    ("scipy_openblas_get_num_threads", "scipy_openblas_set_num_threads"),
    ("scipy_openblas_get_num_threads64_", "scipy_openblas_set_num_threads64_"),
    ("openblas_get_num_threads", "openblas_set_num_threads"),
    ("openblas_get_num_threads64_", "openblas_set_num_threads64_"),
    ("MKL_Get_Max_Threads", "MKL_Set_Num_Threads"),
)

cdef get_threads_t _get_threads = NULL
cdef set_threads_t _set_threads = NULL
_thread_control = None  # the setter's name, when one was found


def _libraries():
    """Files to look the setter up in: cython_blas (and so its dependencies), then scipy's
    bundled OpenBLAS by name (wheels keep it in scipy.libs, or scipy/.dylibs on macOS)."""
    scipy_folder = os.path.dirname(os.path.dirname(os.path.abspath(cython_blas.__file__)))
    bundled = []
    for folder in (scipy_folder + ".libs", os.path.join(scipy_folder, ".dylibs")):
        bundled += sorted(glob.glob(os.path.join(folder, "*openblas*")))
    return [cython_blas.__file__, *bundled]


def _find_thread_control():
    import ctypes
    global _get_threads, _set_threads, _thread_control
    for path in _libraries():
        try:
            library = ctypes.CDLL(path)
        except OSError:
            continue
        for get_name, set_name in THREAD_CONTROLS:
            try:
                getter, setter = getattr(library, get_name), getattr(library, set_name)
            except AttributeError:
                continue
            _get_threads = <get_threads_t><size_t>ctypes.cast(getter, ctypes.c_void_p).value
            _set_threads = <set_threads_t><size_t>ctypes.cast(setter, ctypes.c_void_p).value
            _thread_control = set_name
            return


_find_thread_control()


def thread_control():
    """The name of the BLAS function that sets its thread count, or None when fastbp found
    none (then the BLAS runs on its own default number of threads)."""
    return _thread_control


cdef int blas_threads() noexcept nogil:
    return _get_threads() if _get_threads != NULL else 0


def get_threads():
    """The BLAS's current thread count, or 0 when it cannot be read."""
    return blas_threads()


# OpenBLAS has one thread count per process: blocks running at the same time in several
# threads share it. The first block in sets it and the last one out restores the caller's
# count; blocks entering meanwhile run with the count in force, since changing it while
# another thread is inside a product is unsafe in OpenBLAS.
_count_lock = threading.Lock()
_active_blocks = 0
_saved_count = 0


cdef class limit_threads:
    """``with limit_threads(n):`` runs scipy's BLAS on n threads, then restores its count.

    The count is process-wide for the duration of the block (OpenBLAS has one pool). When
    blocks overlap in several threads, the first sets the count and the others share it.
    n = 0 leaves the BLAS as it is. A no-op when no thread control was found.
    """
    cdef int n_threads

    def __cinit__(self, int n_threads):
        self.n_threads = n_threads

    def __enter__(self):
        global _active_blocks, _saved_count
        if _set_threads == NULL or self.n_threads <= 0:
            return self
        with _count_lock:
            if _active_blocks == 0:
                _saved_count = _get_threads()
                if _saved_count != self.n_threads:
                    _set_threads(self.n_threads)
            _active_blocks += 1
        return self

    def __exit__(self, *exc_info):
        global _active_blocks
        if _set_threads == NULL or self.n_threads <= 0:
            return False
        with _count_lock:
            _active_blocks -= 1
            if _active_blocks == 0 and _saved_count > 0 and _get_threads() != _saved_count:
                _set_threads(_saved_count)
        return False
