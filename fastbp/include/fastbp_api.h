/* fastbp's C API: a view of a live fastbp.Network for compiled code (Cython, C) that predicts
 * with it and trains it one example at a time without the GIL and without linking to fastbp.
 *
 * Python opens the view (fastbp.api.open_view(net), see its docstring); `view.capsule` is a
 * PyCapsule named "fastbp.api.view" whose pointer is a `fastbp_view *`. From Cython:
 * `from fastbp.api cimport fastbp_view, view_from_capsule`; from C: PyCapsule_GetPointer.
 * Build against it with fastbp.get_include() (this folder) on the include path.
 *
 * Compatibility: FASTBP_API_VERSION counts additions. A later fastbp keeps every field and
 * function below where it is and what it means, and only adds (new fields after the last
 * one, new codes); a consumer built against version N runs with any fastbp whose
 * view->api_version >= N (check it once after opening). What a version adds is listed here.
 *   1: the view, forward, sgd_step.
 *
 * Plain C (C99), no Python.h and nothing from fastbp's sources.
 */
#ifndef FASTBP_API_H
#define FASTBP_API_H

#include <stddef.h>

#define FASTBP_API_VERSION 1

/* The name of the capsule that carries a fastbp_view pointer. */
#define FASTBP_VIEW_CAPSULE_NAME "fastbp.api.view"

/* view->dtype: the scalar type of the parameters and of every buffer the functions take. */
#define FASTBP_FLOAT32 0  /* float */
#define FASTBP_FLOAT64 1  /* double */

/* view->activations[l] (a = f(z)); the values of fastbp's activation codes. */
#define FASTBP_IDENTITY 0
#define FASTBP_SIGMOID 1
#define FASTBP_TANH 2
#define FASTBP_RELU 3
#define FASTBP_LEAKY_RELU 4
#define FASTBP_ELU 5
#define FASTBP_SOFTPLUS 6
#define FASTBP_GELU 7

/* view->loss. The classification losses take the last layer's logits (its activation is
 * FASTBP_IDENTITY): softmax (cross entropy) and sigmoid (binary cross entropy) are part of
 * the loss, and forward returns their probabilities. */
#define FASTBP_MSE 0                   /* ½·Σ_k (ŷ_k − y_k)² per example */
#define FASTBP_CROSS_ENTROPY 1         /* softmax; y a one-hot (or probability) row */
#define FASTBP_BINARY_CROSS_ENTROPY 2  /* sigmoid outputs; y of 0/1 */
#define FASTBP_MAE 3                   /* Σ_k |ŷ_k − y_k| */
#define FASTBP_HUBER 4                 /* Huber with δ = 1 */
#define FASTBP_POISSON 5               /* output e^z, loss e^z − y·z */

/* What the functions return. */
#define FASTBP_OK 0
#define FASTBP_NOT_APPLIED 1     /* sgd_step: the example's loss is NaN or infinite; the
                                    parameters are unchanged */
#define FASTBP_ERR_CLOSED (-1)   /* the view was closed: nothing was read or written */
#define FASTBP_ERR_ARGUMENT (-2) /* a NULL buffer, rows < 0, or lr not finite and > 0 */

typedef struct fastbp_view fastbp_view;

struct fastbp_view {
    int api_version;          /* FASTBP_API_VERSION of the fastbp that made the view */
    int dtype;                /* FASTBP_FLOAT32 or FASTBP_FLOAT64 */
    ptrdiff_t n_layers;       /* layers of weights (len(sizes) − 1) */
    const ptrdiff_t *sizes;   /* n_layers + 1 widths: inputs, hidden layers, outputs */
    const int *activations;   /* n_layers codes: each hidden layer's, then the output's */
    int loss;                 /* the loss code */
    ptrdiff_t n_params;       /* weights and biases in all */
    /* The network's own parameters (net.weights / net.biases are views of the same memory),
     * of dtype: layer by layer, W (sizes[l+1] rows × sizes[l] columns, row-major: the W of
     * W·x + b) then b (sizes[l+1]). weights[l] and biases[l] point into it. Read and written
     * in place; NULL after close. */
    void *params;
    void *const *weights;
    void *const *biases;
    /* out := the network's outputs for `rows` rows of X (rows × sizes[0], row-major), as
     * Network.predict gives them (rows × sizes[n_layers]; probabilities for the
     * classification losses, e^z for poisson). No allocation; X and out must not overlap. */
    int (*forward)(fastbp_view *view, const void *X, ptrdiff_t rows, void *out);
    /* One step of per-example SGD on the example (x: sizes[0] values, y: sizes[n_layers]
     * target values): forward pass, loss, backward pass, θ −= lr·∂L/∂θ; what
     * Network.fit(x[None], y[None], epochs=1, batch_size=1, shuffle=False, lr=lr) does with
     * optimizer "sgd". *loss (unless loss is NULL) := the example's loss before the step.
     * Returns FASTBP_OK, or FASTBP_NOT_APPLIED when that loss is not finite. The parameters
     * are not scanned after the step (fit scans them once an epoch): a step that overflows
     * them shows as the next example's loss, not finite. */
    int (*sgd_step)(fastbp_view *view, const void *x, const void *y, double lr, double *loss);
    void *impl;               /* fastbp's own (opaque) */
};

#endif
