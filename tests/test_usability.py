"""Papercuts a new user met (issue #18): messages, accepted values, what summary, progress and
History.plot show."""
import io
import os
import zipfile

import numpy as np
import pytest

import fastbp
from fastbp import _inspect


def labelled(n=60, n_in=4, n_classes=3, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, n_in)), rng.integers(0, n_classes, size=n)


# ----- integer labels under a regression loss -------------------------------------------------
@pytest.mark.parametrize("labels_dtype", [np.int64, np.float64])
def test_integer_labels_under_mse_point_to_cross_entropy(labels_dtype):
    X, labels = labelled()
    net = fastbp.Network([4, 5, 3], loss="mse", seed=0)
    with pytest.raises(ValueError, match=r"y must have shape \(60, 3\)") as caught:
        net.fit(X, labels.astype(labels_dtype), epochs=1)
    assert 'integer class labels want loss="cross_entropy"' in str(caught.value)
    assert "fastbp.sklearn.MLPClassifier takes labels of any kind" in str(caught.value)


def test_real_valued_targets_of_the_wrong_shape_get_no_label_hint():
    X, _ = labelled()
    net = fastbp.Network([4, 5, 3], loss="mse", seed=0)
    with pytest.raises(ValueError, match=r"y must have shape \(60, 3\)") as caught:
        net.fit(X, np.linspace(0.1, 0.9, 60), epochs=1)
    assert "cross_entropy" not in str(caught.value)


# ----- verbose ---------------------------------------------------------------------------------
def test_verbose_true_shows_progress_and_false_is_silent(capsys):
    X, y = labelled()
    fastbp.Network([4, 5, 3], loss="cross_entropy", seed=0).fit(X, y, epochs=2, verbose=True)
    assert "epoch 2" in capsys.readouterr().err
    fastbp.Network([4, 5, 3], loss="cross_entropy", seed=0).fit(X, y, epochs=2, verbose=False)
    assert capsys.readouterr().err == ""


@pytest.mark.parametrize("verbose", [-1, 1.5, "yes", None])
def test_verbose_still_refuses_nonsense(verbose):
    X, y = labelled()
    with pytest.raises((TypeError, ValueError), match="verbose"):
        fastbp.Network([4, 5, 3], loss="cross_entropy", seed=0).fit(X, y, verbose=verbose)


def test_progress_shows_the_metric_with_validation_data(capsys):
    X, y = labelled()
    fastbp.Network([4, 5, 3], loss="cross_entropy", seed=0).fit(
        X, y, epochs=2, verbose=1, validation_split=0.25)
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 2 and "val_loss" in lines[-1]
    assert " accuracy " in lines[-1] and "val_accuracy " in lines[-1]
    X, price = fastbp.datasets.house_prices(60, seed=0, standardize=True)
    fastbp.Network([3, 4, 1], seed=0).fit(X, price, epochs=1, verbose=1, validation_split=0.25)
    assert "R² " in capsys.readouterr().err


# ----- saving and loading ----------------------------------------------------------------------
def test_saving_into_a_missing_folder_names_the_file_asked_for(tmp_path):
    target = tmp_path / "missing" / "model.npz"
    with pytest.raises(FileNotFoundError) as caught:
        fastbp.Network([3, 2, 1], seed=0).save(target)
    assert caught.value.filename == os.fspath(target)
    assert ".tmp" not in str(caught.value) and "folder does not exist" in str(caught.value)
    assert not (tmp_path / "missing").exists()


def test_a_corrupt_file_is_reported_without_numpys_allow_pickle_advice(tmp_path):
    path = tmp_path / "model.npz"
    fastbp.Network([3, 2, 1], seed=0).save(path)
    with zipfile.ZipFile(path) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    # a .npy header longer than numpy parses without being told to trust the file
    header = b"{'descr': '<U10', 'fortran_order': False, 'shape': (), " + b" " * 20000 + b"}\n"
    members["header.npy"] = b"\x93NUMPY\x02\x00" + len(header).to_bytes(4, "little") + header
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    with pytest.raises(ValueError, match="is not a readable fastbp network file") as caught:
        fastbp.load(path)
    assert "allow_pickle" not in str(caught.value) and "trust" not in str(caught.value)
    assert "Header info length" in str(caught.value)


