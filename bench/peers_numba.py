"""Numba peers: the compiled training loops an expert Numba user writes for each workload.

Whole epochs run in one ``@njit`` function on float32 arrays, with buffers allocated once
per call: for T1 a per-example loop over scalars (the network is 3-8-8-1, so no BLAS call
could pay), for M1, M2 and L1 mini-batch loops whose matrix products are ``np.dot`` into
preallocated outputs (Numba calls scipy's BLAS for them, the same library fastbp uses) and
whose bias, relu, softmax and update loops are written out.

Every ``train_*`` function takes the weights and biases (float32, C-contiguous, ``W`` shaped
(n_out, n_in), the layout of fastbp.Network; ``copies`` makes them), the float32 data and the
workload's settings, and trains the parameters in place. The first call of each compiles;
``warm_up`` compiles them on a few samples so that no timed run pays for it.
"""
import math

import numba
import numpy as np

ONE = np.float32(1.0)
ZERO = np.float32(0.0)


# ----- T1: per-example SGD, two sigmoid hidden layers, identity output, ½·MSE ----------------------
@numba.njit(cache=False)
def _sigmoid_mse_epochs(W1, b1, W2, b2, W3, b3, X, Y, epochs, lr):
    n, n_in = X.shape
    h1, h2, n_out = W1.shape[0], W2.shape[0], W3.shape[0]
    a1 = np.empty(h1, np.float32)
    a2 = np.empty(h2, np.float32)
    out = np.empty(n_out, np.float32)
    d1 = np.empty(h1, np.float32)
    d2 = np.empty(h2, np.float32)
    d3 = np.empty(n_out, np.float32)
    for _ in range(epochs):
        for s in range(n):
            x = X[s]
            for j in range(h1):
                z = b1[j]
                for i in range(n_in):
                    z += W1[j, i] * x[i]
                a1[j] = ONE / (ONE + math.exp(-z))
            for j in range(h2):
                z = b2[j]
                for i in range(h1):
                    z += W2[j, i] * a1[i]
                a2[j] = ONE / (ONE + math.exp(-z))
            for k in range(n_out):
                z = b3[k]
                for i in range(h2):
                    z += W3[k, i] * a2[i]
                out[k] = z
            # Backward: every delta from the weights before this step's update.
            for k in range(n_out):
                d3[k] = out[k] - Y[s, k]
            for j in range(h2):
                g = ZERO
                for k in range(n_out):
                    g += d3[k] * W3[k, j]
                d2[j] = g * a2[j] * (ONE - a2[j])
            for j in range(h1):
                g = ZERO
                for k in range(h2):
                    g += d2[k] * W2[k, j]
                d1[j] = g * a1[j] * (ONE - a1[j])
            for k in range(n_out):
                step = lr * d3[k]
                for i in range(h2):
                    W3[k, i] -= step * a2[i]
                b3[k] -= step
            for j in range(h2):
                step = lr * d2[j]
                for i in range(h1):
                    W2[j, i] -= step * a1[i]
                b2[j] -= step
            for j in range(h1):
                step = lr * d1[j]
                for i in range(n_in):
                    W1[j, i] -= step * x[i]
                b1[j] -= step


def train_t1(weights, biases, X, y, epochs, batch_size, lr):
    """T1: 3-8-8-1 sigmoid, identity output, ½·MSE, per-example SGD (batch_size must be 1)."""
    if batch_size != 1 or len(weights) != 3:
        raise ValueError("train_t1 is per-example SGD on a network with two hidden layers")
    Y = np.ascontiguousarray(y, dtype=np.float32).reshape(len(X), -1)
    _sigmoid_mse_epochs(weights[0], biases[0], weights[1], biases[1], weights[2], biases[2],
                        X, Y, epochs, np.float32(lr))


