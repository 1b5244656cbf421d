/* Optimizer kernels behind runtime dispatch (see fastbp_optim.h): Adam's element loop is bound
 * by the divider and square-root unit; the wider instruction sets of the clones take more
 * elements per instruction. Element-wise IEEE operations in a fixed order: every clone gives
 * the same bits as the portable build. */
#include <math.h>
#include <stddef.h>

#include "fastbp_dispatch.h"
#include "fastbp_optim.h"

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
