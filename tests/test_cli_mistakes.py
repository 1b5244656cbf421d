"""The command line meets what new users plausibly get wrong: each mistake ends in one line on
stderr, exit code 2 and no file, before any training; or, where the intent is plain, works."""
import csv
import os

import numpy as np
import pytest

import fastbp
from fastbp import cli


def write_csv(path, header, rows):
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def run(capsys, *argv):
    """(exit code, stdout, stderr) of cli.main(argv), argparse's own exits included."""
    try:
        code = cli.main([os.fspath(arg) for arg in argv])
    except SystemExit as exit_:
        code = exit_.code
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def houses(tmp_path):
    X, price = fastbp.datasets.house_prices(60, seed=1)
    return write_csv(tmp_path / "houses.csv", ["size", "bedrooms", "age", "price"],
                     [[*map(repr, np.round(row, 1).tolist()), repr(round(p))]
                      for row, p in zip(X, price)])


def assert_refused(result, message, model):
    code, out, err = result
    assert code == 2, err
    assert err.count("\n") == 1 and err.startswith("fastbp ") and message in err, err
    assert "trained" not in out  # refused before training
    assert not model.exists()


@pytest.mark.parametrize("argv, message", [
    (("--epochs", "0"), "argument --epochs: 0 must be greater than 0"),
    (("--lr", "-1"), "argument --lr: -1 must be greater than 0"),
    (("--epochs", "1.5"), "argument --epochs: '1.5' is not a whole number"),
    (("--batch-size", "many"), "argument --batch-size: 'many' is not a whole number"),
    (("--lr", "fast"), "argument --lr: 'fast' is not a number"),
    (("--seed", "-1"), "argument --seed: -1 must be 0 or more"),
    (("--activation", "ReLU"), "argument --activation: invalid choice: 'ReLU'"),
    (("--seed", str(2**64)), f"argument --seed: {2**64} is too large"),  # once after training
    (("--batch-size", str(2**64)), f"argument --batch-size: {2**64} is too large"),
])
def test_bad_arguments_are_one_line_pointing_to_help(capsys, tmp_path, houses, argv, message):
    model = tmp_path / "m.npz"
    result = run(capsys, "train", houses, "--target", "price", "--out", model, *argv)
    assert_refused(result, message, model)
    assert result[2].rstrip().endswith("(see fastbp train --help)")


def test_a_missing_command_is_one_line_too(capsys):
    code, _, err = run(capsys)
    assert code == 2 and err == ("fastbp: error: the following arguments are required: COMMAND "
                                 "(see fastbp --help)\n")


@pytest.mark.parametrize("layers", ["64 32", "64;32", "64.5"])
def test_layers_not_separated_by_commas_are_refused(capsys, tmp_path, houses, layers):
    """'64 32' once read as one layer of 6432 units."""
    model = tmp_path / "m.npz"
    assert_refused(run(capsys, "train", houses, "--target", "price", "--layers", layers,
                       "--out", model), f"{layers!r} is not a list of widths such as 64,32", model)


def test_layers_with_spaces_after_the_commas_are_read(capsys, tmp_path, houses):
    model = tmp_path / "m.npz"
    code, _, err = run(capsys, "train", houses, "--target", "price", "--layers", " 8, 4 ",
                       "--epochs", "1", "-q", "--out", model)
    assert code == 0, err
    assert fastbp.load(model).sizes == (3, 8, 4, 1)


def test_a_target_named_twice_is_refused(capsys, tmp_path, houses):
    model = tmp_path / "m.npz"
    assert_refused(run(capsys, "train", houses, "--target", "price,price", "--out", model),
                   "--target names column 'price' twice", model)


def test_an_out_that_is_a_folder_is_refused_before_training(capsys, tmp_path, houses):
    folder = tmp_path / "models"
    folder.mkdir()
    code, out, err = run(capsys, "train", houses, "--target", "price", "--out", folder)
    assert code == 2 and err.count("\n") == 1 and "is a folder" in err, err
    assert "trained" not in out and os.listdir(folder) == []


@pytest.mark.parametrize("header, rows, message", [
    (["x" * 300, "y"], None, "cannot keep its column names or class labels: feature_names[0] "
                             "must be a string of 1 to 256 characters"),
    (["a", "y"], "label", "cannot keep its column names or class labels: classes[0] must be"),
])
def test_what_the_model_file_cannot_keep_is_refused_before_training(capsys, tmp_path, header,
                                                                    rows, message):
    rng = np.random.default_rng(0)
    labels = ["short", "L" * 1100] * 10 if rows else np.round(rng.normal(size=20), 3)
    path = write_csv(tmp_path / "data.csv", header,
                     [[repr(float(x)), label] for x, label in zip(rng.normal(size=20), labels)])
    model = tmp_path / "m.npz"
    assert_refused(run(capsys, "train", path, "--target", "y", "--out", model), message, model)


