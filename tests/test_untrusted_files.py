"""Model files from anywhere: damaged or hostile files give ValueError, in bounded memory.

Each crafted file starts from a small saved network and changes one thing: the header's JSON
(re-zipped with a valid CRC, so the damage reaches the checks behind the zip's), the members'
declared sizes, the compression method, or the arrays' values. The generated cases at the end
(Hypothesis, derandomised) mix all of these with random byte damage.
"""
import io
import json
import os
import pickle
import struct
import tracemalloc
import zipfile
import zlib

import numpy as np
import pytest

import fastbp

# What loading a small network may allocate at most (the file's arrays are a few hundred
# bytes; zipfile, json and numpy's bookkeeping the rest).
SMALL_LOAD_BYTES = 4 << 20


# ----- crafting files -------------------------------------------------------------------------
def npy_bytes(array):
    buffer = io.BytesIO()
    np.lib.format.write_array(buffer, np.asanyarray(array), allow_pickle=False)
    return buffer.getvalue()


def read_members(path):
    """{member name: its bytes} of a saved file."""
    with zipfile.ZipFile(path) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def read_header(path):
    with np.load(path) as archive:
        return json.loads(str(archive["header"][()]))


class Member:
    """One zip entry as it will be written: its stored bytes and what the directory declares."""

    def __init__(self, name, data, method=zipfile.ZIP_STORED, file_size=None, crc=None,
                 flags=0, stored=None):
        self.name = name.encode()
        self.method, self.flags = method, flags
        self.stored = data if stored is None else stored
        self.compress_size = len(self.stored)
        self.file_size = len(data) if file_size is None else file_size
        self.crc = zlib.crc32(data) if crc is None else crc


def deflated(data):
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    return compressor.compress(data) + compressor.flush()


def write_zip(path, members):
    """A zip archive of `members`, whatever they declare (zipfile itself writes only truths)."""
    out, directory = bytearray(), bytearray()
    for m in members:
        fields = (20, m.flags, m.method, 0, 0x21, m.crc, m.compress_size, m.file_size, len(m.name))
        directory += (struct.pack("<IHH", 0x02014B50, 20, 20)
                      + struct.pack("<HHHHIIIH", *fields[1:])
                      + struct.pack("<HHHHII", 0, 0, 0, 0, 0, len(out)) + m.name)
        out += struct.pack("<IHHHHHIIIHH", 0x04034B50, *fields, 0) + m.name + m.stored
    end = struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, len(members), len(members), len(directory),
                      len(out), 0)
    with open(path, "wb") as handle:
        handle.write(bytes(out + directory + end))


def rezip(path, header=None, text=None, **arrays):
    """Rewrite the saved file at `path` with its header replaced (a dict, or raw `text`) and
    any member replaced (params=..., optimizer_state=...: arrays, or Member objects)."""
    members = read_members(path)
    if header is not None or text is not None:
        text = json.dumps(header) if text is None else text
        members["header.npy"] = npy_bytes(np.array(text))
    entries = []
    for name, data in members.items():
        replacement = arrays.get(name[:-len(".npy")])
        if isinstance(replacement, Member):
            entries.append(replacement)
        else:
            entries.append(Member(name, data if replacement is None else npy_bytes(replacement)))
    write_zip(path, entries)


def repeated(name, head, unit, count):
    """Member `name`: `head` then `unit` repeated `count` times, deflated to about a
    thousandth of that size (one compressed block, repeated: the data are never made)."""
    per_block = max(1, (1 << 16) // len(unit))
    chunk = unit * per_block
    whole, rest = divmod(count, per_block)
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    first = compressor.compress(head) + compressor.flush(zlib.Z_FULL_FLUSH)
    block = compressor.compress(chunk) + compressor.flush(zlib.Z_FULL_FLUSH)
    tail = compressor.compress(unit * rest) + compressor.flush()
    crc = zlib.crc32(unit * rest, crc32_of_repeats(chunk, whole, zlib.crc32(head)))
    return Member(name, b"", method=zipfile.ZIP_DEFLATED, crc=crc,
                  file_size=len(head) + count * len(unit), stored=first + block * whole + tail)


def zeros_bomb(name, count, dtype=np.float32):
    """Member `name`: an .npy of `count` zeros, deflated."""
    itemsize = np.dtype(dtype).itemsize
    return repeated(name, npy_header_bytes(dtype, count), bytes(itemsize), count)


def npy_header_bytes(dtype, count):
    """The .npy header of an array of `count` elements of `dtype` (a scalar for None), without
    its values."""
    buffer = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        buffer, {"descr": np.lib.format.dtype_to_descr(np.dtype(dtype)), "fortran_order": False,
                 "shape": () if count is None else (count,)})
    return buffer.getvalue()


