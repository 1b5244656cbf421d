# fastbp's public Cython API (an ABI: add, never change; see fastbp/include/fastbp_api.h for
# the compatibility rule). Cython code that embeds a network cimports from here:
#
#     from fastbp.api cimport fastbp_view, view_from_capsule, FASTBP_OK
#
# and builds with fastbp.get_include() on its include path. Nothing here needs fastbp at
# link time or import time: the view's functions are reached through its pointers.
from libc.stddef cimport ptrdiff_t
from cpython.pycapsule cimport PyCapsule_IsValid, PyCapsule_GetPointer

cdef extern from "fastbp_api.h" nogil:
    enum:
        FASTBP_API_VERSION
        FASTBP_FLOAT32
        FASTBP_FLOAT64
        FASTBP_IDENTITY
        FASTBP_SIGMOID
        FASTBP_TANH
        FASTBP_RELU
        FASTBP_LEAKY_RELU
        FASTBP_ELU
        FASTBP_SOFTPLUS
        FASTBP_GELU
        FASTBP_MSE
        FASTBP_CROSS_ENTROPY
        FASTBP_BINARY_CROSS_ENTROPY
        FASTBP_MAE
        FASTBP_HUBER
        FASTBP_POISSON
        FASTBP_OK
        FASTBP_NOT_APPLIED
        FASTBP_ERR_CLOSED
        FASTBP_ERR_ARGUMENT

    const char* FASTBP_VIEW_CAPSULE_NAME

    ctypedef struct fastbp_view:
        int api_version
        int dtype
        ptrdiff_t n_layers
        const ptrdiff_t* sizes
        const int* activations
        int loss
        ptrdiff_t n_params
        void* params
        void* const* weights
        void* const* biases
        int (*forward)(fastbp_view* view, const void* X, ptrdiff_t rows, void* out) noexcept nogil
        int (*sgd_step)(fastbp_view* view, const void* x, const void* y, double lr,
                        double* loss) noexcept nogil
        void* impl


cdef inline fastbp_view* view_from_capsule(object capsule) except NULL:
    """The fastbp_view* a fastbp.api view's `capsule` carries (TypeError for anything else,
    RuntimeError when the view's API is older than the one this code was built against)."""
    if not PyCapsule_IsValid(capsule, FASTBP_VIEW_CAPSULE_NAME):
        raise TypeError("expected the capsule of a fastbp.api view (NetworkView.capsule)")
    cdef fastbp_view* view = <fastbp_view*>PyCapsule_GetPointer(capsule, FASTBP_VIEW_CAPSULE_NAME)
    if view.api_version < FASTBP_API_VERSION:
        raise RuntimeError(f"the installed fastbp has C API version {view.api_version}; this "
                           f"module was built against version {FASTBP_API_VERSION}")
    return view
