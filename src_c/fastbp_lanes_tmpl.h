/* Body of fastbp_lanes.c, included once per type with T, SUF and G (the lanes) defined (all
 * undefined at its end). Layout: layer l's W[o, i] of lane k at packed[W_l + (o·n_in + i)·G
 * + k], then b[o] at packed[b_l + o·G + k]; activations and deltas likewise, value-major. The
 * loops over k are whole registers; activations and their derivatives are fastbp_dense.c's
 * own kernels (fbp_activate, fbp_activation_backward: elementwise, so lane by lane the very
 * operations of the single network's loop). */

#define FBP_LNAME2(name, suf) name##suf
#define FBP_LNAME(name, suf) FBP_LNAME2(name, suf)
#define DN(name) FBP_LEVEL_NAME(LN(name)) /* a dispatched kernel, this unit's level */
#define LN(name) FBP_LNAME(name, SUF)

#if FBP_BASELINE_UNIT /* (not dispatched: once, in fastbp_lanes.c's own unit) */
ptrdiff_t LN(fbp_lanes_params_size)(const ptrdiff_t *sizes, ptrdiff_t n_layers)
{
    ptrdiff_t l, total = 0;
    for (l = 0; l < n_layers; ++l) total += (sizes[l] + 1) * sizes[l + 1] * G;
    return total;
}

ptrdiff_t LN(fbp_lanes_work_size)(const ptrdiff_t *sizes, ptrdiff_t n_layers)
{
    /* acts of every layer, targets, two deltas */
    ptrdiff_t l, total = 0, widest = 0;
    for (l = 0; l <= n_layers; ++l) {
        total += sizes[l] * G;
        if (sizes[l] > widest) widest = sizes[l];
    }
    return total + sizes[n_layers] * G + 2 * widest * G;
}

void LN(fbp_lanes_pack)(const ptrdiff_t *sizes, const ptrdiff_t *w_offset,
                        const ptrdiff_t *b_offset, ptrdiff_t n_layers, T *const *params,
                        ptrdiff_t used, T *packed)
{
    ptrdiff_t l, j, k;
    memset(packed, 0, LN(fbp_lanes_params_size)(sizes, n_layers) * sizeof(T));
    for (l = 0; l < n_layers; ++l) {
        const ptrdiff_t n_w = sizes[l] * sizes[l + 1], n_b = sizes[l + 1];
        for (k = 0; k < used; ++k) {
            const T *W = params[k] + w_offset[l], *b = params[k] + b_offset[l];
            for (j = 0; j < n_w; ++j) packed[j * G + k] = W[j];
            for (j = 0; j < n_b; ++j) packed[(n_w + j) * G + k] = b[j];
        }
        packed += (n_w + n_b) * G;
    }
}

void LN(fbp_lanes_unpack)(const ptrdiff_t *sizes, const ptrdiff_t *w_offset,
                          const ptrdiff_t *b_offset, ptrdiff_t n_layers, const T *packed,
                          ptrdiff_t used, T *const *params)
{
    ptrdiff_t l, j, k;
    for (l = 0; l < n_layers; ++l) {
        const ptrdiff_t n_w = sizes[l] * sizes[l + 1], n_b = sizes[l + 1];
        for (k = 0; k < used; ++k) {
            T *W = params[k] + w_offset[l], *b = params[k] + b_offset[l];
            for (j = 0; j < n_w; ++j) W[j] = packed[j * G + k];
            for (j = 0; j < n_b; ++j) b[j] = packed[(n_w + j) * G + k];
        }
        packed += (n_w + n_b) * G;
    }
}
#endif

#if FBP_HAVE_LANES
/* One vector of G values (one per lane), read and written through memcpy: the buffers need
 * no particular alignment. GCC/Clang vector types keep the partial sums in registers. */
typedef T LN(lanes_vec) __attribute__((vector_size(G * sizeof(T))));
#define V LN(lanes_vec)

FBP_INLINE V LN(load)(const T *p)
{
    V v;
    memcpy(&v, p, sizeof v);
    return v;
}

FBP_INLINE void LN(store)(T *p, V v)
{
    memcpy(p, &v, sizeof v);
}

/* One layer's forward pass in every lane: z = (Σ even inputs + Σ odd inputs) + b, as the
 * tiny loop sums. Inlined into a copy per input width, so that its loops have known trip
 * counts and the inputs stay in registers. */
