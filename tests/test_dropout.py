"""Dropout masks: drawn from the documented stream, one draw per unit, kept where u >= p."""
import copy

import numpy as np
import pytest

import fastbp

MASK64 = (1 << 64) - 1


def splitmix64(x):
    """(next state, output) of splitmix64, as fbp_rng_seed uses it."""
    x = (x + 0x9E3779B97F4A7C15) & MASK64
    z = x
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK64
    return x, z ^ (z >> 31)


def rotl(x, k):
    return ((x << k) | (x >> (64 - k))) & MASK64


def xoshiro_uniforms(seed, count):
    """The first `count` fbp_rng_uniform values of xoshiro256** seeded with `seed`."""
    s = []
    for _ in range(4):
        seed, out = splitmix64(seed)
        s.append(out)
    uniforms = []
    for _ in range(count):
        result = (rotl((s[1] * 5) & MASK64, 7) * 9) & MASK64
        t = (s[1] << 17) & MASK64
        s[2] ^= s[0]
        s[3] ^= s[1]
        s[1] ^= s[2]
        s[0] ^= s[3]
        s[2] ^= t
        s[3] = rotl(s[3], 45)
        uniforms.append((result >> 11) / 2.0**53)
    return np.array(uniforms)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("p", [0.5, 0.3, 0.75])
def test_dropout_keeps_exactly_the_units_whose_uniform_is_at_least_p(dtype, p):
    """One example, batch 1: the units kept are those of the xoshiro256** stream seeded from
    the network's dropout generator, one uniform u per unit, kept where u >= p (0.3 and 0.75
    make p·2^53 non-integer and integer, the two cases of the integer threshold)."""
    X = np.array([[0.3, -0.7, 0.5]])
    y = np.array([0.9])
    n_hidden = 96
    net = fastbp.Network([3, n_hidden, 1], activation="tanh", dtype=dtype, seed=2, dropout=p)
    seed = int(copy.deepcopy(net.state.dropout_rng).integers(0, 2**63))
    before = np.array(net.weights[1])
    net.fit(X, y, epochs=1, batch_size=1, lr=0.1)
    # A kept tanh unit has a nonzero activation, so its outgoing weight moves; a dropped one's
    # does not.
    moved = (net.weights[1] != before)[0]
    expected = xoshiro_uniforms(seed, n_hidden) >= p
    assert 0 < expected.sum() < n_hidden
    np.testing.assert_array_equal(moved, expected)
