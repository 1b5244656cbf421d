"""FASTBP_DISPATCH forces the runtime-dispatched kernels down to a level: every level trains
and predicts as the default one does.

Each level runs in its own interpreter (the variable is read once, when the kernels load), on
the same networks and data; the default run (variable unset) is the reference. The kernels of
every level do the same IEEE operations in the same order (elementwise code, fixed blocks of
partial sums, no contraction into fused multiply-adds: -ffp-contract=off), so their results
are compared bit for bit (the 16-row softmax cross-entropy, AVX-512 only, included: it
computes what the scalar loop does). The exception is fastbp's own float32 matrix products for
large layers, AVX-512 only, which sum in another order than BLAS: the run through them is
compared within a tolerance (see CLOSE) against the same run on BLAS.
"""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

import fastbp
from fastbp import _kernels

LEVELS = ("avx512", "avx2", "baseline")

# The worker: trains and predicts, saves every result (name -> array) and prints its
# configuration.
WORKER = r'''
import json, sys
import numpy as np
import fastbp
from fastbp import _kernels

out, results = sys.argv[1], {}
rng = np.random.default_rng(5)
ACTIVATIONS = ("sigmoid", "tanh", "relu", "leaky_relu", "identity", "elu", "softplus", "gelu")


def run(name, net, X, y, X_test, **fit):
    net.fit(X, y, **fit)
    results[name + ".params"] = net.state.params.copy()
    results[name + ".optimizer_state"] = net.state.optimizer_state.copy()
    results[name + ".predict"] = net.predict(X_test)


for dtype in ("float32", "float64"):
    X = rng.normal(size=(150, 6)).astype(dtype)
    X_test = rng.normal(size=(40, 6)).astype(dtype)
    y_reg = rng.normal(size=(150, 3))
    y_cls = rng.integers(0, 4, size=150)
    for act in ACTIVATIONS:
        # minibatches, regression, every hidden activation, sigmoid outputs
        run(f"{dtype}.mse.{act}", fastbp.Network([6, 13, 9, 3], act, "sigmoid", dtype=dtype,
            seed=1, n_threads=1), X, y_reg, X_test, epochs=3, batch_size=17, lr=0.05)
        # per example (the fused per-example loop), tanh outputs
        run(f"{dtype}.per_example.{act}", fastbp.Network([6, 11, 3], act, "tanh",
            dtype=dtype, seed=2, n_threads=1), X, y_reg, X_test, epochs=2, batch_size=1,
            lr=0.02)
    # tiny per-example networks (the vector-register loop)
    run(f"{dtype}.tiny", fastbp.Network([6, 8, 8, 3], "sigmoid", dtype=dtype, seed=3,
        n_threads=1), X, y_reg, X_test, epochs=2, batch_size=1, lr=0.1)
    # softmax cross-entropy, the optimizers' kernels
    for opt in ("sgd", "momentum", "nesterov", "adam", "adamw", "rmsprop"):
        run(f"{dtype}.xent.{opt}", fastbp.Network([6, 20, 4], "relu", loss="cross_entropy",
            dtype=dtype, seed=4, n_threads=1), X, y_cls, X_test, epochs=3, batch_size=16,
            lr=0.01, optimizer=opt, alpha=1e-3, clip_norm=5.0)
    run(f"{dtype}.bce", fastbp.Network([6, 10, 1], "tanh", loss="binary_cross_entropy",
        dtype=dtype, seed=6, n_threads=1), X, y_cls % 2, X_test, epochs=3, batch_size=8,
        lr=0.05)
    # the lanes: tiny per-example networks side by side
    nets = [fastbp.Network([6, 8, 3], "tanh", dtype=dtype, seed=10 + k, n_threads=1)
            for k in range(5)]
    fastbp.train_many(nets, X, y_reg, epochs=2, batch_size=1, lr=0.05, n_threads=1)
    for k, net in enumerate(nets):
        results[f"{dtype}.lanes.{k}.params"] = net.state.params.copy()

# large float32 layers: fastbp's own matrix products with AVX-512, BLAS otherwise
Xl = rng.normal(size=(512, 300)).astype("float32")
yl = rng.integers(0, 10, size=512)
run("large.float32", fastbp.Network([300, 512, 256, 10], "relu", loss="cross_entropy",
    seed=7, n_threads=1), Xl, yl, Xl[:64], epochs=1, batch_size=128, lr=0.01)

np.savez(out, **results)
config = fastbp.show_config(print_=False)
print(json.dumps({"levels": _kernels.dispatch_levels(), "simd": config["simd"],
                  "dispatch": config["dispatch"], "own_gemm": _kernels.avx512_kernels_run()}))
'''

# The large float32 layers on fastbp's own matrix products against the same on BLAS, relative
# to the array's largest value: one epoch of float32 sums in another order (3e-7 seen here).
CLOSE = 1e-5


