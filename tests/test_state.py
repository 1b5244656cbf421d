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


def test_a_file_name_of_250_bytes_saves_and_loads(tmp_path):
    net = fastbp.Network([3, 2, 1], seed=0)
    path = tmp_path / ("n" * 246 + ".npz")
    net.save(path)
    assert pickle.dumps(fastbp.load(path)) == pickle.dumps(net)
    assert os.listdir(tmp_path) == [path.name]


def test_save_takes_a_bytes_path_like_load(tmp_path):
    net = fastbp.Network([3, 2, 1], seed=0)
    path = os.fsencode(tmp_path / "model.npz")
    net.save(path)
    assert pickle.dumps(fastbp.load(path)) == pickle.dumps(net)


# A save stopped inside its write: `die` ends the process there, else it waits for stdin.
STOPPED_SAVE = """
import os, sys, numpy as np, fastbp
def stopped(handle, **arrays):
    handle.write(b"half a file")
    handle.flush()
    print("writing", flush=True)
    if sys.argv[2] == "die":
        os._exit(1)
    sys.stdin.read()
np.savez = stopped
fastbp.Network([3, 2, 1], seed=0).save(sys.argv[1])
"""


def stopped_save(path, how):
    """A process saving to `path`, stopped mid-write (dead for how="die", else still running)."""
    import subprocess
    import sys
    # (run from the file's folder: `python -c` puts its working folder first on sys.path,
    # and the repository's fastbp/ holds sources, not the installed package)
    process = subprocess.Popen([sys.executable, "-c", STOPPED_SAVE, os.fspath(path), how],
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                               cwd=os.path.dirname(path))
    assert process.stdout.readline() == b"writing\n"
    if how == "die":
        process.wait()
    return process


def test_the_next_save_removes_what_a_killed_save_left_and_keeps_a_running_ones(tmp_path):
    path = tmp_path / "model.npz"
    fastbp.Network([3, 2, 1], seed=0).save(path)
    running = stopped_save(path, "wait")
    stopped_save(path, "die")  # (its own save removed nothing: the other writer runs)
    try:
        left = sorted(set(os.listdir(tmp_path)) - {"model.npz"})
        assert len(left) == 2  # the dead writer's and the running writer's temporary files
        other = tmp_path / "other.npz"
        fastbp.Network([3, 2, 1], seed=1).save(other)  # another target: none of its business
        assert sorted(set(os.listdir(tmp_path)) - {"model.npz", "other.npz"}) == left
        fastbp.Network([3, 2, 1], seed=1).save(path)
        kept = sorted(set(os.listdir(tmp_path)) - {"model.npz", "other.npz"})
        assert len(kept) == 1 and str(running.pid) in kept[0]
        assert fastbp.load(path).seed == 1
    finally:
        running.kill()
        running.wait()


def test_temporary_names_are_short_whatever_the_target(tmp_path, monkeypatch):
    names = []
    real_replace = os.replace
    monkeypatch.setattr(os, "replace", lambda src, dst: (names.append(src), real_replace(src, dst)))
    fastbp.Network([3, 2, 1], seed=0).save(tmp_path / ("n" * 255))
    assert len(os.path.basename(names[0])) <= 64


def test_file_is_a_plain_npz_with_json_header(tmp_path):
    path = tmp_path / "m.npz"
    fastbp.Network([3, 2, 1], seed=0).save(path)
    with zipfile.ZipFile(path) as archive:
        assert sorted(archive.namelist()) == ["header.npy", "optimizer_state.npy", "params.npy"]
    with np.load(path, allow_pickle=False) as archive:
        assert '"format_version": 2' in str(archive["header"])  # version 2 since the metadata


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


# ----- the training state: snapshot / restore, the only undo ------------------------------------
def comparable(state):
    """Every field of TrainingState.FIELDS, bit for bit (objects that are replaced, never changed
    in place, by identity)."""
    values = {}
    for field in state.FIELDS:
        value = getattr(state, field)
        if isinstance(value, np.ndarray):
            values[field] = (value.dtype.str, value.tobytes(), id(value))
        elif isinstance(value, np.random.Generator):
            values[field] = repr(value.bit_generator.state)
        elif isinstance(value, int):
            values[field] = value
        else:
            values[field] = id(value)
    return values


