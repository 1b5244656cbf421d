"""The command line (fastbp.cli): train on a CSV file, predict, info; bad input gives one line
on stderr, exit code 2 and no file. Most tests call cli.main in this process; those marked
"installed" run the command itself (python -m fastbp, from another folder)."""
import csv
import io
import os
import subprocess
import sys

import numpy as np
import pytest

import fastbp
from fastbp import cli

CLASSES = np.array(["cat", "dog", "emu"])


def write_csv(path, header, rows):
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def read_csv(path_or_text):
    text = path_or_text if "\n" in str(path_or_text) else open(path_or_text).read()
    rows = list(csv.reader(io.StringIO(text)))
    return rows[0], rows[1:]


@pytest.fixture
def houses(tmp_path):
    """A CSV of 400 houses: size, bedrooms, age, price; and its features and prices."""
    X, price = fastbp.datasets.house_prices(400, seed=1)
    X = np.round(X, 1)
    price = np.round(price)
    path = write_csv(tmp_path / "houses.csv", ["size", "bedrooms", "age", "price"],
                     [[*map(repr, row), repr(p)] for row, p in zip(X.tolist(), price.tolist())])
    return path, X, price


@pytest.fixture
def animals(tmp_path):
    """A CSV of 300 rows: four measurements and a species named in text."""
    X, labels = fastbp.datasets.gaussian_classes(300, 4, 3, seed=0, spread=0.4)
    X = np.round(X, 4)
    path = write_csv(tmp_path / "animals.csv", ["a", "b", "c", "d", "species"],
                     [[*map(repr, row), CLASSES[k]] for row, k in zip(X.tolist(), labels)])
    return path, X, labels


def run(capsys, *argv):
    """(exit code, stdout, stderr) of cli.main(argv)."""
    code = cli.main([os.fspath(arg) for arg in argv])
    out, err = capsys.readouterr()
    return code, out, err


def run_installed(*argv, cwd):
    """The installed command, as a user runs it (python -m fastbp: the console script may not be
    on PATH in a test environment)."""
    return subprocess.run([sys.executable, "-m", "fastbp", *map(os.fspath, argv)], cwd=cwd,
                          capture_output=True, text=True, timeout=300)


# ----- train and predict -----------------------------------------------------------------------
def test_regression_trains_saves_and_predicts_in_the_targets_units(capsys, tmp_path, houses, dtype):
    path, X, price = houses
    model = tmp_path / "model.npz"
    code, out, err = run(capsys, "train", path, "--target", "price", "--layers", "16,8",
                         "--epochs", "40", "--lr", "0.01", "--batch-size", "16",
                         "--validation-split", "0.2", "--dtype", dtype, "--out", model)
    assert code == 0, err
    assert "task: regression (the target column 'price' holds numbers" in out
    assert "epoch 40" in err  # progress, on stderr
    assert "validation rows: R² " in out and f"saved to {model}" in out
    net = fastbp.load(model)
    assert net.sizes == (3, 16, 8, 1) and net.dtype == np.dtype(dtype)
    assert net.scale_inputs and net.scale_targets  # standardised by default, stored in the model
    assert net.metadata["feature_names"] == ["size", "bedrooms", "age"]
    assert net.metadata["target_names"] == ["price"] and net.metadata["task"] == "regression"
    assert net.metadata["training"]["rows"] == 320
    assert net.metadata["training"]["validation_rows"] == 80

    code, out, err = run(capsys, "predict", model, path)
    assert code == 0, err
    header, rows = read_csv(out)
    assert header == ["size", "bedrooms", "age", "price", "predicted_price"]
    assert len(rows) == len(X)
    predicted = np.array([float(row[-1]) for row in rows])
    expected = net.predict(X)
    np.testing.assert_array_equal(predicted.astype(dtype), expected.astype(dtype))
    r2 = 1 - np.sum((price - predicted) ** 2) / np.sum((price - price.mean()) ** 2)
    assert r2 > 0.9


