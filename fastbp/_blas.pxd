# The only module of fastbp that touches BLAS: row-major matrix products over the sgemm/dgemm
# of scipy.linalg.cython_blas (Fortran, column-major), callable without the GIL.
from cython cimport floating

cdef void gemm(bint trans_a, bint trans_b, int m, int n, int k, floating alpha,
               const floating* A, int lda, const floating* B, int ldb, floating beta,
               floating* C, int ldc) noexcept nogil

# The BLAS's thread count now in force, or 0 when fastbp found no way to read it.
cdef int blas_threads() noexcept nogil

# Make `count` the calling thread's BLAS count inside its limit_threads block (the trainer puts
# BLAS on one thread beside its own team of threads); returns the count before. Outside any
# block (count 0) nothing changes and 0 is returned.
cdef int swap_thread_count(int count) noexcept nogil
