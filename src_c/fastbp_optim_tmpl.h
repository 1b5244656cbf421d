/* The optimizer kernels of fastbp_optim.c for one element type: included once with T float,
 * SUF _f, SQRT sqrtf and once with T double, SUF _d, SQRT sqrt. */
#define FBP_ONAME2(name, suf) name##suf
#define FBP_ONAME(name, suf) FBP_ONAME2(name, suf)
#define FN(name) FBP_ONAME(name, SUF)

/* The 16 partial sums added pairwise into one. */
FBP_INLINE double FN(fold_lanes)(double *partial)
{
    for (int width = FBP_LANES / 2; width > 0; width /= 2)
        for (int j = 0; j < width; j++)
            partial[j] += partial[j + width];
    return partial[0];
}

/* Adam's update of elements [from, to); `penalised` a constant after inlining, so that each
 * loop has no branch. The same operations, in the same order, as fastbp/_optim.pyx's
 * float loops (the build has -ffp-contract=off: no fused multiply-adds). */
FBP_INLINE void FN(adam_run)(T *restrict theta, const T *restrict g, ptrdiff_t from, ptrdiff_t to,
                             T step, T inv_sqrt_c2, T b1, T omb1, T b2, T omb2, T eps, T decay,
                             T alpha, T *restrict m, T *restrict v, int penalised)
{
    for (ptrdiff_t k = from; k < to; k++) {
        T gk = penalised ? g[k] + alpha * theta[k] : g[k];
        m[k] = b1 * m[k] + omb1 * gk;
        v[k] = b2 * v[k] + omb2 * gk * gk;
        theta[k] = decay * theta[k] - step * m[k] / (SQRT(v[k]) * inv_sqrt_c2 + eps);
    }
}

FBP_INLINE double FN(adam_all)(T *restrict theta, const T *restrict g, ptrdiff_t n, T step,
                               T inv_sqrt_c2, T b1, T omb1, T b2, T omb2, T eps, T decay,
                               T alpha, T *restrict m, T *restrict v, int want_squares,
                               int penalised)
{
    double partial[FBP_LANES] = {0};
    ptrdiff_t k, j, whole = n - n % FBP_LANES;
    if (!want_squares) {
        FN(adam_run)(theta, g, 0, n, step, inv_sqrt_c2, b1, omb1, b2, omb2, eps, decay, alpha,
                     m, v, penalised);
        return 0;
    }
    /* Each block of 16 squared as it comes into registers for its update: the squares
     * ride along with the update's divisions and square roots instead of a pass of their own. */
    for (k = 0; k < whole; k += FBP_LANES) {
        for (j = 0; j < FBP_LANES; j++)
            partial[j] += (double)theta[k + j] * (double)theta[k + j];
        FN(adam_run)(theta, g, k, k + FBP_LANES, step, inv_sqrt_c2, b1, omb1, b2, omb2, eps,
                     decay, alpha, m, v, penalised);
    }
    for (k = whole; k < n; k++)
        partial[k - whole] += (double)theta[k] * (double)theta[k];
    FN(adam_run)(theta, g, whole, n, step, inv_sqrt_c2, b1, omb1, b2, omb2, eps, decay, alpha,
                 m, v, penalised);
    return FN(fold_lanes)(partial);
}

FBP_CLONES double FN(fbp_sum_of_squares)(const T *restrict x, ptrdiff_t n)
{
    double partial[FBP_LANES] = {0};
    ptrdiff_t k, j, whole = n - n % FBP_LANES;
    for (k = 0; k < whole; k += FBP_LANES)
        for (j = 0; j < FBP_LANES; j++)
            partial[j] += (double)x[k + j] * (double)x[k + j];
    for (k = whole; k < n; k++)
        partial[k - whole] += (double)x[k] * (double)x[k];
    return FN(fold_lanes)(partial);
}

FBP_CLONES double FN(fbp_adam)(T *restrict theta, const T *restrict g, ptrdiff_t n, T step,
                               T inv_sqrt_c2, T b1, T omb1, T b2, T omb2, T eps, T decay,
                               T alpha, T *restrict m, T *restrict v, int want_squares)
{
    if (alpha != 0)
        return FN(adam_all)(theta, g, n, step, inv_sqrt_c2, b1, omb1, b2, omb2, eps, decay,
                            alpha, m, v, want_squares, 1);
    return FN(adam_all)(theta, g, n, step, inv_sqrt_c2, b1, omb1, b2, omb2, eps, decay, alpha,
                        m, v, want_squares, 0);
}

#undef FN
#undef FBP_ONAME
#undef FBP_ONAME2
