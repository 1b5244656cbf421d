"""Saving and loading networks: an .npz archive holding a JSON header and flat arrays.

The header records everything needed to continue training exactly: the architecture,
dtype, initialiser, dropout, seed, the shuffle and dropout generators' states, the
optimizer (its settings and step count; its state arrays sit beside the parameters) and the
input/target scaling learnt on the first fit. Version 2 adds the network's ``metadata``: the
names of its features and targets, its classes, its task and how it was trained (a small
record of known keys, checked like the rest). Version 1 files (fastbp 0.1.0) have no
metadata and are read under version 1's rules: exactly version 1's keys.

Files are untrusted input. :func:`load` reads the archive's directory, then the header (its
size bounded by the file's own size), checks every header field, works out from it how many
values each array holds, compares that with each member's declared size and ``.npy`` header,
and only then reads the arrays and builds the network. Whatever is wrong surfaces as one
``ValueError`` naming the problem.
"""
from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import math
import numbers
import os
import secrets
import socket
import struct
import zipfile
import zlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import IO, TYPE_CHECKING, Any, NamedTuple, NoReturn, TypeVar

import numpy as np
from numpy.typing import NDArray
from numpy.lib import format as npy_format

from fastbp import _init, optim
from fastbp._registry import (CLASSIFICATION_LOSSES, FIXED_OUTPUTS, HIDDEN_ACTIVATIONS, LOSSES,
                              REGRESSION_OUTPUTS)
from fastbp._scaling import Scaler
from fastbp._validate import DTYPES
from fastbp._version import __version__

if TYPE_CHECKING:
    from fastbp._state import TrainingState
    from fastbp.network import Network

_T = TypeVar("_T")
# (header, params, optimizer_state): what a file holds.
Record = tuple[dict[str, Any], NDArray[Any], NDArray[Any]]

FORMAT_NAME = "fastbp-network"
FORMAT_VERSION = 2
# The keys the writer puts in every header of each version (none is optional).
HEADER_KEYS_V1 = ("format", "format_version", "fastbp_version", "sizes", "activations",
                  "output", "loss", "dtype", "seed", "init", "dropout", "epochs_trained",
                  "shuffle_state", "dropout_state", "optimizer", "scaling")
HEADER_KEYS = {1: HEADER_KEYS_V1, 2: HEADER_KEYS_V1 + ("metadata",)}
# Version 2's metadata record: every key written, None where not known.
METADATA_KEYS = ("feature_names", "target_names", "classes", "task", "training")
TASKS = ("regression", "classification")
# Bounds of the metadata: names and texts in characters, the training record in entries.
MAX_NAME = 256
MAX_TEXT = 1024
MAX_TRAINING_ENTRIES = 64
SCALING_KEYS = ("inputs", "targets", "input_scaler", "target_scaler")
MEMBERS = ("header.npy", "params.npy", "optimizer_state.npy")
# Counts (epochs, updates, parameters) beyond this are damage: the kernels count in int64.
MAX_COUNT = 2**63 - 1
# A header member may expand to this many bytes whatever its compressed size, and beyond that
# to HEADER_EXPANSION bytes per stored byte: its size stays bounded by the file's.
HEADER_FREE_BYTES = 1 << 20
HEADER_EXPANSION = 32
# The .npy header in front of an array's values (numpy refuses ones over 10000 characters).
NPY_HEADER_MAX = 10016
# Errors that reading damaged bytes can raise, from zipfile, zlib, numpy and json; all are
# reported as the file's ValueError.
DAMAGE = (ValueError, TypeError, KeyError, IndexError, OSError, EOFError, MemoryError,
          OverflowError, RecursionError, NotImplementedError, RuntimeError, struct.error,
          zlib.error, zipfile.BadZipFile)


def record(net: Network, state: TrainingState) -> Record:
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
        "metadata": check_metadata(net.metadata, net.sizes, net.loss_name),
    }, state.params.copy(), state.optimizer_state.copy()


# ----- checking a header ----------------------------------------------------------------------
class Layout(NamedTuple):
    """What a checked header implies: the arrays' dtype and lengths, the optimizer, the
    metadata (every key; all None in a version 1 file)."""
    dtype: np.dtype[Any]
    n_params: int
    n_state: int
    optimizer: optim.Config
    metadata: dict[str, Any]