def test_classification_of_text_labels_predicts_labels_and_probabilities(capsys, tmp_path,
                                                                       animals, dtype):
    path, X, labels = animals
    model = tmp_path / "model.npz"
    code, out, err = run(capsys, "train", path, "--target", "species", "--epochs", "30",
                         "--dtype", dtype, "--out", model, "--quiet")
    assert code == 0, err
    assert "task: classification (the target column 'species' holds text), 3 classes" in out
    assert "validation rows: accuracy" in out and err == ""  # --quiet: no progress
    net = fastbp.load(model)
    assert net.loss_name == "cross_entropy" and net.sizes[-1] == 3
    assert net.metadata["classes"] == ["cat", "dog", "emu"]
    assert net.scale_inputs and not net.scale_targets

    out_path = tmp_path / "predicted.csv"
    code, out, err = run(capsys, "predict", model, path, "-o", out_path)
    assert code == 0 and out == ""
    header, rows = read_csv(out_path)
    assert header[-1] == "predicted_species" and len(rows) == len(X)
    probabilities = net.predict(X)
    assert [row[-1] for row in rows] == list(CLASSES[probabilities.argmax(axis=1)])
    assert np.mean([row[-1] == row[-2] for row in rows]) > 0.8  # the labels are learnt

    code, out, err = run(capsys, "predict", model, path, "--proba")
    header, rows = read_csv(out)
    assert header[-3:] == ["p_cat", "p_dog", "p_emu"]
    shown = np.array([[float(cell) for cell in row[-3:]] for row in rows])
    np.testing.assert_array_equal(shown.astype(dtype), probabilities)
    np.testing.assert_allclose(shown.sum(axis=1), 1, rtol=1e-5)


def test_binary_cross_entropy_takes_two_classes(capsys, tmp_path, animals):
    path, X, labels = animals
    keep = labels < 2
    two = write_csv(tmp_path / "two.csv", ["a", "b", "c", "d", "species"],
                    [[*map(repr, row), CLASSES[k]] for row, k in zip(X[keep].tolist(), labels[keep])])
    model = tmp_path / "model.npz"
    code, out, err = run(capsys, "train", two, "--target", "species", "--loss",
                         "binary_cross_entropy", "--epochs", "20", "--out", model, "-q")
    assert code == 0, err
    net = fastbp.load(model)
    assert net.sizes[-1] == 1 and net.metadata["classes"] == ["cat", "dog"]
    code, out, _ = run(capsys, "predict", model, two, "--proba")
    header, rows = read_csv(out)
    p = net.predict(X[keep])
    assert header[-2:] == ["p_cat", "p_dog"]
    np.testing.assert_allclose([float(row[-1]) for row in rows], p, rtol=1e-6)
    code, out, _ = run(capsys, "predict", model, two)
    assert [row[-1] for row in read_csv(out)[1]] == list(np.where(p > 0.5, "dog", "cat"))


@pytest.mark.parametrize("values, task", [
    ([1, 2, 3, 2, 1, 3] * 10, "classification"),        # few whole numbers: labels
    (list(range(60)), "regression"),                     # many whole numbers
    ([0.5, 1.5, 2.5] * 20, "regression"),                # few, but not whole
])
def test_auto_task_and_the_reason_shown(capsys, tmp_path, values, task):
    rng = np.random.default_rng(0)
    path = write_csv(tmp_path / "data.csv", ["x", "y"],
                     [[repr(float(x)), str(v)] for x, v in zip(rng.normal(size=len(values)), values)])
    code, out, err = run(capsys, "train", path, "--target", "y", "--epochs", "1",
                         "--out", tmp_path / "m.npz", "-q")
    assert code == 0, err
    assert f"task: {task} (" in out
    assert fastbp.load(tmp_path / "m.npz").metadata["task"] == task


def test_task_can_be_forced_and_integer_classes_stay_numbers(capsys, tmp_path):
    rng = np.random.default_rng(0)
    path = write_csv(tmp_path / "data.csv", ["x", "y"],
                     [[repr(float(x)), str(v)] for x, v in zip(rng.normal(size=40), [10, 2] * 20)])
    code, out, _ = run(capsys, "train", path, "--target", "y", "--epochs", "1", "-q",
                       "--out", tmp_path / "c.npz")
    assert fastbp.load(tmp_path / "c.npz").metadata["classes"] == [2, 10]  # numeric order
    code, out, _ = run(capsys, "train", path, "--target", "y", "--task", "regression",
                       "--epochs", "1", "-q", "--out", tmp_path / "r.npz")
    assert code == 0 and "task: regression (as asked)" in out
    assert fastbp.load(tmp_path / "r.npz").loss_name == "mse"


