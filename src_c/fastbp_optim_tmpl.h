/* The optimizer kernels of fastbp_optim.c for one element type: included once with T float,
 * SUF _f, SQRT sqrtf and once with T double, SUF _d, SQRT sqrt. */
#define FBP_ONAME2(name, suf) name##suf
#define FBP_ONAME(name, suf) FBP_ONAME2(name, suf)
#define DN(name) FBP_LEVEL_NAME(FN(name)) /* a dispatched kernel, this unit's level */
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

/* scikit-learn's Adam over [from, to): the update formed in float64, as its numpy code forms
 * it (a float64 step size times float32 moments), rounded as it lands on θ. */
FBP_INLINE void FN(adam_sklearn_run)(T *restrict theta, const T *restrict g, ptrdiff_t from,
                                     ptrdiff_t to, double neg_step, T b1, T omb1, T b2, T omb2,
                                     T eps, T alpha, T *restrict m, T *restrict v, int penalised)
{
    for (ptrdiff_t k = from; k < to; k++) {
        T gk = penalised ? g[k] + alpha * theta[k] : g[k];
        m[k] = b1 * m[k] + omb1 * gk;
        v[k] = b2 * v[k] + omb2 * (gk * gk);
        theta[k] = (T)((double)theta[k] + neg_step * (double)m[k] / (double)(SQRT(v[k]) + eps));
    }
}

/* scikit-learn's momentum (nesterov 0) or Nesterov (1) over [from, to). */
FBP_INLINE void FN(momentum_sklearn_run)(T *restrict theta, const T *restrict g, ptrdiff_t from,
                                         ptrdiff_t to, T lr, T mu, T alpha, T *restrict v,
                                         int nesterov, int penalised)
{
    for (ptrdiff_t k = from; k < to; k++) {
        T gk = penalised ? g[k] + alpha * theta[k] : g[k];
        v[k] = mu * v[k] - lr * gk;
        if (nesterov)
            theta[k] += mu * v[k] - lr * gk;
        else
            theta[k] += v[k];
    }
}

/* A kernel's run over all n elements; with want_squares, each 16-element block squared as it
 * is read (fbp_sum_of_squares' order) and the sum returned. RUN(from, to) is the kernel's run. */
#define FBP_BLOCKED(RUN)                                                                      \
    do {                                                                                      \
        double partial[FBP_LANES] = {0};                                                      \
        ptrdiff_t k_, j_, whole_ = n - n % FBP_LANES;                                         \
        if (!want_squares) {                                                                  \
            RUN(0, n);                                                                        \
            return 0;                                                                         \
        }                                                                                     \
        for (k_ = 0; k_ < whole_; k_ += FBP_LANES) {                                          \
            for (j_ = 0; j_ < FBP_LANES; j_++)                                                \
                partial[j_] += (double)theta[k_ + j_] * (double)theta[k_ + j_];               \
            RUN(k_, k_ + FBP_LANES);                                                          \
        }                                                                                     \
        for (k_ = whole_; k_ < n; k_++)                                                       \
            partial[k_ - whole_] += (double)theta[k_] * (double)theta[k_];                    \
        RUN(whole_, n);                                                                       \
        return FN(fold_lanes)(partial);                                                       \
    } while (0)

FBP_INLINE double FN(adam_sklearn_all)(T *restrict theta, const T *restrict g, ptrdiff_t n,
                                       double neg_step, T b1, T omb1, T b2, T omb2, T eps,
                                       T alpha, T *restrict m, T *restrict v, int want_squares,
                                       int penalised)
{
#define FBP_RUN(from, to) FN(adam_sklearn_run)(theta, g, from, to, neg_step, b1, omb1, b2, omb2, \
                                               eps, alpha, m, v, penalised)
    FBP_BLOCKED(FBP_RUN);
#undef FBP_RUN
}

FBP_INLINE double FN(momentum_sklearn_all)(T *restrict theta, const T *restrict g, ptrdiff_t n,
                                           T lr, T mu, T alpha, T *restrict v, int nesterov,
                                           int want_squares, int penalised)
{
#define FBP_RUN(from, to) FN(momentum_sklearn_run)(theta, g, from, to, lr, mu, alpha, v, nesterov, \
                                                   penalised)
    FBP_BLOCKED(FBP_RUN);
#undef FBP_RUN
}

FBP_CLONES double DN(fbp_adam_sklearn)(T *restrict theta, const T *restrict g, ptrdiff_t n,
                                       double neg_step, T b1, T omb1, T b2, T omb2, T eps,
                                       T alpha, T *restrict m, T *restrict v, int want_squares)
{
    if (alpha != 0)
        return FN(adam_sklearn_all)(theta, g, n, neg_step, b1, omb1, b2, omb2, eps, alpha, m,
                                    v, want_squares, 1);
    return FN(adam_sklearn_all)(theta, g, n, neg_step, b1, omb1, b2, omb2, eps, alpha, m, v,
                                want_squares, 0);
}

FBP_CLONES double DN(fbp_momentum_sklearn)(T *restrict theta, const T *restrict g, ptrdiff_t n,
                                           T lr, T mu, T alpha, T *restrict v, int nesterov,
                                           int want_squares)
{
    if (nesterov)
        return alpha != 0
            ? FN(momentum_sklearn_all)(theta, g, n, lr, mu, alpha, v, 1, want_squares, 1)
            : FN(momentum_sklearn_all)(theta, g, n, lr, mu, alpha, v, 1, want_squares, 0);
    return alpha != 0
        ? FN(momentum_sklearn_all)(theta, g, n, lr, mu, alpha, v, 0, want_squares, 1)
        : FN(momentum_sklearn_all)(theta, g, n, lr, mu, alpha, v, 0, want_squares, 0);
}

#undef FBP_BLOCKED

FBP_CLONES double DN(fbp_sum_of_squares)(const T *restrict x, ptrdiff_t n)
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

FBP_CLONES double DN(fbp_adam)(T *restrict theta, const T *restrict g, ptrdiff_t n, T step,
                               T inv_sqrt_c2, T b1, T omb1, T b2, T omb2, T eps, T decay,
                               T alpha, T *restrict m, T *restrict v, int want_squares)
{
    if (alpha != 0)
        return FN(adam_all)(theta, g, n, step, inv_sqrt_c2, b1, omb1, b2, omb2, eps, decay,
                            alpha, m, v, want_squares, 1);
    return FN(adam_all)(theta, g, n, step, inv_sqrt_c2, b1, omb1, b2, omb2, eps, decay, alpha,
                        m, v, want_squares, 0);
}

#if FBP_BASELINE_UNIT
FBP_RESOLVE(FN(fbp_adam_sklearn))
FBP_RESOLVE(FN(fbp_momentum_sklearn))
FBP_RESOLVE(FN(fbp_sum_of_squares))
FBP_RESOLVE(FN(fbp_adam))
#endif

#undef FN
#undef DN
#undef FBP_ONAME
#undef FBP_ONAME2