def _keys(what: str, value: Any, keys: Sequence[str]) -> None:
    """Refuse `value` unless it is a dict with exactly `keys`."""
    if not isinstance(value, dict):
        raise ValueError(f"{what} is not a JSON object: {_short(value)}")
    missing = [key for key in keys if key not in value]
    if missing:
        raise ValueError(f"{what} lacks {', '.join(map(repr, missing))}")
    unknown = [key for key in value if key not in keys]
    if unknown:
        raise ValueError(f"{what} has unknown keys {', '.join(map(repr, unknown[:5]))}")


def _short(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _int(what: str, value: Any, low: float, high: float = MAX_COUNT) -> Any:
    # numpy's integers too: copies and pickles pass records that JSON never saw.
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise ValueError(f"{what} must be an integer, got {_short(value)}")
    if not low <= value <= high:  # type: ignore[operator]
        raise ValueError(f"{what} must be in [{low}, {high}], got {_short(value)}")
    return value


def _real(what: str, value: Any) -> Any:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise ValueError(f"{what} must be a number, got {_short(value)}")
    if not math.isfinite(value):
        raise ValueError(f"{what} must be finite, got {_short(value)}")
    return value


def _name(what: str, value: Any, names: Sequence[str]) -> str:
    if not isinstance(value, str) or value not in names:
        raise ValueError(f"unknown {what} {_short(value)}; known: {', '.join(map(repr, names))}")
    return value


def _list(what: str, value: Any, length: int | None) -> list[Any]:
    if not isinstance(value, list):
        raise ValueError(f"{what} must be a list, got {_short(value)}")
    if length is not None and len(value) != length:
        raise ValueError(f"{what} must have {length} entries, got {len(value)}")
    return value


def _generator_state(what: str, value: Any) -> None:
    """Refuse anything but a PCG64 state as ``bit_generator.state`` gives it."""
    _keys(what, value, ("bit_generator", "state", "has_uint32", "uinteger"))
    if value["bit_generator"] != "PCG64":
        raise ValueError(f"{what} is not of a PCG64 generator: {_short(value['bit_generator'])}")
    _keys(f"{what}['state']", value["state"], ("state", "inc"))
    _int(f"{what} state", value["state"]["state"], 0, 2**128 - 1)
    if _int(f"{what} increment", value["state"]["inc"], 0, 2**128 - 1) % 2 == 0:
        raise ValueError(f"{what} increment must be odd (PCG64 keeps it odd)")
    _int(f"{what} has_uint32", value["has_uint32"], 0, 1)
    _int(f"{what} uinteger", value["uinteger"], 0, 2**32 - 1)


def _scaler(what: str, value: Any, width: int) -> None:
    if value is None:
        return
    _keys(what, value, ("mean", "std"))
    for key in ("mean", "std"):
        for k, number in enumerate(_list(f"{what} {key}", value[key], width)):
            _real(f"{what} {key}[{k}]", number)
    if not all(std > 0 for std in value["std"]):
        raise ValueError(f"{what} has a standard deviation <= 0")


def _optimizer(value: Any) -> optim.Config:
    """The optimizer configuration a header's ``optimizer`` entry holds, every setting present."""
    _keys("optimizer", value, ("config", "step"))
    config = value["config"]
    if not isinstance(config, dict):
        raise ValueError(f"optimizer config is not a JSON object: {_short(config)}")
    _int("optimizer step", value["step"], 0)
    try:
        return optim.from_dict(config, complete=True)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"optimizer config: {exc}") from None


