/* fastbp's own single-precision matrix product: see fastbp_gemm.h. */
#include "fastbp_gemm.h"

#include "fastbp_avx512.h"

/* Plain loops: for CPUs without AVX-512 (the trainer does not choose fastbp's kernels there;
 * the tests and anyone else calling them still get the right answer) and for k = 0. */
void fbp_sgemm_plain(ptrdiff_t m, ptrdiff_t n, ptrdiff_t k, float alpha, const float *A,
                     ptrdiff_t a_rs, ptrdiff_t a_cs, const float *B, ptrdiff_t b_rs,
                     ptrdiff_t b_cs, float beta, float *C, ptrdiff_t ldc)
{
    ptrdiff_t i, j, p;
    for (i = 0; i < m; ++i) {
        float *c = C + i * ldc;
        for (j = 0; j < n; ++j) c[j] = beta == 0 ? 0 : beta * c[j];
        for (p = 0; p < k; ++p) {
            float a = alpha * A[i * a_rs + p * a_cs];
            const float *b = B + p * b_rs;
            for (j = 0; j < n; ++j) c[j] += a * b[j * b_cs];
        }
    }
}

static void transpose_plain(const float *A, ptrdiff_t rows, ptrdiff_t cols, float *AT)
{
    ptrdiff_t i, j;
    for (i = 0; i < rows; ++i)
        for (j = 0; j < cols; ++j) AT[j * rows + i] = A[i * cols + j];
}

#if FBP_HAVE_AVX512

/* Tile shape: 6 rows × 4 vectors of 16 floats = 24 accumulators, plus 4 registers of B and one
 * broadcast of A, of AVX-512's 32: each step of p does 24 FMAs for 10 loads. */
#define TILE_ROWS 6
#define TILE_VECTORS 4
#define TILE_COLS (16 * TILE_VECTORS)

/* Steps of p per pass over a tile: a 256 × 64 block of B (64 kB) stays in L2 (nearly in L1)
 * while the tiles of all of A's rows go through it; C is read and written once per block. */
#define BLOCK_DEPTH 256

/* The tile kernel, one per number of vectors NV (1–4) and of rows R (6, or 4 for whole
 * tiles): C[0:rows, 0:16·NV] := alpha·A·B + beta·C over `depth` steps of p. Rows past `rows`
 * repeat the last one (computed, not stored); `last` masks the columns of the last vector.
 * Written out with one variable per accumulator, which GCC keeps in registers (an array of
 * them it spilled to the stack). */
#define DECLARE_ROW(r)                                                                       \
    __m512 c##r##0 = _mm512_setzero_ps(), c##r##1 = c##r##0, c##r##2 = c##r##0,              \
           c##r##3 = c##r##0;                                                                \
    const float *a##r = A + (r < rows ? r : rows - 1) * a_rs;