def test_save_and_load_take_file_objects(tmp_path, dtype):
    X, y = labelled()
    net = fastbp.Network([4, 5, 3], loss="cross_entropy", dtype=dtype, seed=0)
    net.fit(X, y, epochs=2, optimizer="adam")
    buffer = io.BytesIO()
    net.save(buffer)
    buffer.seek(0)
    loaded = fastbp.load(buffer)
    assert loaded.state.params.tobytes() == net.state.params.tobytes()
    assert loaded.state.optimizer_state.tobytes() == net.state.optimizer_state.tobytes()
    path = tmp_path / "model.npz"
    with open(path, "wb") as handle:
        net.save(handle)
    with open(path, "rb") as handle:
        assert fastbp.load(handle).state.params.tobytes() == net.state.params.tobytes()
    assert fastbp.load(path).state.params.tobytes() == net.state.params.tobytes()


def test_loading_a_damaged_file_object_names_it(tmp_path):
    with pytest.raises(ValueError, match="the BytesIO is not a readable fastbp network file"):
        fastbp.load(io.BytesIO(b"not an archive"))
    path = tmp_path / "junk.npz"
    path.write_bytes(b"junk")
    with open(path, "rb") as handle, pytest.raises(ValueError, match="junk.npz"):
        fastbp.load(handle)


# ----- summary ---------------------------------------------------------------------------------
def test_summary_shows_the_lr_that_fit_used():
    X, y = labelled()
    net = fastbp.Network([4, 5, 3], loss="cross_entropy", seed=0)
    net.fit(X, y, epochs=2, optimizer="adam", lr=0.0025)
    text = _inspect.summary(net)
    assert "Adam(lr=0.0025, beta1=0.9" in text and "lr=None" not in text
    net.fit(X, y, epochs=1, optimizer=fastbp.optim.Adam(lr=0.004))  # the optimizer's own
    assert "Adam(lr=0.004, beta1" in _inspect.summary(net)


def test_summary_shows_a_scheduled_lr_as_its_range():
    X, y = labelled()
    net = fastbp.Network([4, 5, 3], loss="cross_entropy", seed=0)
    net.fit(X, y, epochs=3, lr=0.1, schedule=fastbp.schedules.Step(step_size=1, gamma=0.5))
    assert "the last fit's lr went from 0.1 to 0.025" in _inspect.summary(net)


# ----- History.plot ----------------------------------------------------------------------------
def test_history_plot_draws_the_metric_and_marks_the_restored_epoch():
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    X, y = labelled(200)
    net = fastbp.Network([4, 8, 3], loss="cross_entropy", seed=0)
    history = net.fit(X, y, epochs=30, lr=0.5, validation_split=0.3, early_stopping=True,
                      patience=2)
    assert history.best_epoch is not None
    ax = history.plot()
    labels = ax.get_legend_handles_labels()[1]
    legend = [text.get_text() for text in ax.get_legend().get_texts()]
    assert legend == ["loss", "val_loss", "accuracy", "val_accuracy",
                      f"restored (epoch {history.best_epoch})"]
    assert "loss" in labels
    metric_ax = next(other for other in ax.figure.axes if other is not ax)
    assert metric_ax.get_ylabel() == "accuracy"
    drawn = {line.get_label(): line.get_ydata() for line in metric_ax.get_lines()}
    np.testing.assert_array_equal(drawn["val_accuracy"], history.val_metric)
    np.testing.assert_array_equal(drawn["accuracy"], history.metric)
    restored = [line for line in ax.get_lines() if line.get_label().startswith("restored")]
    assert list(restored[0].get_xdata()) == [history.best_epoch] * 2


def test_history_plot_of_a_regression_without_validation_draws_losses_only():
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    X, price = fastbp.datasets.house_prices(60, seed=0, standardize=True)
    history = fastbp.Network([3, 4, 1], seed=0).fit(X, price, epochs=3)
    ax = history.plot()
    assert [text.get_text() for text in ax.get_legend().get_texts()] == ["loss"]
    assert len(ax.figure.axes) == 1
    X, price = fastbp.datasets.house_prices(60, seed=0, standardize=True)
    history = fastbp.Network([3, 4, 1], seed=0).fit(X, price, epochs=3, validation_split=0.2)
    ax = history.plot()
    assert "R²" in [text.get_text() for text in ax.get_legend().get_texts()]