def test_validation_rows_are_drawn_at_random_with_the_seed():
    train_a, val_a = cli._split(100, 0.2, seed=0)
    train_b, val_b = cli._split(100, 0.2, seed=0)
    _, val_c = cli._split(100, 0.2, seed=1)
    np.testing.assert_array_equal(val_a, val_b)
    assert len(val_a) == 20 and sorted(np.r_[train_a, val_a]) == list(range(100))
    assert not np.array_equal(val_a, np.arange(80, 100))  # not the last rows
    assert not np.array_equal(val_a, val_c)


def test_the_same_seed_trains_the_same_model(capsys, tmp_path, houses):
    path = houses[0]
    for name in ("a.npz", "b.npz"):
        assert run(capsys, "train", path, "--target", "price", "--epochs", "3", "--seed", "5",
                   "--out", tmp_path / name, "-q")[0] == 0
    a, b = fastbp.load(tmp_path / "a.npz"), fastbp.load(tmp_path / "b.npz")
    assert a.state.params.tobytes() == b.state.params.tobytes()


def test_no_standardize_feeds_values_as_they_are(capsys, tmp_path, houses):
    code, _, err = run(capsys, "train", houses[0], "--target", "price", "--epochs", "1", "-q",
                       "--no-standardize", "--lr", "1e-12", "--optimizer", "sgd",
                       "--out", tmp_path / "m.npz")
    assert code == 0, err
    net = fastbp.load(tmp_path / "m.npz")
    assert not net.scale_inputs and not net.scale_targets


def test_predict_ignores_a_target_column_even_with_empty_cells(capsys, tmp_path, houses):
    path, X, _ = houses
    model = tmp_path / "m.npz"
    run(capsys, "train", path, "--target", "price", "--epochs", "2", "-q", "--out", model)
    reordered = write_csv(tmp_path / "new.csv", ["age", "price", "size", "bedrooms"],
                          [[repr(r[2]), "", repr(r[0]), repr(r[1])] for r in X[:5].tolist()])
    code, out, err = run(capsys, "predict", model, reordered)
    assert code == 0, err
    header, rows = read_csv(out)
    assert header == ["age", "price", "size", "bedrooms", "predicted_price"]
    np.testing.assert_allclose([float(row[-1]) for row in rows], fastbp.load(model).predict(X[:5]),
                               rtol=1e-6)


def test_info_describes_the_model_and_its_training(capsys, tmp_path, animals):
    model = tmp_path / "m.npz"
    run(capsys, "train", animals[0], "--target", "species", "--epochs", "2", "-q", "--out", model,
        "--layers", "7")
    code, out, _ = run(capsys, "info", model)
    assert code == 0
    net = fastbp.load(model)
    for text in ("Dense 1  4 → 7", f"Total parameters: {net.n_params:,}", "Epochs trained: 2",
                 "Task: classification", "Inputs (4): a, b, c, d", "Target: species",
                 "Classes (3): cat, dog, emu", "How it was trained:", "animals.csv",
                 "validation rows: accuracy"):
        assert text in out, text
    bare = tmp_path / "bare.npz"
    fastbp.Network([3, 2, 1], seed=0).save(bare)
    assert "saved without metadata" in run(capsys, "info", bare)[1]


def test_ctrl_c_during_training_writes_nothing(capsys, tmp_path, houses, monkeypatch):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt
    monkeypatch.setattr(cli.Network, "fit", interrupted)
    model = tmp_path / "m.npz"
    code, out, err = run(capsys, "train", houses[0], "--target", "price", "--out", model)
    assert code == 130 and "interrupted; nothing written" in err
    assert not model.exists()


# ----- bad input: one line on stderr, exit code 2, nothing written -----------------------------
BAD_TRAINING_DATA = {
    "missing file": (None, "no such file"),
    "empty file": ("", "the file is empty"),
    "header only": ("x,y\n", "a header but no rows"),
    "ragged row": ("x,y\n1,2\n3\n", "line 3: 1 cells, the header has 2 columns"),
    "empty cell": ("x,y\n1,2\n,4\n", "line 3: column 'x' is empty"),
    "text in a feature": ("x,y\n1,2\nabc,4\n", "line 3: column 'x' holds 'abc', not a finite number"),
    "infinite feature": ("x,y\n1,2\ninf,4\n", "line 3: column 'x' holds 'inf', not a finite number"),
    "missing target": ("x,z\n1,2\n3,4\n", "no target column 'y'"),
    "repeated column": ("x,x,y\n1,2,3\n", "names column 'x' twice"),
    "one class": ("x,y\n1,a\n2,a\n", "holds one class only"),
    "not UTF-8": (b"x,y\n\xff\xfe,1\n", "not a text file in UTF-8"),
}


