"""Saving and loading networks: an .npz archive holding a JSON header and the flat parameters.

The header records everything needed to continue training exactly: the architecture,
dtype, seed and the shuffle generator's state. ``optimizer`` and ``scaling`` are reserved
for optimizer and input/target scaling state.
"""
import contextlib
import json
import os
import tempfile
import zipfile

import numpy as np

FORMAT_NAME = "fastbp-network"
FORMAT_VERSION = 1


def state(net):
    """(header, params): a copy of everything that defines `net`, as JSON-able header + array."""
    from fastbp import __version__
    with net._exclusive():
        header = {
            "format": FORMAT_NAME,
            "format_version": FORMAT_VERSION,
            "fastbp_version": __version__,
            "sizes": list(net.sizes),
            "activations": list(net.activations),
            "output": net.output,
            "loss": net.loss_name,
            "dtype": net.dtype.name,
            "seed": net.seed,
            "shuffle_state": net._shuffle_rng.bit_generator.state,
            "optimizer": None,
            "scaling": None,
        }
        return header, net._params.copy()


def from_state(header, params):
    """Rebuild a Network from :func:`state`'s output, checking that the two agree."""
    from fastbp.network import Network
    if header.get("format") != FORMAT_NAME:
        raise ValueError("not a fastbp network (format name missing)")
    if header.get("format_version") != FORMAT_VERSION:
        raise ValueError(f"unsupported format_version {header.get('format_version')!r} "
                         f"(this fastbp reads version {FORMAT_VERSION})")
    if header.get("optimizer") is not None or header.get("scaling") is not None:
        raise ValueError("the file holds optimizer or scaling state this fastbp cannot restore")
    try:
        net = Network(header["sizes"], activation=list(header["activations"]),
                      output=header["output"] if header["loss"] == "mse" else None,
                      loss=header["loss"], dtype=header["dtype"], seed=header["seed"])
    except KeyError as exc:
        raise ValueError(f"header lacks {exc}") from None
    params = np.asarray(params)
    if params.shape != net._params.shape or params.dtype != net.dtype:
        raise ValueError(f"parameters are {params.dtype}{params.shape}, the header describes "
                         f"{net.dtype}{net._params.shape}")
    if not np.all(np.isfinite(params)):
        raise ValueError("parameters contain NaN or infinity")
    net._params[...] = params
    shuffle_state = header.get("shuffle_state")
    if not isinstance(shuffle_state, dict) or shuffle_state.get("bit_generator") != "PCG64":
        raise ValueError("missing or unknown shuffle generator state")
    net._shuffle_rng.bit_generator.state = shuffle_state
    return net


def save(net, path):
    """Write `net` to `path` through a temporary file renamed into place (atomic on POSIX)."""
    path = os.fspath(path)
    header, params = state(net)
    directory = os.path.dirname(os.path.abspath(path))
    mode = os.stat(path).st_mode & 0o777 if os.path.exists(path) else 0o644
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{os.path.basename(path)}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            # Through a handle, np.savez appends no ".npz" to the name.
            np.savez(handle, header=np.array(json.dumps(header)), params=params)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def load(path):
    """Load a network saved by :meth:`Network.save`.

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
        if not isinstance(header, dict):
            raise ValueError("header is not a JSON object")
        return from_state(header, params)
    except FileNotFoundError:
        raise
    except (ValueError, TypeError, KeyError, OSError, EOFError, zipfile.BadZipFile) as exc:
        raise ValueError(f"{path} is not a readable fastbp network file: {exc}") from exc