def check_header(header: Any) -> Layout:
    """The :class:`Layout` a header describes, after checking every field's type and range.

    Raises
    ------
    ValueError
        Naming the first field that no file written by fastbp holds.
    """
    if not isinstance(header, dict):
        raise ValueError("header is not a JSON object")
    if header.get("format") != FORMAT_NAME:
        raise ValueError("not a fastbp network (format name missing)")
    version = header.get("format_version")
    if isinstance(version, bool) or not isinstance(version, int) or version not in HEADER_KEYS:
        raise ValueError(f"unsupported format_version {_short(version)} "
                         f"(this fastbp reads versions 1 to {FORMAT_VERSION})")
    _keys("header", header, HEADER_KEYS[version])
    if not isinstance(header["fastbp_version"], str) or len(header["fastbp_version"]) > 64:
        raise ValueError(f"fastbp_version must be a short string, got "
                         f"{_short(header['fastbp_version'])}")
    sizes = _list("sizes", header["sizes"], None)
    if len(sizes) < 2:
        raise ValueError(f"sizes needs at least an input and an output width, got {_short(sizes)}")
    for k, width in enumerate(sizes):
        _int(f"sizes[{k}]", width, 1)
    n_params = sum((n_in + 1) * n_out for n_in, n_out in zip(sizes, sizes[1:]))
    if n_params > MAX_COUNT:
        raise ValueError(f"sizes {_short(sizes)} imply {n_params} parameters")
    for k, name in enumerate(_list("activations", header["activations"], len(sizes) - 2)):
        _name(f"activations[{k}]", name, HIDDEN_ACTIVATIONS)
    loss = _name("loss", header["loss"], tuple(LOSSES))
    _name("output", header["output"],
          (FIXED_OUTPUTS[loss],) if loss in FIXED_OUTPUTS else REGRESSION_OUTPUTS)
    dtype = np.dtype(_name("dtype", header["dtype"], DTYPES))
    _int("seed", header["seed"], 0, math.inf)
    _name("init", header["init"], _init.NAMES)
    for k, rate in enumerate(_list("dropout", header["dropout"], len(sizes) - 2)):
        if not 0 <= _real(f"dropout[{k}]", rate) < 1:
            raise ValueError(f"dropout[{k}] must be in [0, 1), got {rate!r}")
    _int("epochs_trained", header["epochs_trained"], 0)
    _generator_state("shuffle_state", header["shuffle_state"])
    _generator_state("dropout_state", header["dropout_state"])
    config = _optimizer(header["optimizer"])
    scaling = header["scaling"]
    _keys("scaling", scaling, SCALING_KEYS)
    for flag, key, width in (("inputs", "input_scaler", sizes[0]),
                             ("targets", "target_scaler", sizes[-1])):
        if not isinstance(scaling[flag], bool):
            raise ValueError(f"scaling {flag} must be true or false, got {_short(scaling[flag])}")
        if scaling[key] is not None and not scaling[flag]:
            raise ValueError(f"{key} given for a network that does not scale its {flag}")
        _scaler(key, scaling[key], width)
    n_state = 0 if config.code is None else config.state_size * n_params
    metadata = (check_metadata(header["metadata"], sizes, loss, complete=True) if version >= 2
                else dict.fromkeys(METADATA_KEYS))
    return Layout(dtype, n_params, n_state, config, metadata)


# ----- the metadata of version 2 --------------------------------------------------------------
def _text(what: str, value: Any, limit: int) -> str:
    if not isinstance(value, str) or not value or len(value) > limit:
        raise ValueError(f"{what} must be a string of 1 to {limit} characters, got {_short(value)}")
    return str(value)  # (numpy's str_ as str)


def _names(what: str, value: Any, low: int, high: int) -> list[str]:
    names = [_text(f"{what}[{k}]", name, MAX_NAME) for k, name in enumerate(_sequence(what, value))]
    if not low <= len(names) <= high:
        raise ValueError(f"{what} must have {low if low == high else f'{low} to {high}'} "
                         f"entries, got {len(names)}")
    if len(set(names)) != len(names):
        raise ValueError(f"{what} repeats a name")
    return names


def _sequence(what: str, value: Any) -> list[Any]:
    if isinstance(value, (str, bytes, dict)) or not isinstance(value, (list, tuple, np.ndarray)):
        raise ValueError(f"{what} must be a list, got {_short(value)}")
    return list(value)


def _scalar(what: str, value: Any) -> Any:
    """A JSON scalar: None, a bool, an integer, a finite number or a short text."""
    if isinstance(value, np.generic):
        value = value.item()
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, numbers.Integral):
        return int(_int(what, value, -MAX_COUNT - 1))
    if isinstance(value, numbers.Real):
        return float(_real(what, value))
    if isinstance(value, str) and len(value) <= MAX_TEXT:
        return str(value)
    raise ValueError(f"{what} must be a number, a text of at most {MAX_TEXT} characters, true, "
                     f"false or null, got {_short(value)}")


