/* Body of the dense kernels, included by fastbp_dense.c once per type with T (the element
 * type), SUF (the name suffix), SIGMOID_ROW (σ in place over n values), FBP_TANH_FN,
 * FBP_EXP_FN, FBP_EXPM1_FN, FBP_LOG1P_FN, FBP_ERF_FN, FBP_TINY_INT (an integer of T's size),
 * FBP_UINT (an unsigned integer of T's size) and optionally TRANSPOSE_TILE8 defined (all undefined at its end). No two pointer arguments
 * of a kernel overlap (restrict): the trainer passes distinct buffers. */

#define FBP_NAME2(name, suf) name##suf
#define FBP_NAME(name, suf) FBP_NAME2(name, suf)
#define DN(name) FBP_LEVEL_NAME(FN(name)) /* a dispatched kernel, this unit's level */
#define FN(name) FBP_NAME(name, SUF)

/* The activations that call libm (elu, softplus, gelu): out of line, so that the kernels
 * which inline the common ones stay small (inlining all of them into every specialised loop
 * made the per-example trainer 148 KB of code). */
FBP_NOINLINE static void FN(activate_libm)(T *restrict z, ptrdiff_t n, int activation)
{
    ptrdiff_t k;
    switch (activation) {
    case FBP_ELU: /* α = 1 */
        for (k = 0; k < n; ++k) z[k] = z[k] > 0 ? z[k] : FBP_EXPM1_FN(z[k]);
        break;
    case FBP_SOFTPLUS: /* log(1 + e^z) = max(z, 0) + log1p(e^-|z|): no overflow */
        for (k = 0; k < n; ++k)
            z[k] = (z[k] > 0 ? z[k] : (T)0) + FBP_LOG1P_FN(FBP_EXP_FN(z[k] > 0 ? -z[k] : z[k]));
        break;
    case FBP_GELU: /* z·Φ(z), exact (erf) form */
        for (k = 0; k < n; ++k) z[k] = (T)0.5 * z[k] * (1 + FBP_ERF_FN(z[k] * (T)0.70710678118654752440));
        break;
    default:
        break;
    }
}

FBP_INLINE void FN(activate_inline)(T *restrict z, ptrdiff_t n, int activation)
{
    ptrdiff_t k;
    switch (activation) {
    case FBP_SIGMOID:
        SIGMOID_ROW(z, n);
        break;
    case FBP_TANH:
        for (k = 0; k < n; ++k) z[k] = FBP_TANH_FN(z[k]);
        break;
    case FBP_RELU:
        /* z < 0 is false for NaN: a NaN passes through, so that divergence is noticed. */
        for (k = 0; k < n; ++k) z[k] = z[k] < 0 ? (T)0 : z[k];
        break;
    case FBP_LEAKY_RELU:
        for (k = 0; k < n; ++k) z[k] = z[k] < 0 ? (T)FBP_LEAKY_SLOPE * z[k] : z[k];
        break;
    case FBP_IDENTITY:
        break;
    default:
        FN(activate_libm)(z, n, activation);
        break;
    }
}

/* The derivatives that call libm, out of line for the same reason. */
FBP_NOINLINE static void FN(derivative_libm)(T *restrict d, const T *restrict a, ptrdiff_t n,
                                              int activation)
{
    ptrdiff_t k;
    switch (activation) {
    case FBP_ELU: /* e^z = a + 1 where z <= 0 */
        for (k = 0; k < n; ++k) d[k] = a[k] > 0 ? d[k] : d[k] * (a[k] + 1);
        break;
    case FBP_SOFTPLUS: /* σ(z) = 1 − e^-a, as −expm1(−a) to keep precision when a is tiny */
        for (k = 0; k < n; ++k) d[k] = d[k] * -FBP_EXPM1_FN(-a[k]);
        break;
    case FBP_GELU: /* the one derivative that needs z: for gelu layers `a` holds z */
        for (k = 0; k < n; ++k)
            d[k] = d[k] * ((T)0.5 * (1 + FBP_ERF_FN(a[k] * (T)0.70710678118654752440))
                           + a[k] * FBP_EXP_FN((T)-0.5 * a[k] * a[k]) * (T)0.39894228040143267794);
        break;
    default:
        break;
    }
}

/* d := d ⊙ f'(z), with f' written through a = f(z) (z is not kept): the one rule for f'.
 * gelu is the exception: its derivative is not a function of its value, so the trainer keeps
 * z for gelu layers and passes it as `a`. */
