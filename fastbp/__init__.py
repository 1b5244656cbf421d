"""fastbp: multilayer perceptrons trained by backpropagation in compiled Cython kernels.

>>> import fastbp
>>> X, y = fastbp.datasets.house_prices(200, seed=0, standardize=True)
>>> net = fastbp.Network([3, 8, 1], activation="tanh", seed=0)
>>> history = net.fit(X, y, epochs=5, batch_size=16, lr=0.05)
>>> net.predict(X[:2]).shape
(2,)
"""
from fastbp._version import __version__

try:
    from fastbp import _train  # noqa: F401  (the compiled trainer)
except ImportError as exc:  # pragma: no cover - only from an uninstalled source folder
    raise ImportError(
        "fastbp's compiled modules are missing: this is probably the source folder of an "
        "uninstalled checkout. Install fastbp (pip install .) and run from another folder, or "
        "run the tests with `pytest` (which imports the installed package)."
    ) from exc

from fastbp import _persist, datasets, network, optim, reference, schedules
from fastbp import api  # noqa: F401  (the C API for compiled code: fastbp.api.open_view)
from fastbp._config import get_include, show_config
from fastbp._inspect import check_gradients
from fastbp.history import History, StopTraining
from fastbp.many import Ensemble, train_many
from fastbp.network import Network, TrainingDiverged, load

# Networks pickled before load moved to fastbp.network name this function: found again here.
_persist.from_state = network.from_record  # type: ignore[attr-defined]

__all__ = [
    "Network",
    "train_many",
    "Ensemble",
    "History",
    "TrainingDiverged",
    "StopTraining",
    "optim",
    "schedules",
    "load",
    "check_gradients",
    "show_config",
    "get_include",
    "datasets",
    "reference",
    "__version__",
]