def _classes(value: Any, n_outputs: int, loss: str) -> list[Any]:
    if loss not in CLASSIFICATION_LOSSES:
        raise ValueError(f"classes given for a network of the regression loss {loss!r}")
    classes = [_scalar(f"classes[{k}]", label) for k, label in enumerate(_sequence("classes", value))]
    expected = 2 if loss == "binary_cross_entropy" and n_outputs == 1 else n_outputs
    if len(classes) != expected:
        raise ValueError(f"classes must have {expected} entries for {n_outputs} "
                         f"output{'s' if n_outputs > 1 else ''} of {loss}, got {len(classes)}")
    if any(label is None or isinstance(label, bool) for label in classes) or len(
            {isinstance(label, str) for label in classes}) > 1:
        raise ValueError("classes must be all texts or all numbers")
    if len(set(classes)) != len(classes):
        raise ValueError("classes repeats a label")
    return classes


def _training(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ValueError(f"training must be a mapping of names to values, got {_short(value)}")
    if len(value) > MAX_TRAINING_ENTRIES:
        raise ValueError(f"training has {len(value)} entries, at most {MAX_TRAINING_ENTRIES}")
    record: dict[str, Any] = {}
    for key, entry in value.items():
        key = _text("a training key", key, MAX_NAME)
        if isinstance(entry, (list, tuple)):
            if len(entry) > MAX_TRAINING_ENTRIES:
                raise ValueError(f"training {key!r} has {len(entry)} entries, "
                                 f"at most {MAX_TRAINING_ENTRIES}")
            record[key] = [_scalar(f"training {key!r}[{k}]", item) for k, item in enumerate(entry)]
        else:
            record[key] = _scalar(f"training {key!r}", entry)
    return record


def check_metadata(metadata: Any, sizes: Sequence[int], loss: str,
                   complete: bool = False) -> dict[str, Any]:
    """A network's metadata, checked and as plain JSON values: a dict of every key of
    :data:`METADATA_KEYS`, None for those not given.

    ``feature_names``: one unique name per input; ``target_names``: 1 to n_outputs unique
    names (the target columns, or the one label column of a classifier); ``classes``: the
    labels of a classification loss's outputs, all texts or all numbers (cross_entropy: one
    per output; binary_cross_entropy with one output: two); ``task``: "regression" or
    "classification"; ``training``: up to 64 settings, each a number, text, true / false /
    null or a list of up to 64 of these. With `complete` (a file's record) every key must be
    present.

    Raises
    ------
    ValueError
        Naming the first entry out of bounds.
    """
    if metadata is None:
        metadata = {}
    if complete:
        _keys("metadata", metadata, METADATA_KEYS)
    elif not isinstance(metadata, dict):
        raise ValueError(f"metadata must be a dict, got {_short(metadata)}")
    unknown = [key for key in metadata if key not in METADATA_KEYS]
    if unknown:
        raise ValueError(f"metadata has unknown keys {', '.join(map(repr, unknown[:5]))}; "
                         f"known: {', '.join(METADATA_KEYS)}")
    checked: dict[str, Any] = dict.fromkeys(METADATA_KEYS)
    check: dict[str, Callable[[Any], Any]] = {
        "feature_names": lambda v: _names("feature_names", v, sizes[0], sizes[0]),
        "target_names": lambda v: _names("target_names", v, 1, sizes[-1]),
        "classes": lambda v: _classes(v, sizes[-1], loss),
        "task": lambda v: _name("task", v, TASKS),
        "training": _training}
    for key, value in metadata.items():
        if value is not None:
            checked[key] = check[key](value)
    return checked


def check_arrays(layout: Layout, params: Any,
                 optimizer_state: Any) -> tuple[NDArray[Any], NDArray[Any]]:
    """(params, optimizer_state) as arrays, after checking them against `layout`: their dtype
    and length, finite values and an optimizer state that the optimizer can have produced."""
    params = np.asarray(params)
    if params.shape != (layout.n_params,) or params.dtype != layout.dtype:
        raise ValueError(f"parameters are {params.dtype}{params.shape}, the header describes "
                         f"{layout.dtype}({layout.n_params},)")
    if not np.all(np.isfinite(params)):
        raise ValueError("parameters contain NaN or infinity")
    state = np.asarray(optimizer_state if optimizer_state is not None
                       else np.zeros(0, layout.dtype))
    if state.shape != (layout.n_state,) or state.dtype != layout.dtype:
        raise ValueError(f"optimizer state is {state.dtype}{state.shape}, the header's "
                         f"{layout.optimizer.name} keeps {layout.dtype}({layout.n_state},)")
    if layout.n_state:
        layout.optimizer.check_state(state)  # type: ignore[union-attr]  # (a step configuration)
    return params, state


def network_arguments(header: Mapping[str, Any]) -> dict[str, Any]:
    """The Network(...) keyword arguments that rebuild the network a checked `header`
    describes."""
    scaling = header["scaling"]
    return dict(sizes=header["sizes"], activation=list(header["activations"]),
                output=None if header["loss"] in FIXED_OUTPUTS else header["output"],
                loss=header["loss"], dtype=header["dtype"], seed=header["seed"],
                init=header["init"], dropout=header["dropout"],
                scale_inputs=scaling["inputs"], scale_targets=scaling["targets"])


def restore(state: TrainingState, header: Mapping[str, Any], layout: Layout, params: NDArray[Any],
            optimizer_state: NDArray[Any]) -> None:
    """Put the training state that a checked `header` and arrays (see :func:`check_arrays`)
    describe into `state`, that of a network built from :func:`network_arguments`."""
    state.params[...] = params
    state.set_optimizer(layout.optimizer)
    state.step = header["optimizer"]["step"]
    state.optimizer_state[...] = optimizer_state
    state.epochs_trained = header["epochs_trained"]
    scalers = [header["scaling"][key] for key in ("input_scaler", "target_scaler")]
    state.input_scaler, state.target_scaler = (
        None if scaler is None else Scaler.from_dict(scaler) for scaler in scalers)
    state.shuffle_rng.bit_generator.state = header["shuffle_state"]
    state.dropout_rng.bit_generator.state = header["dropout_state"]


# ----- saving ---------------------------------------------------------------------------------
# Temporary files are named .fastbp-<target>-<host>-<pid>-<random>.tmp: short whatever the
# target's name, and telling which target, machine and process they belong to.
TEMP_PREFIX = ".fastbp-"
TEMP_SUFFIX = ".tmp"


def _digest(text: str, length: int) -> str:
    return hashlib.sha256(os.fsencode(text)).hexdigest()[:length]


def _temp_stem(path: str) -> str:
    """``.fastbp-<target>-<host>-`` for `path`: the start of every temporary name of its saves
    from this machine."""
    name, host = _digest(os.path.basename(path), 12), _digest(socket.gethostname(), 6)
    return f"{TEMP_PREFIX}{name}-{host}-"


def _process_exists(pid: int) -> bool:
    if os.name == "nt":  # os.kill there terminates the process: never judge, never remove
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, ValueError):
        return True  # another user's process, or a pid this system cannot test: keep
    return True