FBP_INLINE void FN(derivative_inline)(T *restrict d, const T *restrict a, ptrdiff_t n,
                                      int activation)
{
    ptrdiff_t k;
    switch (activation) {
    case FBP_SIGMOID:
        for (k = 0; k < n; ++k) d[k] = d[k] * (a[k] * (1 - a[k]));
        break;
    case FBP_TANH:
        for (k = 0; k < n; ++k) d[k] = d[k] * (1 - a[k] * a[k]);
        break;
    case FBP_RELU: /* a > 0 exactly when z > 0: the derivative at the kink is 0 */
        for (k = 0; k < n; ++k) d[k] = a[k] > 0 ? d[k] : (T)0;
        break;
    case FBP_LEAKY_RELU:
        for (k = 0; k < n; ++k) d[k] = a[k] > 0 ? d[k] : (T)FBP_LEAKY_SLOPE * d[k];
        break;
    case FBP_IDENTITY:
        break;
    default:
        FN(derivative_libm)(d, a, n, activation);
        break;
    }
}

FBP_CLONES void DN(fbp_activation_backward)(T *restrict dA, const T *restrict A, ptrdiff_t n,
                                            int activation)
{
    FN(derivative_inline)(dA, A, n, activation);
}

FBP_CLONES void DN(fbp_activate)(T *restrict z, ptrdiff_t n, int activation)
{
    FN(activate_inline)(z, n, activation);
}

FBP_CLONES void DN(fbp_bias_activate)(T *restrict Z, ptrdiff_t rows, ptrdiff_t n_out,
                                      const T *restrict b, int activation)
{
    ptrdiff_t r, o;
    for (r = 0; r < rows; ++r) {
        T *restrict z = Z + r * n_out;
        if (activation == FBP_RELU) { /* one pass over the row, not two (bench_m1) */
            for (o = 0; o < n_out; ++o) {
                const T v = z[o] + b[o];
                z[o] = v < 0 ? (T)0 : v; /* as activate_inline: NaN passes through */
            }
            continue;
        }
        for (o = 0; o < n_out; ++o) z[o] += b[o];
        FN(activate_inline)(z, n_out, activation);
    }
}

/* Σ_i w[i]·a[i] as FBP_LANES interleaved partial sums, added pairwise at the end: a fixed
 * order (so results are deterministic) that needs no reassociation to vectorise. Four
 * outputs share each load of a. */
FBP_INLINE void FN(dot4)(const T *restrict a, const T *restrict w0, const T *restrict w1,
                         const T *restrict w2, const T *restrict w3, ptrdiff_t n,
                         T *restrict out)
{
    T acc[4][FBP_LANES] = {{0}};
    T tail[4] = {0, 0, 0, 0};
    ptrdiff_t i = 0;
    int j, q, s;
    for (; i + FBP_LANES <= n; i += FBP_LANES) {
        for (j = 0; j < FBP_LANES; ++j) {
            acc[0][j] += w0[i + j] * a[i + j];
            acc[1][j] += w1[i + j] * a[i + j];
            acc[2][j] += w2[i + j] * a[i + j];
            acc[3][j] += w3[i + j] * a[i + j];
        }
    }
    for (; i < n; ++i) {
        tail[0] += w0[i] * a[i];
        tail[1] += w1[i] * a[i];
        tail[2] += w2[i] * a[i];
        tail[3] += w3[i] * a[i];
    }
    for (q = 0; q < 4; ++q) {
        for (s = FBP_LANES / 2; s > 0; s /= 2)
            for (j = 0; j < s; ++j) acc[q][j] += acc[q][j + s];
        out[q] = acc[q][0] + tail[q];
    }
}

FBP_INLINE T FN(dot1)(const T *restrict a, const T *restrict w, ptrdiff_t n)
{
    T acc[FBP_LANES] = {0};
    T tail = 0;
    ptrdiff_t i = 0;
    int j, s;
    for (; i + FBP_LANES <= n; i += FBP_LANES)
        for (j = 0; j < FBP_LANES; ++j) acc[j] += w[i + j] * a[i + j];
    for (; i < n; ++i) tail += w[i] * a[i];
    for (s = FBP_LANES / 2; s > 0; s /= 2)
        for (j = 0; j < s; ++j) acc[j] += acc[j + s];
    return acc[0] + tail;
}

