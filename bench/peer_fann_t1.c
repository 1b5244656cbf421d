/* T1 with FANN 2.2 (libfloatfann), the C library the design notes compare against: a 3-8-8-1
 * network (sigmoid hidden layers, identity output), incremental (per-example) training with
 * the linear error function, i.e. plain SGD on ½·squared error. Built by bench/peers_c.py
 * when FANN's headers and library are installed (Debian: libfann-dev).
 *
 * fastbp's weights go in and come out through FANN's connection array: FANN numbers its
 * neurons layer by layer, each layer followed by its bias neuron; a connection into neuron o
 * of layer l comes from neuron i of layer l − 1 (W[o][i]) or from that layer's bias (b[o]). */
#include <stdlib.h>
#include <floatfann.h>

struct t1_fann {
    struct fann *ann;
    struct fann_train_data *data;
};

static const unsigned int SIZES[4] = {3, 8, 8, 1};

/* For each connection, where its weight lives in fastbp's arrays. */
static float *slot(const struct fann_connection *c, float *const W[3], float *const b[3])
{
    unsigned int layer, start = 0, previous = 0;
    for (layer = 1; layer < 4; ++layer) {
        previous = start;
        start += SIZES[layer - 1] + 1;
        if (c->to_neuron < start + SIZES[layer]) {
            unsigned int o = c->to_neuron - start, i = c->from_neuron - previous;
            return i == SIZES[layer - 1] ? &b[layer - 1][o] : &W[layer - 1][o * SIZES[layer - 1] + i];
        }
    }
    return NULL;
}

static void copy_weights(struct fann *ann, float *const W[3], float *const b[3], int into_fann)
{
    unsigned int k, n = fann_get_total_connections(ann);
    struct fann_connection *c = malloc(n * sizeof *c);
    fann_get_connection_array(ann, c);
    for (k = 0; k < n; ++k) {
        float *where = slot(&c[k], W, b);
        if (into_fann)
            c[k].weight = *where;
        else
            *where = c[k].weight;
    }
    if (into_fann) fann_set_weight_array(ann, c, n);
    free(c);
}

void *t1_fann_create(float *W0, float *b0, float *W1, float *b1, float *W2, float *b2,
                     const float *X, const float *Y, unsigned int n, float lr)
{
    float *const W[3] = {W0, W1, W2}, *const b[3] = {b0, b1, b2};
    struct t1_fann *h = malloc(sizeof *h);
    unsigned int s;
    h->ann = fann_create_standard(4, SIZES[0], SIZES[1], SIZES[2], SIZES[3]);
    fann_set_activation_function_hidden(h->ann, FANN_SIGMOID);
    fann_set_activation_steepness_hidden(h->ann, 0.5f); /* 1/(1 + e^(−2·0.5·z)) = σ(z) */
    fann_set_activation_function_output(h->ann, FANN_LINEAR);
    fann_set_activation_steepness_output(h->ann, 1.0f);
    fann_set_train_error_function(h->ann, FANN_ERRORFUNC_LINEAR);
    fann_set_training_algorithm(h->ann, FANN_TRAIN_INCREMENTAL);
    fann_set_learning_rate(h->ann, lr);
    fann_set_learning_momentum(h->ann, 0.0f);
    copy_weights(h->ann, W, b, 1);
    h->data = fann_create_train(n, SIZES[0], SIZES[3]);
    for (s = 0; s < n; ++s) {
        h->data->input[s][0] = X[3 * s];
        h->data->input[s][1] = X[3 * s + 1];
        h->data->input[s][2] = X[3 * s + 2];
        h->data->output[s][0] = Y[s];
    }
    return h;
}

void t1_fann_train(void *handle, int epochs)
{
    struct t1_fann *h = handle;
    int e;
    for (e = 0; e < epochs; ++e) fann_train_epoch(h->ann, h->data);
}

void t1_fann_weights(void *handle, float *W0, float *b0, float *W1, float *b1, float *W2,
                     float *b2)
{
    struct t1_fann *h = handle;
    float *const W[3] = {W0, W1, W2}, *const b[3] = {b0, b1, b2};
    copy_weights(h->ann, W, b, 0);
}

void t1_fann_free(void *handle)
{
    struct t1_fann *h = handle;
    fann_destroy_train(h->data);
    fann_destroy(h->ann);
    free(h);
}