FBP_INLINE void LN(forward_layer)(const T *restrict a, const T *restrict W,
                                        const T *restrict b, ptrdiff_t n_in, ptrdiff_t n_out,
                                        T *restrict z)
{
    V in[FBP_LANES_WIDEST];
    ptrdiff_t o, i;
    for (i = 0; i < n_in; ++i) in[i] = LN(load)(a + i * G);
    for (o = 0; o < n_out; ++o) {
        const T *restrict w = W + o * n_in * G;
        V e = {0}, d = {0};
        for (i = 0; i + 2 <= n_in; i += 2) {
            e += LN(load)(w + i * G) * in[i];
            d += LN(load)(w + (i + 1) * G) * in[i + 1];
        }
        if (i < n_in) e += LN(load)(w + i * G) * in[i];
        LN(store)(z + o * G, (e + d) + LN(load)(b + o * G));
    }
}

/* One layer's step in every lane, and, when da is not NULL, the delta below before f':
 * da = Σ even outputs + Σ odd outputs of dz_o·W[o, :] with the old W (the tiny loop's rows,
 * each sum in its order); W −= rate·(dz ⊗ a), b −= rate·dz. Input by input, so that the two
 * partial sums stay in registers; inlined into a copy per output width. */
FBP_INLINE void LN(step_layer)(const T *restrict dz, const T *restrict a, ptrdiff_t n_in,
                                     ptrdiff_t n_out, const T *restrict rate, T *restrict W,
                                     T *restrict b, T *restrict da)
{
    const V r = LN(load)(rate);
    V dv[FBP_LANES_WIDEST];
    ptrdiff_t o, i;
    for (o = 0; o < n_out; ++o) dv[o] = LN(load)(dz + o * G);
    for (i = 0; i < n_in; ++i) {
        const V ai = LN(load)(a + i * G);
        if (da != NULL) {
            V e = {0}, d = {0};
            for (o = 0; o + 2 <= n_out; o += 2) {
                T *w0 = W + (o * n_in + i) * G, *w1 = w0 + n_in * G;
                const V old0 = LN(load)(w0), old1 = LN(load)(w1);
                e += dv[o] * old0;
                d += dv[o + 1] * old1;
                LN(store)(w0, old0 - r * (dv[o] * ai));
                LN(store)(w1, old1 - r * (dv[o + 1] * ai));
            }
            if (o < n_out) {
                T *w0 = W + (o * n_in + i) * G;
                const V old0 = LN(load)(w0);
                e += dv[o] * old0;
                LN(store)(w0, old0 - r * (dv[o] * ai));
            }
            LN(store)(da + i * G, e + d);
        } else {
            /* the first layer: its step alone (the tiny loop's columns) */
            for (o = 0; o < n_out; ++o) {
                T *w = W + (o * n_in + i) * G;
                LN(store)(w, LN(load)(w) - r * (dv[o] * ai));
            }
        }
    }
    for (o = 0; o < n_out; ++o) LN(store)(b + o * G, LN(load)(b + o * G) - r * dv[o]);
}