/* Z := f(A·Wᵀ + b) for layers of fewer than FBP_LANES inputs: the outputs, 8 at a time,
 * are the independent chains. */
FBP_INLINE void FN(forward_short)(const T *A, ptrdiff_t rows, ptrdiff_t n_in, const T *W,
                                  const T *b, ptrdiff_t n_out, T *Z, int activation)
{
    ptrdiff_t r, o, i;
    int q;
    for (r = 0; r < rows; ++r) {
        const T *restrict a = A + r * n_in;
        T *restrict z = Z + r * n_out;
        for (o = 0; o + 8 <= n_out; o += 8) {
            const T *restrict w = W + o * n_in;
            /* Even and odd inputs in separate sums: half the chain of dependent adds. */
            T acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
            T odd[8] = {0, 0, 0, 0, 0, 0, 0, 0};
            for (i = 0; i + 2 <= n_in; i += 2)
                for (q = 0; q < 8; ++q) {
                    acc[q] += w[q * n_in + i] * a[i];
                    odd[q] += w[q * n_in + i + 1] * a[i + 1];
                }
            if (i < n_in)
                for (q = 0; q < 8; ++q) acc[q] += w[q * n_in + i] * a[i];
            for (q = 0; q < 8; ++q) acc[q] = (acc[q] + odd[q]) + b[o + q];
            /* Activated while still in registers: storing 8 scalars and loading them back
             * as one vector would stall store forwarding. */
            FN(activate_inline)(acc, 8, activation);
            for (q = 0; q < 8; ++q) z[o + q] = acc[q];
        }
        for (; o < n_out; ++o) {
            /* the block's order of sums, so that the loop for tiny networks, which sums
             * every output in it, gives the same bits */
            const T *restrict w = W + o * n_in;
            T even = 0, odd = 0;
            for (i = 0; i + 2 <= n_in; i += 2) {
                even += w[i] * a[i];
                odd += w[i + 1] * a[i + 1];
            }
            if (i < n_in) even += w[i] * a[i];
            z[o] = (even + odd) + b[o];
        }
        o = n_out - n_out % 8; /* the outputs past the last block of 8 */
        FN(activate_inline)(z + o, n_out - o, activation);
    }
}

FBP_INLINE void FN(forward_body)(const T *restrict A, ptrdiff_t rows, ptrdiff_t n_in,
                                 const T *restrict W, const T *restrict b, ptrdiff_t n_out,
                                 T *restrict Z, int activation)
{
    ptrdiff_t r, o;
    T dots[4];
    int q;
    if (n_in < FBP_LANES) {
        /* A copy per input width up to 8: with n_in a constant the loops unroll completely,
         * which is most of the speed of a layer this small. */
#define FBP_CASE(N) case N: FN(forward_short)(A, rows, N, W, b, n_out, Z, activation); break;
        switch (n_in) {
        FBP_CASE(1) FBP_CASE(2) FBP_CASE(3) FBP_CASE(4)
        FBP_CASE(5) FBP_CASE(6) FBP_CASE(7) FBP_CASE(8)
        default: FN(forward_short)(A, rows, n_in, W, b, n_out, Z, activation);
        }
#undef FBP_CASE
        return;
    }
    for (r = 0; r < rows; ++r) {
        const T *a = A + r * n_in;
        T *z = Z + r * n_out;
        for (o = 0; o + 4 <= n_out; o += 4) {
            const T *w = W + o * n_in;
            FN(dot4)(a, w, w + n_in, w + 2 * n_in, w + 3 * n_in, n_in, dots);
            for (q = 0; q < 4; ++q) z[o + q] = dots[q] + b[o + q];
        }
        for (; o < n_out; ++o) z[o] = FN(dot1)(a, W + o * n_in, n_in) + b[o];
        /* Activate the row while it is still in L1. */
        FN(activate_inline)(z, n_out, activation);
    }
}

FBP_CLONES void DN(fbp_dense_forward)(const T *restrict A, ptrdiff_t rows, ptrdiff_t n_in,
                                      const T *restrict W, const T *restrict b, ptrdiff_t n_out,
                                      T *restrict Z, int activation)
{
    FN(forward_body)(A, rows, n_in, W, b, n_out, Z, activation);
}

