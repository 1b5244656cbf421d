# The dense-layer, loss and update kernels of fastbp (private for now: a public, versioned
# cimport API comes in its own issue). Pointers and sizes in, no checks: Python validated
# everything before the GIL was released. Matrices are row-major; a batch is `rows` samples.
from cython cimport floating

cdef extern from "fastbp_math.h" nogil:
    double fbp_logsumexp_f(const float *z, Py_ssize_t n)
    double fbp_logsumexp_d(const double *z, Py_ssize_t n)
    double fbp_softplus(double x)
    double FBP_LEAKY_SLOPE

# The dense kernels proper, in C so that they can be compiled per instruction set and picked
# at run time (src_c/fastbp_dense.c); the fused wrappers below are what the trainer calls.
cdef extern from "fastbp_dense.h" nogil:
    void fbp_dense_forward_f(const float* A, Py_ssize_t rows, Py_ssize_t n_in, const float* W,
                             const float* b, Py_ssize_t n_out, float* Z, int activation)
    void fbp_dense_forward_d(const double* A, Py_ssize_t rows, Py_ssize_t n_in, const double* W,
                             const double* b, Py_ssize_t n_out, double* Z, int activation)
    void fbp_bias_activate_f(float* Z, Py_ssize_t rows, Py_ssize_t n_out, const float* b,
                             int activation)
    void fbp_bias_activate_d(double* Z, Py_ssize_t rows, Py_ssize_t n_out, const double* b,
                             int activation)
    void fbp_activation_backward_f(float* dA, const float* A, Py_ssize_t n, int activation)
    void fbp_activation_backward_d(double* dA, const double* A, Py_ssize_t n, int activation)
    void fbp_activate_f(float* Z, Py_ssize_t n, int activation)
    void fbp_activate_d(double* Z, Py_ssize_t n, int activation)
    void fbp_dense_backward_params_f(const float* dZ, const float* A, Py_ssize_t rows,
                                     Py_ssize_t n_in, Py_ssize_t n_out, float* dW, float* db)
    void fbp_dense_backward_params_d(const double* dZ, const double* A, Py_ssize_t rows,
                                     Py_ssize_t n_in, Py_ssize_t n_out, double* dW, double* db)
    void fbp_dense_backward_input_f(const float* dZ, const float* W, Py_ssize_t rows,
                                    Py_ssize_t n_in, Py_ssize_t n_out, float* dA)
    void fbp_dense_backward_input_d(const double* dZ, const double* W, Py_ssize_t rows,
                                    Py_ssize_t n_in, Py_ssize_t n_out, double* dA)
    void fbp_dense_step_one_f(const float* dz, const float* a, Py_ssize_t n_in, Py_ssize_t n_out,
                              float lr, float* W, float* b, float* da, int activation)
    void fbp_dense_step_one_d(const double* dz, const double* a, Py_ssize_t n_in,
                              Py_ssize_t n_out, double lr, double* W, double* b, double* da,
                              int activation)
    void fbp_bias_backward_f(const float* dZ, Py_ssize_t rows, Py_ssize_t n_out, float* db)
    void fbp_bias_backward_d(const double* dZ, Py_ssize_t rows, Py_ssize_t n_out, double* db)
    int fbp_all_finite_f(const float* x, Py_ssize_t n)
    int fbp_all_finite_d(const double* x, Py_ssize_t n)
    void fbp_transpose_f(const float* A, Py_ssize_t rows, Py_ssize_t cols, float* AT)
    void fbp_transpose_d(const double* A, Py_ssize_t rows, Py_ssize_t cols, double* AT)
    void fbp_sgd_step_f(float* params, const float* grads, Py_ssize_t n, float lr)
    void fbp_sgd_step_d(double* params, const double* grads, Py_ssize_t n, double lr)
    Py_ssize_t fbp_train_per_example_mse_f(
        const Py_ssize_t* sizes, const int* activations, const Py_ssize_t* w_offset,
        const Py_ssize_t* b_offset, Py_ssize_t n_layers, float* params,
        const float* X, const float* Y, const Py_ssize_t* order, Py_ssize_t start,
        Py_ssize_t count, float lr, float* work, double* loss_sum)
    Py_ssize_t fbp_train_per_example_mse_d(
        const Py_ssize_t* sizes, const int* activations, const Py_ssize_t* w_offset,
        const Py_ssize_t* b_offset, Py_ssize_t n_layers, double* params,
        const double* X, const double* Y, const Py_ssize_t* order, Py_ssize_t start,
        Py_ssize_t count, double lr, double* work, double* loss_sum)
    int FBP_MAX_FUSED_LAYERS
    int fbp_fits_tiny(const Py_ssize_t* sizes, Py_ssize_t n_layers)
    void fbp_sigmoid_f(float* z, Py_ssize_t n)
    void fbp_tanh_array_f(float* z, Py_ssize_t n)
    double fbp_softmax_xent_f(const float* Z, const float* Y, Py_ssize_t rows, Py_ssize_t n,
                              float scale, const float* w, float* dZ)
    void fbp_softmax_f(float* Z, Py_ssize_t rows, Py_ssize_t n)
    const char* fbp_simd_level()