def scaled_network():
    return fastbp.Network([3, 5, 1], activation="tanh", seed=2, dropout=0.3,
                          scale_inputs=True, scale_targets=True)


def test_snapshot_restore_round_trips_every_field():
    X, y = data()
    net = scaled_network()
    state = net.state
    snapshot = state.snapshot()
    assert set(snapshot.fields) == set(state.FIELDS)
    before = comparable(state)
    net.fit(X * 3 + 1, y * 2, epochs=2, batch_size=8, optimizer="adam", lr=0.01)
    after = comparable(state)
    assert [f for f in state.FIELDS if after[f] == before[f]] == []  # the fit changed every field
    state.restore(snapshot)
    assert comparable(state) == before
    # Restored completely: training on from here is training from the start.
    twin = scaled_network()
    for each in (net, twin):
        each.fit(X, y, epochs=2, batch_size=8, optimizer="adam", lr=0.01)
    ours, theirs = net.state, twin.state
    assert np.array_equal(ours.params, theirs.params)
    assert np.array_equal(ours.optimizer_state, theirs.optimizer_state)
    assert (ours.step, ours.epochs_trained) == (theirs.step, theirs.epochs_trained)
    for stream in ("shuffle_rng", "dropout_rng"):
        assert repr(getattr(ours, stream).bit_generator.state) == \
            repr(getattr(theirs, stream).bit_generator.state)
    for scaler in ("input_scaler", "target_scaler"):
        assert getattr(ours, scaler).to_dict() == getattr(theirs, scaler).to_dict()


def test_a_weights_snapshot_restores_only_what_batches_change():
    X, y = data()
    net = fastbp.Network([3, 5, 1], seed=1)
    net.fit(X, y, epochs=1, optimizer="adam")
    state = net.state
    weights = state.snapshot(state.WEIGHTS)
    params, moments, step = state.params.copy(), state.optimizer_state.copy(), state.step
    net.fit(X, y, epochs=2)
    bookkeeping = {f: comparable(state)[f] for f in state.BOOKKEEPING if f != "step"}
    state.restore(weights)
    assert np.array_equal(state.params, params) and np.array_equal(state.optimizer_state, moments)
    assert state.step == step and state.epochs_trained == 3
    assert {f: comparable(state)[f] for f in state.BOOKKEEPING if f != "step"} == bookkeeping


def test_a_reused_snapshot_takes_the_new_values_in_the_same_arrays():
    net = fastbp.Network([3, 5, 1], seed=1)
    state = net.state
    first = state.snapshot(state.WEIGHTS)
    kept = first.values["params"]
    state.params[0] += 1.0
    second = state.snapshot(state.WEIGHTS, reuse=first)
    assert second.values["params"] is kept and np.array_equal(kept, state.params)


BAD_CALLS = {  # name: (fit keywords replacing good ones) — each fails after the state moved
    "bad y": {"y": np.full(200, np.nan)},                       # after the scalers are learnt
    "bad validation data": {"validation_data": (np.zeros((5, 2)), np.zeros(5))},
    "NaN late in X": {"X_nan_row": 150},                         # found by the first epoch
}


@pytest.mark.parametrize("bad", sorted(BAD_CALLS))
@pytest.mark.parametrize("scaled", [False, True])
def test_a_failed_fit_leaves_every_field_of_the_state_as_it_was(bad, scaled):
    X, y = data()
    net = scaled_network() if scaled else fastbp.Network([3, 5, 1], seed=2, dropout=0.3)
    if scaled:
        net.fit(X, y, epochs=1, batch_size=8)  # NaN rows need the scalers learnt already
    net.fit(X, y, epochs=1, batch_size=8, optimizer="rmsprop")
    kwargs = dict(BAD_CALLS[bad])
    X_bad, y_bad = X.copy(), kwargs.pop("y", y)
    if "X_nan_row" in kwargs:
        X_bad[kwargs.pop("X_nan_row"), 1] = np.nan
        if scaled:
            X_bad = X_bad[:1]  # scaled inputs are checked before training: a bad first row
            X_bad[0, 0] = np.nan
            y_bad = y[:1]
    before = comparable(net.state)
    with pytest.raises(ValueError):
        net.fit(X_bad, y_bad, epochs=2, batch_size=8, optimizer="adam", **kwargs)
    assert comparable(net.state) == before
