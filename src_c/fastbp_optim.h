/* Optimizer kernels compiled for each instruction set (fastbp_optim.c), called by
 * fastbp/_optim.pyx: Adam's (and AdamW's) element loop, which can also sum the squares of the
 * parameters it reads (the L2 penalty's ‖W‖², in fbp_sum_of_squares' order), and that sum. */
#ifndef FASTBP_OPTIM_H
#define FASTBP_OPTIM_H

#include <stddef.h>

/* Σ x² in float64: element k goes to partial sum k mod 16 (the tail's element whole + j to
 * partial j), then the partial sums are added pairwise (j += j + 8, + 4, + 2, + 1). */
double fbp_sum_of_squares_f(const float *x, ptrdiff_t n);
double fbp_sum_of_squares_d(const double *x, ptrdiff_t n);

/* Over k < n: g' = g + alpha·θ (g itself when alpha == 0); m = b1·m + omb1·g';
 * v = b2·v + omb2·g'·g'; θ = decay·θ − step·m / (√v·inv_sqrt_c2 + eps).
 * With want_squares, returns Σ θ² of the θ it read (before the step), in
 * fbp_sum_of_squares' order; else 0. */
double fbp_adam_f(float *theta, const float *g, ptrdiff_t n, float step, float inv_sqrt_c2,
                  float b1, float omb1, float b2, float omb2, float eps, float decay,
                  float alpha, float *m, float *v, int want_squares);
double fbp_adam_d(double *theta, const double *g, ptrdiff_t n, double step,
                  double inv_sqrt_c2, double b1, double omb1, double b2, double omb2,
                  double eps, double decay, double alpha, double *m, double *v,
                  int want_squares);

/* scikit-learn's Adam: as fbp_adam without the decay, but ε added to the uncorrected √v and
 * the float64 step neg_step = −η·√(1−β₂ᵗ)/(1−β₁ᵗ): θ = θ + neg_step·m / (√v + eps), formed in
 * float64 and rounded to T. */
double fbp_adam_sklearn_f(float *theta, const float *g, ptrdiff_t n, double neg_step, float b1,
                          float omb1, float b2, float omb2, float eps, float alpha, float *m,
                          float *v, int want_squares);
double fbp_adam_sklearn_d(double *theta, const double *g, ptrdiff_t n, double neg_step,
                          double b1, double omb1, double b2, double omb2, double eps,
                          double alpha, double *m, double *v, int want_squares);

/* scikit-learn's momentum: v = μ·v − lr·g'; θ = θ + v, or with nesterov θ = θ + (μ·v − lr·g'). */
double fbp_momentum_sklearn_f(float *theta, const float *g, ptrdiff_t n, float lr, float mu,
                              float alpha, float *v, int nesterov, int want_squares);
double fbp_momentum_sklearn_d(double *theta, const double *g, ptrdiff_t n, double lr, double mu,
                              double alpha, double *v, int nesterov, int want_squares);

#endif