def test_too_many_layers_for_the_model_file_are_refused_before_training(capsys, tmp_path, houses):
    model = tmp_path / "m.npz"
    layers = ",".join(["2"] * 65)
    assert_refused(run(capsys, "train", houses, "--target", "price", "--layers", layers,
                       "--out", model), "--layers gives 65 hidden layers", model)


def test_many_targets_train_and_save_their_long_results_line(capsys, tmp_path):
    rng = np.random.default_rng(0)
    targets = [f"target_column_number_{k:02d}" for k in range(40)]
    path = write_csv(tmp_path / "data.csv", ["a", *targets], np.round(rng.normal(size=(30, 41)), 3))
    model = tmp_path / "m.npz"
    code, out, err = run(capsys, "train", path, "--target", ",".join(targets), "--epochs", "1",
                         "-q", "--out", model)
    assert code == 0, err
    results = fastbp.load(model).metadata["training"]["results"]
    printed = [line for line in out.splitlines() if line.startswith(("training rows: ",
                                                                      "validation rows: "))]
    assert len(printed) == len(results) == 2 and len(printed[0]) > 1024  # printed in full
    assert len(results[0]) == 1024 and results[0] == printed[0][:1021] + "..."  # kept cut
    assert results[1] == printed[1] or results[1] == printed[1][:1021] + "..."


def test_a_regression_loss_takes_whole_numbers_as_numbers(capsys, tmp_path):
    """Few distinct whole numbers would be taken for class labels; --loss mse says they are
    numbers to predict."""
    rng = np.random.default_rng(0)
    path = write_csv(tmp_path / "data.csv", ["x", "rating"],
                     [[repr(float(x)), str(r)]
                      for x, r in zip(rng.normal(size=40), [1, 2, 3, 4, 5] * 8)])
    model = tmp_path / "m.npz"
    code, out, err = run(capsys, "train", path, "--target", "rating", "--loss", "mse", "--epochs",
                         "1", "-q", "--out", model)
    assert code == 0, err
    assert "task: regression (the target column 'rating' holds 5 distinct whole numbers, " \
           "taken as numbers for --loss mse)" in out
    assert fastbp.load(model).metadata["task"] == "regression"


def test_info_shows_the_lr_training_used(capsys, tmp_path, houses):
    model = tmp_path / "m.npz"
    run(capsys, "train", houses, "--target", "price", "--epochs", "1", "-q", "--lr", "0.02",
        "--out", model)
    code, out, _ = run(capsys, "info", model)
    assert code == 0 and "Optimizer: Adam(lr=0.02, beta1" in out and "lr=None" not in out
    run(capsys, "train", houses, "--target", "price", "--epochs", "1", "-q", "--optimizer", "sgd",
        "--out", model)
    assert "Optimizer: SGD(lr=0.01, momentum=0.0" in run(capsys, "info", model)[1]


def test_giving_the_optimizer_its_lr_trains_the_same_weights(capsys, tmp_path, houses, dtype):
    """The command line hands fit an optimizer that carries the lr (so the file records it):
    the same weights as fit(lr=...) with the optimizer's defaults."""
    model = tmp_path / "m.npz"
    code, _, err = run(capsys, "train", houses, "--target", "price", "--epochs", "3", "-q",
                       "--lr", "0.02", "--validation-split", "0", "--dtype", dtype, "--out", model)
    assert code == 0, err
    X = np.loadtxt(houses, delimiter=",", skiprows=1)
    net = fastbp.Network([3, 64, 32, 1], activation="relu", dtype=dtype, seed=0,
                         scale_inputs=True, scale_targets=True)
    rows = cli._split(len(X), 0.0, 0)[0]
    net.fit(X[rows, :3], X[rows, 3:], epochs=3, batch_size=32, lr=0.02, optimizer="adam",
            verbose=0)
    assert fastbp.load(model).state.params.tobytes() == net.state.params.tobytes()


def test_numbers_with_a_missing_value_mark_are_not_taken_for_labels(capsys, tmp_path, houses):
    """One 'n/a' among the prices once made a classifier with a class per price."""
    lines = open(houses).read().splitlines()
    lines.insert(8, "2000.0,3,10,n/a")
    path = tmp_path / "na.csv"
    path.write_text("\n".join(lines) + "\n")
    model = tmp_path / "m.npz"
    assert_refused(run(capsys, "train", path, "--target", "price", "--out", model),
                   "the target column 'price' holds numbers and text ('n/a' on line 9): "
                   "--task regression needs every cell a number", model)
    code, out, err = run(capsys, "train", path, "--target", "price", "--task", "regression",
                         "--out", model)
    assert code == 2 and "line 9: column 'price' holds 'n/a', not a finite number" in err