FBP_CLONES void DN(fbp_dense_backward_params)(const T *restrict dZ, const T *restrict A,
                                              ptrdiff_t rows, ptrdiff_t n_in, ptrdiff_t n_out,
                                              T *restrict dW, T *restrict db)
{
    ptrdiff_t r, o, i;
    int j;
    for (o = 0; o < n_out; ++o) {
        T *restrict dw = dW + o * n_in;
        T sum = db[o];
        for (r = 0; r < rows; ++r) sum += dZ[r * n_out + o];
        db[o] = sum;
        /* A block of dW's row stays in registers while every sample of the batch adds to it,
         * in sample order (the order of the plain loop). */
        for (i = 0; i + FBP_LANES <= n_in; i += FBP_LANES) {
            T acc[FBP_LANES];
            for (j = 0; j < FBP_LANES; ++j) acc[j] = dw[i + j];
            for (r = 0; r < rows; ++r) {
                const T d = dZ[r * n_out + o];
                const T *restrict a = A + r * n_in + i;
                for (j = 0; j < FBP_LANES; ++j) acc[j] += d * a[j];
            }
            for (j = 0; j < FBP_LANES; ++j) dw[i + j] = acc[j];
        }
        for (; i < n_in; ++i) {
            T acc = dw[i];
            for (r = 0; r < rows; ++r) acc += dZ[r * n_out + o] * A[r * n_in + i];
            dw[i] = acc;
        }
    }
}

FBP_CLONES void DN(fbp_dense_backward_input)(const T *restrict dZ, const T *restrict W,
                                             ptrdiff_t rows, ptrdiff_t n_in, ptrdiff_t n_out,
                                             T *restrict dA)
{
    ptrdiff_t r, o, i, width;
    int j;
    for (r = 0; r < rows; ++r) {
        const T *dz = dZ + r * n_out;
        T *restrict da = dA + r * n_in;
        /* A block of dA's row in registers, the rows of W added to it in output order. */
        for (i = 0; i + FBP_LANES <= n_in; i += FBP_LANES) {
            T acc[FBP_LANES] = {0};
            for (o = 0; o < n_out; ++o) {
                const T d = dz[o];
                const T *restrict w = W + o * n_in + i;
                for (j = 0; j < FBP_LANES; ++j) acc[j] += d * w[j];
            }
            for (j = 0; j < FBP_LANES; ++j) da[i + j] = acc[j];
        }
        width = n_in - i;
        if (width > 0) {
            for (j = 0; j < width; ++j) da[i + j] = 0;
            for (o = 0; o < n_out; ++o) {
                const T d = dz[o];
                const T *restrict w = W + o * n_in + i;
                for (j = 0; j < width; ++j) da[i + j] += d * w[j];
            }
        }
    }
}

/* One block of WIDTH inputs (a compile-time constant, so that the partial sums of dA stay in
 * registers): da[i:i+WIDTH] := Σ_o dz[o]·W[o, i:i+WIDTH] with the old W (even and odd
 * outputs in separate sums: half the chain of dependent adds), times f' written through
 * a = f(z), then W[o, i:i+WIDTH] −= lr·(dz[o]·a[i:i+WIDTH]), in one pass over W.
 * lr·(d·a), not (lr·d)·a: the rounding of the gradient-buffer path. */
#define FBP_STEP_ONE_BLOCKS(WIDTH)                                                  \
    for (; i + (WIDTH) <= n_in; i += (WIDTH)) {                                    \
        T even[WIDTH] = {0}, odd[WIDTH] = {0};                                     \
        for (o = 0; o + 2 <= n_out; o += 2) {                                      \
            const T d0 = dz[o], d1 = dz[o + 1];                                    \
            T *restrict w0 = W + o * n_in + i;                                     \
            T *restrict w1 = w0 + n_in;                                            \
            for (j = 0; j < (WIDTH); ++j) {                                        \
                even[j] += d0 * w0[j];                                             \
                odd[j] += d1 * w1[j];                                              \
                w0[j] -= lr * (d0 * a[i + j]);                                     \
                w1[j] -= lr * (d1 * a[i + j]);                                     \
            }                                                                      \
        }                                                                          \
        if (o < n_out) {                                                           \
            const T d0 = dz[o];                                                    \
            T *restrict w0 = W + o * n_in + i;                                     \
            for (j = 0; j < (WIDTH); ++j) {                                        \
                even[j] += d0 * w0[j];                                             \
                w0[j] -= lr * (d0 * a[i + j]);                                     \
            }                                                                      \
        }                                                                          \
        for (j = 0; j < (WIDTH); ++j) even[j] += odd[j];                           \
        FN(derivative_inline)(even, a + i, (WIDTH), activation);                   \
        for (j = 0; j < (WIDTH); ++j) da[i + j] = even[j];                         \
    }