# The level of the runtime dispatch (src_c/fastbp_dispatch.h): the CPU's best, or lower if the
# environment variable FASTBP_DISPATCH asked for it when the kernels loaded.
cdef extern from "fastbp_dispatch.h" nogil:
    int fbp_dispatch_level()
    int fbp_dispatch_requested()
    int fbp_dispatch_cpu_level()
    int FBP_LEVEL_UNSET
    int FBP_LEVEL_INVALID

# The activation and loss codes, defined once in src_c/fastbp_codes.h (the Python enums
# fastbp._kernels.Activation and .Loss); their names and formulas live in fastbp/_registry.py.
cdef extern from "fastbp_codes.h":
    cpdef enum Activation "fbp_activation":
        IDENTITY "FBP_IDENTITY"
        SIGMOID "FBP_SIGMOID"
        TANH "FBP_TANH"
        RELU "FBP_RELU"
        LEAKY_RELU "FBP_LEAKY_RELU"
        ELU "FBP_ELU"
        SOFTPLUS "FBP_SOFTPLUS"
        GELU "FBP_GELU"

    # The classification losses take the output layer's logits: softmax (cross entropy) and
    # sigmoid (binary cross entropy) are fused into the loss for numerical stability.
    cpdef enum Loss "fbp_loss":
        MSE "FBP_MSE"
        CROSS_ENTROPY "FBP_CROSS_ENTROPY"
        BINARY_CROSS_ENTROPY "FBP_BINARY_CROSS_ENTROPY"
        MAE "FBP_MAE"
        HUBER "FBP_HUBER"
        POISSON "FBP_POISSON"

cdef void dense_forward(const floating* A__ri, Py_ssize_t rows, Py_ssize_t n_in,
                        const floating* W__oi, const floating* b__o, Py_ssize_t n_out,
                        floating* Z__ro, int activation) noexcept nogil

cdef void bias_activate(floating* Z__ro, Py_ssize_t rows, Py_ssize_t n_out, const floating* b__o,
                        int activation) noexcept nogil

cdef void activate(floating* Z, Py_ssize_t n, int activation) noexcept nogil

cdef void activation_backward(floating* dA, const floating* A, Py_ssize_t n,
                              int activation) noexcept nogil

# The softmax cross-entropy of rows of at most 16 logits, 16 rows at a time (AVX-512).
cdef extern from "fastbp_xent16.h" nogil:
    int fbp_xent16_fits(Py_ssize_t n)
    void fbp_log16_array_f(float* z, Py_ssize_t n)

# fastbp's own float32 matrix products for large layers (src_c/fastbp_gemm.c): the in-place
# kernel (fbp_sgemm: its operands read where they lie) and the packed one (fbp_sgemm_packed).
cdef extern from "fastbp_gemm.h" nogil:
    int fbp_avx512_kernels_run()
    void fbp_sgemm(Py_ssize_t m, Py_ssize_t n, Py_ssize_t k, float alpha, const float* A,
                   Py_ssize_t a_rs, Py_ssize_t a_cs, const float* B, Py_ssize_t ldb,
                   float beta, float* C, Py_ssize_t ldc)
    void fbp_stranspose(const float* A, Py_ssize_t rows, Py_ssize_t cols, float* AT)
    size_t fbp_sgemm_packed_work()
    void fbp_sgemm_packed(Py_ssize_t m, Py_ssize_t n, Py_ssize_t k, float alpha,
                          const float* A, Py_ssize_t a_rs, Py_ssize_t a_cs, const float* B,
                          Py_ssize_t b_rs, Py_ssize_t b_cs, float beta, float* C,
                          Py_ssize_t ldc, float* work)