def crc32_of_repeats(chunk, n, start=0):
    """zlib.crc32(chunk * n, start) without making the bytes: appending `chunk` is an affine
    map of the CRC over GF(2), and that of n chunks comes from squaring it."""
    def apply(table, crc):
        value = table[32]
        for bit in range(32):
            if crc >> bit & 1:
                value ^= table[bit]
        return value

    def compose(outer, inner):  # outer after inner
        constant = apply(outer, inner[32])
        return [apply(outer, inner[bit] ^ inner[32]) ^ constant for bit in range(32)] + [constant]

    zero = zlib.crc32(chunk, 0)
    power = [zlib.crc32(chunk, 1 << bit) ^ zero for bit in range(32)] + [zero]
    result = None
    while n:
        if n & 1:
            result = power if result is None else compose(power, result)
        power, n = compose(power, power), n >> 1
    return start if result is None else apply(result, start)


def trained(optimizer="adam", sizes=(4, 5, 3), dtype="float32", **kwargs):
    """A small trained network (optimizer state, moved random streams, learnt scaling)."""
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(20, sizes[0])), rng.normal(size=(20, sizes[-1]))
    net = fastbp.Network(list(sizes), activation="tanh", dtype=dtype, seed=3, scale_inputs=True,
                         scale_targets=True, dropout=0.1, **kwargs)
    net.fit(X, y, epochs=2, batch_size=8, optimizer=optimizer)
    return net


@pytest.fixture
def saved(tmp_path):
    """(path, network): a small trained network saved to a file."""
    net = trained()
    path = tmp_path / "model.npz"
    net.save(path)
    return path, net


def load_peak(path):
    """(what loading `path` raised or returned, the most memory Python and numpy held)."""
    tracemalloc.start()
    try:
        result = fastbp.load(path)
    except Exception as exc:  # the caller looks at which
        result = exc
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    return result, peak


def assert_refused(path, match):
    with pytest.raises(ValueError, match=match) as caught:
        fastbp.load(path)
    assert "not a readable fastbp network file" in str(caught.value)


# ----- memory: nothing is allocated before the sizes are checked ------------------------------
def test_a_valid_small_file_loads_in_little_memory(saved):
    loaded, peak = load_peak(saved[0])
    assert isinstance(loaded, fastbp.Network) and peak < SMALL_LOAD_BYTES


def test_loading_takes_a_small_multiple_of_what_the_file_holds(tmp_path):
    net = trained(sizes=(300, 300, 300), dtype="float64")
    path = tmp_path / "model.npz"
    net.save(path)
    loaded, peak = load_peak(path)
    assert isinstance(loaded, fastbp.Network)
    assert peak < 3 * path.stat().st_size + SMALL_LOAD_BYTES


def test_a_header_claiming_a_huge_network_is_refused_before_building_it(saved):
    path, _ = saved
    header = read_header(path)
    header.update(sizes=[4, 20000, 20000, 3], activations=["tanh", "tanh"], dropout=[0.1, 0.1])
    rezip(path, header)
    assert path.stat().st_size < 8192
    refused, peak = load_peak(path)
    assert peak < SMALL_LOAD_BYTES, f"loading took {peak / 2**20:.0f} MiB first"
    assert isinstance(refused, ValueError) and "params.npy holds" in str(refused), refused


@pytest.mark.parametrize("member", ["params", "optimizer_state"])
def test_a_deflated_bomb_in_place_of_an_array_is_refused_unread(saved, member):
    path, _ = saved
    rezip(path, **{member: zeros_bomb(f"{member}.npy", 300_000_000)})
    assert path.stat().st_size < 2_000_000
    refused, peak = load_peak(path)
    assert peak < SMALL_LOAD_BYTES, f"loading took {peak / 2**20:.0f} MiB first"
    assert isinstance(refused, ValueError) and f"{member}.npy declares" in str(refused), refused


