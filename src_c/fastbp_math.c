#include <math.h>

#include "fastbp_math.h"

/* The float version reads float inputs but sums in double: it serves the loss, which
 * fastbp accumulates in double for both dtypes. */
#define FBP_LOGSUMEXP_BODY                                   \
    double max = (double)z[0];                               \
    double sum = 0.0;                                        \
    ptrdiff_t k;                                             \
    for (k = 1; k < n; ++k) {                                \
        if ((double)z[k] > max) max = (double)z[k];          \
    }                                                        \
    if (isinf(max)) return max; /* +inf, or -inf for all -inf */ \
    for (k = 0; k < n; ++k) sum += exp((double)z[k] - max);  \
    return max + log(sum);

double fbp_logsumexp_f(const float *z, ptrdiff_t n) { FBP_LOGSUMEXP_BODY }

double fbp_logsumexp_d(const double *z, ptrdiff_t n) { FBP_LOGSUMEXP_BODY }

double fbp_softplus(double x)
{
    /* log(1 + e^x) = max(x, 0) + log1p(e^-|x|): the exponent is never positive. */
    return (x > 0.0 ? x : 0.0) + log1p(exp(-fabs(x)));
}
