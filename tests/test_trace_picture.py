"""Trace.plot and fastbp trace: one traced step drawn as a picture (matplotlib, Agg backend).

The SVG keeps an id on every drawn element (fastbp._inspect.picture's docstring lists them):
the tests count circles and lines by id and parse the labels back. Tests that draw skip when
matplotlib (the plot extra) is missing; the one that checks the install hint always runs.
"""
import csv
import os
import pathlib
import re
import subprocess
import sys
import xml.etree.ElementTree as ET

import numpy as np
import pytest

import fastbp
from fastbp import cli

SVG = "{http://www.w3.org/2000/svg}"
SHOWS = ("forward", "backward", "update")
LABEL_RTOL = 5e-6  # labels print 6 significant digits (as print(trace) does)
SCRIPT = pathlib.Path(__file__).resolve().parent.parent / "docs" / "make_trace_picture.py"
BLUE, ORANGE, GREY = "#0072b2", "#e69f00", "#999999"
MAX_WIDTH, MIN_WIDTH = 5.0, 0.25


@pytest.fixture
def plt():
    """pyplot on the Agg backend; figures closed afterwards."""
    matplotlib = pytest.importorskip(
        "matplotlib", reason='matplotlib (the plot extra) is not installed: '
                             'pip install "fastbp[plot]"')
    matplotlib.use("Agg")
    import matplotlib.pyplot as pyplot
    yield pyplot
    pyplot.close("all")


def small_network(dtype="float64", sizes=(3, 5, 4, 2), seed=0, **kwargs):
    """A network with non-zero biases, so that every term of the step is drawn."""
    net = fastbp.Network(list(sizes), activation="tanh", dtype=dtype, seed=seed, **kwargs)
    rng = np.random.default_rng(seed)
    net.set_weights(net.weights, [rng.normal(0, 0.3, b.shape) for b in net.biases])
    return net


X0 = [0.5, -1.0, 2.0]
Y0 = [0.25, -0.5]


def svg_of(step, tmp_path, show, name="step.svg"):
    path = tmp_path / name
    step.plot(path, show=show)
    return ET.parse(path).getroot()


def groups(root, prefix):
    """{id: element} of the groups whose id starts with `prefix`."""
    return {g.get("id"): g for g in root.iter(f"{SVG}g") if g.get("id", "").startswith(prefix)}


def text_of(group):
    return "\n".join(t.text for t in group.iter(f"{SVG}text"))


def style_of(group):
    (path,) = group.iter(f"{SVG}path")
    return dict(part.strip().split(": ") for part in path.get("style").split(";") if part.strip())


def label_values(root):
    """{(layer, unit): value} of the circles' labels (layer 0 the inputs, units from 1)."""
    return {tuple(int(n) for n in key.split("-")[1:]): float(text_of(g))
            for key, g in groups(root, "label-").items()}


def assert_close_to_label(parsed, expected):
    assert abs(parsed - expected) <= LABEL_RTOL * abs(expected), (parsed, expected)


# ----- what the picture holds -----------------------------------------------------------------
@pytest.mark.parametrize("show", SHOWS)
def test_svg_holds_one_circle_per_neuron_and_one_line_per_weight(plt, tmp_path, dtype, show):
    sizes = (3, 5, 4, 2)
    root = svg_of(small_network(dtype, sizes).trace(X0, Y0, lr=0.1), tmp_path, show)
    units = groups(root, "unit-")
    assert sorted(units) == sorted(f"unit-{l}-{j}" for l, n in enumerate(sizes)
                                   for j in range(1, n + 1))
    for group in units.values():  # one circle each: a closed path of Bézier arcs
        (path,) = group.iter(f"{SVG}path")
        assert path.get("d").count("C") == 8 and path.get("d").rstrip().endswith("z")
    lines = groups(root, "weight-")
    assert sorted(lines) == sorted(f"weight-{l}-{j}-{k}" for l in range(1, len(sizes))
                                   for j in range(1, sizes[l] + 1)
                                   for k in range(1, sizes[l - 1] + 1))
    assert not groups(root, "more-")