def test_a_header_member_expanding_far_beyond_its_stored_size_is_refused_unread(saved):
    path, _ = saved
    text = json.dumps(read_header(path))
    padding = 200_000_000  # spaces after the JSON: still a valid header, 800 MB as .npy
    head = npy_header_bytes(f"<U{len(text) + padding}", None) + np.array(text).tobytes()
    members = read_members(path)
    entries = [repeated("header.npy", head, np.array(" ").tobytes(), padding)]
    entries += [Member(name, value) for name, value in members.items() if name != "header.npy"]
    write_zip(path, entries)
    assert path.stat().st_size < 2_000_000
    refused, peak = load_peak(path)
    assert peak < SMALL_LOAD_BYTES, f"loading took {peak / 2**20:.0f} MiB first"
    assert isinstance(refused, ValueError) and "header.npy declares" in str(refused), refused


def test_an_array_declared_larger_than_the_header_implies_is_refused_unread(saved):
    path, _ = saved
    data = read_members(path)["params.npy"]
    rezip(path, params=Member("params.npy", data, file_size=1 << 31))
    assert_refused(path, "params.npy declares")


# ----- damaged headers: each refused with a ValueError naming the problem ---------------------
def edit(**changes):
    """A header edit setting dotted keys ("a.b.c") to values."""
    def apply(header):
        for dotted, value in changes.items():
            *path, last = dotted.split(".")
            target = header
            for key in path:
                target = target[key]
            target[last] = value
        return header
    return apply


def drop(dotted):
    def apply(header):
        *path, last = dotted.split(".")
        target = header
        for key in path:
            target = target[key]
        del target[last]
        return header
    return apply


HEADER_DAMAGE = {
    "format_version true": (edit(format_version=True), "unsupported format_version"),
    "sizes text": (edit(sizes="4,5,3"), "sizes must be a list"),
    "sizes fraction": (edit(sizes=[4, 5.5, 3]), r"sizes\[1\] must be an integer"),
    "sizes zero": (edit(sizes=[4, 0, 3]), r"sizes\[1\] must be in"),
    "sizes one entry": (edit(sizes=[4]), "at least an input and an output"),
    "activation unknown": (edit(activations=["swish"]), "unknown activations"),
    "activations too many": (edit(activations=["tanh", "tanh"]), "activations must have 1"),
    "output of another loss": (edit(output="softmax"), "unknown output"),
    "dtype unknown": (edit(dtype="float16"), "unknown dtype"),
    "seed negative": (edit(seed=-1), "seed must be in"),
    "seed fraction": (edit(seed=2.5), "seed must be an integer"),
    "init unknown": (edit(init="zeros"), "unknown init"),
    "dropout one": (edit(dropout=[1.0]), r"dropout\[0\] must be in"),
    "dropout text": (edit(dropout=["0.1"]), r"dropout\[0\] must be a number"),
    "epochs negative": (edit(epochs_trained=-1), "epochs_trained must be in"),
    "epochs fraction": (edit(epochs_trained=2.5), "epochs_trained must be an integer"),
    "epochs absurd": (edit(epochs_trained=2**64), "epochs_trained must be in"),
    "step text": (edit(**{"optimizer.step": "12"}), "optimizer step must be an integer"),
    "step negative": (edit(**{"optimizer.step": -3}), "optimizer step must be in"),
    "random state negative": (edit(**{"shuffle_state.state.state": -1}), "shuffle_state state"),
    "random state huge": (edit(**{"dropout_state.state.inc": 2**130 + 1}),
                          "dropout_state increment"),
    "random increment even": (edit(**{"shuffle_state.state.inc": 2}), "must be odd"),
    "random has_uint32 two": (edit(**{"shuffle_state.has_uint32": 2}), "has_uint32"),
    "random uinteger negative": (edit(**{"shuffle_state.uinteger": -1}), "uinteger"),
    "random state text": (edit(**{"shuffle_state.state.state": "7"}), "must be an integer"),
    "other generator": (edit(**{"shuffle_state.bit_generator": "MT19937"}), "not of a PCG64"),
    "optimizer unknown": (edit(**{"optimizer.config.name": "newton"}),
                          "not a saved optimizer configuration"),
    "optimizer setting wrong": (edit(**{"optimizer.config.beta2": 1.5}), "beta2 must be in"),
    "optimizer setting text": (edit(**{"optimizer.config.eps": "1e-8"}), "eps must be a real"),
    "optimizer of another kind": (edit(**{"optimizer.config": {"name": "sgd", "lr": None,
                                                              "momentum": 0.0,
                                                              "nesterov": False}}),
                                  "optimizer_state.npy holds"),
    "scaling flag text": (edit(**{"scaling.inputs": "yes"}), "scaling inputs must be true"),
    "scaler without flag": (edit(**{"scaling.inputs": False}), "input_scaler given"),
    "scaler too narrow": (edit(**{"scaling.input_scaler.mean": [0.0]}),
                          "input_scaler mean must have 4"),
    "scaler text": (edit(**{"scaling.target_scaler.std": ["a", "b", "c"]}), "must be a number"),
    "scaler zero std": (edit(**{"scaling.target_scaler.std": [1.0, 0.0, 1.0]}),
                        "standard deviation"),
    "unknown key": (edit(comment="hello"), "unknown keys 'comment'"),
    "unknown nested key": (edit(**{"scaling.center": True}), "unknown keys 'center'"),
}
# Every key the writer always writes (and files of fastbp 0.1.0 hold) is required.
for _key in ("fastbp_version", "sizes", "activations", "output", "loss", "dtype", "seed", "init",
             "dropout", "epochs_trained", "shuffle_state", "dropout_state", "optimizer",
             "scaling", "scaling.inputs", "scaling.targets", "scaling.input_scaler",
             "scaling.target_scaler", "optimizer.step", "optimizer.config.beta2",
             "shuffle_state.uinteger", "dropout_state.state.inc"):
    HEADER_DAMAGE[f"{_key} missing"] = (drop(_key), f"lack.*'{_key.split('.')[-1]}'")


