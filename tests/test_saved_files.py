"""Files and pickles written by an earlier fastbp load to the same network, bit for bit."""
import json
import pathlib
import pickle

import numpy as np
import pytest

import fastbp

SAVED = pathlib.Path(__file__).resolve().parent / "data" / "saved_before_0.1.0"
CASES = sorted(path.name[:-len(".expected.json")] for path in SAVED.glob("*.expected.json"))


def assert_same_as_when_saved(net, case):
    expected = json.loads((SAVED / f"{case}.expected.json").read_text())
    with np.load(SAVED / f"{case}.expected.npz") as arrays:
        params, optimizer_state, predicted = arrays["params"], arrays["opt_state"], arrays["predict"]
    state = net.state
    assert repr(net) == expected["repr"]
    assert repr(net.optimizer) == expected["optimizer"]
    assert state.step == expected["step"] and net.epochs_trained == expected["epochs"]
    assert repr(state.shuffle_rng.bit_generator.state) == expected["shuffle"]
    assert repr(state.dropout_rng.bit_generator.state) == expected["dropout"]
    assert [None if s is None else s.to_dict() for s in (state.input_scaler, state.target_scaler)] \
        == expected["scalers"]
    assert np.array_equal(state.params, params) and state.params.dtype == params.dtype
    assert np.array_equal(state.optimizer_state, optimizer_state)
    assert np.array_equal(net.predict(np.load(SAVED / "probe_inputs.npy")), predicted)


def test_there_are_saved_files_to_load():
    assert len(CASES) >= 3


@pytest.mark.parametrize("case", CASES)
def test_a_file_saved_before_loads_to_the_same_network(case):
    assert_same_as_when_saved(fastbp.load(SAVED / f"{case}.npz"), case)


@pytest.mark.parametrize("case", CASES)
def test_a_network_pickled_before_unpickles_to_the_same_network(case):
    assert_same_as_when_saved(pickle.loads((SAVED / f"{case}.pkl").read_bytes()), case)