def test_labels_of_numbers_and_text_say_which_text(capsys, tmp_path):
    rng = np.random.default_rng(0)
    path = write_csv(tmp_path / "data.csv", ["x", "grade"],
                     [[repr(float(x)), g]
                      for x, g in zip(rng.normal(size=30), ["1", "2", "fail"] * 10)])
    code, out, err = run(capsys, "train", path, "--target", "grade", "--epochs", "1", "-q",
                         "--out", tmp_path / "m.npz")
    assert code == 0, err
    assert "task: classification (the target column 'grade' holds text ('fail' on line 4))" in out
    assert fastbp.load(tmp_path / "m.npz").metadata["classes"] == ["1", "2", "fail"]


def test_the_summary_lines_read_as_english_and_say_the_losss_units(capsys, tmp_path, houses):
    code, out, _ = run(capsys, "train", houses, "--target", "price", "--epochs", "1", "-q",
                       "--out", tmp_path / "m.npz")
    assert code == 0 and "60 rows, 3 input columns" in out and "trained 1 epoch in " in out
    assert "(of the standardised targets)" in out.split("final training loss")[1].splitlines()[0]
    code, out, _ = run(capsys, "train", houses, "--target", "price", "--epochs", "2", "-q",
                       "--no-standardize", "--out", tmp_path / "m.npz")
    assert code == 0 and "trained 2 epochs in " in out and "standardised targets" not in out


def test_predict_writes_the_same_bytes_to_a_file_as_to_stdout(capsys, tmp_path, houses):
    model = tmp_path / "m.npz"
    run(capsys, "train", houses, "--target", "price", "--epochs", "1", "-q", "--out", model)
    code, shown, _ = run(capsys, "predict", model, houses)
    assert code == 0 and run(capsys, "predict", model, houses, "-o", tmp_path / "p.csv")[0] == 0
    assert (tmp_path / "p.csv").read_bytes() == shown.encode()  # "\n" line ends in both


@pytest.mark.parametrize("split", ["0.1", "0"])
def test_lbfgs_with_early_stopping_gets_one_way_out(capsys, tmp_path, houses, split):
    """Not 'add --validation-split 0' and then 'needs a --validation-split above 0'."""
    model = tmp_path / "m.npz"
    assert_refused(run(capsys, "train", houses, "--target", "price", "--optimizer", "lbfgs",
                       "--early-stopping", "--validation-split", split, "--out", model),
                   "--optimizer lbfgs takes no --early-stopping", model)


def test_lbfgs_is_announced_as_full_batch(capsys, tmp_path, houses):
    code, out, err = run(capsys, "train", houses, "--target", "price", "--optimizer", "lbfgs",
                         "--validation-split", "0", "--epochs", "3", "-q", "--out", tmp_path / "m.npz")
    assert code == 0, err
    assert "lbfgs, full batch, up to 3 iterations" in out and "batches of" not in out


def test_train_names_the_input_columns_so_a_stray_one_shows(capsys, tmp_path):
    rng = np.random.default_rng(0)
    path = write_csv(tmp_path / "data.csv", ["id", "x", "y"],
                     [[k, repr(float(x)), repr(float(y))]
                      for k, (x, y) in enumerate(rng.normal(size=(30, 2)))])
    code, out, _ = run(capsys, "train", path, "--target", "y", "--epochs", "1", "-q",
                       "--out", tmp_path / "m.npz")
    assert code == 0 and "30 rows, 2 input columns (id, x), target y" in out
    wide = write_csv(tmp_path / "wide.csv", [f"x{k}" for k in range(12)] + ["y"],
                     np.round(rng.normal(size=(30, 13)), 3))
    code, out, _ = run(capsys, "train", wide, "--target", "y", "--epochs", "1", "-q",
                       "--out", tmp_path / "m.npz")
    assert code == 0 and "12 input columns (x0, x1, x2, x3, x4, x5, x6, x7, x8, x9, ...)" in out


def test_neither_command_writes_over_the_file_it_reads(capsys, tmp_path, houses, monkeypatch):
    """A slip of the finger (--out data.csv, -o model.npz) must not destroy the other file."""
    before = houses.read_bytes()
    code, out, err = run(capsys, "train", houses, "--target", "price", "--out", houses)
    assert code == 2 and err.count("\n") == 1 and "is the data file" in err
    assert houses.read_bytes() == before and "trained" not in out
    model = tmp_path / "m.npz"
    run(capsys, "train", houses, "--target", "price", "--epochs", "1", "-q", "--out", model)
    saved = model.read_bytes()
    monkeypatch.chdir(tmp_path)  # the same file under another name
    code, _, err = run(capsys, "predict", model, houses, "-o", "m.npz")
    assert code == 2 and err.count("\n") == 1 and "is the model file" in err
    assert model.read_bytes() == saved