def _remove_stale_temporaries(directory: str | bytes, stem: str) -> None:
    """Delete the temporary files that saves of this target from this machine left when
    their process died mid-write (their writer's pid no longer exists)."""
    with contextlib.suppress(OSError), os.scandir(directory) as entries:
        for entry in entries:
            name = os.fsdecode(entry.name)
            if not (name.startswith(stem) and name.endswith(TEMP_SUFFIX)):
                continue
            pid = name[len(stem):-len(TEMP_SUFFIX)].split("-")[0]
            if pid.isdigit() and not _process_exists(int(pid)):
                with contextlib.suppress(OSError):
                    os.unlink(entry.path)


def _write(handle: IO[bytes], header: Mapping[str, Any], params: NDArray[Any],
           optimizer_state: NDArray[Any]) -> None:
    np.savez(handle, header=np.array(json.dumps(header)), params=params,
             optimizer_state=optimizer_state)


def save(path: Any, header: Mapping[str, Any], params: NDArray[Any],
         optimizer_state: NDArray[Any]) -> None:
    """Write a :func:`record` to `path` (str, bytes or path-like) through a temporary file
    beside it, renamed into place (atomic on POSIX); first remove the temporary files that
    earlier saves of `path` left when their process was killed mid-write. A file object open
    for writing in binary mode is written to directly, from its current position."""
    if hasattr(path, "write"):
        _write(path, header, params, optimizer_state)
        return
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    if os.path.isdir(path):  # (else the rename fails, naming the temporary file)
        raise IsADirectoryError(errno.EISDIR, "cannot save there: it is a folder", path)
    mode = os.stat(path).st_mode & 0o777 if os.path.exists(path) else 0o644
    stem = _temp_stem(os.fsdecode(path))
    _remove_stale_temporaries(directory, stem)
    while True:
        name = f"{stem}{os.getpid()}-{secrets.token_hex(4)}{TEMP_SUFFIX}"
        tmp = os.path.join(directory, os.fsencode(name) if isinstance(directory, bytes) else name)
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            break
        except FileExistsError:
            continue
        except OSError as exc:  # named for the file asked for, not the temporary one
            reason = ("its folder does not exist" if exc.errno == errno.ENOENT
                      else exc.strerror or str(exc))
            raise type(exc)(exc.errno, f"cannot save there: {reason}", path) from None
    try:
        with os.fdopen(fd, "wb") as handle:
            # Through a handle, np.savez appends no ".npz" to the name.
            _write(handle, header, params, optimizer_state)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


