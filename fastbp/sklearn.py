"""scikit-learn's ``MLPClassifier`` and ``MLPRegressor``, trained by fastbp's compiled loops.

``from fastbp.sklearn import MLPClassifier`` in place of ``from sklearn.neural_network import
MLPClassifier`` is the whole change: the same constructor parameters with the same meanings
and defaults, the same fitted attributes, errors and warnings, the same training arithmetic
(scikit-learn's initial weights from ``random_state``, its momentum and Adam forms, its L2
penalty per batch, its learning-rate schedules and stop rules, its log-loss with the
probabilities clipped to [ε, 1 − ε], ε the dtype's machine epsilon), so that from the same
weights both train the same network, step for step (float64, ``shuffle=False``).

The epochs run in fastbp's compiled trainer, one call per epoch, with the GIL released; what
scikit-learn decides between epochs (``t_``, invscaling and adaptive rates, ``tol`` and
``n_iter_no_change``, early stopping on a held-out split, verbose lines) is decided here
between the same epochs. X is validated and converted once per ``fit``.

What differs from scikit-learn's estimators:

- ``dtype`` (new, last): None follows X as scikit-learn does (float32 X trains in float32,
  any other X in float64); ``"float32"`` or ``"float64"`` fixes it.
- ``dropout``, ``n_threads`` (new, last): see :class:`fastbp.Network`.
- ``activation`` also takes fastbp's ``"leaky_relu"``, ``"elu"``, ``"softplus"`` and ``"gelu"``;
  ``solver`` also ``"adamw"``, ``"rmsprop"`` and ``"adagrad"`` (fastbp's forms, at
  ``learning_rate_init``).
- Sparse X is accepted and densified (fastbp's kernels are dense).
- Predicting float64 X with a float32-trained estimator computes and returns float32.

scikit-learn (>= 1.6) is needed by this module only: ``pip install "fastbp[sklearn]"``.
"""
from __future__ import annotations

import numbers
import warnings
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any, TypeAlias, TypeVar

import numpy as np
import scipy.optimize
from numpy.typing import ArrayLike, DTypeLike, NDArray
from scipy.special import xlogy
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import accuracy_score, r2_score
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import LabelBinarizer
from sklearn.utils import check_random_state, column_or_1d
from sklearn.utils._param_validation import Interval, Options, StrOptions
from sklearn.utils.metaestimators import available_if
from sklearn.utils.multiclass import type_of_target, unique_labels
from sklearn.utils.optimize import _check_optimize_result
from sklearn.utils.validation import _check_sample_weight, check_is_fitted, validate_data

from fastbp import _fit, optim, schedules
from fastbp._blas import limit_threads
from fastbp._train import TrainOptions
from fastbp.history import TrainingDiverged
from fastbp.network import Network

if TYPE_CHECKING:
    from scipy.sparse import sparray, spmatrix

    # X: an array, or a scipy sparse matrix (densified).
    MatrixLike: TypeAlias = ArrayLike | spmatrix | sparray
    _F = TypeVar("_F", bound=Callable[..., Any])

    def _fit_context(*, prefer_skip_nested_validation: bool) -> Callable[[_F], _F]:
        """scikit-learn's decorator (untyped there) keeps the signature it decorates."""
        ...
else:
    from sklearn.base import _fit_context

_Estimator = TypeVar("_Estimator", bound="_BaseMLP")

# scikit-learn's activation names and fastbp's own, as fastbp names them.
_ACTIVATIONS = {"identity": "identity", "logistic": "sigmoid", "tanh": "tanh", "relu": "relu",
                "leaky_relu": "leaky_relu", "elu": "elu", "softplus": "softplus", "gelu": "gelu"}
_STOCHASTIC_SOLVERS = ("sgd", "adam", "adamw", "rmsprop", "adagrad")
_DIVERGED = ("Solver produced non-finite parameter weights. The input data may contain large "
             "values and need to be preprocessed.")


class _Rate(schedules.Schedule):
    """The learning rate of the epoch about to run: the estimator's, which its stop rules
    (adaptive) and t_ (invscaling) change between epochs."""

    def __init__(self, lr: float) -> None:
        self.current = lr

    def lr(self, epoch: int, base_lr: float) -> float:
        return self.current


class _Layers(list[NDArray[Any]]):
    """coefs_ / intercepts_: views of the network's parameters in scikit-learn's shapes;
    assigning an item writes into the network (shapes checked)."""

    def __init__(self, views: Iterable[NDArray[Any]], kind: str) -> None:
        super().__init__(views)
        self._kind = kind

    def __setitem__(self, index: Any, value: Any) -> None:
        if not isinstance(index, numbers.Integral):
            raise TypeError(f"assign {self._kind} one layer at a time, or the whole list")
        target = self[index]
        array = np.asarray(value)
        if array.shape != target.shape:
            raise ValueError(f"{self._kind}[{index}] must have shape {target.shape}, "
                             f"got {array.shape}")
        target[...] = array