# fastbp's own matrix kernels split over a team of threads for one compiled call
# (src_c/fastbp_team.c): the same results for any thread count.
cdef extern from "fastbp_team.h" nogil:
    ctypedef struct fbp_team:
        pass

cdef double loss_and_delta(const floating* out__ro, const floating* Y__ro, Py_ssize_t rows,
                           Py_ssize_t n_out, int loss, int output_activation, floating scale,
                           const floating* weight__r, floating* dZ__ro) noexcept nogil

cdef double log_loss_clip_correction(const floating* out__ro, const floating* Y__ro,
                                     Py_ssize_t rows, Py_ssize_t n_out, int loss,
                                     const floating* weight__r) noexcept nogil

cdef void output_probabilities(floating* Z__ro, Py_ssize_t rows, Py_ssize_t n_out,
                               int loss) noexcept nogil

cdef void dense_backward_params(const floating* dZ__ro, const floating* A__ri, Py_ssize_t rows,
                                Py_ssize_t n_in, Py_ssize_t n_out,
                                floating* dW__oi, floating* db__o) noexcept nogil

cdef void dense_backward_input(const floating* dZ__ro, const floating* W__oi, Py_ssize_t rows,
                               Py_ssize_t n_in, Py_ssize_t n_out,
                               floating* dA__ri) noexcept nogil

cdef void bias_backward(const floating* dZ__ro, Py_ssize_t rows, Py_ssize_t n_out,
                        floating* db__o) noexcept nogil

cdef void transpose(const floating* A, Py_ssize_t rows, Py_ssize_t cols,
                    floating* AT) noexcept nogil

cdef void dense_step_one(const floating* dz__o, const floating* a__i, Py_ssize_t n_in,
                         Py_ssize_t n_out, floating lr, floating* W__oi,
                         floating* b__o, floating* da__i, int activation) noexcept nogil

cdef Py_ssize_t train_per_example_mse(const Py_ssize_t* sizes, const int* activations,
                                      const Py_ssize_t* w_offset, const Py_ssize_t* b_offset,
                                      Py_ssize_t n_layers, floating* params, const floating* X,
                                      const floating* Y, const Py_ssize_t* order,
                                      Py_ssize_t start, Py_ssize_t count, floating lr,
                                      floating* work, double* loss_sum) noexcept nogil

cdef void sgd_step(floating* params, const floating* grads, Py_ssize_t n,
                   floating lr) noexcept nogil

cdef bint all_finite(const floating* x, Py_ssize_t n) noexcept nogil

cdef void sgemm_inplace(Py_ssize_t m, Py_ssize_t n, Py_ssize_t k, float alpha,
                        const float* A, Py_ssize_t a_rs, Py_ssize_t a_cs, const float* B,
                        Py_ssize_t ldb, float beta, float* C, Py_ssize_t ldc) noexcept nogil

cdef void stranspose(const float* A, Py_ssize_t rows, Py_ssize_t cols,
                     float* AT) noexcept nogil

cdef void sgemm_packed(Py_ssize_t m, Py_ssize_t n, Py_ssize_t k, float alpha, const float* A,
                       Py_ssize_t a_rs, Py_ssize_t a_cs, const float* B, Py_ssize_t b_rs,
                       Py_ssize_t b_cs, float beta, float* C, Py_ssize_t ldc,
                       float* work) noexcept nogil

cdef Py_ssize_t sgemm_packed_work() noexcept nogil

cdef fbp_team* team_start(int n_threads) noexcept nogil
cdef void team_stop(fbp_team* team) noexcept nogil
cdef int team_size(const fbp_team* team) noexcept nogil

