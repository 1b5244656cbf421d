"""The command line: train a network on a CSV file, predict with it, describe it.

``fastbp train``, ``predict``, ``info``, ``trace``, ``demo`` and ``config`` (also as
``python -m fastbp``).
Built on :class:`~fastbp.network.Network` directly: the command line maps class labels to
output indices itself and keeps the feature names, target names, classes, task and training
settings in the model file's metadata (format version 2). Bad input ends the command with a
one-line error on stderr, exit code 2, and no file written.
"""
from __future__ import annotations

import argparse
import csv
import dataclasses
import math
import os
import sys
import tempfile
import time
from collections.abc import Callable, Container, Iterable, Sequence
from typing import Any, NoReturn, TypeVar, cast

import numpy as np
from numpy.typing import NDArray

from fastbp import _inspect, _metrics, _persist, optim
from fastbp._config import show_config
from fastbp._registry import CLASSIFICATION_LOSSES, HIDDEN_ACTIVATIONS, LOSSES
from fastbp._version import __version__
from fastbp.datasets import house_prices
from fastbp.network import Network, load

# auto task: a numeric target of whole numbers with at most this many distinct values is taken
# for class labels
MAX_AUTO_CLASSES = 20
EXIT_ERROR = 2
EXIT_INTERRUPTED = 130  # the shells' code for a command ended by Ctrl-C (128 + SIGINT)

# A class label as the model file keeps it: a whole number, a number, or text.
Label = int | float | str
# _number's kinds: whole numbers or numbers.
_N = TypeVar("_N", int, float)


class UsageError(Exception):
    """Bad input from the user: reported as one line on stderr, exit code 2."""


class OneLineErrorParser(argparse.ArgumentParser):
    """argparse's parser, reporting bad arguments in one line like the rest (its usage is
    many lines of options that bury the error; --help shows it)."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_ERROR, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


# ----- reading CSV ----------------------------------------------------------------------------
class Table:
    """A CSV file's header and cells (text), with the file line of each row for messages."""

    def __init__(self, path: str, columns: list[str], rows: list[list[str]],
                 lines: list[int]) -> None:
        self.path, self.columns, self.rows, self.lines = path, columns, rows, lines

    def column(self, name: str) -> int:
        return self.columns.index(name)

    def numbers(self, names: Sequence[str]) -> NDArray[np.float64]:
        """The columns `names` as a float64 array (n_rows, len(names)); a cell that is not a
        finite number is an error naming its line and column."""
        out = np.empty((len(self.rows), len(names)))
        for j, name in enumerate(names):
            k = self.column(name)
            cells = [row[k] for row in self.rows]
            try:
                with np.errstate(over="ignore"):
                    out[:, j] = np.array(cells, dtype=np.float64)
                bad = ~np.isfinite(out[:, j])
            except ValueError:  # find the first cell that is not a number
                bad = np.array([not _is_number(cell) for cell in cells])
            if bad.any():
                i = int(np.argmax(bad))
                raise UsageError(f"{self.path}, line {self.lines[i]}: column {name!r} holds "
                                 f"{_short(cells[i])}, not a finite number")
        return out


def _is_number(text: str) -> bool:
    try:
        return math.isfinite(float(text))
    except ValueError:
        return False


def _short(text: str) -> str:
    return repr(text if len(text) <= 40 else text[:37] + "...")


def read_csv(path: str, may_be_empty: Container[str] = ()) -> Table:
    """The :class:`Table` of the CSV file at `path`: a header row of unique names, then rows
    of as many cells, none empty but in the columns `may_be_empty` (blank lines are skipped)."""
    try:
        with open(path, newline="", encoding="utf-8-sig") as handle:
            reader = csv.reader(handle)
            header = next(reader, None)
            rows, lines = [], []
            for row in reader:
                if not row or (len(row) == 1 and not row[0].strip()):
                    continue  # a blank line
                rows.append([cell.strip() for cell in row])
                lines.append(reader.line_num)
    except FileNotFoundError:
        raise UsageError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise UsageError(f"{path}: is a folder, not a CSV file") from None
    except UnicodeDecodeError:
        raise UsageError(f"{path}: not a text file in UTF-8") from None
    except csv.Error as exc:
        raise UsageError(f"{path}: not a readable CSV file ({exc})") from None
    except OSError as exc:
        raise UsageError(f"{path}: {exc.strerror or exc}") from None
    if header is None:
        raise UsageError(f"{path}: the file is empty (a header row of column names is needed)")
    columns = [name.strip() for name in header]
    for k, name in enumerate(columns):
        if not name:
            raise UsageError(f"{path}: column {k + 1} of the header has no name")
        if columns.index(name) != k:
            raise UsageError(f"{path}: the header names column {name!r} twice")
    if not rows:
        raise UsageError(f"{path}: the file has a header but no rows of data")
    for row, line in zip(rows, lines):
        if len(row) != len(columns):
            raise UsageError(f"{path}, line {line}: {len(row)} cells, the header has "
                             f"{len(columns)} columns")
        empty = [name for name, cell in zip(columns, row) if not cell and name not in may_be_empty]
        if empty:
            raise UsageError(f"{path}, line {line}: column {empty[0]!r} is empty")
    return Table(path, columns, rows, lines)