@pytest.mark.parametrize("show", SHOWS)
def test_labels_carry_the_traced_numbers(plt, tmp_path, dtype, show):
    step = small_network(dtype).trace(X0, Y0, lr=0.1)
    data = step.to_dict()
    labels = label_values(svg_of(step, tmp_path, show))
    field = {"forward": "a_out", "backward": "delta", "update": "update_b"}[show]
    expected = {(0, k + 1): v for k, v in enumerate(data["x"][0])}
    for layer in data["layers"]:
        values = layer[field] if show == "update" else layer[field][0]
        expected.update({(layer["number"], j + 1): v for j, v in enumerate(values)})
    assert labels.keys() == expected.keys()
    for key, value in expected.items():
        assert_close_to_label(labels[key], value)


@pytest.mark.parametrize("show", SHOWS)
def test_output_shows_prediction_target_and_loss(plt, tmp_path, show):
    step = small_network().trace(X0, Y0, lr=0.1)
    data = step.to_dict()
    root = svg_of(step, tmp_path, show)
    for j in range(2):
        for gid, name, value in (("prediction", "Ŷ", data["output"][0, j]),
                                 ("target", "Y", data["y"][0, j]),
                                 ("slope", "∂L/∂Ŷ", data["dL_dyhat"][0, j])):
            found = groups(root, f"{gid}-{j + 1}")
            if gid == "slope" and show == "forward":
                assert not found
                continue
            name_shown, number = text_of(found[f"{gid}-{j + 1}"]).split(" = ")
            assert name_shown == name
            assert_close_to_label(float(number), value)
    loss = re.fullmatch(r"L = (\S+)\n\(mse\)", text_of(groups(root, "loss")["loss"]))
    assert_close_to_label(float(loss.group(1)), data["loss"])


def test_forward_labels_match_an_independent_forward_pass(plt, tmp_path):
    net = small_network(sizes=(3, 4, 1))
    labels = label_values(svg_of(net.trace(X0, [0.3], lr=0.1), tmp_path, "forward"))
    (W1, W2), (b1, b2) = net.weights, net.biases
    hidden = np.tanh(W1 @ np.array(X0) + b1)  # computed here, not by fastbp
    output = W2 @ hidden + b2
    for j, value in enumerate(hidden):
        assert_close_to_label(labels[(1, j + 1)], value)
    assert_close_to_label(labels[(2, 1)], output[0])


@pytest.mark.parametrize("show", SHOWS)
def test_line_width_follows_size_and_colour_sign(plt, tmp_path, show):
    assert_lines_drawn_as(small_network().trace(X0, Y0, lr=0.1), tmp_path, show)


def assert_lines_drawn_as(step, tmp_path, show):
    """Each weight's line is as wide as its value's size and coloured by its sign."""
    lines = groups(svg_of(step, tmp_path, show), "weight-")
    field = {"forward": "W", "backward": "grad_W", "update": "update_W"}[show]
    values = {f"weight-{layer.number}-{j + 1}-{k + 1}": getattr(layer, field)[j, k]
              for layer in step.layers for j, k in np.ndindex(layer.W.shape)}
    largest = max(abs(v) for v in values.values())
    for gid, value in values.items():
        style = style_of(lines[gid])
        width = max(MIN_WIDTH, MAX_WIDTH * abs(value) / largest)  # ∝ |value|, a hairline at 0
        assert float(style["stroke-width"]) == pytest.approx(width, rel=1e-4, abs=1e-5), gid
        assert style["stroke"].lower() == (BLUE if value > 0 else ORANGE if value < 0 else GREY)


def test_a_changed_weight_changes_the_drawing(plt, tmp_path):
    net = small_network()
    before = svg_of(net.trace(X0, Y0, lr=0.1), tmp_path, "forward", "before.svg")
    weights = [w.copy() for w in net.weights]
    weights[1][2, 3] = -3 * np.abs(weights[1]).max()  # W²[3,4]: now the largest, negative
    net.set_weights(weights, net.biases)
    after = svg_of(net.trace(X0, Y0, lr=0.1), tmp_path, "forward", "after.svg")
    changed = style_of(groups(after, "weight-2-3-4")["weight-2-3-4"])
    assert changed["stroke"].lower() == ORANGE
    assert float(changed["stroke-width"]) == pytest.approx(MAX_WIDTH)
    unchanged = style_of(groups(before, "weight-2-3-4")["weight-2-3-4"])
    assert float(unchanged["stroke-width"]) < MAX_WIDTH
    # the unit it feeds, and the output after it, now hold other values
    old, new = label_values(before), label_values(after)
    assert new[(2, 3)] != old[(2, 3)] and new[(3, 1)] != old[(3, 1)]
    assert new[(1, 1)] == old[(1, 1)]
    assert (tmp_path / "before.svg").read_bytes() != (tmp_path / "after.svg").read_bytes()