# ----- loading --------------------------------------------------------------------------------
def _members(archive: zipfile.ZipFile, file_size: int) -> dict[str, zipfile.ZipInfo]:
    """The archive's entries for :data:`MEMBERS`, by name, after checking what their
    directory entries declare."""
    found: dict[str, zipfile.ZipInfo] = {}
    for info in archive.infolist():
        if info.filename not in MEMBERS:
            continue  # np.load ignores extra members; so does fastbp
        if info.filename in found:
            raise ValueError(f"{info.filename} appears twice in the archive")
        if info.flag_bits & 0x1:
            raise ValueError(f"{info.filename} is encrypted")
        if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            raise ValueError(f"{info.filename} is compressed with method {info.compress_type}; "
                             "fastbp reads stored and deflated members")
        if info.header_offset + info.compress_size > file_size:
            raise ValueError(f"{info.filename} extends past the end of the file")
        found[info.filename] = info
    return found


def _npy_header(handle: IO[bytes], name: str) -> tuple[tuple[int, ...], np.dtype[Any]]:
    """(shape, dtype) from the .npy header at the start of member `name`, its values not read."""
    try:
        version = npy_format.read_magic(handle)
        if version == (1, 0):
            shape, _, dtype = npy_format.read_array_header_1_0(handle)
        elif version == (2, 0):
            shape, _, dtype = npy_format.read_array_header_2_0(handle)
        else:
            raise ValueError(f"version {version}, not 1.0 or 2.0")
    except Exception as exc:  # numpy parses the header as Python literals: SyntaxError, ...
        # numpy's advice to trust the file (allow_pickle) is no advice for an untrusted one
        reason = str(exc)
        if "allow_pickle" in reason:  # its first line says what is wrong
            reason = reason.split("\n")[0].rstrip(".")
        raise ValueError(f"{name} has a damaged .npy header ({type(exc).__name__}: "
                         f"{reason[:200]})") from None
    if dtype.hasobject:
        raise ValueError(f"{name} holds Python objects")
    return shape, dtype


def _read_values(archive: zipfile.ZipFile, info: zipfile.ZipInfo, shape: tuple[int, ...],
                 dtype: np.dtype[Any], limit: int) -> NDArray[Any]:
    """The values of member `info`, which must be an array of `shape` and `dtype`; its declared
    size is checked against `limit` bytes before anything is read."""
    name = info.filename
    if info.file_size > limit:
        raise ValueError(f"{name} declares {info.file_size} bytes, more than the header "
                         f"implies ({limit})")
    with archive.open(info) as handle:
        found_shape, found_dtype = _npy_header(handle, name)
        if found_shape != shape or found_dtype != dtype:
            raise ValueError(f"{name} holds {found_dtype}{found_shape}, the header implies "
                             f"{dtype}{shape}")
        n_bytes = math.prod(shape) * dtype.itemsize
        if info.file_size != handle.tell() + n_bytes:
            raise ValueError(f"{name} declares {info.file_size} bytes, its .npy header "
                             f"{handle.tell() + n_bytes}")
        data = handle.read(n_bytes)
        if len(data) != n_bytes or handle.read(1):
            raise ValueError(f"{name} is truncated")
    return np.frombuffer(data, dtype=dtype).reshape(shape)


