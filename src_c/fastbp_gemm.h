/* fastbp's own single-precision matrix product for the large layers (plain C, no Python.h).
 *
 * On the AVX-512 CPUs measured, scipy's OpenBLAS computes mnist-sized layers' products
 * (e.g. 64×784 by 784×256) well below the machine's FMA peak: its small-matrix path does
 * not apply and the general one packs both operands on every call. This kernel needs no packing:
 * tiles of 6 rows × 64 columns held in 24 vector registers, A broadcast element by element,
 * B read in place a row at a time (bench_m2; bench/README.md). For weight matrices larger
 * than an L2 cache, packed products win:
 * the planner sends only smaller layers here, and the largest to fbp_sgemm_packed below
 * (fastbp/_plan.pxi).
 */
#ifndef FASTBP_GEMM_H
#define FASTBP_GEMM_H

#include <stddef.h>

/* Whether fastbp's AVX-512 kernels run here: this build has them (GCC or Clang on x86-64)
 * and the CPU has AVX-512F. Otherwise fbp_sgemm and fbp_sgemm_packed run plain loops,
 * correct but slow. */
int fbp_avx512_kernels_run(void);

/* C := alpha·A·B + beta·C, float. C is m×n, row-major with row stride ldc; B is k×n,
 * row-major with row stride ldb; A is m×k with element (i, p) at A[i·a_rs + p·a_cs], so that a
 * row-major matrix (a_rs = its row stride, a_cs = 1) or the transpose of one (a_rs = 1,
 * a_cs = its row stride) can be passed. C is not read when beta is 0. */
void fbp_sgemm(ptrdiff_t m, ptrdiff_t n, ptrdiff_t k, float alpha, const float *A,
               ptrdiff_t a_rs, ptrdiff_t a_cs, const float *B, ptrdiff_t ldb, float beta,
               float *C, ptrdiff_t ldc);

/* The same product with B too at any strides (element (p, j) at B[p·b_rs + j·b_cs]) for large
 * matrices (src_c/fastbp_gemm_packed.c): blocks of A and of B are copied into `work` in the
 * order the tiles read them (packed, as BLAS libraries do), so that rows far apart in memory
 * (a 2048 × 2048 W: 8 kB apart) are read once per block instead of once per tile, and a
 * transposed operand costs no separate transpose. Single-threaded. `work`:
 * fbp_sgemm_packed_work() floats, 64-byte aligned (unused without AVX-512: plain loops). */
size_t fbp_sgemm_packed_work(void);
void fbp_sgemm_packed(ptrdiff_t m, ptrdiff_t n, ptrdiff_t k, float alpha, const float *A,
                      ptrdiff_t a_rs, ptrdiff_t a_cs, const float *B, ptrdiff_t b_rs,
                      ptrdiff_t b_cs, float beta, float *C, ptrdiff_t ldc, float *work);

/* The same product in plain loops, B at any strides: both kernels' fallback (no AVX-512, or
 * k = 0), and a reference. */
void fbp_sgemm_plain(ptrdiff_t m, ptrdiff_t n, ptrdiff_t k, float alpha, const float *A,
                     ptrdiff_t a_rs, ptrdiff_t a_cs, const float *B, ptrdiff_t b_rs,
                     ptrdiff_t b_cs, float beta, float *C, ptrdiff_t ldc);

/* AT := Aᵀ (A: rows × cols, row-major), float; with AVX-512 in blocks of 16 × 16 held in
 * registers (fbp_sgemm's operands are transposed around it, cheaply against the product). */
void fbp_stranspose(const float *A, ptrdiff_t rows, ptrdiff_t cols, float *AT);

#endif
