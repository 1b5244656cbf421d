"""Row-major GEMM over scipy's BLAS: the only module of fastbp that touches BLAS.

scipy.linalg.cython_blas exports Fortran sgemm/dgemm (column-major, arguments by pointer).
A row-major matrix is the column-major view of its transpose, so the row-major product
C = op(A)·op(B) is computed as the column-major Cᵀ = op(B)ᵀ·op(A)ᵀ: operands swapped, flags
kept (as sklearn/utils/_cython_blas.pyx does). The function pointers are read once, at
import, from the module's C-API capsules, so building fastbp does not need scipy.

The same library's thread count is what ``n_threads`` sets: inside ``with limit_threads(n)``
every product of the calling thread runs on n threads, whatever other threads ask for at the
same time (see "Thread counts in turns" below), and the count is put back afterwards.
"""
import glob
import os
import threading

from cpython.pycapsule cimport PyCapsule_GetName, PyCapsule_GetPointer
from libc.stdint cimport int64_t

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
    cdef int count = fbp_thread_count
    if count > 0:  # inside limit_threads: on this thread's count, in its turn
        enter_turn(count)
    if floating is float:
        _sgemm(&tb, &ta, &n, &m, &k, &alpha, <float*>B, &ldb, <float*>A, &lda, &beta, C, &ldc)
    elif floating is double:
        _dgemm(&tb, &ta, &n, &m, &k, &alpha, <double*>B, &ldb, <double*>A, &lda, &beta, C, &ldc)
    if count > 0:
        leave_turn()


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
    if fbp_thread_count > 0:
        return fbp_thread_count
    return _get_threads() if _get_threads != NULL else 0


cdef int swap_thread_count(int count) noexcept nogil:
    global fbp_thread_count
    cdef int before = fbp_thread_count
    if before > 0 and count > 0:
        fbp_thread_count = count
    return before


def get_threads():
    """The thread count the BLAS products of the calling thread run on: its limit_threads
    count inside one, else the library's own; 0 when it cannot be read."""
    return blas_threads()


