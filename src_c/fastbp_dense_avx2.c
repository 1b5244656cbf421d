/* fastbp_dense.c's dispatched kernels at the avx2 level (see fastbp_dispatch.h): a unit of
 * its own, so that the levels compile in parallel. */
#define FBP_LEVEL 1 /* FBP_LEVEL_AVX2 */
#include "fastbp_dispatch.h"
#if FBP_DISPATCH
#include "fastbp_dense.c"
#else
typedef int fbp_dense_avx2_unused; /* (a build without dispatch: nothing here) */
#endif
