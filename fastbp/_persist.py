"""Saving and loading networks: an .npz archive holding a JSON header and flat arrays.

The header records everything needed to continue training exactly: the architecture,
dtype, initialiser, dropout, seed, the shuffle and dropout generators' states, the
optimizer (its settings and step count; its state arrays sit beside the parameters) and the
input/target scaling learnt on the first fit.
"""
import contextlib
import json
import os
import tempfile
import zipfile

import numpy as np

from fastbp import optim
from fastbp._registry import FIXED_OUTPUTS
from fastbp._scaling import Scaler
from fastbp._version import __version__

FORMAT_NAME = "fastbp-network"
FORMAT_VERSION = 1


def record(net, state):
    """(header, params, optimizer_state): copies of everything that defines a network, from
    its public description (`net`) and its training `state`."""
    return {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "fastbp_version": __version__,
        "sizes": list(net.sizes),
        "activations": list(net.activations),
        "output": net.output,
        "loss": net.loss_name,
        "dtype": net.dtype.name,
        "seed": net.seed,
        "init": net.init,
        "dropout": list(net.dropout),
        "epochs_trained": state.epochs_trained,
        "shuffle_state": state.shuffle_rng.bit_generator.state,
        "dropout_state": state.dropout_rng.bit_generator.state,
        "optimizer": {"config": state.optimizer.to_dict(), "step": state.step},
        "scaling": {
            "inputs": net.scale_inputs,
            "targets": net.scale_targets,
            "input_scaler": None if state.input_scaler is None else state.input_scaler.to_dict(),
            "target_scaler": None if state.target_scaler is None else state.target_scaler.to_dict(),
        },
    }, state.params.copy(), state.optimizer_state.copy()


def check_format(header):
    """Refuse a header that is not of a fastbp network in this format version."""
    if header.get("format") != FORMAT_NAME:
        raise ValueError("not a fastbp network (format name missing)")
    if header.get("format_version") != FORMAT_VERSION:
        raise ValueError(f"unsupported format_version {header.get('format_version')!r} "
                         f"(this fastbp reads version {FORMAT_VERSION})")


def network_arguments(header):
    """The Network(...) keyword arguments that rebuild the network `header` describes."""
    check_format(header)
    scaling = header.get("scaling") or {}
    try:
        return dict(sizes=header["sizes"], activation=list(header["activations"]),
                    output=None if header["loss"] in FIXED_OUTPUTS else header["output"],
                    loss=header["loss"], dtype=header["dtype"], seed=header["seed"],
                    init=header.get("init", "auto"), dropout=header.get("dropout"),
                    scale_inputs=bool(scaling.get("inputs", False)),
                    scale_targets=bool(scaling.get("targets", False)))
    except KeyError as exc:
        raise ValueError(f"header lacks {exc}") from None


def _generator_state(header, key):
    value = header.get(key)
    if not isinstance(value, dict) or value.get("bit_generator") != "PCG64":
        raise ValueError(f"missing or unknown {key}")
    return value


def restore(state, header, params, optimizer_state=None):
    """Put the training state `header`, `params` and `optimizer_state` describe into `state`
    (that of a network built from :func:`network_arguments`), checking that the parts agree."""
    params = np.asarray(params)
    if params.shape != state.params.shape or params.dtype != state.dtype:
        raise ValueError(f"parameters are {params.dtype}{params.shape}, the header describes "
                         f"{state.dtype}{state.params.shape}")
    if not np.all(np.isfinite(params)):
        raise ValueError("parameters contain NaN or infinity")
    state.params[...] = params

    optimizer = header.get("optimizer")
    if optimizer is not None:
        state.set_optimizer(optim.from_dict(optimizer["config"]))
        state.step = int(optimizer["step"])
        state_array = (np.asarray(optimizer_state) if optimizer_state is not None
                       else np.zeros(0, state.dtype))
        if state_array.shape != state.optimizer_state.shape or state_array.dtype != state.dtype:
            raise ValueError("optimizer state does not match the optimizer and parameters")
        state.optimizer_state[...] = state_array
    state.epochs_trained = int(header.get("epochs_trained", 0))
    if state.epochs_trained < 0 or state.step < 0:
        raise ValueError("negative epoch or update count")
    scaling = header.get("scaling") or {}
    for key, width in (("input_scaler", state.weights[0].shape[1]),
                       ("target_scaler", state.biases[-1].size)):
        if scaling.get(key) is not None:
            scaler = Scaler.from_dict(scaling[key])
            if scaler.mean.shape != (width,):
                raise ValueError(f"{key} has {scaler.mean.size} columns, the network {width}")
            setattr(state, key, scaler)
    state.shuffle_rng.bit_generator.state = _generator_state(header, "shuffle_state")
    if "dropout_state" in header:
        state.dropout_rng.bit_generator.state = _generator_state(header, "dropout_state")


def save(path, header, params, optimizer_state):
    """Write a :func:`record` to `path` through a temporary file renamed into place (atomic on
    POSIX)."""
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    mode = os.stat(path).st_mode & 0o777 if os.path.exists(path) else 0o644
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{os.path.basename(path)}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            # Through a handle, np.savez appends no ".npz" to the name.
            np.savez(handle, header=np.array(json.dumps(header)), params=params,
                     optimizer_state=optimizer_state)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def load(path, build):
    """``build(header, params, optimizer_state)`` of the file at `path` (a network saved by
    :meth:`Network.save`), any error in the file or in building from it reported as the file's.

    Raises
    ------
    FileNotFoundError
        `path` does not exist.
    ValueError
        The file is corrupt, not a fastbp network, or from an unsupported format version.
    """
    path = os.fspath(path)
    try:
        with np.load(path, allow_pickle=False) as archive:
            if not isinstance(archive, np.lib.npyio.NpzFile):
                raise ValueError("not an .npz archive")
            header = json.loads(str(archive["header"][()]))
            params = archive["params"]
            optimizer_state = archive["optimizer_state"] if "optimizer_state" in archive.files else None
        if not isinstance(header, dict):
            raise ValueError("header is not a JSON object")
        return build(header, params, optimizer_state)
    except FileNotFoundError:
        raise
    except (ValueError, TypeError, KeyError, OSError, EOFError, MemoryError,
            zipfile.BadZipFile) as exc:
        raise ValueError(f"{path} is not a readable fastbp network file: {exc}") from exc
