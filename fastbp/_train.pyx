"""The compiled trainer: whole epochs, full-data losses, gradients and predictions.

Each entry point extracts pointers while it holds the GIL, plans each layer's compute path
once, then runs all of its batches and chunks in one ``nogil`` block. Nothing here raises
once the work has begun: training returns a status code that Python turns into a result or
an exception.

Memory: parameters and gradients are flat arrays laid out by :class:`Architecture`
(per layer, W row-major (n_out, n_in) then b). Data is processed in chunks of at most
``chunk`` rows through a workspace the caller allocates once per call
(``Architecture.workspace_size(chunk)`` elements): one activation buffer per layer, two
delta buffers, and room to gather shuffled input and target rows.

One extension in four files, each building on the one before, so that the hot ``cdef``
functions stay in one C file where the compiler can inline them:

1. ``_plan.pxi``, the plan: the parameter layout (Architecture), the thresholds, and
   ``plan_layers``, which gives each layer one LayerPath (compiled loops for small layers;
   BLAS, its input or delta transposed or neither; fastbp's in-place or packed float32
   matrix kernel) from the layer's size, the chunk, the dtype and BLAS's thread count.
   ``plan()`` is that function for Python (show_config, tests).
2. ``_layers.pxi``, the layer operations: the workspace, and each layer's forward pass,
   weight gradient, input delta and plain-SGD step, each a switch on its path.
3. ``_epoch.pxi``, the epoch driver: train_epoch, loss_and_gradient, predict.
4. ``_predict.pxi``, forward-only passes: predict's fast path for a few rows (Predictor:
   checked and computed in one compiled call, every layer through the compiled loops), and
   predict_transposed for many float32 rows (each large W transposed once per call).

Below them, in other extensions: fastbp._kernels (dense, activation and loss kernels over
src_c/), fastbp._optim (optimizer steps), fastbp._blas (the BLAS wrapper).
"""
from cython cimport floating
from libc.limits cimport INT_MAX
from libc.math cimport isfinite, sqrt, INFINITY
from libc.stdint cimport uint64_t
from libc.stdlib cimport malloc, free
from libc.string cimport memcpy, memset

import numpy as np

from fastbp._blas cimport gemm, blas_threads, swap_thread_count
from fastbp._kernels cimport (
    dense_forward, bias_activate, activate, activation_backward, loss_and_delta,
    log_loss_clip_correction,
    output_probabilities, dense_backward_params, dense_backward_input, bias_backward,
    dense_step_one, sgd_step, train_per_example_mse, transpose, all_finite, GELU, IDENTITY,
    MSE, sgemm_inplace, avx512_kernels_run, sgemm_packed, sgemm_packed_work, stranspose,
    FBP_MAX_FUSED_LAYERS, fbp_team, team_start, team_stop, team_size, sgemm_inplace_team,
    sgemm_packed_team,
)
from fastbp._optim cimport optimizer_step, optimizer_step_squares, sum_of_squares, SGD


cdef extern from "fastbp_random.h" nogil:
    ctypedef struct fbp_rng:
        pass
    void fbp_rng_seed(fbp_rng* rng, uint64_t seed)
    uint64_t fbp_rng_uniform_threshold(double p)
    void fbp_rng_keep_mask_f(fbp_rng* rng, uint64_t threshold, float keep, float* m,
                             Py_ssize_t n)
    void fbp_rng_keep_mask_d(fbp_rng* rng, uint64_t threshold, double keep, double* m,
                             Py_ssize_t n)


# Subnormal numbers flushed to zero during each compiled call (fastbp_fpmode.h says why).
cdef extern from "fastbp_fpmode.h" nogil:
    ctypedef unsigned long fbp_fpmode
    fbp_fpmode fbp_flush_subnormals()
    void fbp_restore_fpmode(fbp_fpmode saved)


cdef extern from "fastbp_clock.h" nogil:
    double fbp_monotonic_seconds()


include "_plan.pxi"
include "_layers.pxi"
include "_epoch.pxi"
include "_lanes.pxi"
include "_predict.pxi"
include "_view.pxi"