FBP_INLINE void FN(step_one_body)(const T *restrict dz, const T *restrict a, ptrdiff_t n_in,
                                  ptrdiff_t n_out, T lr, T *restrict W, T *restrict b,
                                  T *restrict da, int activation)
{
    ptrdiff_t o, i = 0;
    int j;
    if (da == NULL) { /* the first layer: no delta below it */
        for (o = 0; o < n_out; ++o) {
            const T d = dz[o];
            T *restrict w = W + o * n_in;
            for (i = 0; i < n_in; ++i) w[i] -= lr * (d * a[i]);
        }
    } else {
        FBP_STEP_ONE_BLOCKS(FBP_LANES)
        FBP_STEP_ONE_BLOCKS(8)
        FBP_STEP_ONE_BLOCKS(1)
    }
    for (o = 0; o < n_out; ++o) b[o] -= lr * dz[o];
}

FBP_INLINE void FN(step_one_by_width)(const T *restrict dz, const T *restrict a,
                                      ptrdiff_t n_in, ptrdiff_t n_out, T lr, T *restrict W,
                                      T *restrict b, T *restrict da, int activation)
{
    /* A copy per input width up to 8, as for the forward pass. */
#define FBP_CASE(N) case N: FN(step_one_body)(dz, a, N, n_out, lr, W, b, da, activation); break;
    switch (n_in) {
    FBP_CASE(1) FBP_CASE(2) FBP_CASE(3) FBP_CASE(4)
    FBP_CASE(5) FBP_CASE(6) FBP_CASE(7) FBP_CASE(8)
    default: FN(step_one_body)(dz, a, n_in, n_out, lr, W, b, da, activation);
    }
#undef FBP_CASE
}
#undef FBP_STEP_ONE_BLOCKS

FBP_CLONES void DN(fbp_dense_step_one)(const T *restrict dz, const T *restrict a, ptrdiff_t n_in,
                                       ptrdiff_t n_out, T lr, T *restrict W, T *restrict b,
                                       T *restrict da, int activation)
{
    FN(step_one_by_width)(dz, a, n_in, n_out, lr, W, b, da, activation);
}

#if FBP_HAVE_TINY
/* Per-example SGD through a network whose every layer is at most FBP_TINY wide (the tutorials'
 * networks, T1's 3-8-8-1), in GCC/Clang vector types of FBP_TINY lanes: each layer's weights
 * are held twice in padded rows, as W's columns (the forward pass: a vector over the outputs)
 * and, above the first layer, as W's rows (the backward pass: a vector over the inputs), so
 * that every operation is a whole register and no loop has a remainder; with sizes known
 * only at run time the general loop below took 1.6 times as long (T1), and written as plain
 * loops GCC vectorised the loops over rows as well, shuffling. Padding lanes hold zeros
 * (activations are zeroed past a layer's width, so the padding weights never change) and no
 * real lane reads them. Per real lane, exactly the operations of fbp_dense_forward and
 * fbp_dense_step_one in their order: the same weights bit for bit. Both copies of W get the
 * same updates, computed by the same expression. */
typedef T FN(tiny_vec) __attribute__((vector_size(FBP_TINY * sizeof(T))));
typedef FBP_TINY_INT FN(tiny_mask) __attribute__((vector_size(FBP_TINY * sizeof(T))));
#define VEC FN(tiny_vec)
#define MASK FN(tiny_mask)

