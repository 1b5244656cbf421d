/* Optimizer kernels behind runtime dispatch (see fastbp_optim.h): Adam's element loop is bound
 * by the divider and square-root unit; the wider instruction sets of the clones take more
 * elements per instruction. Element-wise IEEE operations in a fixed order: every clone gives
 * the same bits as the portable build. */
#include <math.h>
#include <stddef.h>

#include "fastbp_optim.h"

#if defined(_MSC_VER) && !defined(__clang__) && !defined(restrict)
#define restrict __restrict /* C99's keyword, under MSVC's name */
#endif

/* As in fastbp_dense.c: GCC's target_clones (an ifunc, hence glibc), else the portable build. */
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__linux__) \
    && defined(__GLIBC__) && __GNUC__ >= 12
#define FBP_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define FBP_CLONES
#endif

#if defined(__GNUC__)
#define FBP_INLINE static inline __attribute__((always_inline))
#else
#define FBP_INLINE static inline
#endif

/* The partial sums of fbp_sum_of_squares: independent chains the compiler vectorises (one
 * running sum waits on each addition in turn, about 4 cycles a weight). */
#define FBP_LANES 16

#define T float
#define SUF _f
#define SQRT sqrtf
#include "fastbp_optim_tmpl.h"
#undef T
#undef SUF
#undef SQRT

#define T double
#define SUF _d
#define SQRT sqrt
#include "fastbp_optim_tmpl.h"
#undef T
#undef SUF
#undef SQRT
