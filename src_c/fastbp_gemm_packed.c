/* fastbp's packed single-precision matrix product, for large matrices: see fastbp_gemm.h. */
#include "fastbp_gemm.h"

#include "fastbp_avx512.h"

#if FBP_HAVE_AVX512

/* The register tile: 6 rows of A broadcast one element at a time, times 64 columns of B in 4
 * vectors: 24 accumulators, 10 loads per 24 FMAs. */
#define PANEL_ROWS 6
#define PANEL_COLS 64
/* The blocks packed, as BLIS does: a block of A (BLOCK_ROWS × BLOCK_DEPTH, 528 kB) and one of
 * B (BLOCK_DEPTH × BLOCK_COLS, 512 kB) stay in a 2 MB L2 cache while every tile of the block
 * of C goes through them; each tile's 6 rows of A (6 kB) stay in L1 while it sweeps the
 * panels of B. Deeper blocks or wider blocks of B lose on L1's products (bench_l1;
 * bench/README.md). */
#define BLOCK_DEPTH 256
#define BLOCK_ROWS 528 /* a multiple of PANEL_ROWS */
#define BLOCK_COLS 512 /* a multiple of PANEL_COLS */
/* How many steps of p ahead the tile prefetches its panel of B into L1. */
#define PREFETCH_STEPS 6

/* Rows [0, rows) × columns [0, depth) of A into panels of PANEL_ROWS rows, element (i, p)
 * at Ap[(i / 6)·6·depth + p·6 + i % 6], the rows past `rows` up to a whole panel zero. */
static FBP_AVX512 void pack_a(ptrdiff_t rows, ptrdiff_t depth, const float *A, ptrdiff_t a_rs,
                              ptrdiff_t a_cs, float *Ap)
{
    ptrdiff_t padded = (rows + PANEL_ROWS - 1) / PANEL_ROWS * PANEL_ROWS;
    ptrdiff_t i0, p0, p, q;
    int i, r;
    if (a_cs == 1) {
        /* Row-major A: blocks of 16 rows × 16 steps transposed in registers, after which
         * vector c holds step p0 + c of rows i0..i0+15; each panel's lanes of it are stored
         * under a mask at the address that puts lane l at row i0 + l's place. */
        __m512 block[16];
        for (i0 = 0; i0 < padded; i0 += 16) {
            int loaded = (int)(rows - i0 < 16 ? rows - i0 : 16);
            int stored = (int)(padded - i0 < 16 ? padded - i0 : 16);
            for (p0 = 0; p0 < depth; p0 += 16) {
                int steps = (int)(depth - p0 < 16 ? depth - p0 : 16);
                __mmask16 step_mask = (__mmask16)((1u << steps) - 1);
                for (i = 0; i < 16; ++i)
                    block[i] = i < loaded
                                   ? _mm512_maskz_loadu_ps(step_mask, A + (i0 + i) * a_rs + p0)
                                   : _mm512_setzero_ps();
                fbp_transpose16(block);
                for (q = i0 / PANEL_ROWS; q * PANEL_ROWS < i0 + stored; ++q) {
                    ptrdiff_t first = q * PANEL_ROWS - i0, end = first + PANEL_ROWS;
                    __mmask16 lanes;
                    float *base = Ap + q * PANEL_ROWS * depth + p0 * PANEL_ROWS - first;
                    if (first < 0) first = 0;
                    if (end > stored) end = stored;
                    lanes = (__mmask16)(((1u << end) - 1) & ~((1u << first) - 1));
                    for (i = 0; i < steps; ++i)
                        _mm512_mask_storeu_ps(base + i * PANEL_ROWS, lanes, block[i]);
                }
            }
        }
        return;
    }
    if (a_rs == 1) {
        /* A given transposed (a weight update's dZᵀ): each step's rows are adjacent, one
         * masked copy of 6 lanes. (Row by row, the steps' 6 rows far apart were read 6
         * times over, from L2.) */
        for (i0 = 0; i0 < padded; i0 += PANEL_ROWS) {
            float *panel = Ap + i0 * depth;
            ptrdiff_t in_panel = rows - i0 < PANEL_ROWS ? rows - i0 : PANEL_ROWS;
            __mmask16 lanes = (__mmask16)((1u << in_panel) - 1);
            for (p = 0; p < depth; ++p)
                _mm512_mask_storeu_ps(panel + p * PANEL_ROWS, 0x3F,
                                      _mm512_maskz_loadu_ps(lanes, A + i0 + p * a_cs));
        }
        return;
    }
    /* Any other layout. */
    for (i0 = 0; i0 < padded; i0 += PANEL_ROWS) {
        float *panel = Ap + i0 * depth;
        for (p = 0; p < depth; ++p)
            for (r = 0; r < PANEL_ROWS; ++r)
                panel[p * PANEL_ROWS + r] = i0 + r < rows ? A[(i0 + r) * a_rs + p * a_cs] : 0;
    }
}