FBP_INLINE ptrdiff_t FN(train_per_example_tiny)(
    const ptrdiff_t *restrict sizes, const int *restrict activations,
    const ptrdiff_t *restrict w_offset, const ptrdiff_t *restrict b_offset, ptrdiff_t n_layers,
    T *restrict params, const T *restrict X, const T *restrict Y,
    const ptrdiff_t *restrict order, ptrdiff_t start, ptrdiff_t count, T lr,
    double *restrict loss_sum)
{
    /* columns[l][i][o] = rows[l][o][i] = W_l[o, i]; acts[l] is layer l's input; keep[l] has
     * all bits set in layer l's real output lanes. */
    VEC columns[FBP_MAX_FUSED_LAYERS][FBP_TINY], rows[FBP_MAX_FUSED_LAYERS][FBP_TINY];
    VEC bias[FBP_MAX_FUSED_LAYERS], acts[FBP_MAX_FUSED_LAYERS + 1];
    MASK keep[FBP_MAX_FUSED_LAYERS];
    const ptrdiff_t n_in = sizes[0], n_out = sizes[n_layers];
    const VEC zero = {0};
    ptrdiff_t s, l, i, o, k;
    double total = 0.0;

    memset(columns, 0, sizeof columns);
    memset(rows, 0, sizeof rows);
    memset(bias, 0, sizeof bias);
    acts[0] = zero; /* the input's padding; later layers zero theirs */
    for (l = 0; l < n_layers; ++l) {
        const T *W = params + w_offset[l], *b = params + b_offset[l];
        for (o = 0; o < sizes[l + 1]; ++o) {
            for (i = 0; i < sizes[l]; ++i) columns[l][i][o] = rows[l][o][i] = W[o * sizes[l] + i];
            bias[l][o] = b[o];
        }
        for (k = 0; k < FBP_TINY; ++k) keep[l][k] = k < sizes[l + 1] ? -1 : 0;
    }
    for (s = 0; s < count; ++s) {
        const ptrdiff_t row = order == NULL ? start + s : order[start + s];
        const T *restrict x = X + row * n_in;
        const T *restrict y = Y + row * n_out;
        VEC delta = zero;
        double loss = 0.0;
        for (i = 0; i < n_in; ++i) acts[0][i] = x[i];
        for (l = 0; l < n_layers; ++l) {
            /* z = (Σ even inputs + Σ odd inputs) + b, as forward_short sums */
            const ptrdiff_t width_in = sizes[l];
            const VEC a = acts[l];
            VEC even = zero, odd = zero;
            for (i = 0; i + 2 <= width_in; i += 2) {
                even += columns[l][i] * a[i];
                odd += columns[l][i + 1] * a[i + 1];
            }
            if (i < width_in) even += columns[l][i] * a[i];
            even = (even + odd) + bias[l];
            FN(activate_inline)((T *)&even, FBP_TINY, activations[l]);
            acts[l + 1] = (VEC)((MASK)even & keep[l]);
        }
        for (k = 0; k < n_out; ++k) {
            const T diff = acts[n_layers][k] - y[k];
            loss += 0.5 * (double)diff * (double)diff;
            delta[k] = diff;
        }
        if (!isfinite(loss)) break; /* the caller reports divergence; θ is left as it was */
        total += loss;
        FN(derivative_inline)((T *)&delta, (const T *)&acts[n_layers], FBP_TINY,
                              activations[n_layers - 1]);
        for (l = n_layers - 1; l >= 0; --l) {
            const ptrdiff_t width_in = sizes[l], width_out = sizes[l + 1];
            const VEC a = acts[l], d = delta;
            if (l > 0) {
                /* δ below = (Σ even outputs + Σ odd outputs of d_o·W[o, :]) ⊙ f'(a), with the
                 * old rows, as fbp_dense_step_one sums; then the rows' step */
                VEC even = zero, odd = zero;
                for (o = 0; o + 2 <= width_out; o += 2) {
                    even += d[o] * rows[l][o];
                    odd += d[o + 1] * rows[l][o + 1];
                    rows[l][o] -= lr * (d[o] * a);
                    rows[l][o + 1] -= lr * (d[o + 1] * a);
                }
                if (o < width_out) {
                    even += d[o] * rows[l][o];
                    rows[l][o] -= lr * (d[o] * a);
                }
                even += odd;
                FN(derivative_inline)((T *)&even, (const T *)&a, FBP_TINY, activations[l - 1]);
                delta = even;
            }
            for (i = 0; i < width_in; ++i) columns[l][i] -= lr * (d * a[i]);
            bias[l] -= lr * d;
        }
    }
    for (l = 0; l < n_layers; ++l) {
        T *W = params + w_offset[l], *b = params + b_offset[l];
        for (o = 0; o < sizes[l + 1]; ++o) {
            /* the first layer keeps only its columns up to date */
            for (i = 0; i < sizes[l]; ++i)
                W[o * sizes[l] + i] = l == 0 ? columns[l][i][o] : rows[l][o][i];
            b[o] = bias[l][o];
        }
    }
    *loss_sum += total;
    return s;
}
#undef VEC
#undef MASK
#endif