@pytest.mark.parametrize("case", sorted(HEADER_DAMAGE))
def test_a_damaged_header_is_refused_naming_the_problem(saved, case):
    path, _ = saved
    change, match = HEADER_DAMAGE[case]
    rezip(path, change(read_header(path)))
    assert_refused(path, match)


def test_a_missing_scaling_entry_no_longer_predicts_in_standardised_units(saved):
    path, net = saved
    rezip(path, drop("scaling")(read_header(path)))
    assert_refused(path, "lacks 'scaling'")


HEADER_TEXT_DAMAGE = {
    "nested deeply": ("[" * 100_000 + "]" * 100_000, "nests too deeply"),
    "count of 1e400": ('"epochs_trained": 1e400', "out of range"),
    "step of 1e400": ('"step": 1e400', "out of range"),
    "NaN": ('"epochs_trained": NaN', "holds NaN"),
    "huge integer": ('"epochs_trained": ' + "9" * 5000, "not valid JSON"),
    "repeated key": ('"epochs_trained": 2, "epochs_trained": 3', "repeats a key"),
    "not an object": ('[1, 2]', "not a JSON object"),
    "not JSON": ('{"format": ', "not valid JSON"),
}


@pytest.mark.parametrize("case", sorted(HEADER_TEXT_DAMAGE))
def test_a_header_that_json_cannot_take_is_refused(saved, case):
    path, _ = saved
    text, match = HEADER_TEXT_DAMAGE[case]
    original = json.dumps(read_header(path))
    if text.startswith('"'):  # replace the field, keep the rest of the header
        key = text.split(":")[0]
        start = original.index(key)
        end = original.index(",", start)
        text = original[:start] + text + original[end:]
    rezip(path, text=text)
    assert_refused(path, match)


@pytest.mark.parametrize("damage, match", [
    ("encrypted", "encrypted"),
    ("method", "compressed with method 99"),
    ("twice", "appears twice"),
    ("missing state", "lacks optimizer_state.npy"),
    ("short declared size", "params.npy"),
    ("past the end", "extends past the end"),
    ("object array", "Python objects|not a fastbp"),
])
def test_a_damaged_archive_is_refused_naming_the_problem(saved, damage, match):
    path, _ = saved
    members = read_members(path)
    entries = {name: Member(name, data) for name, data in members.items()}
    if damage == "encrypted":
        entries["params.npy"].flags = 0x1
    elif damage == "method":
        entries["params.npy"].method = 99
    elif damage == "missing state":
        del entries["optimizer_state.npy"]
    elif damage == "short declared size":
        entries["params.npy"].file_size -= 4
    elif damage == "past the end":
        entries["params.npy"].compress_size += 1 << 20
    elif damage == "object array":
        entries["header.npy"] = Member("header.npy", npy_header_bytes(object, None) + b"x" * 16)
    entries = list(entries.values())
    if damage == "twice":
        entries.append(Member("params.npy", members["params.npy"]))
    write_zip(path, entries)
    assert_refused(path, match)


# ----- arrays whose values no run produces ----------------------------------------------------
def damaged_state(net, values):
    """The network's optimizer state with `values` ({slot: value}) put into its slots."""
    state = net.state.optimizer_state.copy()
    slots = state.reshape(-1, net.state.n_params)
    for slot, value in values.items():
        slots[slot, 1] = value
    return state