class _BaseMLP(BaseEstimator):
    """What MLPClassifier and MLPRegressor share: parameters, the network, the training loop."""

    _parameter_constraints: dict[str, list[Any]] = {
        "hidden_layer_sizes": ["array-like", Interval(numbers.Integral, 1, None, closed="left")],
        "activation": [StrOptions(set(_ACTIVATIONS))],
        "solver": [StrOptions({"lbfgs", *_STOCHASTIC_SOLVERS})],
        "alpha": [Interval(numbers.Real, 0, None, closed="left")],
        "batch_size": [StrOptions({"auto"}), Interval(numbers.Integral, 1, None, closed="left")],
        "learning_rate": [StrOptions({"constant", "invscaling", "adaptive"})],
        "learning_rate_init": [Interval(numbers.Real, 0, None, closed="neither")],
        "power_t": [Interval(numbers.Real, 0, None, closed="left")],
        "max_iter": [Interval(numbers.Integral, 1, None, closed="left")],
        "shuffle": ["boolean"],
        "random_state": ["random_state"],
        "tol": [Interval(numbers.Real, 0, None, closed="left")],
        "verbose": ["verbose"],
        "warm_start": ["boolean"],
        "momentum": [Interval(numbers.Real, 0, 1, closed="both")],
        "nesterovs_momentum": ["boolean"],
        "early_stopping": ["boolean"],
        "validation_fraction": [Interval(numbers.Real, 0, 1, closed="left")],
        "beta_1": [Interval(numbers.Real, 0, 1, closed="left")],
        "beta_2": [Interval(numbers.Real, 0, 1, closed="left")],
        "epsilon": [Interval(numbers.Real, 0, None, closed="neither")],
        "n_iter_no_change": [Interval(numbers.Integral, 1, None, closed="left"),
                             Options(numbers.Real, {np.inf})],
        "max_fun": [Interval(numbers.Integral, 1, None, closed="left")],
        "dtype": [None, StrOptions({"float32", "float64"}), type],
        "dropout": [None, "array-like", Interval(numbers.Real, 0, 1, closed="left")],
        "n_threads": [None, Interval(numbers.Integral, 1, None, closed="left")],
    }

    # ----- fitted state ---------------------------------------------------------------------
    def __sklearn_is_fitted__(self) -> bool:
        return hasattr(self, "_net")

    def _fitted_net(self, name: str) -> Network:
        net = self.__dict__.get("_net")
        if net is None:
            raise AttributeError(f"{type(self).__name__} has no attribute {name!r} before fit")
        return net  # type: ignore[no-any-return]

    @property
    def coefs_(self) -> list[NDArray[Any]]:
        """Weight matrices, coefs_[i] of shape (units of layer i, units of layer i+1): views
        of the network's parameters (assigning into them, or a new list, changes it)."""
        return _Layers([W.T for W in self._fitted_net("coefs_").weights], "coefs_")

    @coefs_.setter
    def coefs_(self, values: Iterable[ArrayLike]) -> None:
        net = self._fitted_net("coefs_")
        net.set_weights([np.asarray(W).T for W in values], net.biases)

    @property
    def intercepts_(self) -> list[NDArray[Any]]:
        """Bias vectors, intercepts_[i] of shape (units of layer i+1,): views of the network's
        parameters (assigning into them, or a new list, changes it)."""
        return _Layers(list(self._fitted_net("intercepts_").biases), "intercepts_")

    @intercepts_.setter
    def intercepts_(self, values: Iterable[ArrayLike]) -> None:
        net = self._fitted_net("intercepts_")
        net.set_weights(net.weights, list(values))

    @property
    def network_(self) -> Network:
        """The :class:`fastbp.Network` the estimator trains (its weights are coefs_.T)."""
        return self._fitted_net("network_")

    # ----- configuration --------------------------------------------------------------------
    def _hidden_sizes(self) -> list[int]:
        sizes = self.hidden_layer_sizes
        sizes = list(sizes) if hasattr(sizes, "__iter__") else [sizes]
        if np.any(np.array(sizes) <= 0):
            raise ValueError(f"hidden_layer_sizes must be > 0, got {sizes}.")
        return [int(size) for size in sizes]

    def _dtype_for(self, X: NDArray[Any]) -> type[np.floating[Any]]:
        if self.dtype is None:
            return np.float32 if X.dtype == np.float32 else np.float64
        dtype = np.dtype(self.dtype)
        if dtype not in (np.float32, np.float64):
            raise ValueError(f"dtype must be None, 'float32' or 'float64', got {self.dtype!r}")
        return dtype.type

    def _optimizer(self) -> optim.Config:
        """The fastbp optimizer configuration of `solver`, in scikit-learn's forms."""
        lr = self.learning_rate_init
        if self.solver == "sgd":
            if self.momentum == 0:  # θ ← θ − η·g in both conventions
                return optim.SGD(lr=lr)
            return optim.SGD(lr=lr, momentum=self.momentum, nesterov=self.nesterovs_momentum,
                             convention="sklearn")
        if self.solver == "adam":
            return optim.Adam(lr=lr, beta1=self.beta_1, beta2=self.beta_2, eps=self.epsilon,
                              convention="sklearn")
        return optim.resolve(self.solver)

    def _loss_offset(self, Y: NDArray[Any], sample_weight: NDArray[Any] | None = None) -> float:
        """What scikit-learn's loss adds to fastbp's over these targets, per sample (half the
        Poisson deviance has Σₖ y·log y − y beyond fastbp's Σₖ ŷ − y·log ŷ). With sample
        weights, their weighted mean: exact for full batches (scikit-learn weights each batch's
        own)."""
        if self._fastbp_loss == "poisson":
            terms = np.sum(xlogy(Y, Y) - Y, axis=1, dtype=np.float64)
            return float(np.average(terms, weights=sample_weight))
        return 0.0

    def _clip_log_loss(self) -> bool:
        """scikit-learn reports the log-loss with probabilities clipped to [ε, 1 − ε] (its
        gradient stays the exact loss's)."""
        return self._fastbp_loss in ("cross_entropy", "binary_cross_entropy")

    def _data_loss_scale(self) -> float:
        """scikit-learn reports the squared loss as a mean over outputs (its gradient stays
        ŷ − y)."""
        return 1.0 / self.n_outputs_ if self._fastbp_loss == "mse" else 1.0

    # ----- fitting --------------------------------------------------------------------------
    def _initialize(self, Y: NDArray[Any], layer_units: list[int], dtype: type[np.floating[Any]],
                    random_state: np.random.RandomState) -> None:
        """scikit-learn's first-fit attributes and initial weights, drawn from `random_state`
        in its order (per layer: the weights, then the biases); the network is built from them
        (_build_network) once scikit-learn's other draws (the early-stopping split) are done."""
        self.n_iter_ = 0
        self.t_ = 0
        self.n_outputs_ = Y.shape[1]
        self.n_layers_ = len(layer_units)
        factor = 2.0 if self.activation == "logistic" else 6.0
        coefs: list[NDArray[Any]] = []
        intercepts: list[NDArray[Any]] = []
        for fan_in, fan_out in zip(layer_units[:-1], layer_units[1:]):
            bound = np.sqrt(factor / (fan_in + fan_out))
            coefs.append(random_state.uniform(-bound, bound, (fan_in, fan_out)).astype(dtype))
            intercepts.append(random_state.uniform(-bound, bound, fan_out).astype(dtype))
        self._pending_init = (layer_units, dtype, coefs, intercepts)
        if self.solver != "lbfgs":
            self.loss_curve_: list[np.float64] = []
            self._no_improvement_count = 0
            if self.early_stopping:
                self.validation_scores_: Any = []  # (None without early stopping)
                self.best_validation_score_: Any = -np.inf  # (None without early stopping)
                self.best_loss_: Any = None  # (inf without early stopping)
            else:
                self.best_loss_ = np.inf
                self.validation_scores_ = None
                self.best_validation_score_ = None

    def _build_network(self, random_state: np.random.RandomState) -> None:
        """The network of _initialize's weights; its own seed (shuffling, dropout) drawn from
        `random_state` after scikit-learn's draws."""
        layer_units, dtype, coefs, intercepts = self._pending_init
        del self._pending_init
        hidden = _ACTIVATIONS[self.activation]
        loss = self._fastbp_loss
        net = Network(layer_units, activation=hidden,
                      output="identity" if loss == "mse" else None, loss=loss,
                      dtype=np.dtype(dtype).name, seed=int(random_state.randint(2**31 - 1)),
                      dropout=self.dropout, n_threads=self.n_threads)
        net.set_weights([W.T for W in coefs], intercepts)
        self._net = net
        self._best_params = net.state.params.copy() if self.early_stopping else None

    def _fit(self: _Estimator, X: Any, y: Any, sample_weight: ArrayLike | None = None,
             incremental: bool = False) -> _Estimator:
        hidden = self._hidden_sizes()
        first_pass = not hasattr(self, "_net") or (not self.warm_start and not incremental)
        X, Y = self._validate_input(X, y, incremental, reset=first_pass)
        if sample_weight is not None:
            sample_weight = _check_sample_weight(sample_weight, X)
        if not first_pass and Y.shape[1] != self.n_outputs_:
            raise ValueError(f"y has {Y.shape[1]} outputs; the fitted network has "
                             f"{self.n_outputs_}")
        layer_units = [X.shape[1]] + hidden + [Y.shape[1]]
        random_state = check_random_state(self.random_state)
        if first_pass:
            self._set_output(Y)
            self._initialize(Y, layer_units, self._dtype_for(X), random_state)
        elif list(self._net.sizes) != layer_units:
            raise ValueError(f"warm_start needs the fitted layer sizes {list(self._net.sizes)}, "
                             f"got {layer_units} (hidden_layer_sizes or the data changed)")
        if first_pass and self.solver == "lbfgs":
            self._build_network(random_state)
        dtype = self._dtype_for(X) if first_pass else self._net.dtype
        X = np.ascontiguousarray(X.toarray() if hasattr(X, "toarray") else X, dtype=dtype)
        Y = np.ascontiguousarray(Y, dtype=dtype)
        if self.solver == "lbfgs":
            self._fit_lbfgs(X, Y, sample_weight)
        else:
            self._fit_stochastic(X, Y, sample_weight, incremental, random_state)
        if not np.all(np.isfinite(self._net.state.params)):
            raise ValueError(_DIVERGED)
        self._record_metadata()
        return self

    def _record_metadata(self) -> None:
        """What a file saved from network_ tells (format version 2): task, classes, feature
        names and the estimator's settings; best effort (labels a file cannot hold, e.g.
        mixed types, are left out)."""
        net = self._net
        classifier = isinstance(self, ClassifierMixin)
        metadata: dict[str, Any] = {"task": "classification" if classifier else "regression",
                    "training": {"estimator": type(self).__name__, "solver": self.solver,
                                 "activation": self.activation, "alpha": float(self.alpha),
                                 "hidden_layer_sizes": self._hidden_sizes(),
                                 "n_iter": int(self.n_iter_)}}
        names = getattr(self, "feature_names_in_", None)
        if names is not None:
            metadata["feature_names"] = [str(name) for name in names]
        if classifier and self._label_binarizer.y_type_ != "multilabel-indicator":
            metadata["classes"] = np.asarray(self.classes_).tolist()
        for key in ("classes", "feature_names", None):
            try:
                net.metadata = metadata
                return
            except ValueError:
                metadata.pop(key, None)  # type: ignore[arg-type]

    def _fit_lbfgs(self, X: NDArray[Any], Y: NDArray[Any], sample_weight: Any) -> None:
        """scikit-learn's L-BFGS: scipy's L-BFGS-B over its objective, fastbp's passes inside."""
        state = self._net.state
        weights = None if sample_weight is None else np.ascontiguousarray(sample_weight, X.dtype)
        weight_sum = X.shape[0] if sample_weight is None else float(sample_weight.sum())
        penalty = self.alpha / weight_sum
        scale, offset = self._data_loss_scale(), self._loss_offset(Y, sample_weight)
        is_weight = np.zeros(state.n_params, dtype=bool)  # the penalty's part of the parameters
        for weights_start, biases_start, _ in self._net.architecture.weight_slices():
            is_weight[weights_start:biases_start] = True

        def loss_and_gradient(packed: NDArray[np.float64]) -> tuple[float, NDArray[np.float64]]:
            state.params[...] = packed
            with limit_threads(self._net.n_threads):
                loss, grads = state.loss_and_gradient(X, Y, weights, True,
                                                      clip_log_loss=self._clip_log_loss())
            squares = float(np.dot(packed[is_weight], packed[is_weight]))
            grads = grads.astype(np.float64)  # type: ignore[union-attr]
            grads[is_weight] += penalty * packed[is_weight]
            return loss * scale + offset + 0.5 * penalty * squares, grads

        result = scipy.optimize.minimize(
            loss_and_gradient, state.params.astype(np.float64), method="L-BFGS-B", jac=True,
            options={"maxfun": self.max_fun, "maxiter": self.max_iter, "gtol": self.tol})
        # scikit-learn's own check: its warning (with its advice) and its n_iter_
        self.n_iter_ = _check_optimize_result("lbfgs", result, self.max_iter)
        self.loss_ = np.float64(result.fun)
        state.params[...] = result.x

    def _split(self, X: NDArray[Any], Y: NDArray[Any], sample_weight: NDArray[Any] | None,
               random_state: np.random.RandomState) -> tuple[Any, Any, Any, Any]:
        """scikit-learn's early-stopping split (stratified for single-output classifiers)."""
        stratify = Y if isinstance(self, ClassifierMixin) and self.n_outputs_ == 1 else None
        arrays = (X, Y) if sample_weight is None else (X, Y, sample_weight)
        parts = train_test_split(*arrays, random_state=random_state,
                                 test_size=self.validation_fraction, stratify=stratify)
        X_train, X_val, Y_train, Y_val = parts[:4]
        w_train, w_val = (parts[4], parts[5]) if sample_weight is not None else (None, None)
        if X_val.shape[0] < 2:
            raise ValueError("The validation set is too small. Increase 'validation_fraction' "
                             "or the size of your dataset.")
        return (np.ascontiguousarray(X_train), np.ascontiguousarray(Y_train), w_train,
                (X_val, self._validation_targets(Y_val), w_val))

    def _fit_stochastic(self, X: NDArray[Any], Y: NDArray[Any], sample_weight: Any,
                        incremental: bool,
                        random_state: np.random.RandomState) -> None:
        if self.early_stopping and incremental:
            raise ValueError("partial_fit does not support early_stopping=True")
        validation = None
        if self.early_stopping:
            X, Y, sample_weight, validation = self._split(X, Y, sample_weight, random_state)
        if hasattr(self, "_pending_init"):
            self._build_network(random_state)
        net = self._net
        net.n_threads = self.n_threads
        state = net.state
        n = X.shape[0]
        if self.batch_size == "auto":
            batch_size = min(200, n)
        else:
            if self.batch_size > n:
                warnings.warn("Got `batch_size` less than 1 or larger than sample size. It is "
                              "going to be clipped")
            batch_size = int(np.clip(self.batch_size, 1, n))

        config = self._optimizer()
        fresh = not incremental or not hasattr(self, "_learning_rate")
        if fresh:  # scikit-learn's new optimizer: fresh state, the initial rate
            state.set_optimizer(config)
            self._learning_rate = float(self.learning_rate_init)
        else:
            state.continue_or_set_optimizer(config)
        rate = _Rate(self._learning_rate)
        scale, offset = self._data_loss_scale(), self._loss_offset(Y, sample_weight)
        options = TrainOptions(optimizer=config.code, hyper=config.hyper(), alpha=self.alpha,  # type: ignore[arg-type, union-attr]
                               dropout=None if not any(net.dropout)
                               else np.array(net.dropout, np.float64), step=state.step)
        options.alpha_over_batch_size = True  # scikit-learn's penalty: alpha / each batch's Σw
        options.data_loss_scale = scale  # the reported data loss only, not the gradient
        options.loss_mean_over_rows = True  # with sample weights: scikit-learn's loss_curve_
        options.clip_log_loss = self._clip_log_loss()
        weights = None if sample_weight is None else np.ascontiguousarray(sample_weight, X.dtype)
        runner = _fit.EpochRunner(state, X, Y, weights, batch_size, options)
        settings = _fit.Settings(epochs=1 if incremental else self.max_iter,
                                 base_lr=self._learning_rate, shuffle=bool(self.shuffle),
                                 schedule=rate, alpha=0.0, loss_name=net.loss_name)
        sgd = self.solver == "sgd"
        self.n_iter_ = 0

        def end_of_epoch(epoch: int, figures: dict[str, Any]) -> bool:
            self.n_iter_ += 1
            self.loss_ = np.float64(figures["loss"] + offset)  # scikit-learn's type
            self.t_ += n
            self.loss_curve_.append(self.loss_)
            if self.verbose:
                print("Iteration %d, loss = %.8f" % (self.n_iter_, self.loss_))
            self._update_no_improvement_count(validation)
            if sgd and self.learning_rate == "invscaling":
                rate.current = float(self.learning_rate_init) / (self.t_ + 1) ** self.power_t
            if self._no_improvement_count > self.n_iter_no_change:
                if self.early_stopping:
                    message = ("Validation score did not improve more than tol=%f for %d "
                               "consecutive epochs." % (self.tol, self.n_iter_no_change))
                else:
                    message = ("Training loss did not improve more than tol=%f for %d "
                               "consecutive epochs." % (self.tol, self.n_iter_no_change))
                if not (sgd and self.learning_rate == "adaptive"):
                    if self.verbose:
                        print(message + " Stopping.")
                    return False
                if rate.current <= 1e-6:
                    if self.verbose:
                        print(message + " Learning rate too small. Stopping.")
                    return False
                rate.current /= 5.0
                if self.verbose:
                    print(message + " Setting learning rate to %f" % rate.current)
                self._no_improvement_count = 0
            if incremental:
                return False
            if self.n_iter_ == self.max_iter:
                warnings.warn("Stochastic Optimizer: Maximum iterations (%d) reached and the "
                              "optimization hasn't converged yet." % self.max_iter,
                              ConvergenceWarning)
            return True

        settings.callbacks = (end_of_epoch,)
        try:
            with limit_threads(net.n_threads):
                _fit.run(state, runner, settings)
        except KeyboardInterrupt:
            warnings.warn("Training interrupted by user.")
        except TrainingDiverged as error:
            raise ValueError(_DIVERGED) from error
        finally:
            self._learning_rate = rate.current
        if self.early_stopping:  # the best weights seen (possibly a previous fit's)
            state.params[...] = self._best_params

    def _update_no_improvement_count(self, validation: Any) -> None:
        if validation is not None:
            X_val, y_val, w_val = validation
            score = self._score(X_val, y_val, w_val)
            self.validation_scores_.append(score)
            if self.verbose:
                print("Validation score: %f" % score)
            if score < self.best_validation_score_ + self.tol:
                self._no_improvement_count += 1
            else:
                self._no_improvement_count = 0
            if score > self.best_validation_score_:
                self.best_validation_score_ = score
                self._best_params[...] = self._net.state.params  # type: ignore[index]
        else:
            if self.loss_curve_[-1] > self.best_loss_ - self.tol:
                self._no_improvement_count += 1
            else:
                self._no_improvement_count = 0
            if self.loss_curve_[-1] < self.best_loss_:
                self.best_loss_ = self.loss_curve_[-1]

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self: _Estimator, X: MatrixLike, y: ArrayLike,
            sample_weight: ArrayLike | None = None) -> _Estimator:
        """Fit the model to data matrix X and target(s) y.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            The input data (sparse matrices are densified).
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
            The target values (class labels in classification, real numbers in regression).
        sample_weight : array-like of shape (n_samples,), default=None
            Sample weights.

        Returns
        -------
        self : object
            The fitted estimator.
        """
        return self._fit(X, y, sample_weight=sample_weight, incremental=False)

    def _check_solver(self) -> bool:
        if self.solver not in _STOCHASTIC_SOLVERS:
            raise AttributeError(f"partial_fit is only available for stochastic optimizers. "
                                 f"{self.solver} is not stochastic.")
        return True

    # ----- predicting -----------------------------------------------------------------------
    def _inputs(self, X: Any, check_input: bool = True) -> Any:
        if check_input:
            X = validate_data(self, X, accept_sparse=["csr", "csc"], reset=False)
        return X.toarray() if hasattr(X, "toarray") else X

    def _forward(self, X: Any, check_input: bool = True) -> NDArray[Any]:
        """Output activations (n, n_outputs) for X."""
        check_is_fitted(self)
        net = self._net
        net.n_threads = self.n_threads
        out = net.predict(np.ascontiguousarray(self._inputs(X, check_input), dtype=net.dtype))
        return out.reshape(out.shape[0], -1)

    def _score_with_function(self, X: Any, y: Any, sample_weight: Any,
                             score_function: Callable[..., Any]) -> float:
        y_pred = self._predict(X, check_input=False)
        if np.issubdtype(y_pred.dtype, np.floating) and not np.isfinite(y_pred).all():
            return np.nan
        return score_function(y, y_pred, sample_weight=sample_weight)  # type: ignore[no-any-return]

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        return tags