/* Per-example SGD with the ½·squared-error loss through a network of small layers, the whole
 * loop in one call: the instruction set is picked once for all of its samples, and every
 * kernel is inlined into it. Per sample, exactly the operations of the layer-by-layer path
 * (fbp_dense_forward, then δ = (out − y) ⊙ f'(out), then fbp_dense_step_one per layer), so
 * both give the same weights. */
FBP_CLONES ptrdiff_t DN(fbp_train_per_example_mse)(
    const ptrdiff_t *restrict sizes, const int *restrict activations,
    const ptrdiff_t *restrict w_offset, const ptrdiff_t *restrict b_offset, ptrdiff_t n_layers,
    T *restrict params, const T *restrict X, const T *restrict Y,
    const ptrdiff_t *restrict order, ptrdiff_t start, ptrdiff_t count, T lr,
    T *restrict work, double *restrict loss_sum)
{
    ptrdiff_t s, l, k, widest = 0, n_in = sizes[0], n_out = sizes[n_layers];
    T *acts[FBP_MAX_FUSED_LAYERS + 1];
    T *delta, *delta_next, *swap;
    /* Each layer's W and b, found once per call, not from the offsets per sample and layer
     * (bench_t1). */
    T *W_of[FBP_MAX_FUSED_LAYERS], *b_of[FBP_MAX_FUSED_LAYERS];
    double total = 0.0;
#if FBP_HAVE_TINY
    if (fbp_fits_tiny(sizes, n_layers))
        return FN(train_per_example_tiny)(sizes, activations, w_offset, b_offset, n_layers,
                                          params, X, Y, order, start, count, lr, loss_sum);
#endif
    /* Carve the workspace: one activation buffer per layer, then two deltas. */
    acts[0] = NULL;
    for (l = 1; l <= n_layers; ++l) {
        acts[l] = work;
        work += sizes[l];
        if (sizes[l] > widest) widest = sizes[l];
    }
    delta = work;
    delta_next = work + widest;
    for (l = 0; l < n_layers; ++l) {
        W_of[l] = params + w_offset[l];
        b_of[l] = params + b_offset[l];
    }
    for (s = 0; s < count; ++s) {
        const ptrdiff_t row = order == NULL ? start + s : order[start + s];
        const T *restrict y = Y + row * n_out;
        const T *restrict out;
        double loss = 0.0;
        acts[0] = (T *)(X + row * n_in); /* read only */
        for (l = 0; l < n_layers; ++l)
            FN(forward_body)(acts[l], 1, sizes[l], W_of[l], b_of[l], sizes[l + 1], acts[l + 1],
                             activations[l]);
        out = acts[n_layers];
        for (k = 0; k < n_out; ++k) {
            const T diff = out[k] - y[k];
            loss += 0.5 * (double)diff * (double)diff;
            delta[k] = diff;
        }
        if (!isfinite(loss)) break; /* the caller reports divergence; θ is left as it was */
        total += loss;
        FN(derivative_inline)(delta, out, n_out, activations[n_layers - 1]);
        for (l = n_layers - 1; l >= 0; --l) {
            if (l > 0)
                FN(step_one_by_width)(delta, acts[l], sizes[l], sizes[l + 1], lr, W_of[l],
                                      b_of[l], delta_next, activations[l - 1]);
            else /* called, not inlined: inlined here, GCC 12's float64 code for the first
                  * layer's bias step differed from the layer-by-layer path's in the last
                  * bit; the tests hold the two paths to the same weights bit for bit */
                FN(fbp_dense_step_one)(delta, acts[0], sizes[0], sizes[1], lr, W_of[0], b_of[0],
                                       NULL, 0);
            swap = delta;
            delta = delta_next;
            delta_next = swap;
        }
    }
    *loss_sum += total;
    return s;
}

FBP_CLONES void DN(fbp_bias_backward)(const T *restrict dZ, ptrdiff_t rows, ptrdiff_t n_out,
                                      T *restrict db)
{
    ptrdiff_t r, o;
    for (r = 0; r < rows; ++r) /* row by row: contiguous, and the sample order of the sums */
        for (o = 0; o < n_out; ++o) db[o] += dZ[r * n_out + o];
}

/* Whether every x[k] is finite: the exponent bits of a finite value are not all ones, so the
 * largest bit pattern with the sign cleared stays below those bits' mask. Taken as an integer
 * maximum in FBP_LANES lanes (compare, no branch, no floating-point arithmetic) and looked at
 * once per block of 4,096, which runs at the speed of memory: M2's 188 MB of float32 data in
 * 12 ms here. (Summing x − x per lane, as before, took 30 ms: GCC vectorised that loop into
 * gathers; a branch per value took 90 ms.) */
