"""Command line: ``fastbp demo`` trains a small network on the house-price data; ``fastbp config``
shows how this installation was built."""
import argparse
import sys
import time

import numpy as np

from fastbp._config import show_config
from fastbp.datasets import house_prices
from fastbp.network import Network


def demo(epochs=40, seed=0, n=2000):
    """Train [3, 8, 8, 1] on house prices, print the loss per epoch and the held-out fit."""
    X, price = house_prices(n, seed=seed)
    n_train = int(0.8 * n)
    # The network standardises inputs and prices itself (statistics of the training data,
    # kept with the model), so it is fed and answers in square feet, years and dollars.
    net = Network([3, 8, 8, 1], activation="tanh", seed=seed,
                         scale_inputs=True, scale_targets=True)
    print(f"{net}\ntraining on {n_train} houses (size, bedrooms, age → price), "
          f"mini-batches of 16, lr 0.05\n")
    started = time.perf_counter()
    history = net.fit(X[:n_train], price[:n_train], epochs=epochs, batch_size=16, lr=0.05)
    seconds = time.perf_counter() - started
    for epoch, loss in enumerate(history.loss, 1):
        print(f"epoch {epoch:3d}   loss {loss:.5f}")

    predicted = net.predict(X[n_train:])
    actual = price[n_train:]
    r2 = 1.0 - np.sum((actual - predicted) ** 2) / np.sum((actual - actual.mean()) ** 2)
    rmse = np.sqrt(np.mean((actual - predicted) ** 2))
    print(f"\ntrained {epochs} epochs in {seconds:.3f} s "
          f"({epochs * n_train / seconds:,.0f} samples/s)")
    print(f"held-out houses: R² = {r2:.3f}, RMSE = ${rmse:,.0f}")
    print("\n  size  bedrooms  age      price   predicted")
    for (size, bedrooms, age), p, q in zip(X[n_train:n_train + 5], actual, predicted):
        print(f"{size:6.0f}  {bedrooms:8.0f}  {age:3.0f}  ${p:9,.0f}  ${q:9,.0f}")
    return r2


def main(argv=None):
    parser = argparse.ArgumentParser(prog="fastbp", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    demo_parser = commands.add_parser("demo", help="train a small network on house prices")
    demo_parser.add_argument("--epochs", type=int, default=40)
    demo_parser.add_argument("--seed", type=int, default=0)
    commands.add_parser("config", help="show how fastbp was built")
    args = parser.parse_args(argv)
    if args.command == "demo":
        demo(epochs=args.epochs, seed=args.seed)
    else:
        show_config()
    return 0


if __name__ == "__main__":
    sys.exit(main())