@pytest.mark.parametrize("case", sorted(BAD_TRAINING_DATA))
def test_bad_training_data_gives_one_line_exit_2_and_no_model(capsys, tmp_path, case):
    content, message = BAD_TRAINING_DATA[case]
    path = tmp_path / "data.csv"
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif content is not None:
        path.write_text(content)
    model = tmp_path / "model.npz"
    code, out, err = run(capsys, "train", path, "--target", "y", "--out", model)
    assert code == 2
    assert err.count("\n") == 1 and err.startswith("fastbp train: error: ") and message in err
    assert not model.exists()


def test_bad_data_for_a_model_gives_one_line_exit_2_and_no_output(capsys, tmp_path, houses):
    model = tmp_path / "m.npz"
    run(capsys, "train", houses[0], "--target", "price", "--epochs", "1", "-q", "--out", model)
    out_path = tmp_path / "out.csv"
    cases = {
        "size,bedrooms\n1,2\n": "no column 'age', one of the model's 3 inputs",
        "size,bedrooms,age,colour\n1,2,3,4\n": "column 'colour' is not one of the model's inputs",
        "size,bedrooms,age\n1,2,x\n": "column 'age' holds 'x'",
        "size,bedrooms,age\n1,2\n": "2 cells, the header has 3 columns",
    }
    for content, message in cases.items():
        (tmp_path / "new.csv").write_text(content)
        code, out, err = run(capsys, "predict", model, tmp_path / "new.csv", "-o", out_path)
        assert code == 2 and err.count("\n") == 1 and message in err, err
        assert not out_path.exists() and out == ""
    (tmp_path / "junk.npz").write_bytes(b"junk")
    for bad_model, message in ((tmp_path / "none.npz", "no such file"),
                               (tmp_path / "junk.npz", "not a readable fastbp network file")):
        code, _, err = run(capsys, "predict", bad_model, houses[0])
        assert code == 2 and err.count("\n") == 1 and message in err
        code, _, err = run(capsys, "info", bad_model)
        assert code == 2 and message in err


def test_bad_settings_are_refused_before_training(capsys, tmp_path, houses, animals):
    cases = [
        ((houses[0], "--target", "price", "--loss", "cross_entropy"), "is for classification"),
        ((animals[0], "--target", "species", "--loss", "mse"), "is for regression"),
        ((houses[0], "--target", "price", "--optimizer", "lbfgs"), "add --validation-split 0"),
        ((houses[0], "--target", "price", "--optimizer", "irprop-", "--lr", "0.1"), "takes no --lr"),
        ((houses[0], "--target", "price", "--early-stopping", "--validation-split", "0"),
         "needs a --validation-split"),
        ((houses[0], "--target", "price", "--lr", "1e30", "--optimizer", "sgd",
          "--no-standardize"), "training diverged"),
    ]
    code, _, err = run(capsys, "train", houses[0], "--target", "price", "--out",
                       tmp_path / "missing" / "m.npz")
    assert code == 2 and "does not exist" in err and "epoch" not in err
    for argv, message in cases:
        code, _, err = run(capsys, "train", *argv, "--out", tmp_path / "m.npz", "-q")
        assert code == 2 and message in err and err.count("\n") == 1, err
        assert not (tmp_path / "m.npz").exists()


@pytest.mark.parametrize("argv", [("train", "x.csv", "--target", "y", "--epochs", "0"),
                                  ("train", "x.csv", "--target", "y", "--layers", "4,a"),
                                  ("train", "x.csv", "--target", "y", "--validation-split", "1"),
                                  ("train", "x.csv"), ("predict", "m.npz"), ("fly",)])
def test_bad_arguments_exit_2(capsys, argv):
    with pytest.raises(SystemExit) as caught:
        cli.main(list(argv))
    assert caught.value.code == 2
    assert "error:" in capsys.readouterr().err