def test_the_same_step_saves_the_same_bytes(plt, tmp_path):
    step = small_network().trace(X0, Y0, lr=0.1)
    for name in ("a.svg", "b.svg", "a.png", "b.png"):
        step.plot(tmp_path / name, show="backward")
    assert (tmp_path / "a.svg").read_bytes() == (tmp_path / "b.svg").read_bytes()
    assert (tmp_path / "a.png").read_bytes() == (tmp_path / "b.png").read_bytes()


def test_large_layers_show_their_largest_units_and_how_many_more(plt, tmp_path):
    net = fastbp.Network([20, 30, 4], activation="tanh", loss="cross_entropy", seed=1)
    x = np.random.default_rng(0).normal(size=20)
    step = net.trace(x, 2, lr=0.1)
    root = svg_of(step, tmp_path, "backward")
    largest_inputs = set(np.argsort(-np.abs(x))[:8] + 1)
    largest_hidden = set(np.argsort(-np.abs(step.layers[0].delta[0]))[:8] + 1)
    units = groups(root, "unit-")
    assert {int(g.split("-")[2]) for g in units if g.startswith("unit-0-")} == largest_inputs
    assert {int(g.split("-")[2]) for g in units if g.startswith("unit-1-")} == largest_hidden
    assert len(units) == 8 + 8 + 4
    lines = groups(root, "weight-")
    assert len(lines) == 8 * 8 + 4 * 8  # only between drawn units
    assert all(int(k) in largest_inputs for k in (g.split("-")[3] for g in lines
                                                   if g.startswith("weight-1-")))
    more = groups(root, "more-")
    assert text_of(more["more-0"]) == "+ 12 more" and text_of(more["more-1"]) == "+ 22 more"
    assert "more-2" not in more


@pytest.mark.parametrize("show,title", [("forward", "Forward pass"),
                                        ("backward", "Backward pass"),
                                        ("update", "Update: w ← w + Δw\nΔw = −η·∂L/∂w, η = 0.1")])
def test_each_view_says_what_it_shows(plt, tmp_path, show, title):
    root = svg_of(small_network().trace(X0, Y0, lr=0.1), tmp_path, show)
    texts = "\n".join(t.text or "" for t in root.iter(f"{SVG}text"))
    assert title in texts
    assert "positive" in texts and "negative" in texts and "width ∝ |value|" in texts
    assert bool(groups(root, "direction")) == (show != "update")


def test_the_update_of_another_optimizer_says_so(plt, tmp_path):
    net = small_network(sizes=(3, 4, 2))
    net.fit(np.array([X0]), np.array([Y0]), epochs=2, batch_size=1, optimizer="adam", shuffle=False)
    step = net.trace(X0, Y0)
    root = svg_of(step, tmp_path, "update")
    texts = "\n".join(t.text or "" for t in root.iter(f"{SVG}text"))
    assert "Δw: the Adam step t = 3" in texts
    # Adam's step is not proportional to the gradient: the lines draw the step itself
    ratio = step.layers[0].update_W / step.layers[0].grad_W
    assert np.ptp(ratio) > 0.1 * np.abs(ratio).max()
    assert_lines_drawn_as(step, tmp_path, "update")


# ----- files, figures and mistakes ------------------------------------------------------------
def test_png_or_svg_by_the_extension(plt, tmp_path):
    step = small_network().trace(X0, Y0, lr=0.1)
    step.plot(tmp_path / "step.png")
    step.plot(str(tmp_path / "STEP.SVG"))
    assert (tmp_path / "step.png").read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    assert b"<svg" in (tmp_path / "STEP.SVG").read_bytes()[:500]
    with pytest.raises(ValueError, match=r"\.png or \.svg"):
        step.plot(tmp_path / "step.pdf")
    assert sorted(os.listdir(tmp_path)) == ["STEP.SVG", "step.png"]  # no temporary files left
    with pytest.raises(FileNotFoundError):
        step.plot(tmp_path / "no folder" / "step.png")
    assert sorted(os.listdir(tmp_path)) == ["STEP.SVG", "step.png"]


def test_the_figure_is_pyplots_only_without_a_path(plt, tmp_path):
    from matplotlib.figure import Figure
    step = small_network().trace(X0, Y0, lr=0.1)
    saved = step.plot(tmp_path / "step.svg")
    assert isinstance(saved, Figure) and plt.get_fignums() == []
    shown = step.plot(show="backward")
    assert isinstance(shown, Figure) and plt.get_fignums() == [shown.number]