cdef void sgemm_inplace_team(fbp_team* team, Py_ssize_t m, Py_ssize_t n, Py_ssize_t k,
                             float alpha, const float* A, Py_ssize_t a_rs, Py_ssize_t a_cs,
                             const float* B, Py_ssize_t ldb, float beta, float* C,
                             Py_ssize_t ldc) noexcept nogil

cdef void sgemm_packed_team(fbp_team* team, Py_ssize_t m, Py_ssize_t n, Py_ssize_t k,
                            float alpha, const float* A, Py_ssize_t a_rs, Py_ssize_t a_cs,
                            const float* B, Py_ssize_t b_rs, Py_ssize_t b_cs, float beta,
                            float* C, Py_ssize_t ldc, float* work) noexcept nogil

# Whether fastbp's AVX-512 kernels run here (the build has them, the CPU has AVX-512F).
cpdef bint avx512_kernels_run() noexcept nogil

# Many tiny networks side by side, one per vector lane (src_c/fastbp_lanes.c: train_many).
cdef extern from "fastbp_lanes.h" nogil:
    int FBP_LANES_F
    int FBP_LANES_D
    int FBP_LANES_WIDEST
    int FBP_HAVE_LANES
    Py_ssize_t fbp_lanes_work_size_f(const Py_ssize_t* sizes, Py_ssize_t n_layers)
    Py_ssize_t fbp_lanes_work_size_d(const Py_ssize_t* sizes, Py_ssize_t n_layers)
    void fbp_lanes_pack_f(const Py_ssize_t* sizes, const Py_ssize_t* w_offset,
                          const Py_ssize_t* b_offset, Py_ssize_t n_layers, float** params,
                          Py_ssize_t used, float* packed)
    void fbp_lanes_pack_d(const Py_ssize_t* sizes, const Py_ssize_t* w_offset,
                          const Py_ssize_t* b_offset, Py_ssize_t n_layers, double** params,
                          Py_ssize_t used, double* packed)
    void fbp_lanes_unpack_f(const Py_ssize_t* sizes, const Py_ssize_t* w_offset,
                            const Py_ssize_t* b_offset, Py_ssize_t n_layers,
                            const float* packed, Py_ssize_t used, float** params)
    void fbp_lanes_unpack_d(const Py_ssize_t* sizes, const Py_ssize_t* w_offset,
                            const Py_ssize_t* b_offset, Py_ssize_t n_layers,
                            const double* packed, Py_ssize_t used, double** params)
    void fbp_train_lanes_mse_f(const Py_ssize_t* sizes, const int* activations,
                               Py_ssize_t n_layers, float* packed, const float* X,
                               const float* Y, const Py_ssize_t** orders, Py_ssize_t start,
                               Py_ssize_t count, const float* lr, float* work,
                               double* loss_sums, Py_ssize_t* steps)
    void fbp_train_lanes_mse_d(const Py_ssize_t* sizes, const int* activations,
                               Py_ssize_t n_layers, double* packed, const double* X,
                               const double* Y, const Py_ssize_t** orders, Py_ssize_t start,
                               Py_ssize_t count, const double* lr, double* work,
                               double* loss_sums, Py_ssize_t* steps)

cdef void lanes_pack(const Py_ssize_t* sizes, const Py_ssize_t* w_offset,
                     const Py_ssize_t* b_offset, Py_ssize_t n_layers, floating** params,
                     Py_ssize_t used, floating* packed) noexcept nogil

cdef void lanes_unpack(const Py_ssize_t* sizes, const Py_ssize_t* w_offset,
                       const Py_ssize_t* b_offset, Py_ssize_t n_layers, const floating* packed,
                       Py_ssize_t used, floating** params) noexcept nogil

cdef void train_lanes_mse(const Py_ssize_t* sizes, const int* activations, Py_ssize_t n_layers,
                          floating* packed, const floating* X, const floating* Y,
                          const Py_ssize_t** orders, Py_ssize_t start, Py_ssize_t count,
                          const floating* lr, floating* work, double* loss_sums,
                          Py_ssize_t* steps) noexcept nogil

cdef Py_ssize_t lanes_work_size(const Py_ssize_t* sizes, Py_ssize_t n_layers,
                                bint single) noexcept nogil
