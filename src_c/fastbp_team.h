/* fastbp's own matrix kernels on several threads: a team of worker threads for one compiled
 * call, and the products of fastbp_gemm.h split over it (plain C, no Python.h).
 *
 * Each product C := alpha·op(A)·op(B) + beta·C is cut into parts along C's rows (whole tiles
 * of 6) or its columns (whole tiles of 64), one part per thread; every element of C is still
 * the sum the one-thread kernel computes, in the same order (the depth of the product, p, is
 * never split), so the results do not depend on the thread count, bit for bit.
 *
 * Why a team of fastbp's own rather than OpenMP: the hand-off between products must be cheap
 * (M2's batch of 64 is ~6 products in ~400 µs on one thread, so a wake through a condition
 * variable per product would cost several percent), libgomp's thread pool is process-global
 * and not fork-safe (a child forked after a parallel region, as joblib/loky and Dask do,
 * hangs in its next one), and it would be a second thread pool beside OpenBLAS's that n_threads
 * does not reach. The team lives for one compiled call (created in workspace_init, joined in
 * workspace_free): no process-global state, nothing for fork to inherit. Its workers spin on
 * a generation counter for a while after each product (the next one comes within
 * microseconds), then sleep on a condition variable. The caller computes parts too: each
 * thread claims the next part left, so a worker the system has not scheduled yet (a busy
 * machine) leaves its part to the caller instead of holding the product up.
 * Each worker runs its parts in the caller's floating-point mode (FTZ/DAZ, fastbp_fpmode.h),
 * so that subnormal results are flushed the same way on every thread.
 *
 * On Windows, or when a thread cannot be created, fbp_team_start returns NULL and the
 * products run on the calling thread alone (the same results).
 */
#ifndef FASTBP_TEAM_H
#define FASTBP_TEAM_H

#include <stddef.h>

typedef struct fbp_team fbp_team;

/* A team of n_threads threads (the caller and n_threads − 1 workers), or NULL when n_threads
 * < 2 or the workers cannot be started. */
fbp_team *fbp_team_start(int n_threads);

/* Stop and join the workers, free the team; NULL: nothing. */
void fbp_team_stop(fbp_team *team);

/* The team's thread count (1 for NULL). */
int fbp_team_size(const fbp_team *team);

/* fbp_sgemm (fastbp_gemm.h) with C's tiles split over the team (NULL: on this thread). */
void fbp_sgemm_team(fbp_team *team, ptrdiff_t m, ptrdiff_t n, ptrdiff_t k, float alpha,
                    const float *A, ptrdiff_t a_rs, ptrdiff_t a_cs, const float *B,
                    ptrdiff_t ldb, float beta, float *C, ptrdiff_t ldc);

/* fbp_sgemm_packed with C's tiles split over the team; `work`: fbp_team_size(team) ×
 * fbp_sgemm_packed_work() floats, 64-byte aligned (one block per thread). */
void fbp_sgemm_packed_team(fbp_team *team, ptrdiff_t m, ptrdiff_t n, ptrdiff_t k, float alpha,
                           const float *A, ptrdiff_t a_rs, ptrdiff_t a_cs, const float *B,
                           ptrdiff_t b_rs, ptrdiff_t b_cs, float beta, float *C, ptrdiff_t ldc,
                           float *work);

/* The part of an m × n product that thread `part` of `parts` computes: rows [*row0, *row1) ×
 * columns [*col0, *col1) of C (possibly empty). Whole tiles of 6 rows or of 64 columns, along
 * whichever dimension gives the most even parts. For the tests. */
void fbp_team_split(ptrdiff_t m, ptrdiff_t n, int part, int parts, ptrdiff_t *row0,
                    ptrdiff_t *row1, ptrdiff_t *col0, ptrdiff_t *col1);

#endif