@pytest.mark.parametrize("optimizer, values, match", [
    ("adam", {0: np.nan}, "NaN or infinity"),
    ("adam", {1: np.inf}, "NaN or infinity"),
    ("adam", {1: -1e-3}, "negative second moments"),
    ("adamw", {1: -1.0}, "negative second moments"),
    ("rmsprop", {0: -1.0}, "negative mean squares"),
    ("adagrad", {0: -1.0}, "negative sums of squares"),
    ("momentum", {0: np.nan}, "NaN or infinity"),
    ("irprop-", {0: -0.1}, r"step sizes must lie in \[delta_min, delta_max\]"),
    ("irprop-", {0: 51.0}, r"step sizes must lie in"),
])
def test_an_impossible_optimizer_state_is_refused(tmp_path, optimizer, values, match):
    net = trained(optimizer)
    path = tmp_path / "model.npz"
    net.save(path)
    rezip(path, optimizer_state=damaged_state(net, values))
    assert_refused(path, match)


@pytest.mark.parametrize("params, match", [
    (lambda p: np.where(np.arange(p.size) == 3, np.nan, p).astype(p.dtype), "NaN or infinity"),
    (lambda p: p.astype(np.float64), "params.npy holds"),
    (lambda p: p[:-1], "params.npy holds"),
    (lambda p: p.reshape(1, -1), "params.npy holds"),
])
def test_damaged_parameters_are_refused(saved, params, match):
    path, net = saved
    rezip(path, params=params(net.state.params))
    assert_refused(path, match)


def test_a_saved_file_with_all_its_checks_loads_to_the_identical_network(saved):
    path, net = saved
    rezip(path, read_header(path))  # re-zipped by this file's writer: the same network
    loaded = fastbp.load(path)
    (header, params, state), (header_again, params_again, state_again) = \
        net.__reduce__()[1], loaded.__reduce__()[1]
    assert json.dumps(header) == json.dumps(header_again)
    assert params.tobytes() == params_again.tobytes() and params.dtype == params_again.dtype
    assert state.tobytes() == state_again.tobytes() and state.dtype == state_again.dtype


# ----- generated damage (Hypothesis) ----------------------------------------------------------
try:
    from hypothesis import HealthCheck, given, settings, strategies as st
except ImportError:  # the generated cases need hypothesis; the cases above run without it
    st = None


if st is None:
    @pytest.mark.skip(reason="the generated cases need hypothesis")
    def test_a_damaged_file_gives_value_error_or_the_identical_network():
        """Shows the skip in the report."""
