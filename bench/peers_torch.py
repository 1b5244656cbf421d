"""PyTorch peer: an nn.Sequential of Linear layers holding a fastbp network's initial weights,
and the eager training loop of an optimizer configuration over in-order batches."""
import torch


def sequential_like(net, activation, dropout=0.0):
    """nn.Sequential of net's layers, `activation` between them, no output activation (the
    losses take the last layer's output: logits, or the identity output of mse); with
    `dropout`, an nn.Dropout of that rate after each hidden activation (inverted dropout,
    as fastbp's)."""
    activations = {"sigmoid": torch.nn.Sigmoid, "tanh": torch.nn.Tanh, "relu": torch.nn.ReLU}
    layers = []
    for W, b in zip(net.weights, net.biases):
        linear = torch.nn.Linear(W.shape[1], W.shape[0])
        with torch.no_grad():
            linear.weight.copy_(torch.from_numpy(W))
            linear.bias.copy_(torch.from_numpy(b))
        layers += [linear, activations[activation]()]
        if dropout:
            layers.append(torch.nn.Dropout(dropout))
    return torch.nn.Sequential(*layers[:-2 if dropout else -1])


def adam_like(model, config, lr, alpha=0.0):
    """torch.optim.Adam with fastbp's Adam `config`; alpha: fastbp's L2 term α·W, on the
    weights only (torch's weight_decay adds it to every parameter it is given: the biases
    get their own group without it)."""
    weights = [p for name, p in model.named_parameters() if name.endswith("weight")]
    biases = [p for name, p in model.named_parameters() if name.endswith("bias")]
    return torch.optim.Adam([{"params": weights, "weight_decay": alpha},
                             {"params": biases, "weight_decay": 0.0}],
                            lr=lr, betas=(config.beta1, config.beta2), eps=config.eps)


def train(model, optimizer, X, Y, loss_fn, epochs, batch_size):
    """`epochs` passes over (X, Y) in order, one optimizer step per batch; returns the model."""
    model.train()
    n = X.shape[0]
    for _ in range(epochs):
        for start in range(0, n, batch_size):
            optimizer.zero_grad()
            loss = loss_fn(model(X[start:start + batch_size]), Y[start:start + batch_size])
            loss.backward()
            optimizer.step()
    model.eval()
    return model
