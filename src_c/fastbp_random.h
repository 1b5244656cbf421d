/* A small, fast, seedable random generator for dropout masks inside the compiled loop
 * (plain C, header only). Each epoch seeds it from the network's dropout stream, so masks
 * are reproducible and independent of shuffling.
 *
 * xoshiro256** (Blackman & Vigna), seeded through splitmix64.
 */
#ifndef FASTBP_RANDOM_H
#define FASTBP_RANDOM_H

#include <stdint.h>

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

#endif