# ----- M1, M2, L1: mini-batch SGD, relu hidden layers, softmax cross-entropy -----------------------
@numba.njit(cache=False)
def _relu_softmax_epochs(weights, biases, X, labels, epochs, batch, lr):
    n = X.shape[0]
    n_layers = len(weights)
    # Per layer: its output for one batch (pre-activation, then relu in place), the delta at
    # its pre-activation, and the weight and bias gradients. Allocated once.
    acts = [np.empty((batch, weights[l].shape[0]), np.float32) for l in range(n_layers)]
    deltas = [np.empty((batch, weights[l].shape[0]), np.float32) for l in range(n_layers)]
    grad_w = [np.empty_like(weights[l]) for l in range(n_layers)]
    grad_b = [np.empty_like(biases[l]) for l in range(n_layers)]
    for _ in range(epochs):
        for start in range(0, n, batch):
            m = min(batch, n - start)
            x = X[start:start + m]
            # Forward: z = a·Wᵀ + b, relu on the hidden layers.
            a = x
            for l in range(n_layers):
                z = acts[l][:m]
                np.dot(a, weights[l].T, z)
                b = biases[l]
                hidden = l < n_layers - 1
                for r in range(m):
                    for c in range(z.shape[1]):
                        v = z[r, c] + b[c]
                        z[r, c] = v if (v > ZERO or not hidden) else ZERO
                a = z
            # Softmax cross-entropy: delta = (softmax(z) − onehot(label)) / m.
            d = deltas[n_layers - 1][:m]
            inv_m = ONE / np.float32(m)
            for r in range(m):
                top = a[r, 0]
                for c in range(1, a.shape[1]):
                    top = max(top, a[r, c])
                total = ZERO
                for c in range(a.shape[1]):
                    e = math.exp(a[r, c] - top)
                    d[r, c] = e
                    total += e
                scale = inv_m / total
                for c in range(a.shape[1]):
                    d[r, c] *= scale
                d[r, labels[start + r]] -= inv_m
            # Backward and update, last layer first: dW = δᵀ·a, db = Σδ, δ' = (δ·W) ⊙ relu'.
            for l in range(n_layers - 1, -1, -1):
                a_prev = x if l == 0 else acts[l - 1][:m]
                np.dot(d.T, a_prev, grad_w[l])
                gb = grad_b[l]
                gb[:] = ZERO
                for r in range(m):
                    for c in range(d.shape[1]):
                        gb[c] += d[r, c]
                if l > 0:
                    d_prev = deltas[l - 1][:m]
                    np.dot(d, weights[l], d_prev)  # before W changes
                    for r in range(m):
                        for c in range(d_prev.shape[1]):
                            if a_prev[r, c] <= ZERO:
                                d_prev[r, c] = ZERO
                W, gW, b = weights[l], grad_w[l], biases[l]
                for r in range(W.shape[0]):
                    for c in range(W.shape[1]):
                        W[r, c] -= lr * gW[r, c]
                    b[r] -= lr * gb[r]
                if l > 0:
                    d = d_prev


def train_relu_softmax(weights, biases, X, labels, epochs, batch_size, lr):
    """Relu hidden layers, softmax cross-entropy, in-order mini-batch SGD (M1, M2, L1)."""
    batch = min(batch_size, len(X))
    # Tuples of arrays: Numba indexes them by layer without the cost of a typed List.
    _relu_softmax_epochs(tuple(weights), tuple(biases), X,
                         np.ascontiguousarray(labels, dtype=np.int64), epochs, batch,
                         np.float32(lr))


train_m1 = train_m2 = train_l1 = train_relu_softmax


def copies(weights, biases):
    """Fresh float32 C-contiguous copies of the parameters, for train_* to update."""
    return ([np.array(W, dtype=np.float32, order="C") for W in weights],
            [np.array(b, dtype=np.float32) for b in biases])


def warm_up(train, weights, biases, X, y, batch_size):
    """Compile `train`'s loop for these types on a few samples (not timed)."""
    rows = min(len(X), 2 * batch_size)
    train(*copies(weights, biases), X[:rows], y[:rows], 1, batch_size, 0.0)