_PARAMETERS = """
    hidden_layer_sizes : array-like of shape (n_layers - 2,), default=(100,)
        The ith element is the number of units in the ith hidden layer.
    activation : {'identity', 'logistic', 'tanh', 'relu'}, default='relu'
        Hidden-layer activation; fastbp also offers 'leaky_relu', 'elu', 'softplus', 'gelu'.
    solver : {'lbfgs', 'sgd', 'adam'}, default='adam'
        scikit-learn's solvers in its forms (SGD's velocity of lr-scaled steps, v ← μv − ηg;
        Adam with ε added to the uncorrected √v and the bias correction folded into the
        step); fastbp also offers 'adamw', 'rmsprop', 'adagrad' (fastbp's forms).
    alpha : float, default=0.0001
        L2 penalty, divided by each batch's size (the last, partial batch too).
    batch_size : int or 'auto', default='auto'
        Mini-batch size; 'auto' is min(200, n_samples).
    learning_rate : {'constant', 'invscaling', 'adaptive'}, default='constant'
        Schedule of solver='sgd': invscaling is learning_rate_init / (t_ + 1) ** power_t,
        changing at epoch ends; adaptive divides the rate by 5 when tol's test fails.
    learning_rate_init : float, default=0.001
        The initial learning rate (step size) of the stochastic solvers.
    power_t : float, default=0.5
        The exponent of learning_rate='invscaling'.
    max_iter : int, default=200
        Epochs (stochastic solvers) or iterations (lbfgs).
    shuffle : bool, default=True
        Shuffle the samples every epoch (fastbp's shuffle stream, seeded from random_state).
    random_state : int, RandomState instance or None, default=None
        Draws the initial weights (as scikit-learn does), the early-stopping split and the
        seed of shuffling and dropout.
    tol : float, default=1e-4
        The improvement of the loss (or validation score) below which an epoch counts as
        none; lbfgs: its gradient tolerance.
    verbose : bool, default=False
        Print each epoch's loss (and validation score).
    warm_start : bool, default=False
        Continue from the fitted (or assigned) coefs_ and intercepts_, with a fresh optimizer.
    momentum : float, default=0.9
        solver='sgd': the velocity's decay μ (0: plain SGD).
    nesterovs_momentum : bool, default=True
        solver='sgd' with momentum > 0: Nesterov's form.
    early_stopping : bool, default=False
        Hold out validation_fraction of the data; stop when its score has not improved by
        tol for n_iter_no_change epochs; keep the best weights.
    validation_fraction : float, default=0.1
        The share of the data held out when early_stopping is True.
    beta_1, beta_2 : float, default=0.9, 0.999
        solver='adam': the decay rates of the first and second moment estimates.
    epsilon : float, default=1e-8
        solver='adam': added to √v (uncorrected, as scikit-learn does).
    n_iter_no_change : int, default=10
        Epochs without an improvement of tol that stop training (or, with
        learning_rate='adaptive', divide the rate by 5).
    max_fun : int, default=15000
        lbfgs: maximum loss evaluations.
    dtype : {None, 'float32', 'float64'}, default=None
        fastbp: the arithmetic's type; None follows X (float32 X trains in float32, any other
        X in float64).
    dropout : float or sequence of float, default=None
        fastbp: inverted-dropout rate of each hidden layer during training.
    n_threads : int, default=None
        fastbp: BLAS threads of the large layers (None: the CPUs this process may use).
"""