# ----- thread counts in turns ------------------------------------------------------------------
# OpenBLAS (pthreads builds, as in scipy's wheels) has one thread count per process, read by
# each product as it starts, and its results depend on it (sgemm's last bits differ between 1
# and 2 threads). Its openblas_set_num_threads_local (0.3.27+) does not help: in these builds it
# sets the same process-wide count (scipy 1.17's OpenBLAS 0.3.30 calls set_num_threads), and in
# OpenMP builds it only applies inside OpenMP parallel regions. So fastbp takes turns: a product
# runs when the library is on its thread's count; products on the same count run together; a
# product on another count waits until those in flight are done, then the count is changed
# (never under a running product). Networks on different counts still run at once: only their
# BLAS products alternate, and a waiting product is served in arrival order (tickets), so a
# stream of products on one count cannot starve another. Networks on one count (scikit-learn's
# threading backend running clones) never wait. The fast path is two atomic operations.
cdef extern from *:
    """
    #include <stdint.h>
    #if defined(_WIN32)
      #include <windows.h>
      #define FBP_THREAD_LOCAL __declspec(thread)
      static SRWLOCK fbp_turn_lock = SRWLOCK_INIT;
      static CONDITION_VARIABLE fbp_turn_changed = CONDITION_VARIABLE_INIT;
      static void fbp_lock(void) { AcquireSRWLockExclusive(&fbp_turn_lock); }
      static void fbp_unlock(void) { ReleaseSRWLockExclusive(&fbp_turn_lock); }
      static void fbp_wait(void) {
          SleepConditionVariableSRW(&fbp_turn_changed, &fbp_turn_lock, INFINITE, 0); }
      static void fbp_wake_all(void) { WakeAllConditionVariable(&fbp_turn_changed); }
      static void fbp_reset_lock(void) {
          InitializeSRWLock(&fbp_turn_lock); InitializeConditionVariable(&fbp_turn_changed); }
      static volatile LONG64 fbp_turn = 0;
      static int64_t fbp_turn_load(void) { return InterlockedCompareExchange64(&fbp_turn, 0, 0); }
      static int fbp_turn_cas(int64_t expected, int64_t desired) {
          return InterlockedCompareExchange64(&fbp_turn, desired, expected) == expected; }
      static int64_t fbp_turn_add(int64_t value) {
          return InterlockedExchangeAdd64(&fbp_turn, value); }
    #else
      #include <pthread.h>
      #define FBP_THREAD_LOCAL __thread
      static pthread_mutex_t fbp_turn_lock = PTHREAD_MUTEX_INITIALIZER;
      static pthread_cond_t fbp_turn_changed = PTHREAD_COND_INITIALIZER;
      static void fbp_lock(void) { pthread_mutex_lock(&fbp_turn_lock); }
      static void fbp_unlock(void) { pthread_mutex_unlock(&fbp_turn_lock); }
      static void fbp_wait(void) { pthread_cond_wait(&fbp_turn_changed, &fbp_turn_lock); }
      static void fbp_wake_all(void) { pthread_cond_broadcast(&fbp_turn_changed); }
      static void fbp_reset_lock(void) {
          pthread_mutex_init(&fbp_turn_lock, NULL); pthread_cond_init(&fbp_turn_changed, NULL); }
      static int64_t fbp_turn = 0;
      static int64_t fbp_turn_load(void) { return __atomic_load_n(&fbp_turn, __ATOMIC_SEQ_CST); }
      static int fbp_turn_cas(int64_t expected, int64_t desired) {
          return __atomic_compare_exchange_n(&fbp_turn, &expected, desired, 0,
                                             __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST); }
      static int64_t fbp_turn_add(int64_t value) {
          return __atomic_fetch_add(&fbp_turn, value, __ATOMIC_SEQ_CST); }
    #endif
    /* the count of the innermost limit_threads block of this thread; 0 outside any */
    static FBP_THREAD_LOCAL int fbp_thread_count = 0;
    """
    int fbp_thread_count
    void fbp_lock() noexcept nogil
    void fbp_unlock() noexcept nogil
    void fbp_wait() noexcept nogil
    void fbp_wake_all() noexcept nogil
    void fbp_reset_lock() noexcept nogil
    int64_t fbp_turn_load() noexcept nogil
    bint fbp_turn_cas(int64_t expected, int64_t desired) noexcept nogil
    int64_t fbp_turn_add(int64_t value) noexcept nogil

# The turn, one atomic word: products in flight (bits 0-31), the count they run on (bits 32-47;
# 0 while none is settled), and whether a product waits for its turn (bit 48).
cdef int64_t IN_FLIGHT = 0xFFFFFFFF
cdef int COUNT_SHIFT = 32
cdef int64_t COUNT = <int64_t>0xFFFF << COUNT_SHIFT
cdef int64_t WAITING = <int64_t>1 << 48

# Waiting products, served in arrival order (under fbp_turn_lock).
cdef unsigned long long _next_ticket = 0
cdef unsigned long long _serving = 0


cdef inline int turn_count(int64_t turn) noexcept nogil:
    return <int>((turn & COUNT) >> COUNT_SHIFT)


cdef inline void enter_turn(int count) noexcept nogil:
    """Wait until products may run on `count` threads, and count this one in."""
    cdef int64_t turn = fbp_turn_load()
    if turn_count(turn) == count and not (turn & WAITING) and fbp_turn_cas(turn, turn + 1):
        return
    wait_for_turn(count)