/* Rows [0, depth) × columns [0, cols) of B into panels of PANEL_COLS columns, element (p, j)
 * at Bp[(j / 64)·64·depth + p·64 + j % 64], the columns past `cols` up to a whole panel zero.
 * B's rows (or, given transposed, its columns) are read whole, one after the other (asking
 * for the next ones ahead, or for the next block while the tiles compute, does not pay:
 * bench_l1). */
static FBP_AVX512 void pack_b(ptrdiff_t depth, ptrdiff_t cols, const float *B, ptrdiff_t b_rs,
                              ptrdiff_t b_cs, float *Bp)
{
    ptrdiff_t padded = (cols + PANEL_COLS - 1) / PANEL_COLS * PANEL_COLS;
    ptrdiff_t j0, p, p0;
    int i;
    if (b_cs == 1) { /* row-major B: each row's columns into every panel */
        for (p = 0; p < depth; ++p) {
            const float *b = B + p * b_rs;
            for (j0 = 0; j0 < padded; j0 += 16) {
                ptrdiff_t in_vector = cols - j0;
                __mmask16 mask = (__mmask16)(in_vector >= 16  ? 0xFFFF
                                             : in_vector <= 0 ? 0
                                                              : (1u << in_vector) - 1);
                _mm512_store_ps(Bp + (j0 / PANEL_COLS) * PANEL_COLS * depth + p * PANEL_COLS +
                                    j0 % PANEL_COLS,
                                _mm512_maskz_loadu_ps(mask, b + j0));
            }
        }
    } else if (b_rs == 1) { /* B given transposed: 16 of its columns at a time, transposed in
                             * blocks of 16 × 16 */
        __m512 block[16];
        for (j0 = 0; j0 < padded; j0 += 16) {
            ptrdiff_t loaded = cols - j0;
            float *panel = Bp + (j0 / PANEL_COLS) * PANEL_COLS * depth + j0 % PANEL_COLS;
            for (p0 = 0; p0 < depth; p0 += 16) {
                int steps = (int)(depth - p0 < 16 ? depth - p0 : 16);
                __mmask16 step_mask = (__mmask16)((1u << steps) - 1);
                for (i = 0; i < 16; ++i)
                    block[i] = i < loaded
                                   ? _mm512_maskz_loadu_ps(step_mask, B + (j0 + i) * b_cs + p0)
                                   : _mm512_setzero_ps();
                fbp_transpose16(block);
                for (i = 0; i < steps; ++i)
                    _mm512_store_ps(panel + (p0 + i) * PANEL_COLS, block[i]);
            }
        }
    } else {
        for (j0 = 0; j0 < padded; j0 += PANEL_COLS) {
            float *panel = Bp + j0 * depth;
            for (p = 0; p < depth; ++p)
                for (i = 0; i < PANEL_COLS; ++i)
                    panel[p * PANEL_COLS + i] =
                        j0 + i < cols ? B[p * b_rs + (j0 + i) * b_cs] : 0;
        }
    }
}

/* One tile: C[0:rows, 0:64] := alpha·Ap·Bp + beta·C over `depth` steps, from a packed panel of
 * each (a whole tile is computed from the zero-padded panels; `rows` and `last`, the mask of
 * the columns in the last vector, say what is stored, `vectors` how many vectors). C is
 * needed only at the end: it is asked for at the start. */
