/* The codes that name fastbp's activations, losses and optimizers: defined once here, used by
 * the C kernels' switches and `cdef extern`ed by fastbp/_kernels.pxd (Activation, Loss) and
 * fastbp/_optim.pxd (Optimizer), which make them Python enums under the names without
 * FBP_. Python reads the values: keep them, and add new codes at the end. */
#ifndef FASTBP_CODES_H
#define FASTBP_CODES_H

/* f of a layer: a = f(z). */
enum fbp_activation {
    FBP_IDENTITY = 0,
    FBP_SIGMOID = 1,
    FBP_TANH = 2,
    FBP_RELU = 3,
    FBP_LEAKY_RELU = 4,
    FBP_ELU = 5,
    FBP_SOFTPLUS = 6,
    FBP_GELU = 7
};

/* The loss of the output layer. The classification losses take the output layer's logits:
 * softmax (cross entropy) and sigmoid (binary cross entropy) are fused into the loss. */
enum fbp_loss {
    FBP_MSE = 0,
    FBP_CROSS_ENTROPY = 1,
    FBP_BINARY_CROSS_ENTROPY = 2,
    FBP_MAE = 3,
    FBP_HUBER = 4,
    FBP_POISSON = 5
};

/* The update rule of a step (hyper-parameters and state: fastbp/_optim.pxd). */
enum fbp_optimizer {
    FBP_SGD = 0,
    FBP_MOMENTUM = 1,
    FBP_NESTEROV = 2,
    FBP_ADAM = 3,
    FBP_ADAMW = 4,
    FBP_RMSPROP = 5,
    FBP_ADAGRAD = 6,
    FBP_IRPROP_MINUS = 7,
    /* scikit-learn's forms (its MLP's _stochastic_optimizers.py): momentum as a velocity of
     * lr-scaled steps, and Adam with ε added to the uncorrected √v. */
    FBP_MOMENTUM_SKLEARN = 8,
    FBP_NESTEROV_SKLEARN = 9,
    FBP_ADAM_SKLEARN = 10
};

#endif