cdef void wait_for_turn(int count) noexcept nogil:
    """enter_turn's slow path: join the products on `count` in flight, or wait until none is
    in flight and set the library to `count`; in ticket order."""
    global _next_ticket, _serving
    cdef int64_t turn, flag
    fbp_lock()
    cdef unsigned long long ticket = _next_ticket
    _next_ticket += 1
    while True:  # set WAITING: the fast path stops letting products in
        turn = fbp_turn_load()
        if turn & WAITING or fbp_turn_cas(turn, turn | WAITING):
            break
    while True:
        turn = fbp_turn_load()
        if ticket != _serving:
            pass
        elif (turn & IN_FLIGHT) == 0:
            # One in flight on count 0 (nobody joins), set the library, then the count.
            if fbp_turn_cas(turn, (turn & WAITING) | 1):
                if _get_threads() != count:
                    _set_threads(count)
                fbp_turn_add(<int64_t>count << COUNT_SHIFT)
                break
            continue
        elif turn_count(turn) == count:
            if fbp_turn_cas(turn, turn + 1):
                break
            continue
        fbp_wait()  # woken when the products in flight are done, or the next ticket is served
    _serving += 1
    if _serving == _next_ticket:  # nobody waits any more
        while True:
            turn = fbp_turn_load()
            if fbp_turn_cas(turn, turn & ~WAITING):
                break
    fbp_wake_all()
    fbp_unlock()


cdef inline void leave_turn() noexcept nogil:
    """Count this product out; the last one out wakes the waiting products."""
    cdef int64_t before = fbp_turn_add(-1)
    if (before & IN_FLIGHT) == 1 and (before & WAITING):
        fbp_lock()
        fbp_wake_all()
        fbp_unlock()


cdef void forget_count() noexcept nogil:
    """The library's count may have been changed outside fastbp: check it at the next product."""
    cdef int64_t turn
    while True:
        turn = fbp_turn_load()
        if fbp_turn_cas(turn, turn & ~COUNT):
            return


cdef void set_count(int count) noexcept nogil:
    """Put the library on `count` threads, in turn (an empty product)."""
    enter_turn(count)
    leave_turn()


def _after_fork_in_child():
    """A forked child has only the forking thread: no product is in flight or waiting."""
    global _next_ticket, _serving
    fbp_reset_lock()
    _next_ticket = _serving = 0
    while not fbp_turn_cas(fbp_turn_load(), 0):
        pass


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def thread_policy():
    """How n_threads reaches the BLAS, in words (show_config's thread line)."""
    if _thread_control is None:
        return "the BLAS library's own thread count (fastbp found no setter for it)"
    return (f"n_threads BLAS threads, set through {_thread_control} (one count per process: "
            "concurrent products on different counts take turns)")


# limit_threads blocks in progress in any thread, and the library's count before the first.
_count_lock = threading.Lock()
_active_blocks = 0
_saved_count = 0


cdef class limit_threads:
    """``with limit_threads(n):`` runs the calling thread's BLAS products on n threads.

    Other threads' blocks, with other counts, do not change that: products on different
    counts take turns (see "Thread counts in turns"). Blocks nest. When the last block in the
    process ends, the library's count is put back to what it was before the first. n = 0
    leaves the BLAS as it is. A no-op when no thread control was found.
    """
    cdef int n_threads
    cdef int outer  # the thread's count before this block

    def __cinit__(self, int n_threads):
        self.n_threads = n_threads

    def __enter__(self):
        global _active_blocks, _saved_count, fbp_thread_count
        if _set_threads == NULL or self.n_threads <= 0:
            return self
        with _count_lock:
            if _active_blocks == 0:
                _saved_count = _get_threads()
                forget_count()
            _active_blocks += 1
        self.outer = fbp_thread_count
        fbp_thread_count = self.n_threads
        return self

    def __exit__(self, *exc_info):
        global _active_blocks, fbp_thread_count
        cdef int saved
        if _set_threads == NULL or self.n_threads <= 0:
            return False
        fbp_thread_count = self.outer
        with _count_lock:
            _active_blocks -= 1
            if _active_blocks == 0 and _saved_count > 0:
                saved = _saved_count
                with nogil:
                    set_count(saved)
        return False
