/* Numerically stable scalar helpers shared by fastbp's kernels (plain C, no Python.h).
 *
 * Losses are accumulated in double whatever the network's dtype, so these helpers take
 * float or double inputs and return double.
 */
#ifndef FASTBP_MATH_H
#define FASTBP_MATH_H

#include <stddef.h>

/* leaky_relu(x) = x for x > 0, FBP_LEAKY_SLOPE * x otherwise. */
#define FBP_LEAKY_SLOPE 0.01

/* log(sum_k exp(z[k])) for n >= 1 values, without overflow: max + log(sum exp(z - max)). */
double fbp_logsumexp_f(const float *z, ptrdiff_t n);
double fbp_logsumexp_d(const double *z, ptrdiff_t n);

/* softplus(x) = log(1 + exp(x)) without overflow or loss of precision for large |x|;
 * -log(sigmoid(x)) == softplus(-x). */
double fbp_softplus(double x);

#endif
