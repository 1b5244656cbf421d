"""Row-major GEMM over scipy's BLAS: the only module of fastbp that touches BLAS.

scipy.linalg.cython_blas exports Fortran sgemm/dgemm (column-major, arguments by pointer).
A row-major matrix is the column-major view of its transpose, so the row-major product
C = op(A)·op(B) is computed as the column-major Cᵀ = op(B)ᵀ·op(A)ᵀ: operands swapped, flags
kept (as sklearn/utils/_cython_blas.pyx does). The function pointers are read once, at
import, from the module's C-API capsules, so building fastbp does not need scipy.
"""
import os

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
