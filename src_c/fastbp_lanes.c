/* Many tiny networks side by side, one per vector lane (see fastbp_lanes.h). */
#include <math.h>
#include <string.h>

#include "fastbp_dense.h"
#include "fastbp_lanes.h"

#if defined(__GNUC__) && !defined(__clang__)
/* (vector arguments of always-inlined helpers: no ABI crosses a call) */
#pragma GCC diagnostic ignored "-Wpsabi"
#endif

#if defined(_MSC_VER) && !defined(__clang__) && !defined(restrict)
#define restrict __restrict
#endif

/* The runtime dispatch of fastbp_dense.c: one build per instruction set, picked at load. */
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__linux__) \
    && defined(__GLIBC__) && __GNUC__ >= 12
#define FBP_LANES_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define FBP_LANES_CLONES
#endif

/* Helpers are inlined into each dispatched kernel (its instruction set, its constant widths). */
#if defined(__GNUC__)
#define FBP_LANES_INLINE static inline __attribute__((always_inline))
#else
#define FBP_LANES_INLINE static inline
#endif

#define T float
#define SUF _f
#define G FBP_LANES_F
#include "fastbp_lanes_tmpl.h"

#define T double
#define SUF _d
#define G FBP_LANES_D
#include "fastbp_lanes_tmpl.h"
