/* A small, fast, seedable random generator for dropout masks inside the compiled loop
 * (plain C, header only). Each epoch seeds it from the network's dropout stream, so masks
 * are reproducible and independent of shuffling.
 *
 * xoshiro256** (Blackman & Vigna), seeded through splitmix64.
 */
#ifndef FASTBP_RANDOM_H
#define FASTBP_RANDOM_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

typedef struct { uint64_t s[4]; } fbp_rng;

static inline uint64_t fbp_splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static inline void fbp_rng_seed(fbp_rng *rng, uint64_t seed)
{
    int k;
    for (k = 0; k < 4; ++k) rng->s[k] = fbp_splitmix64(&seed);
}

static inline uint64_t fbp_rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

static inline uint64_t fbp_rng_next(fbp_rng *rng)
{
    uint64_t *s = rng->s;
    uint64_t result = fbp_rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = fbp_rotl(s[3], 45);
    return result;
}

/* Uniform in [0, 1) with 53 random bits. */
static inline double fbp_rng_uniform(fbp_rng *rng)
{
    return (double)(fbp_rng_next(rng) >> 11) * (1.0 / 9007199254740992.0);
}

/* The 53-bit integer k = next >> 11 at or above which fbp_rng_uniform's k * 2^-53 is >= p:
 * ceil(p * 2^53), exact for 0 <= p <= 1 (scaling by a power of two is exact), so comparing k
 * against it decides exactly as comparing the double. */
static inline uint64_t fbp_rng_uniform_threshold(double p)
{
    double t = p * 9007199254740992.0;
    uint64_t k = (uint64_t)t;
    return k + ((double)k < t);
}

/* One element of fbp_rng_keep_mask_*: keep's bits where the next draw's fbp_rng_uniform would
 * be >= p, else 0. An integer mask ANDed into the bits: a branch on a random bit is
 * mispredicted half the time. */
static inline uint32_t fbp_rng_keep_bits_32(fbp_rng *rng, uint64_t threshold, uint32_t keep)
{
    return keep & (0u - (uint32_t)((fbp_rng_next(rng) >> 11) >= threshold));
}

static inline uint64_t fbp_rng_keep_bits_64(fbp_rng *rng, uint64_t threshold, uint64_t keep)
{
    return keep & (0ull - (uint64_t)((fbp_rng_next(rng) >> 11) >= threshold));
}

/* m[i] := keep where fbp_rng_uniform(rng) >= p (threshold = fbp_rng_uniform_threshold(p)),
 * else +0; one fbp_rng_next per element, in order, as that comparison would draw. The state is
 * copied to a local so that it stays in registers (stores to m could alias it), and the loop is
 * unrolled by four, which lets successive draws overlap (about 1.4x faster). */
static inline void fbp_rng_keep_mask_f(fbp_rng *rng, uint64_t threshold, float keep,
                                       float *m, ptrdiff_t n)
{
    uint32_t bits, chosen[4];
    ptrdiff_t i = 0;
    fbp_rng local = *rng;
    memcpy(&bits, &keep, sizeof bits);
    for (; i + 4 <= n; i += 4) {
        chosen[0] = fbp_rng_keep_bits_32(&local, threshold, bits);
        chosen[1] = fbp_rng_keep_bits_32(&local, threshold, bits);
        chosen[2] = fbp_rng_keep_bits_32(&local, threshold, bits);
        chosen[3] = fbp_rng_keep_bits_32(&local, threshold, bits);
        memcpy(&m[i], chosen, sizeof chosen);
    }
    for (; i < n; ++i) {
        chosen[0] = fbp_rng_keep_bits_32(&local, threshold, bits);
        memcpy(&m[i], chosen, sizeof chosen[0]);
    }
    *rng = local;
}

static inline void fbp_rng_keep_mask_d(fbp_rng *rng, uint64_t threshold, double keep,
                                       double *m, ptrdiff_t n)
{
    uint64_t bits, chosen[4];
    ptrdiff_t i = 0;
    fbp_rng local = *rng;
    memcpy(&bits, &keep, sizeof bits);
    for (; i + 4 <= n; i += 4) {
        chosen[0] = fbp_rng_keep_bits_64(&local, threshold, bits);
        chosen[1] = fbp_rng_keep_bits_64(&local, threshold, bits);
        chosen[2] = fbp_rng_keep_bits_64(&local, threshold, bits);
        chosen[3] = fbp_rng_keep_bits_64(&local, threshold, bits);
        memcpy(&m[i], chosen, sizeof chosen);
    }
    for (; i < n; ++i) {
        chosen[0] = fbp_rng_keep_bits_64(&local, threshold, bits);
        memcpy(&m[i], chosen, sizeof chosen[0]);
    }
    *rng = local;
}

#endif
