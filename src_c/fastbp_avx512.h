/* What fastbp's AVX-512 kernels share (fastbp_gemm.c, fastbp_xent16.c): the target attribute
 * they are compiled with, the runtime check that chooses them, a 16 × 16 register transpose.
 * The shipped build has no -march flag: these functions alone use AVX-512, and only on CPUs
 * that have it. */
#ifndef FASTBP_AVX512_H
#define FASTBP_AVX512_H

#include "fastbp_dispatch.h"

#if (defined(__GNUC__) || defined(__clang__)) && defined(__x86_64__)
#define FBP_HAVE_AVX512 1
#include <immintrin.h>

#define FBP_AVX512 __attribute__((target("avx512f")))

/* Whether this CPU has AVX-512F, and FASTBP_DISPATCH does not ask for a lower level. */
static inline int fbp_cpu_has_avx512(void)
{
    const int asked = fbp_dispatch_requested();
    if (asked >= 0 && asked < FBP_LEVEL_AVX512) return 0;
    __builtin_cpu_init(); /* (idempotent; needed when called from a constructor) */
    return __builtin_cpu_supports("avx512f") ? 1 : 0;
}

/* r[v] := column v of the 16 × 16 block whose rows are r[0..15]: unpack pairs of rows, then
 * shuffle within 128-bit lanes, then move lanes across the register twice. */
static inline __attribute__((always_inline)) FBP_AVX512 void fbp_transpose16(__m512 r[16])
{
    __m512 t[16];
    int i, c;
    for (i = 0; i < 8; ++i) {
        t[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
        t[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
    }
    for (i = 0; i < 4; ++i) {
        r[4 * i] = _mm512_shuffle_ps(t[4 * i], t[4 * i + 2], _MM_SHUFFLE(1, 0, 1, 0));
        r[4 * i + 1] = _mm512_shuffle_ps(t[4 * i], t[4 * i + 2], _MM_SHUFFLE(3, 2, 3, 2));
        r[4 * i + 2] = _mm512_shuffle_ps(t[4 * i + 1], t[4 * i + 3], _MM_SHUFFLE(1, 0, 1, 0));
        r[4 * i + 3] = _mm512_shuffle_ps(t[4 * i + 1], t[4 * i + 3], _MM_SHUFFLE(3, 2, 3, 2));
    }
    for (i = 0; i < 2; ++i)
        for (c = 0; c < 4; ++c) {
            t[8 * i + c] = _mm512_shuffle_f32x4(r[8 * i + c], r[8 * i + 4 + c], 0x88);
            t[8 * i + 4 + c] = _mm512_shuffle_f32x4(r[8 * i + c], r[8 * i + 4 + c], 0xdd);
        }
    for (c = 0; c < 8; ++c) {
        r[c] = _mm512_shuffle_f32x4(t[c], t[c + 8], 0x88);
        r[c + 8] = _mm512_shuffle_f32x4(t[c], t[c + 8], 0xdd);
    }
}

#else
#define FBP_HAVE_AVX512 0

static inline int fbp_cpu_has_avx512(void) { return 0; }
#endif

#endif