def test_plot_refuses_a_batch_and_an_unknown_view(plt):
    net = small_network()
    with pytest.raises(ValueError, match=r"one example .* holds 2"):
        net.trace([X0, X0], [Y0, Y0], lr=0.1).plot()
    with pytest.raises(ValueError, match="show='sideways'"):
        net.trace(X0, Y0, lr=0.1).plot(show="sideways")


def test_plot_says_how_to_install_matplotlib(monkeypatch, tmp_path):
    """Runs with or without matplotlib: its absence is simulated."""
    for name in [m for m in sys.modules if m == "matplotlib" or m.startswith("matplotlib.")]:
        monkeypatch.setitem(sys.modules, name, None)
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    step = small_network().trace(X0, Y0, lr=0.1)
    with pytest.raises(ImportError, match=re.escape('pip install "fastbp[plot]"')):
        step.plot(tmp_path / "step.png")
    assert not os.listdir(tmp_path)


# ----- the command line -----------------------------------------------------------------------
def write_csv(path, header, rows):
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def run(capsys, *argv):
    code = cli.main([os.fspath(arg) for arg in argv])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def house_model(tmp_path, monkeypatch, capsys):
    """(model, CSV, X, price): a model trained by fastbp train on 60 houses."""
    monkeypatch.setitem(sys.modules, "tqdm.auto", None)
    X, price = fastbp.datasets.house_prices(60, seed=1)
    X, price = np.round(X, 1), np.round(price)
    data = write_csv(tmp_path / "houses.csv", ["size", "bedrooms", "age", "price"],
                     [[*map(repr, row), repr(p)] for row, p in zip(X.tolist(), price.tolist())])
    model = tmp_path / "model.npz"
    code, _, err = run(capsys, "train", data, "--target", "price", "--layers", "4,3",
                       "--epochs", "2", "--optimizer", "sgd", "--dtype", "float64", "-q",
                       "--out", model)
    assert code == 0, err
    return model, data, X, price


@pytest.mark.parametrize("show", SHOWS)
def test_cli_trace_draws_the_step_of_a_row(plt, capsys, tmp_path, house_model, show):
    model, data, X, price = house_model
    code, out, err = run(capsys, "trace", model, data, "--row", "3", "-o", tmp_path / "step.svg",
                         "--show", show)
    assert code == 0 and out == "" and "step.svg" in err, err
    expected = fastbp.load(model).trace(X[2], price[2]).to_dict()  # row 3 is X[2]
    labels = label_values(ET.parse(tmp_path / "step.svg").getroot())
    assert_close_to_label(labels[(3, 1)], {"forward": expected["output"][0, 0],
                                           "backward": expected["layers"][-1]["delta"][0, 0],
                                           "update": expected["layers"][-1]["update_b"][0]}[show])
    root = ET.parse(tmp_path / "step.svg").getroot()
    target = text_of(groups(root, "target-1")["target-1"])
    assert_close_to_label(float(target.split(" = ")[1]), expected["y"][0, 0])


def test_cli_trace_without_a_picture_prints_the_step(capsys, house_model):
    model, data, X, price = house_model
    code, out, _ = run(capsys, "trace", model, data, "--row", "2")
    assert code == 0
    step = fastbp.load(model).trace(X[1], price[1])
    assert out == f"{data}, row 2 (line 3):\n{step}\n"


def test_cli_trace_reads_a_class_label_as_train_mapped_it(capsys, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "tqdm.auto", None)
    X, labels = fastbp.datasets.gaussian_classes(40, 2, 3, seed=0)
    names = np.array(["cat", "dog", "emu"])
    rows = [[*map(repr, row), names[k]] for row, k in zip(np.round(X, 3).tolist(), labels)]
    data = write_csv(tmp_path / "animals.csv", ["a", "b", "species"], rows)
    model = tmp_path / "m.npz"
    assert run(capsys, "train", data, "--target", "species", "--layers", "3", "--epochs", "1",
               "-q", "--out", model)[0] == 0
    code, out, _ = run(capsys, "trace", model, data, "--row", "5")
    assert code == 0
    net = fastbp.load(model)
    assert out.endswith(f"{net.trace(np.round(X[4], 3), labels[4])}\n")