FBP_CLONES int DN(fbp_all_finite)(const T *restrict x, ptrdiff_t n)
{
    typedef FBP_UINT bits_t;
    const bits_t magnitude = (bits_t)-1 >> 1, exponent = sizeof(T) == 4 ? (bits_t)0x7f800000u
                                                                      : (bits_t)0x7ff0000000000000ull;
    ptrdiff_t i = 0, end;
    int j;
    while (i < n) {
        bits_t top[FBP_LANES] = {0};
        end = i + 4096 < n ? i + 4096 : n;
        for (; i + FBP_LANES <= end; i += FBP_LANES)
            for (j = 0; j < FBP_LANES; ++j) {
                bits_t b;
                memcpy(&b, x + i + j, sizeof b);
                b &= magnitude;
                top[j] = top[j] > b ? top[j] : b;
            }
        for (; i < end; ++i) {
            bits_t b;
            memcpy(&b, x + i, sizeof b);
            b &= magnitude;
            top[0] = top[0] > b ? top[0] : b;
        }
        for (j = 0; j < FBP_LANES; ++j)
            if (top[j] >= exponent) return 0;
    }
    return 1;
}

/* AT := Aᵀ (A rows × cols, AT cols × rows), by whole 8 × 8 tiles (TRANSPOSE_TILE8 when the
 * type has one: float with GCC, in register shuffles; otherwise through a local tile of
 * constant size, which compiles to vector loads and stores, twice as fast as one loop over
 * variable-sized tiles: bench_m1); the edges element by element. */
FBP_CLONES void DN(fbp_transpose)(const T *restrict A, ptrdiff_t rows, ptrdiff_t cols,
                                  T *restrict AT)
{
    ptrdiff_t r0, c0, r, c;
    for (r0 = 0; r0 + 8 <= rows; r0 += 8) {
        for (c0 = 0; c0 + 8 <= cols; c0 += 8) {
#ifdef TRANSPOSE_TILE8
            TRANSPOSE_TILE8(A + r0 * cols + c0, cols, AT + c0 * rows + r0, rows);
#else
            T tile[8][8];
            int i, j;
            for (i = 0; i < 8; ++i)
                for (j = 0; j < 8; ++j) tile[j][i] = A[(r0 + i) * cols + c0 + j];
            for (j = 0; j < 8; ++j)
                for (i = 0; i < 8; ++i) AT[(c0 + j) * rows + r0 + i] = tile[j][i];
#endif
        }
        for (c = c0; c < cols; ++c)
            for (r = r0; r < r0 + 8; ++r) AT[c * rows + r] = A[r * cols + c];
    }
    for (r = r0; r < rows; ++r)
        for (c = 0; c < cols; ++c) AT[c * rows + r] = A[r * cols + c];
}

FBP_CLONES void DN(fbp_sgd_step)(T *restrict params, const T *restrict grads, ptrdiff_t n, T lr)
{
    ptrdiff_t k;
    for (k = 0; k < n; ++k) params[k] -= lr * grads[k];
}

#if FBP_BASELINE_UNIT
FBP_RESOLVE(FN(fbp_activation_backward))
FBP_RESOLVE(FN(fbp_activate))
FBP_RESOLVE(FN(fbp_bias_activate))
FBP_RESOLVE(FN(fbp_dense_forward))
FBP_RESOLVE(FN(fbp_dense_backward_params))
FBP_RESOLVE(FN(fbp_dense_backward_input))
FBP_RESOLVE(FN(fbp_dense_step_one))
FBP_RESOLVE(FN(fbp_train_per_example_mse))
FBP_RESOLVE(FN(fbp_bias_backward))
FBP_RESOLVE(FN(fbp_all_finite))
FBP_RESOLVE(FN(fbp_transpose))
FBP_RESOLVE(FN(fbp_sgd_step))
#endif

#undef FN
#undef DN
#undef FBP_NAME
#undef FBP_NAME2
/* The template's parameters, so that the next inclusion can define them afresh. */
#undef T
#undef SUF
#undef SIGMOID_ROW
#undef FBP_TANH_FN
#undef FBP_EXP_FN
#undef FBP_EXPM1_FN
#undef FBP_LOG1P_FN
#undef FBP_ERF_FN
#undef FBP_TINY_INT
#undef FBP_UINT
#undef TRANSPOSE_TILE8
