/* Many small networks trained side by side (fastbp.train_many's lanes), in plain C.
 *
 * FBP_LANES_F (float) or FBP_LANES_D (double) networks of one architecture, every layer at
 * most 8 wide (fbp_fits_tiny), each in its own lane: every weight is stored as a vector of
 * one value per network, so the networks fill the vector registers that one network's
 * 8-wide layers half fill, and their independent chains hide each other's latency. Each lane
 * performs exactly the operations, in the same order, of fbp_train_per_example_mse's loop
 * for tiny networks, so every network's weights are those its own per-example fit gives,
 * bit for bit. */
#ifndef FASTBP_LANES_H
#define FASTBP_LANES_H

#include <stddef.h>

/* Networks per call: one AVX-512 register of each type. */
#define FBP_LANES_F 16
#define FBP_LANES_D 8
/* The kernel is written in GCC/Clang vector types; elsewhere train_many does without it. */
#if defined(__GNUC__)
#define FBP_HAVE_LANES 1
#else
#define FBP_HAVE_LANES 0
#endif
/* The widest layer the lanes take (fbp_fits_tiny's FBP_TINY): callers check. */
#define FBP_LANES_WIDEST 8

#define FBP_DECLARE_LANES(T, SUF)                                                            \
    /* Floats of the interleaved parameters of the layers `sizes` (n_layers of them). */    \
    ptrdiff_t fbp_lanes_params_size##SUF(const ptrdiff_t *sizes, ptrdiff_t n_layers);        \
    /* Floats of fbp_train_lanes_mse's workspace. */                                        \
    ptrdiff_t fbp_lanes_work_size##SUF(const ptrdiff_t *sizes, ptrdiff_t n_layers);          \
    /* Lane k of `packed` := network k's parameters (params[k], fastbp's flat layout at     \
     * w_offset/b_offset), for k < used; the other lanes := 0. (unpack: the reverse, for k  \
     * < used.) */                                                                          \
    void fbp_lanes_pack##SUF(const ptrdiff_t *sizes, const ptrdiff_t *w_offset,              \
                             const ptrdiff_t *b_offset, ptrdiff_t n_layers,                  \
                             T *const *params, ptrdiff_t used, T *packed);                   \
    void fbp_lanes_unpack##SUF(const ptrdiff_t *sizes, const ptrdiff_t *w_offset,            \
                               const ptrdiff_t *b_offset, ptrdiff_t n_layers,                \
                               const T *packed, ptrdiff_t used, T *const *params);           \
    /* Per-example SGD, ½·squared error, of every lane k over samples                      \
     * orders[k][start:start+count] of the shared X (n × sizes[0]) and Y, at rate lr[k]. A  \
     * lane whose loss turns non-finite at its sample s gets steps[k] = s (its later        \
     * values are meaningless: the caller discards them), the others count; each lane's     \
     * losses of its steps are added to loss_sums[k]. */                                    \
    void fbp_train_lanes_mse##SUF(const ptrdiff_t *sizes, const int *activations,            \
                                  ptrdiff_t n_layers, T *packed, const T *X, const T *Y,     \
                                  const ptrdiff_t *const *orders, ptrdiff_t start,           \
                                  ptrdiff_t count, const T *lr, T *work, double *loss_sums,  \
                                  ptrdiff_t *steps);

FBP_DECLARE_LANES(float, _f)
FBP_DECLARE_LANES(double, _d)

#endif