else:
    # Derandomised: CI runs the same cases every time. FASTBP_HYPOTHESIS_EXAMPLES raises the
    # number locally (each case trains, saves, damages and loads a small network: ~15 ms).
    DAMAGE_EXAMPLES = int(os.environ.get("FASTBP_HYPOTHESIS_EXAMPLES", "200"))
    GENERATED = settings(max_examples=DAMAGE_EXAMPLES, deadline=None, derandomize=True,
                         suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                                HealthCheck.function_scoped_fixture])

    HIDDEN = ("sigmoid", "tanh", "relu", "leaky_relu", "identity", "elu", "softplus", "gelu")
    REGRESSION = ("mse", "mae", "huber")
    LOSSES = REGRESSION + ("poisson", "cross_entropy", "binary_cross_entropy")
    OPTIMIZERS = ("sgd", "momentum", "adam", "adamw", "rmsprop", "adagrad", "irprop-", "lbfgs")


    def targets(rng, loss, n, n_out):
        if loss in REGRESSION:
            y = rng.normal(size=(n, n_out))
        elif loss == "poisson":
            y = rng.poisson(1.5, size=(n, n_out)).astype(np.float64)
        elif loss == "cross_entropy":
            return rng.integers(0, n_out, size=n)
        else:
            y = rng.integers(0, 2, size=(n, n_out)).astype(np.float64)
        return y[:, 0] if n_out == 1 else y


    @st.composite
    def trained_networks(draw):
        """A small network of random architecture, loss, dtype, scaling and dropout, trained by a
        random optimizer for one epoch (so its optimizer state, streams and scalers are set)."""
        loss = draw(st.sampled_from(LOSSES))
        n_hidden = draw(st.integers(0, 2))
        sizes = [draw(st.integers(1, 6)) for _ in range(n_hidden + 1)]
        sizes.append(draw(st.integers(2 if loss == "cross_entropy" else 1, 4)))
        optimizer = draw(st.sampled_from(OPTIMIZERS))
        net = fastbp.Network(
            sizes, activation=[draw(st.sampled_from(HIDDEN)) for _ in range(n_hidden)],
            output=(draw(st.sampled_from(("identity", "sigmoid", "tanh")))
                    if loss in REGRESSION else None),
            loss=loss, dtype=draw(st.sampled_from(("float32", "float64"))),
            seed=draw(st.integers(0, 2**32)), scale_inputs=draw(st.booleans()),
            scale_targets=loss in REGRESSION and draw(st.booleans()),
            dropout=(0.0 if optimizer == "lbfgs" or not n_hidden
                     else draw(st.sampled_from((0.0, 0.2)))))
        rng = np.random.default_rng(draw(st.integers(0, 2**32)))
        X = rng.normal(size=(12, sizes[0]))
        net.fit(X, targets(rng, loss, 12, sizes[-1]), epochs=1, optimizer=optimizer,
                **({} if optimizer == "lbfgs" else {"batch_size": 4}))
        return net


    def damage_bytes(draw, blob):
        """Random damage to the file's bytes: flipped bytes, a cut, an insertion, zeroed bytes."""
        blob = bytearray(blob)
        kind = draw(st.sampled_from(("flip", "cut", "insert", "zero")))
        at = draw(st.integers(0, len(blob) - 1))
        if kind == "flip":
            for _ in range(draw(st.integers(1, 8))):
                blob[draw(st.integers(0, len(blob) - 1))] ^= draw(st.integers(1, 255))
        elif kind == "cut":
            del blob[at:]
        elif kind == "insert":
            blob[at:at] = draw(st.binary(min_size=1, max_size=64))
        else:
            length = draw(st.integers(1, 256))
            blob[at:at + length] = bytes(len(blob[at:at + length]))
        return bytes(blob)


    def nodes(value, path=()):
        """Every (path, value) of a JSON tree, the root included."""
        yield path, value
        if isinstance(value, dict):
            for key, item in value.items():
                yield from nodes(item, path + (key,))
        elif isinstance(value, list):
            for index, item in enumerate(value):
                yield from nodes(item, path + (index,))


    # Placeholders put into the header as strings, then swapped for JSON that json.dumps does not
    # write: numbers out of range, NaN, and nesting thousands deep.
    RAW = {"@inf": "1e400", "@nan": "NaN", "@deep": "[" * 50_000 + "]" * 50_000,
           "@deepish": "[[[[[0]]]]]"}
    # Fields where any non-negative integer is valid: no "huge" edit there.
    UNBOUNDED = {("seed",), ("optimizer", "config", "max_iter")}


    def kind_of(value):
        if isinstance(value, bool):
            return "bool"
        if isinstance(value, (int, float)):
            return "number"
        return {str: "str", list: "list", dict: "dict", type(None): "null"}[type(value)]


    @st.composite
    def damaged_header(draw, header):
        """The header's JSON text with one edit no file fastbp writes holds: another type, a number
        out of range or negative, a missing, extra or repeated key, a list of another length,
        nesting deep, an unknown name."""
        path, value = draw(st.sampled_from(list(nodes(header))))
        others = {"str": "x", "number": 7, "bool": True, "null": None, "list": [1],
                  "dict": {"k": 1}, "deep": "@deep", "deepish": "@deepish"}
        choices = [v for kind, v in others.items() if kind != kind_of(value)]
        if value is None:  # lr=None takes any number: only other types there
            choices = [v for v in choices if kind_of(v) != "number"]
        if path and str(path[-1]).endswith("_scaler"):  # null is a scaler not learnt yet: valid
            choices = [v for v in choices if v is not None]
        if isinstance(value, bool):
            pass
        elif isinstance(value, int):
            choices += [-1, 2.5, "@inf"] + ([] if path in UNBOUNDED else [2**200])
        elif isinstance(value, float):
            choices += ["@inf", "@nan"]
        elif isinstance(value, str) and path != ("fastbp_version",):
            choices.append("no-such-name")
        elif isinstance(value, list):
            choices += ["@append", "@pop"] if value else ["@append"]
        elif isinstance(value, dict):
            choices += ["@drop", "@extra", "@repeat"]
        choice = draw(st.sampled_from(choices))
        header = json.loads(json.dumps(header))
        parent = header
        for key in path[:-1]:
            parent = parent[key]
        target = parent[path[-1]] if path else header
        repeat = None
        if choice == "@append":
            target.append(target[-1] if target else 0)
        elif choice == "@pop":
            target.pop()
        elif choice == "@drop":
            del target[draw(st.sampled_from(sorted(target)))]
        elif choice == "@extra":
            target["zz"] = 0
        elif choice == "@repeat":
            repeat = draw(st.sampled_from(sorted(target)))
        elif path:
            parent[path[-1]] = choice
        else:
            header = choice
        text = json.dumps(header)
        if repeat is not None:  # the key once more, another value, at the end of its object
            key = json.dumps(repeat)
            start = text.index(key + ": ", text.index(json.dumps(path[-1])) if path else 0)
            text = text[:start] + f"{key}: 0, " + text[start:]
        for placeholder, raw in RAW.items():
            text = text.replace(json.dumps(placeholder), raw)
        return text


    @st.composite
    def damaged_directory(draw, members):
        """The members re-zipped with one declared field of one entry changed: its sizes, CRC,
        compression method or flags."""
        entries = [Member(name, data) for name, data in members.items()]
        entry = draw(st.sampled_from(entries))
        field = draw(st.sampled_from(("file_size", "compress_size", "crc", "method", "flags")))
        if field == "file_size":
            entry.file_size = draw(st.sampled_from((0, entry.file_size - 1, entry.file_size + 1,
                                                    entry.file_size * 1000, 2**32 - 1)))
        elif field == "compress_size":
            entry.compress_size = draw(st.sampled_from((0, entry.compress_size - 1,
                                                        entry.compress_size + 1, 2**32 - 1)))
        elif field == "crc":
            entry.crc ^= draw(st.integers(1, 2**32 - 1))
        elif field == "method":
            entry.method = draw(st.sampled_from((zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2,
                                                 zipfile.ZIP_LZMA, 99)))
        else:
            entry.flags |= draw(st.sampled_from((0x1, 0x8, 0x40)))
        return entries


    @GENERATED
    @given(net=trained_networks(), how=st.sampled_from(("bytes", "header", "directory", "values")),
           data=st.data())
    def test_a_damaged_file_gives_value_error_or_the_identical_network(tmp_path_factory, net, how,
                                                                       data):
        path = tmp_path_factory.mktemp("damaged") / "model.npz"
        net.save(path)
        # The undamaged file's network, pickled. (Not `net`'s own pickle: pickle writes a string
        # that `net` holds twice, e.g. a repeated activation name, once; a loaded network's
        # strings come from JSON and are distinct objects.)
        identical = pickle.dumps(fastbp.load(path))
        if how == "bytes":
            path.write_bytes(damage_bytes(data.draw, path.read_bytes()))
        elif how == "header":
            rezip(path, text=data.draw(damaged_header(read_header(path))))
        elif how == "directory":
            write_zip(path, data.draw(damaged_directory(read_members(path))))
        else:  # a NaN or infinity in one array
            name = data.draw(st.sampled_from(("params", "optimizer_state")))
            values = getattr(net.state, name).copy()
            if values.size:
                values[data.draw(st.integers(0, values.size - 1))] = data.draw(
                    st.sampled_from((np.nan, np.inf, -np.inf)))
            rezip(path, **{name: values})
        try:
            loaded = fastbp.load(path)
        except ValueError:
            return
        assert pickle.dumps(loaded) == identical