# ----- help ------------------------------------------------------------------------------------
@pytest.mark.parametrize("command", [None, "train", "predict", "info", "demo", "config"])
def test_help_is_written_for_a_terminal(capsys, command):
    with pytest.raises(SystemExit) as caught:
        cli.main(([command] if command else []) + ["--help"])
    assert caught.value.code == 0
    text = capsys.readouterr().out
    assert text.startswith("usage: fastbp")
    for markup in ("``", ":func:", ":class:", ":meth:", "::", ".. "):
        assert markup not in text, markup


def test_version(capsys):
    with pytest.raises(SystemExit) as caught:
        cli.main(["--version"])
    assert caught.value.code == 0 and capsys.readouterr().out == f"fastbp {fastbp.__version__}\n"


# ----- the installed command -------------------------------------------------------------------
def test_installed_command_trains_and_predicts(tmp_path, animals):
    path = animals[0]
    result = run_installed("train", path, "--target", "species", "--epochs", "5", "--out",
                           "model.npz", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "task: classification" in result.stdout and "epoch 5" in result.stderr
    result = run_installed("predict", "model.npz", path, "-o", "out.csv", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert len(read_csv(tmp_path / "out.csv")[1]) == 300
    result = run_installed("info", "model.npz", cwd=tmp_path)
    assert result.returncode == 0 and "Classes (3): cat, dog, emu" in result.stdout


def test_installed_command_reports_bad_input_in_one_line(tmp_path):
    (tmp_path / "data.csv").write_text("x,y\n1,2\n3\n")
    result = run_installed("train", "data.csv", "--target", "y", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr == "fastbp train: error: data.csv, line 3: 1 cells, the header has 2 columns\n"
    assert os.listdir(tmp_path) == ["data.csv"]
    result = run_installed("--version", cwd=tmp_path)
    assert result.returncode == 0 and result.stdout.strip() == f"fastbp {fastbp.__version__}"


def test_a_model_saved_without_names_takes_its_columns_in_order(capsys, tmp_path):
    net = fastbp.Network([3, 2, 1], seed=0)
    net.save(tmp_path / "bare.npz")
    X = np.arange(6.0).reshape(2, 3)
    write_csv(tmp_path / "x.csv", ["p", "q", "r"], X.tolist())
    code, out, err = run(capsys, "predict", tmp_path / "bare.npz", tmp_path / "x.csv")
    assert code == 0, err
    header, rows = read_csv(out)
    assert header == ["p", "q", "r", "predicted_output_0"]
    np.testing.assert_array_equal([np.float32(row[-1]) for row in rows], net.predict(X))
    write_csv(tmp_path / "x4.csv", ["p", "q", "r", "s"], [[1, 2, 3, 4]])
    code, _, err = run(capsys, "predict", tmp_path / "bare.npz", tmp_path / "x4.csv")
    assert code == 2 and "4 columns, the model (saved without column names) takes 3 inputs" in err


@pytest.mark.skipif(os.name == "nt", reason="SIGINT to a child process is POSIX's")
def test_installed_command_interrupted_while_training_writes_nothing(tmp_path):
    import signal
    rng = np.random.default_rng(0)
    write_csv(tmp_path / "big.csv", ["a", "b", "c", "y"],
              np.round(rng.normal(size=(5000, 4)), 3).tolist())
    process = subprocess.Popen(
        [sys.executable, "-m", "fastbp", "train", "big.csv", "--target", "y", "--epochs",
         "100000", "--quiet", "--out", "model.npz"],
        cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        for line in process.stdout:  # the line printed just before fit starts
            if line.startswith("training on"):
                break
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=60)
    finally:
        process.kill()
    assert process.returncode == 130, err
    assert err == "fastbp train: interrupted; nothing written\n"
    assert sorted(os.listdir(tmp_path)) == ["big.csv"]


def test_the_console_script_beside_this_python_runs(tmp_path):
    """The `fastbp` command pip installs (skipped where this python has none, e.g. a test run
    of a source folder through PYTHONPATH)."""
    script = os.path.join(os.path.dirname(sys.executable), "fastbp")
    if not os.path.exists(script):
        pytest.skip("no fastbp console script beside this python")
    (tmp_path / "data.csv").write_text("x,y\n1,2\n")
    result = subprocess.run([script, "train", "data.csv", "--target", "z"], cwd=tmp_path,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert result.stderr == "fastbp train: error: data.csv: no target column 'z'; the columns are x, y\n"
