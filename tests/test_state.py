"""Determinism, continuing training, copies, and saving/loading."""
import os
import pickle
import zipfile

import numpy as np
import pytest

import fastbp


def data():
    return fastbp.datasets.house_prices(200, seed=4, standardize=True)


def test_same_seed_same_weights_bit_for_bit(dtype, net_state):
    X, y = data()
    a = fastbp.Network([3, 6, 1], dtype=dtype, seed=9)
    b = fastbp.Network([3, 6, 1], dtype=dtype, seed=9)
    assert net_state(a) == net_state(b)
    a.fit(X, y, epochs=3, batch_size=8, lr=0.05)
    b.fit(X, y, epochs=3, batch_size=8, lr=0.05)
    assert net_state(a) == net_state(b)


def test_different_seeds_differ(net_state):
    assert net_state(fastbp.Network([3, 6, 1], seed=1)) != net_state(fastbp.Network([3, 6, 1], seed=2))


def test_seed_none_draws_and_records_a_seed(net_state):
    net = fastbp.Network([3, 6, 1], seed=None)
    assert isinstance(net.seed, int)
    assert net_state(fastbp.Network([3, 6, 1], seed=net.seed)) == net_state(net)


def test_initialisation_scales():
    wide = fastbp.Network([400, 300, 200], activation="relu", dtype="float64", seed=0)
    assert np.abs(wide.weights[0]).max() <= np.sqrt(6 / 400)            # He-uniform for relu
    assert np.abs(wide.weights[0]).max() > 0.95 * np.sqrt(6 / 400)
    assert np.abs(wide.weights[1]).max() <= np.sqrt(6 / 500)            # Glorot for the output
    assert np.abs(wide.weights[1]).max() > 0.95 * np.sqrt(6 / 500)
    assert all(np.all(b == 0) for b in wide.biases)


def test_fit_a_then_b_equals_fit_a_plus_b(dtype, net_state):
    X, y = data()
    split = fastbp.Network([3, 6, 1], dtype=dtype, seed=3)
    whole = fastbp.Network([3, 6, 1], dtype=dtype, seed=3)
    split.fit(X, y, epochs=2, batch_size=8, lr=0.05)
    split.fit(X, y, epochs=3, batch_size=8, lr=0.05)
    whole.fit(X, y, epochs=5, batch_size=8, lr=0.05)
    assert net_state(split) == net_state(whole)


def test_save_load_continue_equals_uninterrupted(tmp_path, dtype, net_state):
    X, y = data()
    saved = fastbp.Network([3, 5, 4, 1], activation=["relu", "tanh"], output="sigmoid",
                           dtype=dtype, seed=8)
    saved.fit(X, y, epochs=2, batch_size=8, lr=0.05)
    path = tmp_path / "model.npz"
    saved.save(path)
    loaded = fastbp.load(path)
    assert repr(loaded) == repr(saved) and net_state(loaded) == net_state(saved)
    saved.fit(X, y, epochs=2, batch_size=8, lr=0.05)
    loaded.fit(X, y, epochs=2, batch_size=8, lr=0.05)
    assert net_state(loaded) == net_state(saved)


def test_save_uses_the_name_as_given(tmp_path):
    path = tmp_path / "model.bin"
    fastbp.Network([2, 1], seed=0).save(str(path))
    assert os.listdir(tmp_path) == ["model.bin"]


def test_classification_network_round_trips(tmp_path, net_state):
    net = fastbp.Network([4, 3], loss="cross_entropy", dtype="float64", seed=None)
    net.save(tmp_path / "m")
    loaded = fastbp.load(tmp_path / "m")
    assert loaded.loss_name == "cross_entropy" and loaded.seed == net.seed
    assert net_state(loaded) == net_state(net)


@pytest.mark.parametrize("corruption", ["garbage", "truncated", "wrong_arrays", "bad_header", "bad_params"])
def test_corrupt_file_is_refused(tmp_path, corruption):
    good = tmp_path / "good.npz"
    fastbp.Network([3, 2, 1], seed=0).save(good)
    path = tmp_path / "bad.npz"
    if corruption == "garbage":
        path.write_bytes(b"not a network at all")
    elif corruption == "truncated":
        path.write_bytes(good.read_bytes()[:200])
    elif corruption == "wrong_arrays":
        np.savez(path, something=np.arange(3))
    elif corruption == "bad_header":
        np.savez(path, header=np.array('{"format": "fastbp-network", "format_version": 99}'),
                 params=np.zeros(11, np.float32))
    else:
        with np.load(good) as archive:
            header = archive["header"]
        np.savez(path, header=header, params=np.full(11, np.nan, np.float32))
    with pytest.raises(ValueError, match="not a readable fastbp network file"):
        fastbp.load(path)


def test_missing_file_raises_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError):
        fastbp.load(tmp_path / "absent.npz")


def test_failed_save_keeps_the_old_file(tmp_path, monkeypatch):
    path = tmp_path / "model.npz"
    net = fastbp.Network([3, 2, 1], seed=0)
    net.save(path)
    before = path.read_bytes()

    def broken_savez(*args, **kwargs):
        raise OSError("disk full")
    monkeypatch.setattr(np, "savez", broken_savez)
    with pytest.raises(OSError, match="disk full"):
        fastbp.Network([3, 2, 1], seed=1).save(path)
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["model.npz"]  # no temporary left behind


def test_file_is_a_plain_npz_with_json_header(tmp_path):
    path = tmp_path / "m.npz"
    fastbp.Network([3, 2, 1], seed=0).save(path)
    with zipfile.ZipFile(path) as archive:
        assert sorted(archive.namelist()) == ["header.npy", "optimizer_state.npy", "params.npy"]
    with np.load(path, allow_pickle=False) as archive:
        assert '"format_version": 1' in str(archive["header"])


def test_copy_is_independent(net_state):
    X, y = data()
    net = fastbp.Network([3, 4, 1], seed=0)
    twin = net.copy()
    assert net_state(twin) == net_state(net)
    twin.fit(X, y, epochs=1, lr=0.1)
    assert net_state(twin) != net_state(net)
    net.fit(X, y, epochs=1, lr=0.1)
    assert net_state(twin) == net_state(net)


def test_pickle_round_trip(net_state):
    net = fastbp.Network([3, 4, 2], activation="relu", loss="cross_entropy", seed=5)
    assert net_state(pickle.loads(pickle.dumps(net))) == net_state(net)
