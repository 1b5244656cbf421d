"""Wrote the files beside it with fastbp 0.1.0 as it was before the training state moved to
fastbp._state (commit c3fea18): `PYTHONPATH=<that build> python3 make_files.py <folder>`.
Each network is saved (.npz) and pickled (.pkl), with what it must load to (.expected.*);
tests/test_saved_files.py loads them. It reads that build's private names, so it runs only
there."""
import json, pickle, sys, pathlib
import numpy as np
import fastbp
out = pathlib.Path(sys.argv[1]); out.mkdir(exist_ok=True)
rng = np.random.default_rng(0)
X = rng.normal(size=(60, 3)); Xp = rng.normal(size=(7, 3))
cases = {
    "mse_sgd_f32": (dict(sizes=[3, 5, 1], activation="tanh"), dict(epochs=2, batch_size=8, lr=0.05), "reg"),
    "adam_dropout_scaled_f64": (dict(sizes=[3, 6, 4, 2], activation=["relu", "gelu"], output="sigmoid", dtype="float64",
                                     dropout=0.2, scale_inputs=True, scale_targets=True, seed=4, init="he_normal"),
                                dict(epochs=3, batch_size=16, optimizer="adam", lr=0.01, alpha=1e-3, clip_norm=1.0), "reg2"),
    "xent_irprop_f32": (dict(sizes=[3, 4, 3], activation="elu", loss="cross_entropy", seed=2),
                        dict(epochs=2, batch_size=None, optimizer="irprop-"), "cls"),
    "bce_rmsprop_f64": (dict(sizes=[3, 2], loss="binary_cross_entropy", dtype="float64", seed=7),
                        dict(epochs=2, batch_size=4, optimizer=fastbp.optim.RMSprop(rho=0.9), lr=0.01), "bin"),
    "poisson_lbfgs_f64": (dict(sizes=[3, 3, 1], activation="softplus", loss="poisson", dtype="float64", seed=1),
                          dict(epochs=5, optimizer="lbfgs"), "count"),
    "untrained_huber": (dict(sizes=[3, 2, 2], activation="sigmoid", loss="huber", seed=None), None, "reg2"),
}
targets = {"reg": X[:, 0], "reg2": X[:, :2] * 3 + 1, "cls": rng.integers(0, 3, 60),
           "bin": (X[:, :2] > 0).astype(float), "count": rng.poisson(1.0, 60).astype(float)}
for name, (kw, fit, target) in cases.items():
    kw = dict(kw); sizes = kw.pop("sizes")
    net = fastbp.Network(sizes, **kw)
    if fit:
        net.fit(X, targets[target], **fit)
    net.save(out / f"{name}.npz")
    (out / f"{name}.pkl").write_bytes(pickle.dumps(net))
    expected = {"predict": net.predict(Xp), "params": net._params.copy(), "opt_state": net._optimizer_state.copy()}
    np.savez(out / f"{name}.expected.npz", **expected)
    meta = {"repr": repr(net), "optimizer": repr(net.optimizer), "step": net._optimizer_step,
            "epochs": net.epochs_trained, "shuffle": repr(net._shuffle_rng.bit_generator.state),
            "dropout": repr(net._dropout_rng.bit_generator.state),
            "scalers": [None if s is None else s.to_dict() for s in (net._input_scaler, net._target_scaler)]}
    (out / f"{name}.expected.json").write_text(json.dumps(meta))
np.save(out / "probe_inputs.npy", Xp)
print("saved", len(cases))