_ATTRIBUTES = """
    loss_ : float
        The last epoch's loss (as scikit-learn computes it).
    best_loss_ : float or None
    loss_curve_ : list of float
    validation_scores_ : list of float or None
    best_validation_score_ : float or None
    t_ : int
        Training samples seen, over warm-started fits and partial_fit calls.
    coefs_, intercepts_ : list of ndarray
        Views of the network's weights in scikit-learn's shapes; assignable.
    n_features_in_ : int
    feature_names_in_ : ndarray of shape (n_features_in_,)
    n_iter_ : int
    n_layers_ : int
    n_outputs_ : int
    out_activation_ : str
    network_ : fastbp.Network
        The trained network.
"""


class MLPClassifier(ClassifierMixin, _BaseMLP):
    __doc__ = f"""Multi-layer perceptron classifier: scikit-learn's, trained by fastbp.

    Any labels LabelEncoder takes; binary (one logistic output), multi-class (softmax) and
    multi-label (logistic outputs) classification, by log-loss.

    Parameters
    ----------{_PARAMETERS}
    Attributes
    ----------
    classes_ : ndarray or list of ndarray
        The class labels.{_ATTRIBUTES}
    Examples
    --------
    >>> from fastbp.sklearn import MLPClassifier
    >>> X = [[0., 0.], [0., 1.], [1., 0.], [1., 1.]]
    >>> clf = MLPClassifier(hidden_layer_sizes=(8,), solver="lbfgs", random_state=0)
    >>> clf.fit(X, ["a", "b", "b", "a"]).predict(X).shape
    (4,)
    """

    def __init__(self, hidden_layer_sizes: int | Sequence[int] = (100,), activation: str = "relu",
                 *, solver: str = "adam", alpha: float = 0.0001,
                 batch_size: int | str = "auto", learning_rate: str = "constant",
                 learning_rate_init: float = 0.001, power_t: float = 0.5, max_iter: int = 200,
                 shuffle: bool = True, random_state: int | np.random.RandomState | None = None,
                 tol: float = 1e-4, verbose: bool | int = False, warm_start: bool = False,
                 momentum: float = 0.9, nesterovs_momentum: bool = True,
                 early_stopping: bool = False, validation_fraction: float = 0.1,
                 beta_1: float = 0.9, beta_2: float = 0.999, epsilon: float = 1e-8,
                 n_iter_no_change: int = 10, max_fun: int = 15000, dtype: DTypeLike | None = None,
                 dropout: float | Sequence[float] | None = None,
                 n_threads: int | None = None) -> None:
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.solver = solver
        self.alpha = alpha
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.learning_rate_init = learning_rate_init
        self.power_t = power_t
        self.max_iter = max_iter
        self.shuffle = shuffle
        self.random_state = random_state
        self.tol = tol
        self.verbose = verbose
        self.warm_start = warm_start
        self.momentum = momentum
        self.nesterovs_momentum = nesterovs_momentum
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.n_iter_no_change = n_iter_no_change
        self.max_fun = max_fun
        self.dtype = dtype
        self.dropout = dropout
        self.n_threads = n_threads

    def _validate_input(self, X: Any, y: Any, incremental: bool,
                        reset: bool) -> tuple[Any, NDArray[Any]]:
        X, y = validate_data(self, X, y, accept_sparse=["csr", "csc"], multi_output=True,
                             dtype=(np.float64, np.float32), reset=reset)
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
        if not hasattr(self, "classes_") or (not self.warm_start and not incremental):
            self._label_binarizer = LabelBinarizer()
            self._label_binarizer.fit(y)
            self.classes_ = self._label_binarizer.classes_
        else:
            classes = unique_labels(y)
            if self.warm_start:
                if set(classes) != set(self.classes_):
                    raise ValueError(
                        "warm_start can only be used where `y` has the same classes as in the "
                        f"previous call to fit. Previously got {self.classes_}, `y` has "
                        f"{classes}")
            elif len(np.setdiff1d(classes, self.classes_, assume_unique=True)):
                raise ValueError(f"`y` has classes not in `self.classes_`. `self.classes_` has "
                                 f"{self.classes_}. 'y' has {classes}.")
        Y = self._label_binarizer.transform(y)
        return X, np.asarray(Y, dtype=np.float64)

    def _set_output(self, Y: NDArray[Any]) -> None:
        if self._label_binarizer.y_type_ == "multiclass":
            self.out_activation_, self._fastbp_loss = "softmax", "cross_entropy"
        else:
            self.out_activation_, self._fastbp_loss = "logistic", "binary_cross_entropy"

    def _validation_targets(self, Y_val: NDArray[Any]) -> Any:
        return self._label_binarizer.inverse_transform(Y_val)

    def predict(self, X: MatrixLike) -> NDArray[Any]:
        """Predict using the multi-layer perceptron classifier.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)

        Returns
        -------
        y : ndarray of shape (n_samples,) or (n_samples, n_classes)
            The predicted classes.
        """
        return self._predict(X)

    def _predict(self, X: Any, check_input: bool = True) -> NDArray[Any]:
        y_pred = self._forward(X, check_input)
        if self.n_outputs_ == 1:
            y_pred = y_pred.ravel()
        return self._label_binarizer.inverse_transform(y_pred)  # type: ignore[no-any-return]

    def _score(self, X: Any, y: Any, sample_weight: Any = None) -> float:
        return self._score_with_function(X, y, sample_weight, accuracy_score)

    @available_if(lambda estimator: estimator._check_solver())
    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X: MatrixLike, y: ArrayLike, sample_weight: ArrayLike | None = None,
                    classes: ArrayLike | None = None) -> MLPClassifier:
        """Update the model with one epoch over the given data, keeping the optimizer.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
        y : array-like of shape (n_samples,) or (n_samples, n_classes)
        sample_weight : array-like of shape (n_samples,), default=None
        classes : array of shape (n_classes,), default=None
            All the labels of the stream: required on the first call.

        Returns
        -------
        self : object
        """
        if _first_partial_fit(self, classes):
            self._label_binarizer = LabelBinarizer()
            if type_of_target(y).startswith("multilabel"):
                self._label_binarizer.fit(y)
            else:
                self._label_binarizer.fit(classes)
        return self._fit(X, y, sample_weight=sample_weight, incremental=True)

    def predict_log_proba(self, X: MatrixLike) -> NDArray[np.floating[Any]]:
        """Log of predict_proba(X), classes ordered as in classes_."""
        y_prob = self.predict_proba(X)
        return np.log(y_prob, out=y_prob)  # type: ignore[no-any-return]

    def predict_proba(self, X: MatrixLike) -> NDArray[np.floating[Any]]:
        """Probability estimates, shape (n_samples, n_classes), classes ordered as in classes_.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples, n_classes)
        """
        y_pred = self._forward(X)
        if self.n_outputs_ == 1:
            y_pred = y_pred.ravel()
        if y_pred.ndim == 1:
            return np.vstack([1 - y_pred, y_pred]).T  # type: ignore[no-any-return]
        return y_pred

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_label = True
        return tags


