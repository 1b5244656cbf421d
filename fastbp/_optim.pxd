# The optimizer step kernel of fastbp (private for now, like _kernels.pxd): one update of a run
# of the flat parameter array (all of it, or one layer's W or b) from the flat gradient array
# and the optimizer's flat state arrays, all of the same layout. Pointers and sizes in, no
# checks: Python validated everything first.
from cython cimport floating

# The optimizer codes, defined once in src_c/fastbp_codes.h (the Python enum
# fastbp._optim.Optimizer); names in fastbp/_registry.py, configs in fastbp/optim.py.
cdef extern from "fastbp_codes.h":
    cpdef enum Optimizer "fbp_optimizer":
        SGD "FBP_SGD"
        MOMENTUM "FBP_MOMENTUM"
        NESTEROV "FBP_NESTEROV"
        ADAM "FBP_ADAM"
        ADAMW "FBP_ADAMW"
        RMSPROP "FBP_RMSPROP"
        ADAGRAD "FBP_ADAGRAD"
        IRPROP_MINUS "FBP_IRPROP_MINUS"
        MOMENTUM_SKLEARN "FBP_MOMENTUM_SKLEARN"
        NESTEROV_SKLEARN "FBP_NESTEROV_SKLEARN"
        ADAM_SKLEARN "FBP_ADAM_SKLEARN"

# hyper[] per code (its length is hyper_size(code)):
#   SGD           (none)
#   MOMENTUM      [μ]
#   NESTEROV      [μ]
#   ADAM          [β₁, β₂, ε]
#   ADAMW         [β₁, β₂, ε, λ]
#   RMSPROP       [ρ, ε]
#   ADAGRAD       [ε]
#   IRPROP_MINUS  [η⁺, η⁻, Δmin, Δmax, Δ₀]   (Δ₀ is read by init_state only; lr is ignored)
#   MOMENTUM_SKLEARN, NESTEROV_SKLEARN  [μ]
#   ADAM_SKLEARN  [β₁, β₂, ε]
# state[] holds state_size(code) slots of n elements, each `stride` (>= n) elements after the
# one before: a whole state array (stride = n), or a layer's slice of the network's (stride =
# the network's parameter count, state pointing at the layer's offset in the first slot):
#   SGD (none); MOMENTUM, NESTEROV: [v]; RMSPROP: [v]; ADAGRAD: [s];
#   ADAM, ADAMW: [m, v]; IRPROP_MINUS: [Δ, g_prev];
#   MOMENTUM_SKLEARN, NESTEROV_SKLEARN: [v] (a velocity of lr-scaled steps); ADAM_SKLEARN: [m, v].
# t is the 1-based number of this step (Adam's bias correction); other codes ignore it.
# alpha: the L2 penalty ½·alpha·θ² on every one of these n parameters, folded into the step
# (the update sees g + alpha·θ; 0: none).
# An unknown code leaves params and state untouched (Python checks codes before calling).
cdef void optimizer_step(int code, floating* params, const floating* grads, Py_ssize_t n,
                         double lr, const double* hyper, floating* state, Py_ssize_t stride,
                         long long t, double alpha) noexcept nogil

# optimizer_step, returning Σ params² over the n parameters from before the step (float64, in
# sum_of_squares' order): the L2 penalty's ‖W‖² without a pass of its own where the kernel
# can square the elements it reads (Adam, AdamW, scikit-learn's forms).
cdef double optimizer_step_squares(int code, floating* params, const floating* grads,
                                  Py_ssize_t n, double lr, const double* hyper, floating* state,
                                  Py_ssize_t stride, long long t, double alpha) noexcept nogil

# Σ x² in float64: element k to partial sum k mod 16, then the 16 added pairwise.
cdef double sum_of_squares(const floating* x, Py_ssize_t n) noexcept nogil

# The state before the first step: zeros, except iRPROP−'s step sizes Δ := Δ₀.
cdef void optimizer_init_state(int code, const double* hyper, floating* state,
                               Py_ssize_t n) noexcept nogil
