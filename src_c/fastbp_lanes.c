/* Many tiny networks side by side, one per vector lane (see fastbp_lanes.h). */
#include <math.h>
#include <string.h>

#include "fastbp_dense.h"
#include "fastbp_lanes.h"

/* (vector arguments of always-inlined helpers: no ABI crosses a call) */
#if defined(__clang__)
#pragma clang diagnostic ignored "-Wpsabi"
#elif defined(__GNUC__)
#pragma GCC diagnostic ignored "-Wpsabi"
#endif

#include "fastbp_dispatch.h"

#define T float
#define SUF _f
#define G FBP_LANES_F
#include "fastbp_lanes_tmpl.h"

#define T double
#define SUF _d
#define G FBP_LANES_D
#include "fastbp_lanes_tmpl.h"