class MLPRegressor(RegressorMixin, _BaseMLP):
    __doc__ = f"""Multi-layer perceptron regressor: scikit-learn's, trained by fastbp.

    Parameters
    ----------
    loss : {{'squared_error', 'poisson'}}, default='squared_error'
        Half the squared error (reported as a mean over outputs) or half the Poisson
        deviance (exp output).{_PARAMETERS}
    Attributes
    ----------{_ATTRIBUTES}
    Examples
    --------
    >>> import numpy as np
    >>> from fastbp.sklearn import MLPRegressor
    >>> X = np.linspace(-1, 1, 40).reshape(-1, 1)
    >>> reg = MLPRegressor(hidden_layer_sizes=(16,), solver="lbfgs", random_state=0)
    >>> reg.fit(X, X.ravel() ** 2).predict(X[:3]).shape
    (3,)
    """

    _parameter_constraints: dict[str, list[Any]] = {
        **_BaseMLP._parameter_constraints,
        "loss": [StrOptions({"squared_error", "poisson"})],
    }

    def __init__(self, loss: str = "squared_error",
                 hidden_layer_sizes: int | Sequence[int] = (100,), activation: str = "relu", *,
                 solver: str = "adam", alpha: float = 0.0001,
                 batch_size: int | str = "auto", learning_rate: str = "constant",
                 learning_rate_init: float = 0.001, power_t: float = 0.5, max_iter: int = 200,
                 shuffle: bool = True, random_state: int | np.random.RandomState | None = None,
                 tol: float = 1e-4, verbose: bool | int = False, warm_start: bool = False,
                 momentum: float = 0.9, nesterovs_momentum: bool = True,
                 early_stopping: bool = False, validation_fraction: float = 0.1,
                 beta_1: float = 0.9, beta_2: float = 0.999, epsilon: float = 1e-8,
                 n_iter_no_change: int = 10, max_fun: int = 15000, dtype: DTypeLike | None = None,
                 dropout: float | Sequence[float] | None = None,
                 n_threads: int | None = None) -> None:
        self.loss = loss
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.solver = solver
        self.alpha = alpha
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.learning_rate_init = learning_rate_init
        self.power_t = power_t
        self.max_iter = max_iter
        self.shuffle = shuffle
        self.random_state = random_state
        self.tol = tol
        self.verbose = verbose
        self.warm_start = warm_start
        self.momentum = momentum
        self.nesterovs_momentum = nesterovs_momentum
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.n_iter_no_change = n_iter_no_change
        self.max_fun = max_fun
        self.dtype = dtype
        self.dropout = dropout
        self.n_threads = n_threads

    def _validate_input(self, X: Any, y: Any, incremental: bool,
                        reset: bool) -> tuple[Any, NDArray[Any]]:
        X, y = validate_data(self, X, y, accept_sparse=["csr", "csc"], multi_output=True,
                             y_numeric=True, dtype=(np.float64, np.float32), reset=reset)
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
        if self.loss == "poisson" and np.any(y < 0):
            raise ValueError("Some value(s) of y are negative which is not allowed for "
                             "Poisson regression.")
        return X, np.asarray(y, dtype=np.float64).reshape(y.shape[0], -1)

    def _set_output(self, Y: NDArray[Any]) -> None:
        if self.loss == "poisson":
            self.out_activation_, self._fastbp_loss = "exp", "poisson"
        else:
            self.out_activation_, self._fastbp_loss = "identity", "mse"

    def _validation_targets(self, Y_val: NDArray[Any]) -> Any:
        return Y_val.ravel() if Y_val.shape[1] == 1 else Y_val

    def predict(self, X: MatrixLike) -> NDArray[Any]:
        """Predict using the multi-layer perceptron model.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)

        Returns
        -------
        y : ndarray of shape (n_samples,) or (n_samples, n_outputs)
        """
        check_is_fitted(self)
        return self._predict(X)

    def _predict(self, X: Any, check_input: bool = True) -> NDArray[Any]:
        y_pred = self._forward(X, check_input)
        return y_pred.ravel() if y_pred.shape[1] == 1 else y_pred

    def _score(self, X: Any, y: Any, sample_weight: Any = None) -> float:
        return self._score_with_function(X, y, sample_weight, r2_score)

    @available_if(lambda estimator: estimator._check_solver())
    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X: MatrixLike, y: ArrayLike,
                    sample_weight: ArrayLike | None = None) -> MLPRegressor:
        """Update the model with one epoch over the given data, keeping the optimizer.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
        sample_weight : array-like of shape (n_samples,), default=None

        Returns
        -------
        self : object
        """
        return self._fit(X, y, sample_weight=sample_weight, incremental=True)


def _first_partial_fit(estimator: MLPClassifier | MLPRegressor, classes: ArrayLike | None) -> bool:
    """scikit-learn's rule for partial_fit's `classes`: required on the first call, the
    same on later ones."""
    if getattr(estimator, "classes_", None) is None and classes is None:
        raise ValueError("classes must be passed on the first call to partial_fit.")
    if classes is not None:
        if getattr(estimator, "classes_", None) is not None:
            if not np.array_equal(estimator.classes_, unique_labels(classes)):
                raise ValueError(f"`classes={classes!r}` is not the same as on last call to "
                                 f"partial_fit, was: {estimator.classes_!r}")
        else:
            estimator.classes_ = unique_labels(classes)
            return True
    return False


__all__ = ["MLPClassifier", "MLPRegressor"]