#define FMA_ROW(r)                                                                           \
    if (r < R) {                                                                             \
        __m512 x = _mm512_set1_ps(a##r[offset]);                                             \
        c##r##0 = _mm512_fmadd_ps(x, b0, c##r##0);                                           \
        if (NV > 1) c##r##1 = _mm512_fmadd_ps(x, b1, c##r##1);                               \
        if (NV > 2) c##r##2 = _mm512_fmadd_ps(x, b2, c##r##2);                               \
        if (NV > 3) c##r##3 = _mm512_fmadd_ps(x, b3, c##r##3);                               \
    }
#define STORE_VECTOR(r, v)                                                                   \
    if (NV > v) {                                                                            \
        float *c = C + r * ldc + 16 * v;                                                     \
        __mmask16 mask = v == NV - 1 && !FULL ? last : 0xFFFF;                               \
        __m512 out = _mm512_mul_ps(alphas, c##r##v);                                         \
        if (beta != 0) out = _mm512_fmadd_ps(betas, _mm512_maskz_loadu_ps(mask, c), out);    \
        _mm512_mask_storeu_ps(c, mask, out);                                                 \
    }
#define STORE_ROW(r)                                                                         \
    if (r < rows) {                                                                          \
        STORE_VECTOR(r, 0) STORE_VECTOR(r, 1) STORE_VECTOR(r, 2) STORE_VECTOR(r, 3)          \
    }
#define LOAD_B(v)                                                                            \
    (NV == v + 1 && !FULL ? _mm512_maskz_loadu_ps(last, B + 16 * v) : _mm512_loadu_ps(B + 16 * v))

#define DEFINE_TILE(NAME, N, WHOLE, ROWS)                                                    \
    static FBP_AVX512 __attribute__((noinline)) void NAME(                                   \
        int rows, __mmask16 last, ptrdiff_t depth, float alpha, const float *A,              \
        ptrdiff_t a_rs, ptrdiff_t a_cs, const float *B, ptrdiff_t ldb, float beta, float *C, \
        ptrdiff_t ldc)                                                                       \
    {                                                                                        \
        enum { NV = N, FULL = WHOLE, R = ROWS };                                             \
        ptrdiff_t p, offset;                                                                 \
        int r, v;                                                                            \
        __m512 alphas = _mm512_set1_ps(alpha), betas = _mm512_set1_ps(beta);                 \
        /* C is needed only at the end: ask for it now (a weight matrix being updated is in  \
         * L2 at best, its rows far apart). */                                              \
        if (beta != 0)                                                                       \
            for (r = 0; r < rows; ++r)                                                       \
                for (v = 0; v < NV; ++v)                                                     \
                    _mm_prefetch((const char *)(C + r * ldc + 16 * v), _MM_HINT_T0);         \
        DECLARE_ROW(0) DECLARE_ROW(1) DECLARE_ROW(2) DECLARE_ROW(3) DECLARE_ROW(4)           \
        DECLARE_ROW(5)                                                                       \
        /* Two steps of p per pass of the loop, and A's rows addressed from one offset that   \
         * advances, rather than six pointers: the loop's own integer work competes with the \
         * FMAs for their ports (bench_m2). */                                               \
        _Pragma("GCC unroll 2")                                                              \
        for (p = 0, offset = 0; p < depth; ++p, offset += a_cs) {                            \
            __m512 b0 = LOAD_B(0), b1 = b0, b2 = b0, b3 = b0;                                \
            if (NV > 1) b1 = LOAD_B(1);                                                      \
            if (NV > 2) b2 = LOAD_B(2);                                                      \
            if (NV > 3) b3 = LOAD_B(3);                                                      \
            B += ldb;                                                                        \
            FMA_ROW(0) FMA_ROW(1) FMA_ROW(2) FMA_ROW(3) FMA_ROW(4) FMA_ROW(5)                \
        }                                                                                    \
        STORE_ROW(0) STORE_ROW(1) STORE_ROW(2) STORE_ROW(3) STORE_ROW(4) STORE_ROW(5)        \
    }

DEFINE_TILE(tile1, 1, 0, TILE_ROWS)
DEFINE_TILE(tile2, 2, 0, TILE_ROWS)
DEFINE_TILE(tile3, 3, 0, TILE_ROWS)
DEFINE_TILE(tile4, 4, 0, TILE_ROWS)
DEFINE_TILE(tile4_whole, 4, 1, TILE_ROWS) /* all 64 columns: no masks in the loop */
/* 4 rows of 64 columns (16 accumulators, still enough to hide the FMAs' latency): the last 4
 * or 8 rows go in one or two of these instead of a tile of 6 computing 2 rows for nothing
 * (a batch of 32 rows: 36 computed). */
DEFINE_TILE(tile4_whole_4rows, 4, 1, 4)

static FBP_AVX512 void sgemm_avx512(ptrdiff_t m, ptrdiff_t n, ptrdiff_t k, float alpha,
                                    const float *A, ptrdiff_t a_rs, ptrdiff_t a_cs,
                                    const float *B, ptrdiff_t ldb, float beta, float *C,
                                    ptrdiff_t ldc)
{
    ptrdiff_t col, start, row;
    int rows;
    for (col = 0; col < n; col += TILE_COLS) {
        ptrdiff_t cols = n - col < TILE_COLS ? n - col : TILE_COLS;
        int vectors = (int)((cols + 15) / 16);
        __mmask16 last = (__mmask16)(cols % 16 ? (1u << (cols % 16)) - 1 : 0xFFFF);
        /* Blocks of p after the first add to what the first left in C. */
        for (start = 0; start < k; start += BLOCK_DEPTH) {
            ptrdiff_t depth = k - start < BLOCK_DEPTH ? k - start : BLOCK_DEPTH;
            float block_beta = start == 0 ? beta : 1.0f;
            const float *b = B + start * ldb + col;
            for (row = 0; row < m; row += rows) {
                rows = (int)(m - row < TILE_ROWS ? m - row : TILE_ROWS);
                const float *a = A + row * a_rs + start * a_cs;
                float *c = C + row * ldc + col;
#define TILE(NAME) NAME(rows, last, depth, alpha, a, a_rs, a_cs, b, ldb, block_beta, c, ldc)
                switch (vectors) {
                case 4:
                    if (cols == TILE_COLS && (m - row == 4 || m - row == 8)) {
                        rows = 4;
                        TILE(tile4_whole_4rows);
                    } else if (cols == TILE_COLS) {
                        TILE(tile4_whole);
                    } else {
                        TILE(tile4);
                    }
                    break;
                case 3: TILE(tile3); break;
                case 2: TILE(tile2); break;
                default: TILE(tile1); break;
                }
#undef TILE
            }
        }
    }
}

/* Blocks of 16 × 16 in registers; blocks at the edges are loaded and stored under masks (the
 * rows past the matrix are zeros that are never stored). */
static FBP_AVX512 void transpose_avx512(const float *A, ptrdiff_t rows, ptrdiff_t cols,
                                        float *AT)
{
    ptrdiff_t row, col;
    int i;
    __m512 r[16];
    for (col = 0; col < cols; col += 16) {
        int n_cols = (int)(cols - col < 16 ? cols - col : 16);
        __mmask16 col_mask = (__mmask16)((1u << n_cols) - 1);
        for (row = 0; row < rows; row += 16) {
            int n_rows = (int)(rows - row < 16 ? rows - row : 16);
            __mmask16 row_mask = (__mmask16)((1u << n_rows) - 1);
            const float *a = A + row * cols + col;
            float *at = AT + col * rows + row;
            if (n_rows == 16 && n_cols == 16) {
                for (i = 0; i < 16; ++i) r[i] = _mm512_loadu_ps(a + i * cols);
                fbp_transpose16(r);
                for (i = 0; i < 16; ++i) _mm512_storeu_ps(at + i * rows, r[i]);
            } else {
                for (i = 0; i < 16; ++i)
                    r[i] = i < n_rows ? _mm512_maskz_loadu_ps(col_mask, a + i * cols)
                                      : _mm512_setzero_ps();
                fbp_transpose16(r);
                for (i = 0; i < n_cols; ++i) _mm512_mask_storeu_ps(at + i * rows, row_mask, r[i]);
            }
        }
    }
}

#endif

int fbp_avx512_kernels_run(void) { return fbp_cpu_has_avx512(); }

void fbp_sgemm(ptrdiff_t m, ptrdiff_t n, ptrdiff_t k, float alpha, const float *A,
               ptrdiff_t a_rs, ptrdiff_t a_cs, const float *B, ptrdiff_t ldb, float beta,
               float *C, ptrdiff_t ldc)
{
    if (m <= 0 || n <= 0) return;
#if FBP_HAVE_AVX512
    if (fbp_avx512_kernels_run() && k > 0) {
        sgemm_avx512(m, n, k, alpha, A, a_rs, a_cs, B, ldb, beta, C, ldc);
        return;
    }
#endif
    fbp_sgemm_plain(m, n, k, alpha, A, a_rs, a_cs, B, ldb, 1, beta, C, ldc);
}

void fbp_stranspose(const float *A, ptrdiff_t rows, ptrdiff_t cols, float *AT)
{
#if FBP_HAVE_AVX512
    if (fbp_avx512_kernels_run()) {
        transpose_avx512(A, rows, cols, AT);
        return;
    }
#endif
    transpose_plain(A, rows, cols, AT);
}