# ----- version 2's metadata: bounded, every entry checked -------------------------------------
METADATA_DAMAGE = {
    "feature names too few": (edit(**{"metadata.feature_names": ["a", "b"]}),
                              "feature_names must have 4 entries"),
    "feature name a number": (edit(**{"metadata.feature_names": ["a", "b", "c", 4]}),
                              r"feature_names\[3\] must be a string"),
    "feature name empty": (edit(**{"metadata.feature_names": ["a", "b", "c", ""]}),
                           r"feature_names\[3\] must be a string of 1 to 256"),
    "feature name too long": (edit(**{"metadata.feature_names": ["a", "b", "c", "d" * 257]}),
                              r"feature_names\[3\] must be a string of 1 to 256"),
    "feature names repeated": (edit(**{"metadata.feature_names": ["a", "b", "a", "c"]}),
                               "feature_names repeats a name"),
    "feature names an object": (edit(**{"metadata.feature_names": {"a": 1}}),
                                "feature_names must be a list"),
    "target names too many": (edit(**{"metadata.target_names": ["a", "b", "c", "d"]}),
                              "target_names must have 1 to 3 entries"),
    "classes of a regression": (edit(**{"metadata.classes": ["a", "b", "c"]}),
                                "classes given for a network of the regression loss"),
    "task unknown": (edit(**{"metadata.task": "clustering"}), "unknown task"),
    "training a list": (edit(**{"metadata.training": [1, 2]}), "training must be a mapping"),
    "training too many entries": (edit(**{"metadata.training": {str(k): k for k in range(65)}}),
                                  "training has 65 entries, at most 64"),
    "training nested object": (edit(**{"metadata.training": {"a": {"b": 1}}}),
                               "training 'a' must be a number, a text"),
    "training long text": (edit(**{"metadata.training": {"a": "x" * 1025}}),
                           "training 'a' must be a number, a text of at most 1024"),
    "training long list": (edit(**{"metadata.training": {"a": list(range(65))}}),
                           "training 'a' has 65 entries, at most 64"),
    "training nested list": (edit(**{"metadata.training": {"a": [[1]]}}),
                             r"training 'a'\[0\] must be a number"),
    "training huge integer": (edit(**{"metadata.training": {"a": 2**70}}),
                              "training 'a' must be in"),
    "metadata unknown key": (edit(**{"metadata.notes": "hi"}), "unknown keys 'notes'"),
    "metadata not an object": (edit(metadata=[1]), "metadata is not a JSON object"),
    "version 2 without metadata": (drop("metadata"), "lacks 'metadata'"),
    "version 1 with metadata": (edit(format_version=1), "unknown keys 'metadata'"),
    "version 3": (edit(format_version=3), "unsupported format_version 3"),
    "version 0": (edit(format_version=0), "unsupported format_version 0"),
}
for _key in ("feature_names", "target_names", "classes", "task", "training"):
    METADATA_DAMAGE[f"metadata {_key} missing"] = (drop(f"metadata.{_key}"), f"lacks '{_key}'")


