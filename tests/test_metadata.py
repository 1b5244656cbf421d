"""Network.metadata and the model file's version 2: names, classes, task and training settings
saved with a network, checked on the way in and out; version 1 files still load."""
import json
import pathlib
import pickle
import zipfile

import numpy as np
import pytest

import fastbp

KEYS = ("feature_names", "target_names", "classes", "task", "training")
SAVED_BEFORE = pathlib.Path(__file__).parent / "data" / "saved_before_0.1.0"


def classifier(dtype="float32"):
    net = fastbp.Network([3, 4, 3], loss="cross_entropy", dtype=dtype, seed=0)
    net.metadata = {"feature_names": ["size", "age", "rooms"], "target_names": ["kind"],
                    "classes": ["flat", "house", "villa"], "task": "classification",
                    "training": {"epochs": 5, "lr": 0.01, "layers": [4], "data": "homes.csv",
                                 "early_stopping": False, "note": None}}
    return net


def test_a_new_network_has_every_key_unknown():
    assert fastbp.Network([3, 2, 1]).metadata == dict.fromkeys(KEYS)


def test_metadata_round_trips_through_a_file_a_copy_and_a_pickle(tmp_path, dtype):
    net = classifier(dtype)
    path = tmp_path / "model.npz"
    net.save(path)
    expected = dict(net.metadata)
    assert fastbp.load(path).metadata == expected
    assert net.copy().metadata == expected
    assert pickle.loads(pickle.dumps(net)).metadata == expected
    with np.load(path) as archive:
        header = json.loads(str(archive["header"][()]))
    assert header["format_version"] == 2 and header["metadata"] == expected


def test_a_copy_has_its_own_metadata():
    net = classifier()
    twin = net.copy()
    twin.metadata["training"]["epochs"] = 6
    assert net.metadata["training"]["epochs"] == 5


def test_unset_keys_are_none_and_numpy_values_become_plain_ones():
    net = fastbp.Network([2, 3, 2], loss="cross_entropy", seed=0)
    net.metadata = {"classes": np.array([3, 7]), "feature_names": np.array(["a", "b"]),
                    "training": {"lr": np.float32(0.5), "epochs": np.int64(4)}}
    assert net.metadata == {"feature_names": ["a", "b"], "target_names": None, "classes": [3, 7],
                            "task": None, "training": {"lr": 0.5, "epochs": 4}}
    assert all(type(value) is int for value in net.metadata["classes"])
    json.dumps(net.metadata)  # plain JSON values throughout


@pytest.mark.parametrize("metadata, match", [
    ({"feature_names": ["a", "b"]}, "feature_names must have 3 entries"),
    ({"classes": ["a", "b", "c"], "task": "classification"}, "classes given for a network of the regression loss"),
    ({"task": "ranking"}, "unknown task"),
    ({"colour": "blue"}, "unknown keys 'colour'"),
    ({"training": {"callback": print}}, "training 'callback' must be a number"),
    ({"training": {"lr": float("nan")}}, "training 'lr' must be finite"),
    ("names", "metadata must be a dict"),
])
def test_bad_metadata_is_refused_when_assigned(metadata, match):
    net = fastbp.Network([3, 2, 1], seed=0)
    with pytest.raises(ValueError, match=match):
        net.metadata = metadata
    assert net.metadata == dict.fromkeys(KEYS)  # unchanged


def test_metadata_edited_in_place_is_checked_by_save(tmp_path):
    net = classifier()
    net.metadata["classes"].append("castle")
    path = tmp_path / "model.npz"
    with pytest.raises(ValueError, match="classes must have 3 entries"):
        net.save(path)
    assert not path.exists()


def test_binary_cross_entropy_with_one_output_takes_two_classes():
    net = fastbp.Network([3, 2, 1], loss="binary_cross_entropy", seed=0)
    net.metadata = {"classes": ["no", "yes"]}
    with pytest.raises(ValueError, match="classes must have 2 entries"):
        net.metadata = {"classes": ["no"]}


@pytest.mark.parametrize("case", ["adam_dropout_scaled_f64", "poisson_lbfgs_f64",
                                  "xent_irprop_f32"])
def test_version_1_files_load_with_no_metadata_and_save_as_version_2(tmp_path, case):
    path = SAVED_BEFORE / f"{case}.npz"
    with zipfile.ZipFile(path) as archive:
        assert b'"format_version": 1' in archive.read("header.npy").replace(b"\x00", b"")
    net = fastbp.load(path)
    assert net.metadata == dict.fromkeys(KEYS)
    net.save(tmp_path / "again.npz")
    again = fastbp.load(tmp_path / "again.npz")
    assert again.state.params.tobytes() == net.state.params.tobytes()
    with open(SAVED_BEFORE / f"{case}.pkl", "rb") as handle:
        assert pickle.load(handle).metadata == dict.fromkeys(KEYS)