@pytest.mark.parametrize("metadata,header", [
    ({}, ["p", "q", "r", "y1", "y2"]),                          # columns in order: inputs first
    ({"feature_names": ["r", "p", "q"]}, ["p", "y1", "q", "r", "y2"]),  # the rest: targets
    ({"target_names": ["y1", "y2"]}, ["y1", "p", "y2", "q", "r"])])  # the rest: inputs
def test_cli_trace_of_a_model_saved_without_names(capsys, tmp_path, metadata, header):
    net = small_network(sizes=(3, 4, 2))
    net.metadata = metadata
    net.save(tmp_path / "m.npz")
    rng = np.random.default_rng(0)
    rows = np.round(rng.normal(size=(4, 5)), 3)
    data = write_csv(tmp_path / "d.csv", header, rows.tolist())
    code, out, err = run(capsys, "trace", tmp_path / "m.npz", data, "--row", "4")
    assert code == 0, err
    columns = dict(zip(header, rows[3]))
    inputs = [columns[n] for n in metadata.get("feature_names", ["p", "q", "r"])]
    assert out.endswith(f"{net.trace(inputs, [columns['y1'], columns['y2']])}\n")
    data = write_csv(tmp_path / "d.csv", header + ["extra"], np.column_stack([rows, rows[:, 0]]))
    code, out, err = run(capsys, "trace", tmp_path / "m.npz", data)
    assert code == 2 and "saved without their names" in err, err


@pytest.mark.parametrize("argv,message", [
    (["--row", "61"], "has 60 rows of data (--row counts them from 1"),
    (["-o", "step.pdf"], "the picture is PNG or SVG"),
    (["-o", "missing/step.png"], "does not exist"),
    (["--show", "backward"], "--show chooses what the picture shows"),
])
def test_cli_trace_bad_input_gives_one_line_and_exit_2(capsys, tmp_path, house_model, argv,
                                                        message, monkeypatch):
    model, data, _, _ = house_model
    monkeypatch.chdir(tmp_path)
    before = sorted(os.listdir(tmp_path))
    code, out, err = run(capsys, "trace", model, data, *argv)
    assert code == 2 and message in err and err.count("\n") == 1 and out == "", err
    assert sorted(os.listdir(tmp_path)) == before


def test_cli_trace_refuses_bad_rows_and_files(capsys, tmp_path, house_model):
    model, data, _, _ = house_model
    with pytest.raises(SystemExit) as caught:  # argparse's check
        cli.main(["trace", os.fspath(model), os.fspath(data), "--row", "0"])
    assert caught.value.code == 2 and "--row: 0 must be greater than 0" in capsys.readouterr().err
    rows = list(csv.reader(open(data)))
    cases = [(rows[:1] + [rows[1][:3] + [""]], "line 2: the target column 'price' is empty"),
             ([["size", "bedrooms", "price"], ["1.0", "2", "3"]], "no column 'age'"),
             ([rows[0], ["1.0", "n/a", "3", "4"]], "column 'bedrooms' holds 'n/a'")]
    for i, (content, message) in enumerate(cases):
        bad = write_csv(tmp_path / f"bad{i}.csv", content[0], content[1:])
        code, out, err = run(capsys, "trace", model, bad)
        assert code == 2 and message in err and err.count("\n") == 1, err


def test_cli_trace_says_how_to_install_matplotlib(capsys, tmp_path, house_model, monkeypatch):
    model, data, _, _ = house_model
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    code, _, err = run(capsys, "trace", model, data, "-o", tmp_path / "step.png")
    assert code == 2 and 'pip install "fastbp[plot]"' in err and err.count("\n") == 1
    assert not (tmp_path / "step.png").exists()


def test_cli_trace_help(capsys):
    with pytest.raises(SystemExit) as caught:
        cli.main(["trace", "--help"])
    assert caught.value.code == 0
    text = capsys.readouterr().out
    assert text.startswith("usage: fastbp trace") and "--row" in text and "--show" in text


# ----- README's picture -----------------------------------------------------------------------
def test_readmes_picture_script_draws_a_small_png(plt, tmp_path):
    if not SCRIPT.exists():
        pytest.skip("docs/make_trace_picture.py is not beside these tests (an installed copy)")
    out = tmp_path / "step.png"
    result = subprocess.run([sys.executable, str(SCRIPT), str(out)], capture_output=True,
                            text=True, timeout=300, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert out.read_bytes().startswith(b"\x89PNG") and out.stat().st_size < 100_000