static FBP_AVX512 __attribute__((noinline)) void packed_tile(
    ptrdiff_t depth, const float *Ap, const float *Bp, float alpha, float beta, float *C,
    ptrdiff_t ldc, int rows, int vectors, __mmask16 last)
{
    __m512 acc[PANEL_ROWS][4];
    int r, v;
    ptrdiff_t p;
    if (beta != 0)
        for (r = 0; r < rows; ++r)
            for (v = 0; v < vectors; ++v)
                _mm_prefetch((const char *)(C + r * ldc + 16 * v), _MM_HINT_T0);
    for (r = 0; r < PANEL_ROWS; ++r)
        for (v = 0; v < 4; ++v) acc[r][v] = _mm512_setzero_ps();
    _Pragma("GCC unroll 4")
    for (p = 0; p < depth; ++p) {
        __m512 b[4];
        for (v = 0; v < 4; ++v) b[v] = _mm512_load_ps(Bp + 16 * v);
        for (v = 0; v < 4; ++v)
            _mm_prefetch((const char *)(Bp + PREFETCH_STEPS * PANEL_COLS + 16 * v), _MM_HINT_T0);
        for (r = 0; r < PANEL_ROWS; ++r) {
            __m512 a = _mm512_set1_ps(Ap[r]);
            for (v = 0; v < 4; ++v) acc[r][v] = _mm512_fmadd_ps(a, b[v], acc[r][v]);
        }
        Bp += PANEL_COLS;
        Ap += PANEL_ROWS;
    }
    {
        __m512 alphas = _mm512_set1_ps(alpha), betas = _mm512_set1_ps(beta);
        for (r = 0; r < rows; ++r)
            for (v = 0; v < vectors; ++v) {
                float *c = C + r * ldc + 16 * v;
                __mmask16 mask = v == vectors - 1 ? last : 0xFFFF;
                __m512 out = _mm512_mul_ps(alphas, acc[r][v]);
                if (beta != 0) out = _mm512_fmadd_ps(betas, _mm512_maskz_loadu_ps(mask, c), out);
                _mm512_mask_storeu_ps(c, mask, out);
            }
    }
}

static FBP_AVX512 void sgemm_packed_avx512(ptrdiff_t m, ptrdiff_t n, ptrdiff_t k, float alpha,
                                           const float *A, ptrdiff_t a_rs, ptrdiff_t a_cs,
                                           const float *B, ptrdiff_t b_rs, ptrdiff_t b_cs,
                                           float beta, float *C, ptrdiff_t ldc, float *work)
{
    float *Ap = work, *Bp = work + BLOCK_ROWS * BLOCK_DEPTH;
    ptrdiff_t row0, p0, col0, row, col;
    for (row0 = 0; row0 < m; row0 += BLOCK_ROWS) {
        ptrdiff_t rows = m - row0 < BLOCK_ROWS ? m - row0 : BLOCK_ROWS;
        for (p0 = 0; p0 < k; p0 += BLOCK_DEPTH) {
            ptrdiff_t depth = k - p0 < BLOCK_DEPTH ? k - p0 : BLOCK_DEPTH;
            float block_beta = p0 == 0 ? beta : 1.0f; /* later blocks of p add to C */
            pack_a(rows, depth, A + row0 * a_rs + p0 * a_cs, a_rs, a_cs, Ap);
            for (col0 = 0; col0 < n; col0 += BLOCK_COLS) {
                ptrdiff_t cols = n - col0 < BLOCK_COLS ? n - col0 : BLOCK_COLS;
                pack_b(depth, cols, B + p0 * b_rs + col0 * b_cs, b_rs, b_cs, Bp);
                for (row = 0; row < rows; row += PANEL_ROWS) {
                    int tile_rows = (int)(rows - row < PANEL_ROWS ? rows - row : PANEL_ROWS);
                    for (col = 0; col < cols; col += PANEL_COLS) {
                        ptrdiff_t width = cols - col < PANEL_COLS ? cols - col : PANEL_COLS;
                        int vectors = (int)((width + 15) / 16);
                        __mmask16 last =
                            (__mmask16)(width % 16 ? (1u << (width % 16)) - 1 : 0xFFFF);
                        packed_tile(depth, Ap + row * depth, Bp + col * depth, alpha, block_beta,
                                    C + (row0 + row) * ldc + col0 + col, ldc, tile_rows, vectors,
                                    last);
                    }
                }
            }
        }
    }
}

#endif

size_t fbp_sgemm_packed_work(void)
{
#if FBP_HAVE_AVX512
    return (size_t)(BLOCK_ROWS + BLOCK_COLS) * BLOCK_DEPTH;
#else
    return 0;
#endif
}

void fbp_sgemm_packed(ptrdiff_t m, ptrdiff_t n, ptrdiff_t k, float alpha, const float *A,
                      ptrdiff_t a_rs, ptrdiff_t a_cs, const float *B, ptrdiff_t b_rs,
                      ptrdiff_t b_cs, float beta, float *C, ptrdiff_t ldc, float *work)
{
    if (m <= 0 || n <= 0) return;
#if FBP_HAVE_AVX512
    if (fbp_avx512_kernels_run() && k > 0) {
        sgemm_packed_avx512(m, n, k, alpha, A, a_rs, a_cs, B, b_rs, b_cs, beta, C, ldc, work);
        return;
    }
#else
    (void)work;
#endif
    fbp_sgemm_plain(m, n, k, alpha, A, a_rs, a_cs, B, b_rs, b_cs, beta, C, ldc);
}
