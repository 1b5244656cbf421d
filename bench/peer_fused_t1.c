/* T1's yardstick from the design notes: the textbook per-example training loop for a 3-8-8-1
 * network (sigmoid hidden layers, identity output, ½·squared error), fused by hand into one C
 * function, scalar expf, built with -O3 -march=native by bench/peers_c.py. fastbp is measured
 * against it, it is not part of fastbp.
 *
 * W0 (8×3), W1 (8×8), W2 (1×8) row-major as in fastbp.Network, biases b0, b1, b2; trained in
 * place on n samples of X (n×3) and Y (n), in order, for `epochs` epochs. */
#include <math.h>

static float sigmoid(float x)
{
    float e;
    if (x >= 0) return 1.0f / (1.0f + expf(-x));
    e = expf(x);
    return e / (1.0f + e);
}

void train_t1(float *W0, float *b0, float *W1, float *b1, float *W2, float *b2,
              const float *X, const float *Y, long n, int epochs, float lr)
{
    int epoch, o, i;
    long s;
    for (epoch = 0; epoch < epochs; ++epoch) {
        for (s = 0; s < n; ++s) {
            const float *x = X + 3 * s;
            float a1[8], a2[8], d1[8], d0[8], out, d2;
            for (o = 0; o < 8; ++o) {
                float z = b0[o];
                for (i = 0; i < 3; ++i) z += W0[o * 3 + i] * x[i];
                a1[o] = sigmoid(z);
            }
            for (o = 0; o < 8; ++o) {
                float z = b1[o];
                for (i = 0; i < 8; ++i) z += W1[o * 8 + i] * a1[i];
                a2[o] = sigmoid(z);
            }
            out = b2[0];
            for (i = 0; i < 8; ++i) out += W2[i] * a2[i];
            d2 = out - Y[s];
            for (i = 0; i < 8; ++i) {
                d1[i] = d2 * W2[i] * a2[i] * (1 - a2[i]);
                W2[i] -= lr * d2 * a2[i];
            }
            b2[0] -= lr * d2;
            for (i = 0; i < 8; ++i) d0[i] = 0;
            for (o = 0; o < 8; ++o) {
                for (i = 0; i < 8; ++i) {
                    d0[i] += d1[o] * W1[o * 8 + i];
                    W1[o * 8 + i] -= lr * d1[o] * a1[i];
                }
                b1[o] -= lr * d1[o];
            }
            for (i = 0; i < 8; ++i) d0[i] *= a1[i] * (1 - a1[i]);
            for (o = 0; o < 8; ++o) {
                for (i = 0; i < 3; ++i) W0[o * 3 + i] -= lr * d0[o] * x[i];
                b0[o] -= lr * d0[o];
            }
        }
    }
}
