"""House prices, as in the tutorials: one traced step of backpropagation, then three ways of
doing gradient descent side by side.

The tutorials' network reads three features of a house (size, bedrooms, age) and predicts
its price:

    forward pass   Ŷ = σ(W·X + b), layer by layer
    loss           L = ½(Ŷ − Y)²
    backward pass  ∂L/∂W by the chain rule
    update         W_new = W_old − η·∂L/∂W

This script prints every number of one such step for one house (``fastbp._inspect.trace``),
then trains the same [3, 4, 4, 1] network from the same initial weights with per-example
(stochastic), mini-batch and full-batch gradient descent, and compares their loss curves and
their predictions on held-out houses.

Run it with ``python examples/house_prices.py`` (fastbp installed); ``--help`` lists options.
With matplotlib installed it also saves the loss curves as a PNG.
"""
import argparse
import time

import numpy as np

import fastbp
from fastbp import _inspect
from fastbp.datasets import HOUSE_FEATURES, house_prices, standardize

SIZES = [3, 4, 4, 1]
ACTIVATION = "sigmoid"  # the tutorials' σ
# name, batch_size, learning rate: each method gets a rate that suits it. Per-example
# descent takes one (noisy) step per house, full-batch one (exact) step per epoch.
METHODS = [
    ("per-example (batch_size=1)", 1, 0.01),
    ("mini-batch (batch_size=16)", 16, 0.1),
    ("full-batch (batch_size=None)", None, 0.5),
]


def load(n=1000, seed=0, train_fraction=0.8):
    """Houses split into training and held-out parts, standardised with the training
    statistics only (the held-out houses must not leak into the scaling)."""
    X, price = house_prices(n, seed=seed)
    n_train = int(train_fraction * n)
    X_train, x_mean, x_std = standardize(X[:n_train])
    y_train, y_mean, y_std = standardize(price[:n_train])
    return {
        "X": X, "price": price, "n_train": n_train,
        "X_train": X_train, "y_train": y_train,
        "X_test": (X[n_train:] - x_mean) / x_std, "price_test": price[n_train:],
        "y_mean": y_mean, "y_std": y_std,
    }


def traced_step(data, lr, seed):
    """Print one step of backpropagation on the first training house, and check it against fit."""
    net = fastbp.Network(SIZES, activation=ACTIVATION, seed=seed)
    x, y = data["X_train"][0], data["y_train"][0]
    house = ", ".join(f"{name} {value:,.0f}" for name, value in zip(HOUSE_FEATURES, data["X"][0]))
    print(f"One house: {house} → price ${data['price'][0]:,.0f}")
    print(f"standardised: x = {np.array2string(x, precision=4)}, y = {y:.4f}\n")
    step = _inspect.trace(net, x, y, lr=lr)
    print(step)

    # The traced update is exactly what fit does with one example, batch_size=1, no shuffle.
    fitted = net.copy()
    fitted.fit(x.reshape(1, -1), [y], epochs=1, batch_size=1, lr=lr, shuffle=False)
    traced_weights, traced_biases = step.new_weights()
    gap = max(float(np.max(np.abs(np.asarray(a, np.float64) - b)))
              for a, b in zip(list(fitted.weights) + list(fitted.biases), traced_weights + traced_biases))
    after = fitted.loss(x.reshape(1, -1), [y])
    print(f"\nfit(x, y, batch_size=1, lr={lr:g}) lands within {gap:.1e} of the traced weights "
          f"({net.dtype.name} rounding); the loss on this house goes {step.loss:.6f} → {after:.6f}.\n")
    return step


def train_side_by_side(data, epochs, seed):
    """Train one network per method from the same initial weights; record the training loss
    (½(Ŷ − Y)² averaged over all training houses) after every epoch."""
    results = []
    for name, batch_size, lr in METHODS:
        net = fastbp.Network(SIZES, activation=ACTIVATION, seed=seed)  # same seed: same start
        curve = [net.loss(data["X_train"], data["y_train"])]
        started = time.perf_counter()
        for _ in range(epochs):
            net.fit(data["X_train"], data["y_train"], epochs=1, batch_size=batch_size, lr=lr)
            curve.append(net.loss(data["X_train"], data["y_train"]))
        seconds = time.perf_counter() - started
        predicted = net.predict(data["X_test"]) * data["y_std"] + data["y_mean"]
        actual = data["price_test"]
        r2 = 1.0 - np.sum((actual - predicted) ** 2) / np.sum((actual - actual.mean()) ** 2)
        rmse = float(np.sqrt(np.mean((actual - predicted) ** 2)))
        n_batches = -(-data["n_train"] // (batch_size or data["n_train"]))
        results.append({"method": name, "batch_size": batch_size, "lr": lr, "curve": curve,
                        "r2": float(r2), "rmse": rmse, "seconds": seconds,
                        "updates": n_batches * epochs})
    return results


def print_curves(results, every):
    epochs = len(results[0]["curve"]) - 1
    shown = [e for e in range(epochs + 1) if e in (0, 1, 2, 5) or e % every == 0 or e == epochs]
    names = [r["method"].split(" (")[0] for r in results]
    print("Training loss ½(Ŷ − Y)² (standardised prices) after each epoch, same initial weights:")
    print("  epoch  " + "  ".join(f"{name:>12}" for name in names))
    for e in shown:
        print(f"  {e:5d}  " + "  ".join(f"{r['curve'][e]:12.5f}" for r in results))
    print()
    print(f"{'method':30}  {'lr':>5}  {'updates':>8}  {'held-out R²':>11}  {'RMSE':>9}  {'time':>7}")
    for r in results:
        print(f"{r['method']:30}  {r['lr']:5g}  {r['updates']:8,d}  {r['r2']:11.3f}  "
              f"{'$' + format(r['rmse'], ',.0f'):>9}  {r['seconds']:6.3f}s")


def save_plot(results, path):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print(f"\n(matplotlib is not installed: no plot saved; `pip install matplotlib` to get {path})")
        return None
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for r in results:
        ax.plot(range(len(r["curve"])), r["curve"], label=f"{r['method']}, lr {r['lr']:g}")
    ax.set_yscale("log")
    ax.set_xlabel("epoch")
    ax.set_ylabel("training loss ½(Ŷ − Y)²")
    ax.set_title(f"House prices, {SIZES} {ACTIVATION} network")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    print(f"\nloss curves saved to {path}")
    return path


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--houses", type=int, default=1000, help="number of houses (80%% train)")
    parser.add_argument("--epochs", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0, help="seed of the data and of the weights")
    parser.add_argument("--png", default="house_prices_curves.png", help="where to save the plot")
    args = parser.parse_args(argv)

    data = load(args.houses, seed=args.seed)
    print(_inspect.summary(fastbp.Network(SIZES, activation=ACTIVATION, seed=args.seed)))
    print()
    traced_step(data, lr=METHODS[0][2], seed=args.seed)
    results = train_side_by_side(data, args.epochs, seed=args.seed)
    print_curves(results, every=max(1, args.epochs // 10))
    save_plot(results, args.png)
    return results


if __name__ == "__main__":
    main()