# ----- the task and the targets ---------------------------------------------------------------
def _classes_and_labels(cells: Sequence[str]) -> tuple[list[Label], NDArray[np.intp]]:
    """(classes, label index of each cell): numbers sorted as numbers (whole ones as ints),
    anything else sorted as text."""
    if all(_is_number(cell) for cell in cells):
        values = np.array(cells, dtype=np.float64)
        classes, indices = np.unique(values, return_inverse=True)
        whole = np.all(classes == np.round(classes)) and np.all(np.abs(classes) < 2**53)
        return [int(c) if whole else float(c) for c in classes], indices
    classes, indices = np.unique(np.array(cells, dtype=str), return_inverse=True)
    return [str(c) for c in classes], indices


def choose_task(task: str, table: Table, targets: Sequence[str],
                loss: str | None = None) -> tuple[str, str]:
    """("regression" or "classification", the reason shown to the user); `loss` is --loss
    (None when not given)."""
    cells = [row[table.column(targets[0])] for row in table.rows]
    if task != "auto":
        return task, "as asked"
    if len(targets) > 1:
        return "regression", f"{len(targets)} target columns"
    numeric = [_is_number(cell) for cell in cells]
    if not any(numeric):
        return "classification", f"the target column {targets[0]!r} holds text"
    if not all(numeric):  # numbers and text: labels, or numbers with a missing-value mark?
        i = numeric.index(False)
        text = f"{_short(cells[i])} on line {table.lines[i]}"
        n_numbers = len({float(cell) for cell, number in zip(cells, numeric) if number})
        if n_numbers > MAX_AUTO_CLASSES:
            raise UsageError(f"{table.path}: the target column {targets[0]!r} holds numbers and "
                             f"text ({text}): --task regression needs every cell a number, "
                             f"--task classification takes them all for labels")
        return "classification", f"the target column {targets[0]!r} holds text ({text})"
    values = np.unique(np.array(cells, dtype=np.float64))
    few_whole = np.all(values == np.round(values)) and len(values) <= MAX_AUTO_CLASSES
    if few_whole and loss is not None and loss not in CLASSIFICATION_LOSSES:
        return "regression", (f"the target column {targets[0]!r} holds {len(values)} distinct "
                              f"whole numbers, taken as numbers for --loss {loss}")
    if few_whole:
        return "classification", (f"the target column {targets[0]!r} holds {len(values)} "
                                  f"distinct whole numbers, taken for class labels; "
                                  f"--task regression to predict them as numbers")
    return "regression", (f"the target column {targets[0]!r} holds numbers, "
                          f"{len(values)} distinct values")


# ----- train ----------------------------------------------------------------------------------
def _layers(text: str) -> list[int]:
    try:
        # (int() takes " 32" but not "64 32", which must not become one layer of 6432)
        widths = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a list of widths such as 64,32") from None
    if any(width < 1 for width in widths):
        raise argparse.ArgumentTypeError(f"{text!r}: every width must be at least 1")
    return widths


