"""JAX peers: the compiled training loops an expert JAX user writes for each workload.

One ``jax.jit`` function trains all epochs: ``lax.fori_loop`` over epochs around
``lax.scan`` over the batches, each step ``jax.value_and_grad`` of the mean batch loss and a
plain SGD update of a pytree of float32 parameters. Batches are in order; a last, smaller
batch (M1 and M2 have one) is one more step of the same function after the scan. The data is
put on the device and cut into (n_batches, batch, features) once, before timing.

Every ``train_*`` function returns a ``Trainer``: build it from the initial weights and biases
(``W`` shaped (n_out, n_in), the layout of fastbp.Network) and the data, call ``compile()``
(ahead-of-time, not timed), then ``run()`` trains from the initial weights and returns the
trained ``(weights, biases)`` as numpy arrays. Thread count: JAX's CPU runtime sizes its pool
by the process's CPU affinity when it starts (it ignores XLA's thread flags), so
bench/conftest.py pins the process to the benchmark's number of CPUs.
"""
import jax
import jax.numpy as jnp
import numpy as np
from jax import lax


def _sigmoid_mse(params, x, y):
    """½·Σₖ(ŷₖ − yₖ)² of one sample: sigmoid hidden layers, identity output."""
    a = x
    for W, b in params[:-1]:
        a = jax.nn.sigmoid(W @ a + b)
    W, b = params[-1]
    return 0.5 * jnp.sum((W @ a + b - y) ** 2)


def _relu_softmax_ce(params, x, labels):
    """Mean softmax cross-entropy of a batch: relu hidden layers, z = a·Wᵀ + b."""
    a = x
    for W, b in params[:-1]:
        a = jax.nn.relu(a @ W.T + b)
    W, b = params[-1]
    logits = a @ W.T + b
    log_p = jax.nn.log_softmax(logits)
    return -jnp.mean(jnp.take_along_axis(log_p, labels[:, None], axis=1))


def _sgd_step(loss):
    grad = jax.grad(loss)

    def step(params, batch, lr):
        g = grad(params, *batch)
        return jax.tree_util.tree_map(lambda p, d: p - lr * d, params, g)
    return step


class Trainer:
    """Batches on the device, one jitted function for all epochs; compile, then run."""

    def __init__(self, loss, weights, biases, X, Y, epochs, batch_size, lr):
        n = len(X)
        batch = min(batch_size, n)
        n_full = n // batch
        self.params = [(jnp.asarray(W, jnp.float32), jnp.asarray(b, jnp.float32))
                       for W, b in zip(weights, biases)]
        self.batches = (jnp.asarray(X[:n_full * batch]).reshape(n_full, batch, -1),
                        jnp.asarray(Y[:n_full * batch]).reshape(n_full, batch, *Y.shape[1:]))
        self.tail = (jnp.asarray(X[n_full * batch:]), jnp.asarray(Y[n_full * batch:]))
        if batch == 1:  # per-example: a step sees one sample, not a batch of one
            self.batches = tuple(part.reshape(n_full, *part.shape[2:]) for part in self.batches)
        step = _sgd_step(loss)
        has_tail = n_full * batch < n
        lr = jnp.float32(lr)

        def epoch(_, params):
            params, _ = lax.scan(lambda p, b: (step(p, b, lr), None), params, self.batches)
            return step(params, self.tail, lr) if has_tail else params

        self._train = jax.jit(lambda params: lax.fori_loop(0, epochs, epoch, params))
        self._compiled = None

    def compile(self):
        """Compile ahead of time (not timed): run() then only executes."""
        self._compiled = self._train.lower(self.params).compile()
        return self

    def run(self):
        """Train from the initial weights; the trained (weights, biases) as numpy arrays."""
        if self._compiled is None:
            self.compile()
        trained = self._compiled(self.params)
        jax.block_until_ready(trained)
        return [np.asarray(W) for W, _ in trained], [np.asarray(b) for _, b in trained]


def train_t1(weights, biases, X, y, epochs, batch_size, lr):
    """T1: sigmoid hidden layers, identity output, ½·MSE, per-example SGD (batch_size 1)."""
    if batch_size != 1:
        raise ValueError("train_t1 is per-example SGD")
    Y = np.asarray(y, dtype=np.float32).reshape(len(X), -1)
    return Trainer(_sigmoid_mse, weights, biases, X, Y, epochs, 1, lr)


def train_relu_softmax(weights, biases, X, labels, epochs, batch_size, lr):
    """Relu hidden layers, softmax cross-entropy, in-order mini-batch SGD (M1, M2, L1)."""
    labels = np.asarray(labels, dtype=np.int32)
    return Trainer(_relu_softmax_ce, weights, biases, X, labels, epochs, batch_size, lr)


train_m1 = train_m2 = train_l1 = train_relu_softmax
