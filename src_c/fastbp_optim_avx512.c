/* fastbp_optim.c's dispatched kernels at the avx512 level (see fastbp_dispatch.h): a unit of
 * its own, so that the levels compile in parallel. */
#define FBP_LEVEL 2 /* FBP_LEVEL_AVX512 */
#include "fastbp_dispatch.h"
#if FBP_DISPATCH
#include "fastbp_optim.c"
#else
typedef int fbp_optim_avx512_unused; /* (a build without dispatch: nothing here) */
#endif