def _fraction(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0 <= value < 1:
        raise argparse.ArgumentTypeError(f"{text} is not in [0, 1)")
    return value


def _number(kind: type[_N], text: str) -> _N:
    try:
        value = kind(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a {'whole number' if kind is int else 'number'}") from None
    if kind is int and abs(value) > _persist.MAX_COUNT:  # the model file keeps int64s
        raise argparse.ArgumentTypeError(f"{text} is too large")
    return value


def _positive(kind: type[_N]) -> Callable[[str], _N]:
    def parse(text: str) -> _N:
        value = _number(kind, text)
        if not (math.isfinite(value) and value > 0):
            raise argparse.ArgumentTypeError(f"{text} must be greater than 0")
        return value
    return parse


def _seed(text: str) -> int:
    value = _number(int, text)
    if value < 0:  # (numpy's generators take none below 0)
        raise argparse.ArgumentTypeError(f"{text} must be 0 or more")
    return value


def _split(n: int, fraction: float,
           seed: int) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """(training rows, validation rows): ⌈fraction·n⌉ rows drawn at random with `seed`."""
    order = np.random.default_rng(seed).permutation(n)
    n_val = math.ceil(fraction * n) if fraction else 0
    if fraction and not 1 <= n_val < n:
        raise UsageError(f"--validation-split {fraction} of {n} rows leaves no training or "
                         "validation rows")
    return np.sort(order[n_val:]), np.sort(order[:n_val])


def _metric_lines(net: Network, task: str, X: NDArray[np.float64], targets: Sequence[str],
                  Y: NDArray[np.float64] | None, labels: NDArray[np.intp] | None,
                  classes: Sequence[Label] | None, what: str) -> list[str]:
    """Lines of the final figures on one part of the data, in the targets' own units (`labels`
    are given for classification, `Y` for regression)."""
    if task == "classification":
        labels = cast("NDArray[np.intp]", labels)
        chosen = _predicted_labels(net, X, classes, indices=True)
        return [f"{what}: accuracy {np.mean(chosen == labels):.4f} ({len(labels)} rows)"]
    Y = cast("NDArray[np.float64]", Y)
    predicted = net.predict(X).reshape(Y.shape)
    r2 = _metrics.score("mse", predicted, Y)
    rmse = np.sqrt(np.mean((predicted - Y) ** 2, axis=0))
    return [f"{what}: R² {r2:.4f}, RMSE " + ", ".join(
        f"{value:.6g} ({name})" for value, name in zip(rmse, targets)) + f" ({len(Y)} rows)"]


def train(args: argparse.Namespace) -> int:
    """``fastbp train``: read the CSV, train, print the final figures, save the model."""
    folder = os.path.dirname(os.path.abspath(args.out))
    if not os.path.isdir(folder):  # found before training, not after
        raise UsageError(f"{args.out}: cannot save there: the folder {folder} does not exist")
    if os.path.isdir(args.out):
        raise UsageError(f"{args.out}: is a folder; --out names the model file, such as "
                         f"{os.path.join(args.out, 'model.npz')}")
    table = read_csv(args.data)
    if _same_file(args.out, args.data):
        raise UsageError(f"--out {args.out} is the data file: the model would replace it")
    targets = [name.strip() for name in args.target.split(",") if name.strip()]
    if not targets:
        raise UsageError("--target names no column")
    repeated = [name for k, name in enumerate(targets) if name in targets[:k]]
    if repeated:
        raise UsageError(f"--target names column {repeated[0]!r} twice")
    missing = [name for name in targets if name not in table.columns]
    if missing:
        raise UsageError(f"{args.data}: no target column {missing[0]!r}; the columns are "
                         f"{', '.join(table.columns)}")
    features = [name for name in table.columns if name not in targets]
    if not features:
        raise UsageError(f"{args.data}: no columns left for the inputs besides the target")
    X = table.numbers(features)
    task, reason = choose_task(args.task, table, targets, args.loss)
    classes = labels = Y = None
    if task == "classification":
        if len(targets) > 1:
            raise UsageError("classification takes one target column")
        classes, labels = _classes_and_labels([row[table.column(targets[0])] for row in table.rows])
        if len(classes) < 2:
            raise UsageError(f"the target column {targets[0]!r} holds one class only: "
                             f"{classes[0]!r}")
        loss = args.loss or "cross_entropy"
        if loss not in CLASSIFICATION_LOSSES:
            raise UsageError(f"--loss {loss} is for regression; classification takes "
                             "cross_entropy (or binary_cross_entropy for two classes)")
        if loss == "binary_cross_entropy" and len(classes) != 2:
            raise UsageError(f"binary_cross_entropy takes two classes, the target has "
                             f"{len(classes)}: use cross_entropy")
        n_out = 1 if loss == "binary_cross_entropy" else len(classes)
        y = labels.astype(np.float64) if n_out == 1 else labels
    else:
        loss = args.loss or "mse"
        if loss in CLASSIFICATION_LOSSES:
            raise UsageError(f"--loss {loss} is for classification; regression takes " + ", ".join(
                name for name in LOSSES if name not in CLASSIFICATION_LOSSES))
        Y = table.numbers(targets)
        n_out = len(targets)
        y = Y
    scale = not args.no_standardize
    net = Network([len(features), *args.layers, n_out], activation=args.activation, loss=loss,
                  dtype=args.dtype, seed=args.seed, scale_inputs=scale,
                  scale_targets=scale and task == "regression" and loss != "poisson")
    try:  # what the model file keeps is checked now, not after training
        net.metadata = {"feature_names": features, "target_names": targets, "classes": classes,
                        "task": task}
    except ValueError as exc:
        raise UsageError(f"{args.data}: the model file cannot keep its column names or class "
                         f"labels: {exc}") from None
    if len(args.layers) > _persist.MAX_TRAINING_ENTRIES:
        raise UsageError(f"--layers gives {len(args.layers)} hidden layers; the model file "
                         f"keeps at most {_persist.MAX_TRAINING_ENTRIES}")
    train_rows, val_rows = _split(len(table.rows), args.validation_split, args.seed)
    validation = (X[val_rows], y[val_rows]) if len(val_rows) else None
    optimizer = optim.resolve(args.optimizer)
    if optimizer.name == "lbfgs" and args.early_stopping:  # (before the two rules below clash)
        raise UsageError("--optimizer lbfgs takes no --early-stopping: it trains on every row, "
                         "without validation rows")
    if args.early_stopping and validation is None:
        raise UsageError("--early-stopping needs a --validation-split above 0")
    if optimizer.name == "lbfgs" and validation is not None:
        raise UsageError("--optimizer lbfgs takes no validation rows: add --validation-split 0")
    if optimizer.default_lr is None:  # irprop- and lbfgs choose their own steps
        if args.lr is not None:
            raise UsageError(f"--optimizer {args.optimizer} takes no --lr")
        lr = None
    else:
        lr = optim.base_lr(optimizer, args.lr)  # the optimizer's default when --lr is not given
        # the optimizer carries its lr, saved with it: info shows the lr used, not lr=None
        optimizer = dataclasses.replace(optimizer, lr=lr)

    # the inputs named: a column such as an id, taken for an input, shows here
    print(f"{args.data}: {_count(len(table.rows), 'row')}, "
          f"{_count(len(features), 'input column')} ({_first(features)}), "
          f"target {', '.join(targets)}")
    print(f"task: {task} ({reason})" + (
        f", {len(classes)} classes: {_first(classes)}" if classes else ""))
    print(f"{net}\ntraining on {len(train_rows)} rows, validating on {len(val_rows)}; "
          f"{args.optimizer}" + (f", lr {lr:g}" if lr else "") + ", " + (
              f"full batch, up to {args.epochs} iterations" if optimizer.name == "lbfgs"
              else f"batches of {args.batch_size}, up to {args.epochs} epochs"), flush=True)
    started = time.perf_counter()
    try:
        history = net.fit(X[train_rows], y[train_rows], epochs=args.epochs,
                          batch_size=args.batch_size, optimizer=optimizer,
                          validation_data=validation, early_stopping=args.early_stopping,
                          patience=args.patience, verbose=0 if args.quiet else 1)
    except ValueError as exc:  # settings fit refuses (e.g. lbfgs with validation), divergence
        raise UsageError(f"{str(exc).splitlines()[0]}; nothing written") from None
    seconds = time.perf_counter() - started

    restored = f", weights of epoch {history.best_epoch} restored" if history.best_epoch else ""
    final_loss = history.loss[-1]  # (at least one epoch: Ctrl-C and divergence end above)
    units = " (of the standardised targets)" if net.scale_targets else ""  # not the CSV's units
    lines = [f"trained {_count(history.epochs, 'epoch')} in {seconds:.2f} s (stopped: "
             f"{history.stopped_because}{restored}); final training loss {final_loss:.6g}{units}"]
    parts = [("training rows", train_rows)]
    if len(val_rows):
        parts.append(("validation rows", val_rows))
    for what, rows in parts:
        lines += _metric_lines(net, task, X[rows], targets, None if Y is None else Y[rows],
                               None if labels is None else labels[rows], classes, what)
    net.metadata = {
        "feature_names": features, "target_names": targets, "classes": classes, "task": task,
        "training": {
            "data": os.path.basename(args.data), "rows": len(train_rows),
            "validation_rows": len(val_rows), "layers": args.layers,
            "activation": args.activation, "loss": loss, "optimizer": args.optimizer,
            "lr": lr, "batch_size": args.batch_size, "epochs": history.epochs,
            "max_epochs": args.epochs, "early_stopping": args.early_stopping,
            "stopped_because": history.stopped_because, "standardized": scale,
            "seed": args.seed, "dtype": args.dtype, "final_loss": final_loss,
            "results": [_shortened(line, _persist.MAX_TEXT) for line in lines[1:]],
            "command_line_version": __version__}}
    try:
        net.save(args.out)  # (through a temporary file: Ctrl-C leaves no partial file)
    except OSError as exc:
        raise UsageError(f"{args.out}: cannot save ({exc.strerror or exc})") from None
    args.saved = True
    print("\n".join(lines))
    print(f"saved to {args.out}")
    return 0


def _same_file(path: str, other: str) -> bool:
    """Whether `path` names the existing file `other` (typed as another name or not)."""
    try:
        return os.path.samefile(path, other)
    except OSError:  # one of them does not exist (yet)
        return False


def _first(items: Sequence[object], n: int = 10) -> str:
    """The first `n` of `items`, comma-separated, then "..." for the rest."""
    return ", ".join(map(str, items[:n])) + (", ..." if len(items) > n else "")


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def _shortened(text: str, limit: int) -> str:
    """`text`, cut to `limit` characters ending in "..." when longer (as the model file keeps
    texts)."""
    return text if len(text) <= limit else text[:limit - 3] + "..."


# ----- predict --------------------------------------------------------------------------------
def _load(path: str) -> Network:
    try:
        return load(path)
    except FileNotFoundError:
        raise UsageError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise UsageError(f"{path}: is a folder, not a model file") from None
    except ValueError as exc:
        raise UsageError(str(exc).splitlines()[0]) from None
    except OSError as exc:
        raise UsageError(f"{path}: {exc.strerror or exc}") from None


def _predicted_labels(net: Network, X: NDArray[np.float64], classes: Sequence[Label] | None,
                      indices: bool = False) -> NDArray[np.intp] | list[Label]:
    probabilities = net.predict(X)
    if probabilities.ndim == 1:  # binary_cross_entropy: P(second class)
        chosen = (probabilities > 0.5).astype(np.intp)
    else:
        chosen = probabilities.argmax(axis=1)
    if indices:
        return chosen
    labels = cast("Sequence[Label]", classes)  # (None only where indices are asked for)
    return [labels[k] for k in chosen]


def _probabilities(net: Network, X: NDArray[np.float64]) -> NDArray[np.float64]:
    p = np.asarray(net.predict(X), np.float64)
    return np.column_stack([1 - p, p]) if p.ndim == 1 else p


def _cell(value: float, dtype: np.dtype[np.floating[Any]]) -> str:
    """A number as text, in as many digits as the network's dtype holds."""
    return str(dtype.type(value))


def predict(args: argparse.Namespace) -> int:
    """``fastbp predict``: the CSV's rows with the model's predictions, as CSV."""
    net = _load(args.model)
    if args.output is not None and _same_file(args.output, args.model):
        raise UsageError(f"-o {args.output} is the model file: the predictions would replace it")
    meta = net.metadata
    features = meta["feature_names"]
    targets = meta["target_names"] or []
    table = read_csv(args.data, may_be_empty=targets)  # target columns are ignored: may be empty
    if features is None:  # a model saved without names: the columns in order
        features = [name for name in table.columns if name not in targets]
        if len(features) != net.sizes[0]:
            raise UsageError(f"{args.data}: {len(features)} columns, the model (saved without "
                             f"column names) takes {net.sizes[0]} inputs")
    missing = [name for name in features if name not in table.columns]
    if missing:
        raise UsageError(f"{args.data}: no column {missing[0]!r}, one of the model's "
                         f"{len(features)} inputs ({', '.join(features)})")
    extra = [name for name in table.columns if name not in features and name not in targets]
    if extra:
        raise UsageError(f"{args.data}: column {extra[0]!r} is not one of the model's inputs "
                         f"({', '.join(features)})")
    X = table.numbers(features)
    classification = meta["task"] == "classification" or net.loss_name in CLASSIFICATION_LOSSES
    classes = meta["classes"]
    if classification and classes is None:  # labels as the output indices
        classes = list(range(max(net.sizes[-1], 2)))
    target = targets[0] if targets else "target"
    if args.proba:
        if not classification:
            raise UsageError("--proba is for classification models; this one does regression")
        names = [f"p_{label}" for label in classes]
        values = [[_cell(p, net.dtype) for p in row] for row in _probabilities(net, X)]
    elif classification:
        names = [f"predicted_{target}"]
        values = [[str(label)] for label in _predicted_labels(net, X, classes)]
    else:
        predicted = np.asarray(net.predict(X), np.float64).reshape(len(X), -1)
        names = [f"predicted_{name}" for name in (targets or [f"output_{k}" for k in range(predicted.shape[1])])]
        values = [[_cell(v, net.dtype) for v in row] for row in predicted]
    _write_csv(args.output, table.columns + names,
               (row + out for row, out in zip(table.rows, values)))
    if args.output:
        print(f"{len(table.rows)} predictions written to {args.output}", file=sys.stderr)
    return 0


def _write_csv(path: str | None, header: Iterable[str], rows: Iterable[Iterable[str]]) -> None:
    """Write to `path` through a temporary file renamed into place (stdout for None)."""
    if path is None:
        writer = csv.writer(sys.stdout, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)
        return
    directory = os.path.dirname(os.path.abspath(path))
    try:
        fd, tmp = tempfile.mkstemp(prefix=".fastbp-", suffix=".csv.tmp", dir=directory)
    except OSError as exc:
        raise UsageError(f"{path}: cannot write there ({exc.strerror or exc})") from None
    try:
        with os.fdopen(fd, "w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle, lineterminator="\n")  # the same bytes as on stdout
            writer.writerow(header)
            writer.writerows(rows)
        os.replace(tmp, path)
    except BaseException as exc:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        if isinstance(exc, OSError):
            raise UsageError(f"{path}: cannot write there ({exc.strerror or exc})") from None
        raise


# ----- trace ----------------------------------------------------------------------------------
def trace(args: argparse.Namespace) -> int:
    """``fastbp trace``: one backpropagation step on one row of a CSV file, printed, or drawn
    to ``-o`` as PNG or SVG."""
    if args.output is None and args.show is not None:
        raise UsageError("--show chooses what the picture shows: draw one with -o step.svg")
    net = _load(args.model)
    if args.output is not None:
        _check_picture_path(args.output, args.model, args.data)
    meta = net.metadata
    features, targets = meta["feature_names"], meta["target_names"]
    table = read_csv(args.data, may_be_empty=targets or ())  # other rows' targets may be empty
    classification = meta["task"] == "classification" or net.loss_name in CLASSIFICATION_LOSSES
    if features is None or targets is None:  # saved without names: the other columns, in order
        features, targets = _columns_unnamed(table, features, targets, net, classification)
    missing = [name for name in features + targets if name not in table.columns]
    if missing:
        what = "target" if missing[0] in targets else "input"
        raise UsageError(f"{args.data}: no column {missing[0]!r}, the model's {what} "
                         f"(inputs {', '.join(features)}; target {', '.join(targets)})")
    if args.row > len(table.rows):
        raise UsageError(f"--row {args.row}: {args.data} has {_count(len(table.rows), 'row')} "
                         f"of data (--row counts them from 1, after the header)")
    i = args.row - 1
    row = Table(table.path, table.columns, table.rows[i:i + 1], table.lines[i:i + 1])
    empty = [name for name in targets if not row.rows[0][row.column(name)]]
    if empty:
        raise UsageError(f"{args.data}, line {row.lines[0]}: the target column {empty[0]!r} "
                         "is empty; trace needs the row's target")
    x = row.numbers(features)[0]
    if classification:
        y = _label_index(row, targets[0], meta["classes"], net)
    else:
        y = row.numbers(targets)[0]
    try:
        step = net.trace(x, y)  # the step of the model's own optimizer, from its state
    except (ValueError, RuntimeError) as exc:  # e.g. an L-BFGS model: no single step to show
        raise UsageError(str(exc).splitlines()[0]) from None
    if args.output is None:
        print(f"{args.data}, row {args.row} (line {row.lines[0]}):")
        print(step)
        return 0
    try:
        step.plot(args.output, show=args.show or "forward")
    except ImportError as exc:  # matplotlib, an optional extra
        raise UsageError(str(exc)) from None
    except OSError as exc:
        raise UsageError(f"{args.output}: cannot write there ({exc.strerror or exc})") from None
    print(f"the step of row {args.row} ({args.show or 'forward'}) drawn to {args.output}",
          file=sys.stderr)
    return 0


def _columns_unnamed(table: Table, features: list[str] | None, targets: list[str] | None,
                     net: Network, classification: bool) -> tuple[list[str], list[str]]:
    """(input columns, target columns) of a model saved without the names of one or both:
    the named ones, and the file's other columns in order for the rest (inputs first)."""
    n_inputs, n_targets = net.sizes[0], 1 if classification else net.sizes[-1]
    named = set(features or []) | set(targets or [])
    others = [name for name in table.columns if name not in named]
    wanted = (0 if features is not None else n_inputs) + (0 if targets is not None else n_targets)
    if len(others) != wanted:
        what = " and ".join(part for part, unnamed in (
            (_count(n_inputs, "input column"), features is None),
            (_count(n_targets, "target column"), targets is None)) if unnamed)
        raise UsageError(f"{table.path}: {_count(len(others), 'column')} besides the named ones; "
                         f"the model (saved without their names) takes {what}, in that order")
    if features is None:
        features, others = others[:n_inputs], others[n_inputs:]
    return list(features), list(targets if targets is not None else others)


def _check_picture_path(path: str, *inputs: str) -> None:
    """Refuse a picture path that cannot be written or would replace an input, before work."""
    if os.path.splitext(path)[1].lower() not in (".png", ".svg"):
        raise UsageError(f"-o {path}: the picture is PNG or SVG, chosen by the extension: "
                         "name a .png or .svg file")
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise UsageError(f"{path}: cannot write there: the folder {folder} does not exist")
    for other in inputs:
        if _same_file(path, other):
            raise UsageError(f"-o {path} is the file {other}: the picture would replace it")


def _label_index(row: Table, target: str, classes: Sequence[Label] | None, net: Network) -> int:
    """The output index of the row's class label, as train mapped the labels."""
    cell = row.rows[0][row.column(target)]
    if classes is None:  # saved without classes: the labels are the output indices
        classes = list(range(max(net.sizes[-1], 2)))
    for k, label in enumerate(classes):
        if isinstance(label, str) and cell == label:
            return k
        if not isinstance(label, str) and _is_number(cell) and float(cell) == label:
            return k
    raise UsageError(f"{row.path}, line {row.lines[0]}: {_short(cell)} in column {target!r} "
                     f"is not one of the model's classes ({_first(classes)})")


# ----- info, demo -----------------------------------------------------------------------------
def info(args: argparse.Namespace) -> int:
    """``fastbp info``: the model's layers, inputs, target, classes and training."""
    net = _load(args.model)
    meta = net.metadata
    print(f"{args.model}\n")
    print(_inspect.summary(net))
    print(f"Epochs trained: {net.epochs_trained}")
    if meta["task"]:
        print(f"Task: {meta['task']}")
    if meta["feature_names"]:
        print(f"Inputs ({len(meta['feature_names'])}): {', '.join(meta['feature_names'])}")
    if meta["target_names"]:
        print(f"Target: {', '.join(meta['target_names'])}")
    if meta["classes"]:
        print(f"Classes ({len(meta['classes'])}): {', '.join(map(str, meta['classes']))}")
    training = meta["training"]
    if training:
        print("How it was trained:")
        width = max(map(len, training))
        for key, value in training.items():
            if isinstance(value, list) and value and all(isinstance(v, str) for v in value):
                print(f"  {key:<{width}}  " + f"\n  {'':<{width}}  ".join(value))
            else:
                shown = ",".join(map(str, value)) if isinstance(value, list) else value
                print(f"  {key:<{width}}  {shown}")
    elif not any(meta.values()):
        print("(saved without metadata: no column names, classes or training settings)")
    return 0


def demo(epochs: int = 40, seed: int = 0, n: int = 2000) -> float:
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
    r2: float = 1.0 - np.sum((actual - predicted) ** 2) / np.sum((actual - actual.mean()) ** 2)
    rmse = np.sqrt(np.mean((actual - predicted) ** 2))
    print(f"\ntrained {epochs} epochs in {seconds:.3f} s "
          f"({epochs * n_train / seconds:,.0f} samples/s)")
    print(f"held-out houses: R² = {r2:.3f}, RMSE = ${rmse:,.0f}")
    print("\n  size  bedrooms  age      price   predicted")
    for (size, bedrooms, age), p, q in zip(X[n_train:n_train + 5], actual, predicted):
        print(f"{size:6.0f}  {bedrooms:8.0f}  {age:3.0f}  ${p:9,.0f}  ${q:9,.0f}")
    return r2


# ----- the parser -----------------------------------------------------------------------------
DESCRIPTION = """\
Train multilayer perceptrons by backpropagation on CSV files, predict with them, describe them.

  fastbp train houses.csv --target price --out model.npz
  fastbp predict model.npz new_houses.csv -o predictions.csv
  fastbp info model.npz
  fastbp trace model.npz houses.csv --row 3 -o step.svg

Run "fastbp COMMAND --help" for each command's options."""

TRAIN_DESCRIPTION = """\
Train a network on a CSV file (comma-separated, a header row of column names, every cell
filled; the input columns numeric) and save it.

Every column besides the target is an input. The task is classification when the target holds
text or at most 20 distinct whole numbers (unless --loss names a regression loss; the output
says which; --task overrides), else regression. Inputs, and regression targets but poisson's
counts, are standardised ((value - mean) / std, with the training rows' statistics saved in the
model). The validation rows are drawn at random (with --seed). Ctrl-C stops training and
writes nothing.

example:
  fastbp train data.csv --target price --layers 64,32 --activation relu --loss mse \\
      --epochs 50 --lr 0.01 --batch-size 32 --validation-split 0.1 --out model.npz"""

PREDICT_DESCRIPTION = """\
Predict with a saved model for each row of a CSV file, matching columns by name (a target
column in the file is ignored). Writes CSV: the input rows as they were, then the predictions
in the last column(s): the predicted value (regression), the predicted label
(classification), or with --proba one column of probability per class."""

TRACE_DESCRIPTION = """\
One step of backpropagation on one row of a CSV file, every number shown: the forward pass, the
loss against the row's target, the backward pass and the update (the model is not changed).
Printed as text, or with -o drawn as a picture (PNG or SVG by the extension; needs matplotlib,
pip install "fastbp[plot]"): neurons as circles labelled with their values, weights as lines
coloured by sign and as wide as their size (--show forward: a and w; backward: δ and ∂L/∂w;
update: Δb and Δw).

example:
  fastbp trace model.npz houses.csv --row 3 -o step.svg --show backward"""

INFO_DESCRIPTION = """\
Describe a saved model: its layers and parameters, its inputs, target and classes, and how it
was trained."""


def parser() -> argparse.ArgumentParser:
    """The argument parser of the fastbp command."""
    formatter = argparse.RawDescriptionHelpFormatter
    main_parser = OneLineErrorParser(prog="fastbp", description=DESCRIPTION,
                                     formatter_class=formatter)
    main_parser.add_argument("--version", action="version", version=f"fastbp {__version__}")
    commands = main_parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = commands.add_parser("train", help="train a network on a CSV file and save it",
                            description=TRAIN_DESCRIPTION, formatter_class=formatter)
    p.add_argument("data", help="the CSV file")
    p.add_argument("--target", required=True,
                   help="the column to predict (several, comma-separated, for regression)")
    p.add_argument("--out", default="model.npz", help="the model file to write (default: %(default)s)")
    p.add_argument("--task", choices=("auto", "regression", "classification"), default="auto",
                   help="default: %(default)s")
    p.add_argument("--layers", type=_layers, default=[64, 32],
                   help="hidden layer widths, comma-separated (default: 64,32; \"\" for none)")
    p.add_argument("--activation", choices=HIDDEN_ACTIVATIONS, default="relu",
                   help="of the hidden layers (default: %(default)s)")
    p.add_argument("--loss", choices=tuple(LOSSES),
                   help="default: mse for regression, cross_entropy for classification")
    p.add_argument("--optimizer", choices=("sgd", "momentum", "nesterov", "adam", "adamw",
                                           "rmsprop", "adagrad", "irprop-", "lbfgs"),
                   default="adam", help="default: %(default)s")
    p.add_argument("--lr", type=_positive(float),
                   help="learning rate (default: the optimizer's own, 0.001 for adam)")
    p.add_argument("--epochs", type=_positive(int), default=50, help="default: %(default)s")
    p.add_argument("--batch-size", type=_positive(int), default=32, help="default: %(default)s")
    p.add_argument("--validation-split", type=_fraction, default=0.1,
                   help="fraction of rows held out for validation, 0 for none "
                        "(default: %(default)s)")
    p.add_argument("--early-stopping", action="store_true",
                   help="stop when the validation loss stops improving and keep the best weights")
    p.add_argument("--patience", type=_positive(int), default=5,
                   help="epochs without improvement before early stopping (default: %(default)s)")
    p.add_argument("--no-standardize", action="store_true",
                   help="feed inputs and targets as they are")
    p.add_argument("--dtype", choices=("float32", "float64"), default="float32",
                   help="default: %(default)s")
    p.add_argument("--seed", type=_seed, default=0,
                   help="of the weights, the validation rows and the shuffling (default: %(default)s)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress per epoch")

    p = commands.add_parser("predict", help="predict with a saved model for each row of a CSV file",
                            description=PREDICT_DESCRIPTION, formatter_class=formatter)
    p.add_argument("model", help="the model file (from fastbp train)")
    p.add_argument("data", help="the CSV file")
    p.add_argument("-o", "--output", help="the CSV file to write (default: standard output)")
    p.add_argument("--proba", action="store_true",
                   help="class probabilities instead of labels (classification)")

    p = commands.add_parser("trace", help="one backpropagation step on one row, printed or drawn",
                            description=TRACE_DESCRIPTION, formatter_class=formatter)
    p.add_argument("model", help="the model file (from fastbp train)")
    p.add_argument("data", help="the CSV file, with the model's inputs and target")
    p.add_argument("--row", type=_positive(int), default=1,
                   help="the row of data, counted from 1 after the header (default: %(default)s)")
    p.add_argument("-o", "--output",
                   help="draw the step to this .png or .svg file (default: print it)")
    p.add_argument("--show", choices=("forward", "backward", "update"),
                   help="what the picture shows (default: forward)")

    p = commands.add_parser("info", help="describe a saved model", description=INFO_DESCRIPTION,
                            formatter_class=formatter)
    p.add_argument("model", help="the model file")

    p = commands.add_parser("demo", help="train a small network on house prices",
                            description="Train a small network on synthetic house prices and "
                                        "show the loss per epoch and the fit on held-out houses.")
    p.add_argument("--epochs", type=_positive(int), default=40, help="default: %(default)s")
    p.add_argument("--seed", type=_seed, default=0, help="default: %(default)s")
    commands.add_parser("config", help="show how fastbp was built",
                        description="Show fastbp's version, build flags, CPU kernels and BLAS.")
    return main_parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the fastbp command.

    Parameters
    ----------
    argv : list of str, optional
        The arguments after the program's name (default: the process's).

    Returns
    -------
    int
        The exit code: 0, 2 for bad input (one line on stderr, nothing written), 130 when
        interrupted by Ctrl-C. Bad arguments exit through argparse (code 2) with its usage.

    Examples
    --------
    >>> from fastbp import cli
    >>> cli.main(["config"])  # doctest: +SKIP
    """
    args = parser().parse_args(argv)
    try:
        if args.command == "train":
            return train(args)
        if args.command == "predict":
            return predict(args)
        if args.command == "info":
            return info(args)
        if args.command == "trace":
            return trace(args)
        if args.command == "demo":
            demo(epochs=args.epochs, seed=args.seed)
        else:
            show_config()
        return 0
    except UsageError as exc:
        print(f"fastbp {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:  # Ctrl-C, in fit or anywhere else
        unsaved = args.command == "train" and not getattr(args, "saved", False)
        print(f"fastbp {args.command}: interrupted" + ("; nothing written" if unsaved else ""),
              file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:  # the reader went away (| head): no traceback, none at exit either
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