def _unique_keys(pairs: Iterable[tuple[str, Any]]) -> dict[str, Any]:
    keys = [key for key, _ in pairs]
    if len(set(keys)) != len(keys):
        raise ValueError(f"header repeats a key among {', '.join(map(repr, keys[:8]))}")
    return dict(pairs)


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"header holds the number {text[:40]}, out of range")
    return value


def _refuse_constant(name: str) -> NoReturn:
    raise ValueError(f"header holds {name}")


def _read_header(archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> Any:
    """The header member's JSON object, its size checked against its compressed size first."""
    if info.file_size > HEADER_FREE_BYTES + HEADER_EXPANSION * info.compress_size:
        raise ValueError(f"header.npy declares {info.file_size} bytes from "
                         f"{info.compress_size} stored")
    with archive.open(info) as handle:
        shape, dtype = _npy_header(handle, "header.npy")
        if shape != () or dtype.kind != "U":
            raise ValueError(f"header.npy holds {dtype}{shape}, not one string")
        if info.file_size != handle.tell() + dtype.itemsize:
            raise ValueError("header.npy is not the size its .npy header declares")
        data = handle.read(dtype.itemsize)
        if len(data) != dtype.itemsize or handle.read(1):
            raise ValueError("header.npy is truncated")
    try:
        text = str(np.frombuffer(data, dtype=dtype)[0])
    except (ValueError, UnicodeError):
        raise ValueError("header is not valid text") from None
    try:
        return json.loads(text, parse_float=_finite_float, parse_constant=_refuse_constant,
                          object_pairs_hook=_unique_keys)
    except RecursionError:
        raise ValueError("header nests too deeply") from None
    except ValueError as exc:
        raise ValueError(f"header is not valid JSON: {exc}") from None


def read(handle: IO[bytes], file_size: int) -> Record:
    """(header, params, optimizer_state) of the open file `handle` of `file_size` bytes: the
    header checked field by field and the arrays' sizes against it before they are read."""
    try:
        archive = zipfile.ZipFile(handle)
    except zipfile.BadZipFile as exc:
        raise ValueError(f"not an .npz archive ({exc})") from None
    with archive:
        members = _members(archive, file_size)
        if "header.npy" not in members:
            raise ValueError("not a fastbp network (no header)")
        header = _read_header(archive, members["header.npy"])
        layout = check_header(header)
        arrays: list[NDArray[Any]] = []
        for name, count in (("params.npy", layout.n_params),
                            ("optimizer_state.npy", layout.n_state)):
            if name not in members:
                raise ValueError(f"the archive lacks {name}")
            arrays.append(_read_values(archive, members[name], (count,), layout.dtype,
                                       NPY_HEADER_MAX + count * layout.dtype.itemsize))
    return (header, *arrays)


def _read_file_object(handle: IO[bytes]) -> Record:
    """read() of an open binary file object, from its current position to its end."""
    start = handle.tell()
    size = handle.seek(0, os.SEEK_END) - start
    handle.seek(start)
    return read(handle, size)


def load(path: Any, build: Callable[[dict[str, Any], NDArray[Any], NDArray[Any]], _T]) -> _T:
    """``build(header, params, optimizer_state)`` of the file at `path` (a network saved by
    :meth:`Network.save`; or a binary file object, read from its current position), any
    error in the file or in building from it reported as the file's.

    Raises
    ------
    FileNotFoundError
        `path` does not exist.
    ValueError
        The file is corrupt, not a fastbp network, or from an unsupported format version.
    """
    if hasattr(path, "read"):
        name = getattr(path, "name", None)
        name = repr(name) if isinstance(name, (str, bytes)) else f"the {type(path).__name__}"
    else:
        path = os.fspath(path)
        name = os.fsdecode(path)
    try:
        if isinstance(path, (str, bytes)):
            with open(path, "rb") as handle:
                header, params, optimizer_state = read(handle, os.fstat(handle.fileno()).st_size)
        else:
            header, params, optimizer_state = _read_file_object(path)
        return build(header, params, optimizer_state)
    except FileNotFoundError:
        raise
    except DAMAGE as exc:
        raise ValueError(f"{name} is not a readable fastbp network file: {exc}") from exc
