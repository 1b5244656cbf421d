"""fastbp's matrix kernels against float64 products: the transposes, the in-place float32
product (fbp_sgemm) and the packed one (fbp_sgemm_packed), at every kind of edge."""
import numpy as np
import pytest

from fastbp import _kernels


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(1, 1), (7, 19), (8, 8), (32, 64), (45, 17), (3, 40)])
def test_the_transposing_kernel(dtype, shape):
    """Whole 8 × 8 tiles and the edges past them."""
    A = np.arange(np.prod(shape), dtype=dtype).reshape(shape)
    np.testing.assert_array_equal(_kernels.transposed(A), A.T)


GEMM_SHAPES = [  # m, n, k: whole 6 × 64 tiles, and every kind of edge past them
    (1, 1, 1), (6, 64, 8), (7, 19, 37), (13, 70, 300), (12, 128, 256), (5, 48, 513),
    (64, 784, 64), (256, 64, 784), (3, 17, 2), (40, 33, 1), (4, 5, 0),
    # the last 4 or 8 rows of whole columns in tiles of 4 rows
    (4, 64, 10), (32, 128, 64), (14, 192, 300),
]


def sgemm_tolerance(k):
    """float32 sums of k products of values below 1 in size: a few ulp per term at most."""
    return 4 * np.finfo(np.float32).eps * max(k, 1)


# The packed kernel's blocks are 528 rows × 256 steps of A and 256 steps × 512 columns of B,
# in panels of 6 rows and 64 columns; A's row-major blocks are transposed 16 × 16 at a time.
PACKED_GEMM_SHAPES = [  # m, n, k: whole blocks, panels and transposed blocks, and edges of each
    (1, 1, 1), (6, 64, 16), (7, 19, 37), (16, 512, 256), (17, 65, 257), (529, 70, 20),
    (40, 513, 300), (5, 1030, 530), (600, 130, 17), (33, 16, 15), (3, 17, 0),
]

# The two float32 products, as the tests call them: the in-place kernel (B needs a unit column
# stride) and the packed one (any strides).
PRODUCTS = {"inplace": _kernels.sgemm_inplace_product, "packed": _kernels.sgemm_packed_product}


@pytest.mark.parametrize("kernel,m,n,k,transposed_a,transposed_b", [
    (kernel, *shape, transposed_a, transposed_b)
    for kernel, shapes in (("inplace", GEMM_SHAPES), ("packed", PACKED_GEMM_SHAPES))
    for shape in shapes for transposed_a in (False, True)
    for transposed_b in ((False, True) if kernel == "packed" else (False,))])
def test_sgemm_equals_the_float64_product(kernel, m, n, k, transposed_a, transposed_b):
    """C := alpha·A·B + beta·C, each operand given as it is or as the transpose of a stored
    matrix (the packed kernel's B too: a layer's W is B transposed in the forward product)."""
    rng = np.random.default_rng(m * 1000 + n + k)
    A = rng.uniform(-1, 1, (m, k)).astype(np.float32)
    B = rng.uniform(-1, 1, (k, n)).astype(np.float32)
    C = rng.uniform(-1, 1, (m, n)).astype(np.float32)
    expected = -0.75 * A.astype(np.float64) @ B + 1.5 * C
    a = np.ascontiguousarray(A.T).T if transposed_a else A
    b = np.ascontiguousarray(B.T).T if transposed_b else B
    PRODUCTS[kernel](-0.75, a, b, 1.5, C)
    np.testing.assert_allclose(C, expected, rtol=0, atol=sgemm_tolerance(k))


@pytest.mark.parametrize("kernel", ["inplace", "packed"])
@pytest.mark.parametrize("m,n,k", [(7, 19, 37), (64, 784, 64), (530, 520, 260)])
def test_sgemm_does_not_read_c_when_beta_is_zero(kernel, m, n, k):
    """C may hold anything (a fresh buffer): with beta = 0, NaN in C must not leak out (in
    the packed kernel's first block of depth or later ones)."""
    rng = np.random.default_rng(2)
    A = rng.uniform(-1, 1, (m, k)).astype(np.float32)
    B = rng.uniform(-1, 1, (k, n)).astype(np.float32)
    C = np.full((m, n), np.nan, np.float32)
    PRODUCTS[kernel](1.0, A, B, 0.0, C)
    np.testing.assert_allclose(C, A.astype(np.float64) @ B, rtol=0, atol=sgemm_tolerance(k))


@pytest.mark.parametrize("kernel", ["inplace", "packed"])
@pytest.mark.parametrize("m,n,k", [(7, 21, 9), (13, 70, 300), (2, 128, 5), (8, 64, 3),
                                   (535, 530, 3)])
def test_sgemm_writes_nothing_outside_c(kernel, m, n, k):
    """Edge tiles are stored under masks (and the packed kernel's zero padding never reaches
    C): within a larger buffer (row stride > n), the elements around C's block keep their
    values; A and B may be blocks of wider arrays, B's rows strided."""
    rng = np.random.default_rng(3)
    A = rng.uniform(-1, 1, (m, k + 3)).astype(np.float32)[:, 1:k + 1]
    B = rng.uniform(-1, 1, (2 * k, n + 5)).astype(np.float32)[::2, 2:n + 2]
    buffer = np.full((m + 2, n + 40), 7.0, np.float32)
    C = buffer[1:m + 1, 3:n + 3]
    PRODUCTS[kernel](1.0, A, B, 0.0, C)
    np.testing.assert_allclose(C, A.astype(np.float64) @ B, rtol=0, atol=sgemm_tolerance(k))
    outside = np.ones(buffer.shape, bool)
    outside[1:m + 1, 3:n + 3] = False
    assert (buffer[outside] == 7.0).all()
    with pytest.raises(ValueError):
        PRODUCTS[kernel](1.0, A, B[:-1], 0.0, C)
    with pytest.raises(ValueError):  # C needs a unit column stride
        PRODUCTS[kernel](1.0, A, B, 0.0, np.zeros((m, 2 * n), np.float32)[:, ::2])


@pytest.mark.parametrize("shape", [(1, 1), (16, 16), (7, 19), (64, 784), (45, 17), (3, 40),
                                   (33, 16), (16, 33)])
def test_the_inplace_kernels_transpose(shape):
    """16 × 16 blocks in registers, and masked blocks at the edges."""
    A = np.arange(np.prod(shape), dtype=np.float32).reshape(shape)
    np.testing.assert_array_equal(_kernels.transposed(A, inplace=True), A.T)