def fastbp_path():
    """The folder the imported fastbp comes from (the installed package, not the sources)."""
    return os.path.dirname(os.path.dirname(os.path.abspath(fastbp.__file__)))


def run_worker(tmp_path, level, code=WORKER):
    env = {key: value for key, value in os.environ.items() if key != "FASTBP_DISPATCH"}
    if level is not None:
        env["FASTBP_DISPATCH"] = level
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [fastbp_path(), env.get("PYTHONPATH")]))
    out = tmp_path / f"{level}.npz"
    # (from another folder: the repository's fastbp/ holds sources, not the compiled modules)
    done = subprocess.run([sys.executable, "-c", code, str(out)], capture_output=True,
                          text=True, cwd=tmp_path, env=env, timeout=600)
    return done, out


@pytest.fixture(scope="module")
def default_run(tmp_path_factory):
    done, out = run_worker(tmp_path_factory.mktemp("default"), None)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.splitlines()[-1]), dict(np.load(out))


def uses_own_gemm(name, info):
    """Whether the run `name` multiplies on fastbp's own (AVX-512) matrix kernels, here."""
    return info["own_gemm"] and name.startswith("large.")


@pytest.mark.skipif(_kernels.dispatch_levels()["in_use"] is None,
                    reason="a build without runtime dispatch")
@pytest.mark.parametrize("level", LEVELS)
def test_forced_level_trains_as_the_default(tmp_path, default_run, level):
    default_info, default_results = default_run
    done, out = run_worker(tmp_path, level)
    assert done.returncode == 0, done.stderr
    info = json.loads(done.stdout.splitlines()[-1])
    cpu = default_info["levels"]["cpu"]
    expected = level if LEVELS.index(level) >= LEVELS.index(cpu) else cpu
    assert info["levels"] == {"in_use": expected, "cpu": cpu, "requested": level}
    assert info["dispatch"].startswith(expected + " ")
    assert f"FASTBP_DISPATCH={level}" in info["dispatch"]
    assert default_info["levels"]["requested"] is None
    assert default_info["levels"]["in_use"] == cpu
    # the AVX-512 kernels run at the AVX-512 level only
    assert info["own_gemm"] == (default_info["own_gemm"] and expected == "avx512")

    results = dict(np.load(out))
    assert results.keys() == default_results.keys()
    exact = close = 0
    for name, value in results.items():
        reference = default_results[name]
        assert value.dtype == reference.dtype and value.shape == reference.shape, name
        if info["own_gemm"] == default_info["own_gemm"] or not uses_own_gemm(name, default_info):
            assert value.tobytes() == reference.tobytes(), name
            exact += 1
        else:
            scale = float(np.max(np.abs(reference), initial=0.0)) or 1.0
            np.testing.assert_allclose(value, reference, rtol=0, atol=CLOSE * scale,
                                       err_msg=name)
            close += 1
    assert exact > 100 and close <= 3  # (all but the large network bit for bit)


@pytest.mark.skipif(_kernels.dispatch_levels()["in_use"] is None,
                    reason="a build without runtime dispatch")
def test_default_level_is_the_cpus_best():
    levels = _kernels.dispatch_levels()
    if levels["requested"] is None:
        assert levels["in_use"] == levels["cpu"]
    config = fastbp.show_config(print_=False)
    assert config["dispatch"].split()[0] == levels["in_use"]
    words = {"avx512": "AVX-512", "avx2": "AVX2", "baseline": "baseline"}
    assert words[levels["in_use"]] in config["simd"]


def test_unknown_level_refused(tmp_path):
    done, _ = run_worker(tmp_path, "avx3", code="import fastbp")
    assert done.returncode != 0
    assert "FASTBP_DISPATCH='avx3'" in done.stderr
    assert "avx512, avx2, baseline" in done.stderr


def test_empty_level_is_unset(tmp_path):
    code = "import json, fastbp; print(json.dumps(fastbp._kernels.dispatch_levels()))"
    done, _ = run_worker(tmp_path, "", code=code)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["requested"] is None


@pytest.mark.parametrize("levels, expected", [
    ({"in_use": "avx2", "cpu": "avx2", "requested": "avx512"},
     "avx2 (FASTBP_DISPATCH=avx512 asks for more than this CPU has: its best instead)"),
    ({"in_use": "baseline", "cpu": "avx512", "requested": "baseline"},
     "baseline (forced by FASTBP_DISPATCH=baseline; this CPU has avx512)"),
    ({"in_use": "avx512", "cpu": "avx512", "requested": None},
     "avx512 (this CPU's best; FASTBP_DISPATCH=avx2 or baseline forces a lower level)"),
    ({"in_use": None, "cpu": None, "requested": "avx2"},
     "none: a portable build (FASTBP_DISPATCH=avx2 has no effect)"),
])
def test_show_config_words(monkeypatch, levels, expected):
    from fastbp import _config
    monkeypatch.setattr(_config, "dispatch_levels", lambda: levels)
    assert _config._dispatch() == expected