FBP_CLONES void DN(fbp_train_lanes_mse)(
    const ptrdiff_t *restrict sizes, const int *restrict activations, ptrdiff_t n_layers,
    T *restrict packed, const T *restrict X, const T *restrict Y,
    const ptrdiff_t *const *restrict orders, ptrdiff_t start, ptrdiff_t count,
    const T *restrict lr, T *restrict work, double *restrict loss_sums,
    ptrdiff_t *restrict steps)
{
    T *W_of[FBP_MAX_FUSED_LAYERS], *b_of[FBP_MAX_FUSED_LAYERS];
    T *acts[FBP_MAX_FUSED_LAYERS + 1];
    T *targets, *delta, *delta_next, *swap;
    const ptrdiff_t n_in = sizes[0], n_out = sizes[n_layers];
    ptrdiff_t s, l, i, o, k, widest = 0;
    double total[G];
    T rate[G];

    for (l = 0; l < n_layers; ++l) {
        W_of[l] = packed;
        packed += sizes[l] * sizes[l + 1] * G;
        b_of[l] = packed;
        packed += sizes[l + 1] * G;
    }
    for (l = 0; l <= n_layers; ++l) {
        acts[l] = work;
        work += sizes[l] * G;
        if (sizes[l] > widest) widest = sizes[l];
    }
    targets = work;
    work += n_out * G;
    delta = work;
    delta_next = work + widest * G;
    for (k = 0; k < G; ++k) {
        total[k] = 0.0;
        rate[k] = lr[k];
        steps[k] = count;
    }
    for (s = 0; s < count; ++s) {
        {
            /* each lane's sample, gathered value by value (whole vectors written) */
            ptrdiff_t x_at[G], y_at[G];
            for (k = 0; k < G; ++k) {
                const ptrdiff_t row = orders[k][start + s];
                x_at[k] = row * n_in;
                y_at[k] = row * n_out;
            }
            for (i = 0; i < n_in; ++i)
                for (k = 0; k < G; ++k) acts[0][i * G + k] = X[x_at[k] + i];
            for (o = 0; o < n_out; ++o)
                for (k = 0; k < G; ++k) targets[o * G + k] = Y[y_at[k] + o];
        }
        for (l = 0; l < n_layers; ++l) {
            const T *a = acts[l], *W = W_of[l], *b = b_of[l];
            T *z = acts[l + 1];
            const ptrdiff_t width_out = sizes[l + 1];
#define FBP_LCASE(N) case N: LN(forward_layer)(a, W, b, N, width_out, z); break;
            switch (sizes[l]) {
            FBP_LCASE(1) FBP_LCASE(2) FBP_LCASE(3) FBP_LCASE(4)
            FBP_LCASE(5) FBP_LCASE(6) FBP_LCASE(7) FBP_LCASE(8)
            default: LN(forward_layer)(a, W, b, sizes[l], width_out, z);
            }
#undef FBP_LCASE
            LN(fbp_activate)(z, width_out * G, activations[l]);
        }
        {
            double loss[G];
            const T *restrict out = acts[n_layers];
            for (k = 0; k < G; ++k) loss[k] = 0.0;
            for (o = 0; o < n_out; ++o)
                for (k = 0; k < G; ++k) {
                    const T diff = out[o * G + k] - targets[o * G + k];
                    loss[k] += 0.5 * (double)diff * (double)diff;
                    delta[o * G + k] = diff;
                }
            for (k = 0; k < G; ++k) {
                if (steps[k] == count && !isfinite(loss[k])) steps[k] = s;
                if (steps[k] == count) total[k] += loss[k];
            }
        }
        LN(fbp_activation_backward)(delta, acts[n_layers], n_out * G, activations[n_layers - 1]);
        for (l = n_layers - 1; l >= 0; --l) {
            const T *a = acts[l];
            T *W = W_of[l], *b = b_of[l], *da = l > 0 ? delta_next : NULL;
            const ptrdiff_t width_in = sizes[l], width_out = sizes[l + 1];
#define FBP_LCASE(N) case N: LN(step_layer)(delta, a, width_in, N, rate, W, b, da); break;
            switch (width_out) {
            FBP_LCASE(1) FBP_LCASE(2) FBP_LCASE(3) FBP_LCASE(4)
            FBP_LCASE(5) FBP_LCASE(6) FBP_LCASE(7) FBP_LCASE(8)
            default: LN(step_layer)(delta, a, width_in, width_out, rate, W, b, da);
            }
#undef FBP_LCASE
            if (l > 0)
                LN(fbp_activation_backward)(delta_next, a, sizes[l] * G, activations[l - 1]);
            swap = delta;
            delta = delta_next;
            delta_next = swap;
        }
    }
    for (k = 0; k < G; ++k) loss_sums[k] += total[k];
}

#if FBP_BASELINE_UNIT
FBP_RESOLVE(LN(fbp_train_lanes_mse))
#endif
#else
void LN(fbp_train_lanes_mse)(const ptrdiff_t *sizes, const int *activations, ptrdiff_t n_layers,
                             T *packed, const T *X, const T *Y, const ptrdiff_t *const *orders,
                             ptrdiff_t start, ptrdiff_t count, const T *lr, T *work,
                             double *loss_sums, ptrdiff_t *steps)
{
    /* never called: lanes_apply says no when FBP_HAVE_LANES is 0 */
    ptrdiff_t k;
    for (k = 0; k < G; ++k) steps[k] = 0;
}
#endif

#if FBP_HAVE_LANES
#undef V
#endif
#undef LN
#undef DN
#undef FBP_LNAME
#undef FBP_LNAME2
#undef T
#undef SUF
#undef G
