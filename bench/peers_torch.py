"""PyTorch peer: an nn.Sequential of Linear layers holding a fastbp network's initial weights."""
import torch


def sequential_like(net, activation):
    """nn.Sequential of net's layers, `activation` between them, no output activation (the
    losses take the last layer's output: logits, or the identity output of mse)."""
    activations = {"sigmoid": torch.nn.Sigmoid, "tanh": torch.nn.Tanh, "relu": torch.nn.ReLU}
    layers = []
    for W, b in zip(net.weights, net.biases):
        linear = torch.nn.Linear(W.shape[1], W.shape[0])
        with torch.no_grad():
            linear.weight.copy_(torch.from_numpy(W))
            linear.bias.copy_(torch.from_numpy(b))
        layers += [linear, activations[activation]()]
    return torch.nn.Sequential(*layers[:-1])