@pytest.mark.parametrize("case", sorted(METADATA_DAMAGE))
def test_damaged_metadata_is_refused_naming_the_problem(saved, case):
    path, _ = saved
    change, match = METADATA_DAMAGE[case]
    rezip(path, change(read_header(path)))
    assert_refused(path, match)


CLASSES_DAMAGE = {
    "too few for the outputs": (["a", "b"], "classes must have 3 entries"),
    "repeated": (["a", "b", "a"], "classes repeats a label"),
    "texts and numbers": (["a", "b", 3], "all texts or all numbers"),
    "a boolean": ([0, 1, True], "all texts or all numbers"),
    "a null": ([0, 1, None], "all texts or all numbers"),
    "an object": ([0, 1, {"a": 2}], r"classes\[2\] must be a number"),
}


@pytest.mark.parametrize("case", sorted(CLASSES_DAMAGE))
def test_damaged_classes_of_a_classifier_are_refused(tmp_path, case):
    path = tmp_path / "classifier.npz"
    fastbp.Network([4, 5, 3], loss="cross_entropy", seed=0).save(path)
    classes, match = CLASSES_DAMAGE[case]
    rezip(path, edit(**{"metadata.classes": classes})(read_header(path)))
    assert_refused(path, match)


def test_metadata_filling_its_bounds_loads_in_a_small_multiple_of_the_file(tmp_path):
    """The largest metadata the checks let through costs little beyond the file's size."""
    net = fastbp.Network([200, 3, 2], loss="cross_entropy", seed=0)
    net.metadata = {"feature_names": [f"{k:03d}" + "x" * 253 for k in range(200)],
                    "target_names": ["t" * 256], "classes": ["a" * 1024, "b" * 1024],
                    "task": "classification",
                    "training": {f"{k:02d}" + "k" * 254: ["v" * 1024] * 64 for k in range(64)}}
    path = tmp_path / "big.npz"
    net.save(path)
    loaded, peak = load_peak(path)
    assert loaded.metadata == net.metadata
    # 4.3 M characters of JSON, 17 MB as numpy's UTF-32 string: read once, parsed once
    assert peak < 3 * os.path.getsize(path)


def test_a_version_1_file_loads_with_empty_metadata(saved):
    path, net = saved
    header = read_header(path)
    header["format_version"] = 1
    del header["metadata"]
    rezip(path, header)
    assert fastbp.load(path).metadata == dict.fromkeys(
        ("feature_names", "target_names", "classes", "task", "training"))
