"""Keras-style dense networks: layers, losses, metrics, and a ``Sequential`` model.

Training builds one graph per batch shape: the forward pass, the loss, its
gradient (``ga.vjp``) and the optimizer's update, with static-shape float32
inputs, compiled by :func:`graphad.compile` into one straight-line NumPy
function that is then called once per batch (the last, partial batch is a
second shape).  Nothing is rebuilt per step.

When the last layer's activation is ``softmax`` (``sigmoid``) and the loss is
a categorical (binary) cross-entropy, the loss is computed from the logits
with ``log_softmax`` (``softplus``), which is exact where the probabilities
underflow; otherwise predictions are clipped to ``[1e-7, 1 - 1e-7]`` as Keras
does.

Examples
--------
>>> import graphad as ga, numpy as np
>>> ga.nn.set_random_seed(0)
>>> X = np.random.default_rng(0).normal(size=(64, 2)).astype("float32")
>>> y = (X[:, 0] > 0).astype(int)
>>> model = ga.nn.Sequential([ga.nn.Dense(8, activation="relu"),
...                          ga.nn.Dense(2, activation="softmax")])
>>> model.compile(optimizer=ga.optim.Adam(0.05), loss="sparse_categorical_crossentropy",
...               metrics=["accuracy"])
>>> history = model.fit(X, y, epochs=20, verbose=0)
>>> history.history["accuracy"][-1] > 0.9
True
"""

from __future__ import annotations

import json
import math
import os
import sys
import threading
import time
from collections.abc import Callable, Sequence
from types import SimpleNamespace
from typing import Any

import numpy as np

from . import ops as _ops
from .core.errors import GraphadError, ShapeError
from .core.expr import Expr, symbol
from .core.graph import Graph
from .eager.tape import Variable
from .optim import Optimizer
from .optim import get as _get_optimizer

__all__ = [
    "Dense",
    "Flatten",
    "History",
    "Input",
    "Sequential",
    "accuracy",
    "binary_crossentropy",
    "categorical_crossentropy",
    "initializers",
    "load",
    "losses",
    "mean_squared_error",
    "metrics",
    "mse",
    "set_random_seed",
    "sparse_categorical_crossentropy",
    "to_categorical",
]  # fmt: skip

FLOATX = np.dtype(np.float32)
_EPS = 1e-7
_MAX_SEED = 2**32 - 1  # NumPy's legacy global generator takes seeds below 2**32
_rng = np.random.default_rng()


def set_random_seed(seed: int | None) -> None:
    """Make a whole run reproducible, as ``keras.utils.set_random_seed`` does.

    Seeds graphad's own generator, from which everything random in graphad
    draws: weight initializers, ``fit``'s per-epoch shuffling (when ``fit`` gets
    no ``seed`` of its own), data-parallel ``fit`` on Dask.  Like Keras, it also
    seeds Python's :mod:`random` and NumPy's global generator (``np.random.*``),
    so that initializers written with those are reproducible too.  Two runs
    that start from the same seed and make the same calls give bit-identical
    weights and histories.

    Parameters
    ----------
    seed : int in [0, 2**32 - 1], or None
        None seeds everything afresh from the operating system's entropy.

    Examples
    --------
    >>> import graphad as ga
    >>> ga.nn.set_random_seed(3)
    >>> a = ga.nn.Dense(2, input_shape=(2,)).kernel.numpy()
    >>> ga.nn.set_random_seed(3)
    >>> bool((ga.nn.Dense(2, input_shape=(2,)).kernel.numpy() == a).all())
    True
    """
    import random

    global _rng
    if seed is not None:
        seed = _check_seed(seed, "set_random_seed: seed")
    random.seed(seed)
    np.random.seed(seed)
    _rng = np.random.default_rng(seed)


def _check_seed(seed: Any, what: str) -> int:
    """``seed`` as an int in [0, 2**32 - 1], else a GraphadError naming ``what``."""
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer):
        raise GraphadError(f"{what} must be an integer in [0, {_MAX_SEED}], got {seed!r}")
    if not 0 <= int(seed) <= _MAX_SEED:
        raise GraphadError(f"{what} must be in [0, {_MAX_SEED}], got {int(seed)}")
    return int(seed)


def _generator(seed: int | None = None) -> np.random.Generator:
    """The generator of one random task (a ``fit`` run's shuffling...).

    With ``seed``, its own stream; without, a stream drawn from graphad's generator,
    which :func:`set_random_seed` seeds, so the whole run stays reproducible.
    """
    if seed is not None:
        return np.random.default_rng(_check_seed(seed, "seed"))
    return np.random.default_rng(int(_rng.integers(0, 2**63)))


def _check_count(value: Any, what: str, minimum: int = 1) -> int:
    """A non-bool integer ``>= minimum``, else a GraphadError naming ``what``."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise GraphadError(f"{what} must be an integer >= {minimum}, got {value!r}")
    if int(value) < minimum:
        raise GraphadError(f"{what} must be an integer >= {minimum}, got {int(value)}")
    return int(value)


# -- initializers -------------------------------------------------------------------------------


def _fans(shape: tuple[int, ...]) -> tuple[int, int]:
    if len(shape) < 2:
        n = shape[0] if shape else 1
        return n, n
    receptive = math.prod(shape[:-2])
    return shape[-2] * receptive, shape[-1] * receptive


def glorot_uniform(shape, dtype=FLOATX, rng=None):
    """Uniform on ``[-l, l]`` with ``l = sqrt(6 / (fan_in + fan_out))`` (Keras' default)."""
    fan_in, fan_out = _fans(tuple(shape))
    limit = math.sqrt(6.0 / (fan_in + fan_out))
    return (rng or _rng).uniform(-limit, limit, size=shape).astype(dtype)


def he_uniform(shape, dtype=FLOATX, rng=None):
    """Uniform on ``[-l, l]`` with ``l = sqrt(6 / fan_in)`` (for relu layers)."""
    limit = math.sqrt(6.0 / _fans(tuple(shape))[0])
    return (rng or _rng).uniform(-limit, limit, size=shape).astype(dtype)


def zeros(shape, dtype=FLOATX, rng=None):
    return np.zeros(shape, dtype)


def ones(shape, dtype=FLOATX, rng=None):
    return np.ones(shape, dtype)


initializers = SimpleNamespace(
    glorot_uniform=glorot_uniform, he_uniform=he_uniform, zeros=zeros, ones=ones
)


def _init_call(spec: str | Callable, shape: tuple[int, ...], rng: Any) -> np.ndarray:
    """The initial value of a weight: graphad's initializers draw from ``rng`` (else
    graphad's seeded generator); a user's callable gets ``(shape, dtype)`` as documented.

    While :func:`load` builds a model, the next array of the file instead; while a
    worker rebuilds a model whose weights it is sent (``_feed.placeholders``), zeros,
    so that it takes nothing from the seeded generator of the run."""
    if getattr(_feed, "placeholders", False):
        return np.zeros(shape, FLOATX)
    feed = getattr(_feed, "arrays", None)
    if feed is not None:
        if not feed:
            raise GraphadError("the architecture uses more weights than the file holds")
        if feed[0].shape != tuple(shape):
            raise ShapeError(
                f"the architecture needs a weight of shape {tuple(shape)} where the "
                f"file holds one of shape {feed[0].shape}"
            )
        return feed.pop(0)
    fn = _initializer(spec)
    if callable(spec) and fn not in vars(initializers).values():
        value = np.asarray(fn(shape, FLOATX))
    else:
        value = np.asarray(fn(shape, FLOATX, rng=rng))
    if value.shape != tuple(shape):
        raise ShapeError(f"the initializer {spec!r} gave shape {value.shape}, not {tuple(shape)}")
    return value


def _initializer(spec: str | Callable) -> Callable:
    if callable(spec):
        return spec
    fn = getattr(initializers, str(spec), None)
    if fn is None:
        raise GraphadError(
            f"unknown initializer {spec!r}; use one of "
            f"{sorted(vars(initializers))} or a callable(shape, dtype)"
        )
    return fn


# -- activations --------------------------------------------------------------------------------

_ACTIVATIONS: dict[str | None, Callable | None] = {
    None: None, "linear": None, "relu": _ops.relu, "sigmoid": _ops.sigmoid,
    "tanh": _ops.tanh, "softmax": _ops.softmax, "softplus": _ops.softplus,
}  # fmt: skip


def _activation(spec: str | Callable | None) -> Callable | None:
    if callable(spec):
        return spec
    if spec not in _ACTIVATIONS:
        raise GraphadError(
            f"unknown activation {spec!r}; use one of "
            f"{sorted(k for k in _ACTIVATIONS if k)}, None or a callable"
        )
    return _ACTIVATIONS[spec]


# -- layers -----------------------------------------------------------------------------------


class Layer:
    """Base layer: ``build(input_shape)``, ``forward(x, params)``, ``weights``."""

    kind = "layer"

    def __init__(self, name: str | None = None):
        if name is not None and not isinstance(name, str):
            raise GraphadError(f"a layer name must be a string, got {type(name).__name__}")
        self.name = name
        self.built = False
        self.input_shape: tuple | None = None
        self.output_shape: tuple | None = None

    @property
    def weights(self) -> list[Variable]:
        return []

    def build(self, input_shape: tuple) -> None:
        self.input_shape = tuple(input_shape)
        self.output_shape = self.compute_output_shape(self.input_shape)
        self.built = True

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        return input_shape

    def weight_shapes(self, input_shape: tuple) -> list[tuple[int, ...]]:
        """The shapes of the weights ``build(input_shape)`` would create (nothing allocated)."""
        return []

    def forward(self, x: Any, params: Sequence[Any]) -> tuple[Any, Any]:
        """``(output, pre-activation)`` for ``x`` with these parameter values."""
        return x, None

    def __call__(self, x: Any) -> Any:
        if not self.built:
            self.build((None, *np.shape(x)[1:]))
        return self.forward(x, self.weights)[0]

    def get_config(self) -> dict:
        return {"class": type(self).__name__, "name": self.name}


class Input(Layer):
    """The input of a :class:`Sequential` model: ``Input(shape=(784,))``."""

    kind = "input"

    def __init__(self, shape: Sequence[int], name: str | None = None):
        super().__init__(name)
        self.shape = tuple(int(n) for n in shape)
        self.build((None, *self.shape))

    def get_config(self) -> dict:
        return {**super().get_config(), "shape": list(self.shape)}


class Flatten(Layer):
    """Reshape each sample to one dimension (``(batch, 28, 28)`` -> ``(batch, 784)``)."""

    kind = "flatten"

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        return (input_shape[0], math.prod(input_shape[1:]))

    def forward(self, x, params):
        return _ops.reshape(
            x, (np.shape(x)[0] if not isinstance(x, Expr) else x.shape[0], -1)
        ), None


class Dense(Layer):
    """A fully connected layer: ``activation(x @ kernel + bias)`` (``keras.layers.Dense``).

    Parameters
    ----------
    units : int
    activation : None, "relu", "sigmoid", "tanh", "softmax", "softplus" or callable
    use_bias : bool
    kernel_initializer : "glorot_uniform" (default), "he_uniform", "zeros", "ones" or
        a callable ``(shape, dtype) -> array``
    input_shape : tuple, optional
        Keras 2's way of fixing the input size of a first layer: ``(784,)``.

    Examples
    --------
    >>> import graphad as ga, numpy as np
    >>> layer = ga.nn.Dense(3, activation="relu", kernel_initializer="ones")
    >>> layer(np.ones((2, 4), "float32")).numpy()
    array([[4., 4., 4.],
           [4., 4., 4.]], dtype=float32)
    """

    kind = "dense"

    def __init__(
        self,
        units: int,
        activation: str | Callable | None = None,
        use_bias: bool = True,
        kernel_initializer: str | Callable = "glorot_uniform",
        bias_initializer: str | Callable = "zeros",
        input_shape: Sequence[int] | None = None,
        name: str | None = None,
        seed: int | None = None,
    ):
        super().__init__(name)
        self.units = _check_count(units, "Dense: units")
        self.activation = activation
        self._act = _activation(activation)
        _initializer(kernel_initializer)  # an unknown name fails here, not at build
        _initializer(bias_initializer)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = kernel_initializer
        self.bias_initializer = bias_initializer
        self.seed = None if seed is None else _check_seed(seed, "Dense: seed")
        self.kernel: Variable | None = None
        self.bias: Variable | None = None
        if input_shape is not None:
            self.build((None, *tuple(input_shape)))

    @property
    def weights(self) -> list[Variable]:
        if not self.built:
            return []
        return [self.kernel, self.bias] if self.use_bias else [self.kernel]

    def weight_shapes(self, input_shape: tuple) -> list[tuple[int, ...]]:
        """``[(features, units), (units,)]``, checked against ``ga.limits`` ``max_elements``.

        Raises ShapeError for inputs that are not ``(batch, features)`` and
        LimitError for a kernel of more than ``max_elements`` elements."""
        if len(input_shape) != 2 or input_shape[1] is None:
            raise ShapeError(
                f"Dense expects inputs of shape (batch, features), got "
                f"{tuple(input_shape)}; put a Flatten() layer first"
            )
        features = input_shape[1]
        if isinstance(features, bool) or not isinstance(features, int | np.integer):
            raise ShapeError(
                f"Dense: the number of input features must be an int, got {features!r}"
            )
        if features < 1:
            raise ShapeError(
                f"Dense: the number of input features must be positive, got {features}"
            )
        from .core.limits import current

        limit = current().max_elements
        if int(features) * self.units > limit:
            from .core.errors import LimitError

            raise LimitError(
                f"Dense({self.units}) on {int(features)} input features needs a kernel of "
                f"{int(features) * self.units:,} elements, more than max_elements={limit} "
                "(raise it with ga.limits.override(max_elements=...))"
            )
        shape = (int(features), self.units)
        return [shape, (self.units,)] if self.use_bias else [shape]

    def build(self, input_shape: tuple) -> None:
        shapes = self.weight_shapes(tuple(input_shape))  # refuses before any allocation
        super().build(input_shape)
        rng = None if self.seed is None else np.random.default_rng(self.seed)
        kernel = _init_call(self.kernel_initializer, shapes[0], rng)
        self.kernel = Variable(np.asarray(kernel, FLOATX), name=f"{self.name or 'dense'}_kernel")
        if self.use_bias:
            bias = _init_call(self.bias_initializer, shapes[1], rng)
            self.bias = Variable(np.asarray(bias, FLOATX), name=f"{self.name or 'dense'}_bias")

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        return (input_shape[0], self.units)

    def forward(self, x, params):
        z = _ops.matmul(x, params[0])
        if self.use_bias:
            z = z + params[1]
        return (z if self._act is None else self._act(z)), z

    def get_config(self) -> dict:
        if (
            callable(self.activation)
            or callable(self.kernel_initializer)
            or callable(self.bias_initializer)
        ):
            raise GraphadError(
                f"layer {self.name!r} uses a Python function (activation or "
                "initializer); only named ones can be saved"
            )
        return {
            **super().get_config(),
            "units": self.units,
            "activation": self.activation,
            "use_bias": self.use_bias,
            "kernel_initializer": self.kernel_initializer,
            "bias_initializer": self.bias_initializer,
        }


_LAYERS = {"Dense": Dense, "Flatten": Flatten, "Input": Input}


# -- losses and metrics -------------------------------------------------------------------------


def to_categorical(y: Any, num_classes: int | None = None, dtype: Any = FLOATX) -> np.ndarray:
    """One-hot rows for integer class labels (``keras.utils.to_categorical``).

    Examples
    --------
    >>> import graphad as ga
    >>> ga.nn.to_categorical([0, 2], 3)
    array([[1., 0., 0.],
           [0., 0., 1.]], dtype=float32)
    """
    y = np.asarray(y)
    if y.dtype.kind == "f" and np.all(np.mod(y, 1) == 0):
        y = y.astype(np.int64)
    if y.dtype.kind not in "iu":
        raise GraphadError(f"class labels must be integers, got dtype {y.dtype}")
    y = y.reshape(-1)
    k = int(y.max()) + 1 if num_classes is None and y.size else int(num_classes or 0)
    if y.size and (y.min() < 0 or y.max() >= k):
        raise GraphadError(
            f"class labels must lie in [0, {k - 1}], got values from "
            f"{int(y.min())} to {int(y.max())}"
        )
    out = np.zeros((y.size, k), dtype)
    out[np.arange(y.size), y] = 1
    return out


def _ce_from(y_true, y_pred, logits):
    """Per-sample categorical cross-entropy from one-hot targets."""
    if logits is not None:
        return -_ops.sum(y_true * _ops.log_softmax(logits), axis=-1)
    p = y_pred / _ops.sum(y_pred, axis=-1, keepdims=True)
    return -_ops.sum(y_true * _ops.log(_ops.clip(p, _EPS, 1 - _EPS)), axis=-1)


def categorical_crossentropy(y_true, y_pred, from_logits: bool = False):
    """Per-sample ``-sum(y_true * log(y_pred))`` for one-hot ``y_true``.

    Examples
    --------
    >>> import graphad as ga, numpy as np
    >>> p = np.array([[0.5, 0.25, 0.25]])
    >>> float(ga.nn.categorical_crossentropy(np.array([[1.0, 0, 0]]), p).eval()[0])  # log 2
    0.6931471805599453
    """
    return _ce_from(y_true, y_pred, y_pred if from_logits else None)


def sparse_categorical_crossentropy(y_true, y_pred, from_logits: bool = False):
    """Per-sample cross-entropy for integer labels ``y_true`` (NumPy) and probabilities."""
    if isinstance(y_true, Expr):
        raise GraphadError(
            "sparse_categorical_crossentropy: labels must be NumPy integers; "
            "for symbolic one-hot targets use categorical_crossentropy"
        )
    onehot = to_categorical(y_true, int(np.shape(y_pred)[-1]), np.result_type(y_pred))
    return _ce_from(onehot, y_pred, y_pred if from_logits else None)


def binary_crossentropy(y_true, y_pred, from_logits: bool = False):
    """Per-sample mean of ``-(y log p + (1 - y) log(1 - p))`` over the last axis."""
    if from_logits:  # softplus(z) - y*z == -(y log sigmoid(z) + (1-y) log(1 - sigmoid(z)))
        return _ops.mean(_ops.softplus(y_pred) - y_true * y_pred, axis=-1)
    p = _ops.clip(y_pred, _EPS, 1 - _EPS)
    return -_ops.mean(y_true * _ops.log(p) + (1 - y_true) * _ops.log(1 - p), axis=-1)


def mean_squared_error(y_true, y_pred):
    """Per-sample mean of ``(y_true - y_pred)**2`` over the last axis."""
    return _ops.mean(_ops.square(y_pred - y_true), axis=-1)


mse = mean_squared_error


def mean_absolute_error(y_true, y_pred):
    """Per-sample mean of ``|y_true - y_pred|`` over the last axis."""
    return _ops.mean(_ops.abs(y_pred - y_true), axis=-1)


def accuracy(y_true, y_pred):
    """Per-sample 1.0 where the largest prediction is at the one-hot target's class."""
    hit_pred = y_pred >= _ops.max(y_pred, axis=-1, keepdims=True)
    hit_true = y_true >= _ops.max(y_true, axis=-1, keepdims=True)
    return _ops.max(hit_pred * hit_true * 1.0, axis=-1)


losses = SimpleNamespace(
    sparse_categorical_crossentropy=sparse_categorical_crossentropy,
    categorical_crossentropy=categorical_crossentropy,
    binary_crossentropy=binary_crossentropy,
    mean_squared_error=mean_squared_error,
    mse=mse,
    mean_absolute_error=mean_absolute_error,
    mae=mean_absolute_error,
)
metrics = SimpleNamespace(accuracy=accuracy, mse=mse, mae=mean_absolute_error)

_LOSS_ALIASES = {"mse": "mean_squared_error", "mae": "mean_absolute_error"}
_KNOWN_LOSSES = (
    "sparse_categorical_crossentropy",
    "categorical_crossentropy",
    "binary_crossentropy",
    "mean_squared_error",
    "mean_absolute_error",
)
_KNOWN_METRICS = ("accuracy", "acc", "mse", "mae", "mean_squared_error", "mean_absolute_error")


def _loss_per_sample(loss, last_act, Y, out, pre):
    """The per-sample loss expression (fused with the last activation where possible)."""
    if callable(loss):
        return loss(Y, out)
    if loss in ("sparse_categorical_crossentropy", "categorical_crossentropy"):
        return _ce_from(Y, out, pre if last_act == "softmax" else None)
    if loss == "binary_crossentropy":
        if last_act == "sigmoid":
            return binary_crossentropy(Y, pre, from_logits=True)
        return binary_crossentropy(Y, out)
    if loss == "mean_squared_error":
        return mean_squared_error(Y, out)
    return mean_absolute_error(Y, out)


def _metric_sum(name, loss, Y, out, pre):
    """The batch *sum* of a per-sample metric (epoch values are totals / samples)."""
    if name in ("accuracy", "acc"):
        if loss == "binary_crossentropy" or out.shape[-1] == 1:
            hit = _ops.equal(out > 0.5, Y > 0.5) * 1.0
            return _ops.sum(_ops.mean(hit, axis=-1))
        z = pre if pre is not None else out
        hit = z >= _ops.max(z, axis=-1, keepdims=True)
        return (
            _ops.sum(Y * hit)
            if loss in ("sparse_categorical_crossentropy", "categorical_crossentropy")
            else _ops.sum(accuracy(Y, out))
        )
    if name in ("mse", "mean_squared_error"):
        return _ops.sum(mean_squared_error(Y, out))
    return _ops.sum(mean_absolute_error(Y, out))


# -- training history ------------------------------------------------------------------------


class History:
    """What ``fit`` returns: ``.history`` maps "loss", "accuracy", "val_loss"... to lists."""

    def __init__(self) -> None:
        self.history: dict[str, list[float]] = {}
        self.epoch: list[int] = []
        self.times: list[float] = []

    def _append(self, epoch: int, logs: dict[str, float], seconds: float) -> None:
        self.epoch.append(epoch)
        self.times.append(seconds)
        for k, v in logs.items():
            self.history.setdefault(k, []).append(v)

    def plot(self, path: str | os.PathLike | None = None):
        """Draw the loss (and accuracy) curves per epoch with matplotlib; save to ``path``.

        Uses matplotlib's Agg canvas directly, so it neither needs a display nor
        changes the backend of an interactive session.  Returns the Figure.
        """
        try:
            from matplotlib.backends.backend_agg import FigureCanvasAgg
            from matplotlib.figure import Figure
            from matplotlib.ticker import MaxNLocator
        except ImportError:
            raise GraphadError("plotting needs matplotlib: pip install graphad[plot]") from None
        groups = [k for k in self.history if not k.startswith("val_")]
        fig = Figure(figsize=(5 * max(1, len(groups)), 3.6))
        FigureCanvasAgg(fig)
        epochs = [e + 1 for e in self.epoch]
        for i, key in enumerate(groups):
            ax = fig.add_subplot(1, len(groups), i + 1)
            ax.plot(epochs, self.history[key], "o-", label=f"training {key}")
            if f"val_{key}" in self.history:
                ax.plot(epochs, self.history[f"val_{key}"], "s--", label=f"validation {key}")
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
            ax.set_xlabel("epoch")
            ax.set_ylabel(key)
            ax.set_title(key)
            ax.grid(alpha=0.3)
            ax.legend()
        fig.tight_layout()
        if path is not None:
            path = os.fspath(path)
            try:
                fig.savefig(path)
            except ValueError as exc:  # a suffix matplotlib has no writer for
                raise GraphadError(f"cannot write the plot to {path!r}: {exc}") from None
        return fig

    def __repr__(self) -> str:
        last = ", ".join(f"{k}={v[-1]:.4g}" for k, v in self.history.items() if v)
        return f"<graphad.nn.History {len(self.epoch)} epochs: {last}>"


# -- the model ---------------------------------------------------------------------------------


class Sequential:
    """A stack of layers (``keras.Sequential``): compile, fit, evaluate, predict, save.

    Examples
    --------
    >>> import graphad as ga
    >>> model = ga.nn.Sequential([ga.nn.Dense(512, activation="relu", input_shape=(784,)),
    ...                          ga.nn.Dense(10, activation="softmax")])
    >>> model.count_params()
    407050
    """

    def __init__(self, layers: Sequence[Layer] | None = None, name: str = "sequential"):
        self.name = name
        self.layers: list[Layer] = []
        self.optimizer: Optimizer | None = None
        self.loss: Any = None
        self.metrics: list[str] = []
        self._fns: dict[tuple, Any] = {}
        self._input_shape: tuple | None = None
        for layer in layers or []:
            self.add(layer)

    # -- structure ---------------------------------------------------------------------------
    def add(self, layer: Layer) -> None:
        if not isinstance(layer, Layer):
            raise GraphadError(f"Sequential.add expects a layer, got {type(layer).__name__}")
        if isinstance(layer, Input):
            if self.layers:
                raise GraphadError("Input must be the first layer")
            self._input_shape = layer.output_shape
            return
        if layer.name is None:
            taken = {ly.name for ly in self.layers}
            base, k = layer.kind, 0
            layer.name = base
            while layer.name in taken:
                k += 1
                layer.name = f"{base}_{k}"
        self.layers.append(layer)
        if self._input_shape is None and layer.built:
            self._input_shape = layer.input_shape
        self._fns.clear()
        if self._input_shape is not None:
            self.build(self._input_shape)

    def build(self, input_shape: Sequence[int | None]) -> None:
        """Create the weights for inputs of shape ``(None, features...)``."""
        shape = tuple(input_shape)
        self._input_shape = shape
        for layer in self.layers:
            if not layer.built:
                layer.build(shape)
            elif layer.input_shape[1:] != shape[1:]:
                raise ShapeError(
                    f"layer {layer.name!r} was built for inputs {layer.input_shape}, not {shape}"
                )
            shape = layer.output_shape

    @property
    def built(self) -> bool:
        return bool(self.layers) and all(layer.built for layer in self.layers)

    @property
    def weights(self) -> list[Variable]:
        return [w for layer in self.layers for w in layer.weights]

    trainable_weights = weights
    trainable_variables = weights

    def get_weights(self) -> list[np.ndarray]:
        return [w.numpy() for w in self.weights]

    def set_weights(self, arrays: Sequence[Any]) -> None:
        """Set every weight; all shapes and dtypes are checked first, so a failed call
        changes nothing."""
        ws = self.weights
        arrays = [np.asarray(a) for a in arrays]
        if len(arrays) != len(ws):
            raise GraphadError(f"set_weights: expected {len(ws)} arrays, got {len(arrays)}")
        for k, (w, a) in enumerate(zip(ws, arrays, strict=True)):
            if a.shape != w.shape:
                raise ShapeError(
                    f"set_weights: array {k} has shape {a.shape}, weight {w.name!r} has {w.shape}"
                )
            if not np.can_cast(a.dtype, w.dtype, casting="same_kind"):
                raise GraphadError(
                    f"set_weights: array {k} has dtype {a.dtype}, weight {w.name!r} is {w.dtype}"
                )
        for w, a in zip(ws, arrays, strict=True):
            w.assign(a)

    def count_params(self) -> int:
        return sum(int(np.prod(w.shape)) for w in self.weights)

    def _need_built(self, X: Any = None) -> None:
        if not self.layers:
            raise GraphadError("the model has no layers")
        if not self.built:
            if X is None:
                raise GraphadError(
                    "the model is not built yet: give the first layer "
                    "input_shape=..., start with ga.nn.Input(shape=...), or fit it"
                )
            self.build((None, *np.shape(X)[1:]))

    def _forward(self, x: Any, params: Sequence[Any]) -> tuple[Any, Any]:
        pre = None
        k = 0
        for layer in self.layers:
            n = len(layer.weights)
            x, pre = layer.forward(x, params[k : k + n])
            k += n
        return x, pre

    def __call__(self, x: Any) -> Any:
        """The model applied to ``x``: eager (recorded by an active tape) or symbolic."""
        if isinstance(x, np.ndarray) and x.dtype != FLOATX:
            x = x.astype(FLOATX)
        self._need_built(x)
        return self._forward(x, self.weights)[0]

    # -- compile / graphs ----------------------------------------------------------------------
    def compile(
        self,
        optimizer: str | Optimizer = "rmsprop",
        loss: str | Callable = "mse",
        metrics: Sequence[str] | None = None,
    ) -> None:
        """Choose the optimizer (a Keras name or instance), the loss and the metrics."""
        self.optimizer = _get_optimizer(optimizer)
        if isinstance(loss, str):
            loss = _LOSS_ALIASES.get(loss, loss)
            if loss not in _KNOWN_LOSSES:
                raise GraphadError(
                    f"unknown loss {loss!r}; use one of {list(_KNOWN_LOSSES)} "
                    "or a callable(y_true, y_pred)"
                )
        elif not callable(loss):
            raise GraphadError("loss must be a name or a callable(y_true, y_pred)")
        for m in metrics or []:
            if m not in _KNOWN_METRICS:
                raise GraphadError(f"unknown metric {m!r}; use one of {list(_KNOWN_METRICS)}")
        self.loss = loss
        self.metrics = list(metrics or [])
        self._fns.clear()

    def _need_compiled(self) -> None:
        if self.optimizer is None:
            raise GraphadError("call model.compile(optimizer=..., loss=...) first")

    def _last_activation(self) -> Any:
        last = self.layers[-1]
        return getattr(last, "activation", None)

    def _function(self, kind: str, x_shape: tuple, y_shape: tuple | None = None):
        key = (kind, x_shape, y_shape)
        fn = self._fns.get(key)
        if fn is None:
            fn = self._fns[key] = self._make_function(kind, x_shape, y_shape)
        return fn

    def _make_function(self, kind: str, x_shape: tuple, y_shape: tuple | None):
        from .backends.codegen import compile as ga_compile
        from .transforms.autodiff import vjp

        ws = self.weights
        with Graph():
            X = symbol("X", x_shape, FLOATX)
            params = [symbol(f"p{k}", w.shape, w.dtype) for k, w in enumerate(ws)]
            out, pre = self._forward(X, params)
            if kind == "predict":
                return ga_compile([out], inputs=[X, *params])
            Y = symbol("Y", y_shape, FLOATX)
            loss = _ops.mean(_loss_per_sample(self.loss, self._last_activation(), Y, out, pre))
            sums = [_metric_sum(m, self.loss, Y, out, pre) for m in self.metrics]
            if kind == "evaluate":
                return ga_compile([loss, *sums], inputs=[X, Y, *params])
            up = self.optimizer.build_update(params, vjp(loss, params))
            return ga_compile(
                [loss, *sums, *up.new_params, *up.new_slots],
                inputs=[X, Y, *params, *up.slot_inputs, up.lr, up.t],
            )

    # -- data -----------------------------------------------------------------------------------
    def _prepare_x(self, X: Any) -> np.ndarray:
        X = np.asarray(X.numpy() if isinstance(X, Variable) else X)
        if X.dtype.kind not in "biuf":
            raise GraphadError(f"inputs must be numbers, got dtype {X.dtype}")
        if X.ndim < 2:
            raise ShapeError(f"inputs must have shape (samples, features...), got {X.shape}")
        self._need_built(X)
        if X.shape[1:] != tuple(self._input_shape[1:]):
            raise ShapeError(
                f"the model expects samples of shape {tuple(self._input_shape[1:])}"
                f", got {X.shape[1:]}"
            )
        return np.ascontiguousarray(X, dtype=FLOATX)

    def _prepare_y(self, y: Any, n: int) -> np.ndarray:
        y = np.asarray(y)
        if len(y) != n:
            raise ShapeError(f"{n} input samples but {len(y)} targets")
        units = self.layers[-1].output_shape[-1]
        if self.loss == "sparse_categorical_crossentropy":
            if y.ndim > 1 and y.shape[1:] != (1,):
                raise ShapeError(
                    f"sparse_categorical_crossentropy expects integer labels of "
                    f"shape ({n},), got {y.shape}; for one-hot targets use "
                    "categorical_crossentropy"
                )
            return to_categorical(y, units, FLOATX)
        if y.ndim == 1 and units == 1:
            y = y[:, None]
        if y.shape[1:] != (units,):
            raise ShapeError(
                f"targets of shape {y.shape} do not match the model's output (samples, {units})"
            )
        return np.ascontiguousarray(y, dtype=FLOATX)

    # -- training -------------------------------------------------------------------------------
    def train_on_batch(self, x: Any, y: Any) -> Any:
        """One optimizer step on one batch; returns the loss (and metrics, as a list)."""
        self._need_compiled()
        X = self._prepare_x(x)
        res = self._step(X, self._prepare_y(y, len(X)))
        return res[0] if not self.metrics else [res[0]] + [m / len(X) for m in res[1:]]

    def _step(self, xb: np.ndarray, yb: np.ndarray) -> tuple:
        ws = self.weights
        opt = self.optimizer
        fn = self._function("train", xb.shape, yb.shape)
        dtype = np.dtype(np.float32) if all(w.dtype == FLOATX for w in ws) else np.dtype(np.float64)
        outs = fn(xb, yb, *[w._value for w in ws], *opt.state_values(ws), *opt._hyper_values(dtype))
        m = 1 + len(self.metrics)
        opt.finish_step(ws, outs[m : m + len(ws)], outs[m + len(ws) :])
        return outs[:m]

    def fit(
        self,
        x: Any,
        y: Any,
        epochs: int = 1,
        batch_size: int = 32,
        validation_data: tuple | None = None,
        shuffle: bool = True,
        seed: int | None = None,
        verbose: int = 1,
    ) -> History:
        """Train for ``epochs`` passes over the data in mini-batches.

        Parameters
        ----------
        x, y : arrays
            Samples and targets (integer labels for ``sparse_categorical_crossentropy``).
            Dask arrays train data-parallel on the chunks, on the active
            ``dask.distributed`` client if any (:func:`graphad.distributed.fit`).
        epochs, batch_size : int
        validation_data : (x_val, y_val), optional
            Evaluated after each epoch ("val_loss", "val_accuracy"...).
        shuffle : bool
            Reshuffle the samples every epoch (with ``seed``, reproducibly).
        verbose : 0, 1 or 2
            0 silent; 1 a progress bar per epoch (tqdm) on a terminal, else one
            line per epoch; 2 one line per epoch.

        Returns
        -------
        History
        """
        self._need_compiled()
        epochs = _check_count(epochs, "fit: epochs", minimum=0)
        batch_size = _check_count(32 if batch_size is None else batch_size, "fit: batch_size")
        if seed is not None:
            seed = _check_seed(seed, "fit: seed")
        if _is_dask(x) or _is_dask(y):
            from .distributed import fit as fit_dask

            return fit_dask(self, x, y, epochs, batch_size, validation_data, shuffle, seed, verbose)
        X = self._prepare_x(x)
        Y = self._prepare_y(y, len(X))
        n = len(X)
        if n == 0:
            raise GraphadError("fit: no samples")
        steps = -(-n // batch_size)
        rng = _generator(seed)
        history = History()
        names = ["loss", *self.metrics]
        for epoch in range(epochs):
            start = time.perf_counter()
            perm = rng.permutation(n) if shuffle else None
            totals = [0.0] * len(names)
            bar = _progress(verbose, steps, epoch, epochs)
            for i in range(steps):
                lo, hi = i * batch_size, min(n, (i + 1) * batch_size)
                if perm is None:
                    xb, yb = X[lo:hi], Y[lo:hi]
                else:
                    idx = perm[lo:hi]
                    xb, yb = X.take(idx, axis=0), Y.take(idx, axis=0)
                res = self._step(xb, yb)
                totals[0] += float(res[0]) * (hi - lo)
                for k in range(1, len(names)):
                    totals[k] += float(res[k])
                if bar is not None:
                    bar.update(1)
                    if i % 8 == 0 or i == steps - 1:
                        seen = hi
                        bar.set_postfix(
                            {k: f"{t / seen:.4f}" for k, t in zip(names, totals, strict=True)},
                            refresh=False,
                        )
            logs = {k: t / n for k, t in zip(names, totals, strict=True)}
            if validation_data is not None:
                vals = self.evaluate(*validation_data, batch_size=batch_size)
                vals = vals if isinstance(vals, list) else [vals]
                logs.update({f"val_{k}": v for k, v in zip(names, vals, strict=True)})
            seconds = time.perf_counter() - start
            history._append(epoch, logs, seconds)
            if bar is not None:
                bar.set_postfix({k: f"{v:.4f}" for k, v in logs.items()}, refresh=True)
                bar.close()
            elif verbose:
                print(_epoch_line(epoch, epochs, steps, seconds, logs), flush=True)
        return history

    def evaluate(self, x: Any, y: Any, batch_size: int = 32, verbose: int = 0) -> Any:
        """The loss (and metrics) over a data set: ``[loss, accuracy]``, or the loss alone.

        Dask arrays are evaluated chunk by chunk on the cluster (``batch_size`` unused)."""
        self._need_compiled()
        batch_size = _check_count(32 if batch_size is None else batch_size, "evaluate: batch_size")
        if _is_dask(x) or _is_dask(y):
            from .distributed import evaluate as evaluate_dask

            return evaluate_dask(self, x, y)
        X = self._prepare_x(x)
        Y = self._prepare_y(y, len(X))
        n = len(X)
        if n == 0:
            raise GraphadError("evaluate: no samples")
        ws = [w._value for w in self.weights]
        totals = [0.0] * (1 + len(self.metrics))
        for lo in range(0, n, batch_size):
            xb, yb = X[lo : lo + batch_size], Y[lo : lo + batch_size]
            res = self._function("evaluate", xb.shape, yb.shape)(xb, yb, *ws)
            totals[0] += float(res[0]) * len(xb)
            for k in range(1, len(totals)):
                totals[k] += float(res[k])
        out = [t / n for t in totals]
        if verbose:
            print(
                " - ".join(
                    f"{k}: {v:.4f}" for k, v in zip(["loss", *self.metrics], out, strict=True)
                )
            )
        return out if self.metrics else out[0]

    def predict(self, x: Any, batch_size: int = 32, verbose: int = 0) -> np.ndarray:
        """The model's outputs for ``x``, computed in batches by the compiled forward pass.

        A Dask array gives a lazy Dask array (one task per row-chunk, ``batch_size`` unused)."""
        batch_size = _check_count(32 if batch_size is None else batch_size, "predict: batch_size")
        if _is_dask(x):
            from .distributed import predict as predict_dask

            return predict_dask(self, x)
        X = self._prepare_x(x)
        ws = [w._value for w in self.weights]
        parts = []
        for lo in range(0, len(X), batch_size):
            xb = X[lo : lo + batch_size]
            parts.append(np.asarray(self._function("predict", xb.shape)(xb, *ws)[0]))
        if not parts:
            return np.zeros((0, *self.layers[-1].output_shape[1:]), FLOATX)
        return np.concatenate(parts)

    # -- display -------------------------------------------------------------------------------
    def summary(self, print_fn: Callable[[str], Any] = print) -> None:
        """Print a Keras-like table of layers, output shapes and parameter counts."""
        rule = "_" * 65
        lines = [
            f'Model: "{self.name}"',
            rule,
            f" {'Layer (type)':<28}{'Output Shape':<26}{'Param #':>10}",
            "=" * 65,
        ]
        for layer in self.layers:
            shape = str(layer.output_shape) if layer.built else "?"
            shape = shape.replace("None", "None")
            count = sum(int(np.prod(w.shape)) for w in layer.weights)
            lines.append(
                f" {layer.name + ' (' + type(layer).__name__ + ')':<28}{shape:<26}{count:>10,}"
            )
        total = self.count_params()
        lines += [
            "=" * 65,
            f"Total params: {total:,}",
            f"Trainable params: {total:,}",
            "Non-trainable params: 0",
            rule,
        ]
        for line in lines:
            print_fn(line)

    # -- persistence ------------------------------------------------------------------------------
    def get_config(self) -> dict:
        cfg: dict[str, Any] = {
            "format": "graphad.nn.Sequential",
            "version": 1,
            "name": self.name,
            "input_shape": None if self._input_shape is None else list(self._input_shape[1:]),
            "layers": [layer.get_config() for layer in self.layers],
        }
        if self.optimizer is not None and isinstance(self.loss, str):
            opt = {"class": type(self.optimizer).__name__, **self.optimizer.get_config()}
            cfg["compile"] = {"optimizer": opt, "loss": self.loss, "metrics": self.metrics}
        return cfg

    def save(self, path: str | os.PathLike) -> None:
        """Write the architecture (JSON) and weights to one ``.npz`` file, atomically.

        The file holds no pickled objects (it loads with ``allow_pickle=False``);
        it is written to a temporary file first and then renamed over ``path``.
        The optimizer's configuration is kept, its state (slots) is not.
        """
        self._need_built()
        arrays = {f"weight_{k}": w for k, w in enumerate(self.get_weights())}
        arrays["architecture"] = np.frombuffer(json.dumps(self.get_config()).encode(), np.uint8)
        _write_npz(os.fspath(path), arrays)

    def save_weights(self, path: str | os.PathLike) -> None:
        """Write only the weights to an ``.npz`` file, atomically (``model.save_weights``).

        Unlike :meth:`save` it needs no JSON form of the layers, so models with
        Python activations or initializers can keep their weights too.

        Examples
        --------
        >>> import graphad as ga, numpy as np, os, tempfile
        >>> a = ga.nn.Sequential([ga.nn.Dense(2, input_shape=(3,), activation=ga.tanh)])
        >>> p = os.path.join(tempfile.mkdtemp(), "w.npz")
        >>> a.save_weights(p)
        >>> b = ga.nn.Sequential([ga.nn.Dense(2, input_shape=(3,), activation=ga.tanh)])
        >>> b.load_weights(p)
        >>> all(np.array_equal(u, v) for u, v in zip(a.get_weights(), b.get_weights()))
        True
        """
        self._need_built()
        _write_npz(os.fspath(path), {f"weight_{k}": w for k, w in enumerate(self.get_weights())})

    def load_weights(self, path: str | os.PathLike) -> None:
        """Set the weights from a file of :meth:`save_weights` or :meth:`save`.

        The file is read with the limits of :func:`load` (every ``.npy`` header
        checked before its data is read), and its arrays must match this model's
        weights in number and shape; otherwise nothing changes.
        """
        self._need_built()
        path = os.fspath(path)
        _, weights = _read_checked(path, "weights file", architecture=False)
        try:
            self.set_weights(weights)
        except GraphadError as exc:
            raise type(exc)(f"cannot load weights file {path!r}: {exc}") from None

    def __repr__(self) -> str:
        return f"<graphad.nn.Sequential {self.name!r}: {len(self.layers)} layers>"


def _write_npz(path: str, arrays: dict[str, np.ndarray]) -> None:
    """Write ``arrays`` to ``path`` atomically (a temporary file renamed over it)."""
    from .core._atomic import atomic_write

    atomic_write(path, lambda f: np.savez(f, **arrays))


def load(path: str | os.PathLike) -> Sequential:
    """Read a model written by :meth:`Sequential.save` (compiled again if it was).

    Every size the file declares is checked against :mod:`graphad.core.limits`
    before anything is allocated: the file's size and the size its members
    expand to (``max_file_bytes``), each weight's ``.npy`` header
    (``max_ndim``, ``max_elements``, and the bytes the member really holds),
    and each layer the architecture describes (a ``Dense`` kernel is at most
    ``max_elements``).  The layers are built directly from the file's weights:
    no initializer runs.

    Raises
    ------
    GraphadError
        If the file is missing, truncated, corrupt or not a graphad model
        (``LimitError`` when it declares more than a limit allows).

    Examples
    --------
    >>> import graphad as ga, numpy as np, os, tempfile
    >>> m = ga.nn.Sequential([ga.nn.Dense(2, input_shape=(3,))])
    >>> path = os.path.join(tempfile.mkdtemp(), "m.npz")
    >>> m.save(path)
    >>> np.array_equal(ga.nn.load(path).get_weights()[0], m.get_weights()[0])
    True
    """
    from .core.errors import LimitError

    path = os.fspath(path)
    cfg, weights = _read_checked(path, "model file", architecture=True)
    _feed.arrays = list(weights)  # the layers' builds take these instead of initializing
    try:
        if not isinstance(cfg, dict) or cfg.get("format") != "graphad.nn.Sequential":
            raise GraphadError("unknown format")
        model = Sequential(name=cfg.get("name", "sequential"))
        if cfg.get("input_shape") is not None:
            model.add(Input(cfg["input_shape"]))
        for lc in cfg["layers"]:
            lc = dict(lc)
            cls = _LAYERS[lc.pop("class")]
            model.add(cls(**lc))
        if _feed.arrays:
            raise GraphadError(
                f"the file holds {len(weights)} weight arrays, the architecture uses "
                f"{len(weights) - len(_feed.arrays)}"
            )
        model.set_weights(weights)  # in the model's order, whatever order the layers built in
        if "compile" in cfg:
            c = cfg["compile"]
            model.compile(optimizer=c["optimizer"], loss=c["loss"], metrics=c["metrics"])
    except LimitError as exc:
        raise LimitError(f"cannot load model file {path!r}: {exc}") from None
    except GraphadError as exc:
        raise GraphadError(f"cannot load model file {path!r}: {exc}") from None
    except (KeyError, TypeError, ValueError, AttributeError, OverflowError) as exc:
        raise GraphadError(
            f"cannot load model file {path!r}: its architecture is invalid "
            f"({type(exc).__name__}: {exc})"
        ) from None
    finally:
        _feed.arrays = None
    return model


_NPY_MAGIC = b"\x93NUMPY"
_feed = threading.local()  # weights a model file hands to the layers being built


def _read_checked(path: str, what: str, architecture: bool) -> tuple[Any, list[np.ndarray]]:
    """:func:`_read_model_file`, every failure a GraphadError naming the file."""
    import zipfile

    from .core.errors import LimitError

    try:
        return _read_model_file(path, architecture)
    except LimitError as exc:
        raise LimitError(f"cannot load {what} {path!r}: {exc}") from None
    except GraphadError as exc:
        raise GraphadError(f"cannot load {what} {path!r}: {exc}") from None
    except FileNotFoundError:
        raise GraphadError(f"no such {what}: {path!r}") from None
    except (
        OSError,
        ValueError,
        EOFError,
        KeyError,
        UnicodeDecodeError,
        RecursionError,  # JSON nested thousands deep
        zipfile.BadZipFile,
        zipfile.LargeZipFile,
    ) as exc:
        raise GraphadError(
            f"cannot read {what} {path!r}: it is truncated, corrupt or not "
            f"a graphad model ({type(exc).__name__}: {exc})"
        ) from None


def _read_model_file(path: str, architecture: bool = True) -> tuple[Any, list[np.ndarray]]:
    """The architecture (parsed JSON, or None when not asked for) and the weights of a
    model or weights file, read with bounds."""
    import zipfile

    from .core.errors import LimitError
    from .core.limits import current

    limits = current()
    size = os.stat(path).st_size
    if size > limits.max_file_bytes:
        raise LimitError(
            f"the file has {size:,} bytes, more than max_file_bytes={limits.max_file_bytes}"
        )
    with open(path, "rb") as f:
        head = f.read(len(_NPY_MAGIC))
    if head == _NPY_MAGIC:
        raise GraphadError(
            "it is a single NumPy array (.npy), not a graphad model file "
            "(the .npz that Sequential.save writes)"
        )
    with zipfile.ZipFile(path) as zf:
        members = {info.filename: info for info in zf.infolist()}
        expands = sum(info.file_size for info in members.values())
        if expands > limits.max_file_bytes:
            raise LimitError(
                f"its members expand to {expands:,} bytes, more than "
                f"max_file_bytes={limits.max_file_bytes}"
            )
        cfg = None
        if architecture:
            if "architecture.npy" not in members:
                raise GraphadError("it is not a graphad model file (no architecture)")
            # the JSON text: bounded by max_file_bytes (checked above), not by max_elements
            arch = _read_npy_member(zf, members["architecture.npy"], limits, weight=False)
            if arch.dtype != np.uint8 or arch.ndim != 1:
                raise GraphadError("the architecture is not a JSON text")
            cfg = json.loads(arch.tobytes().decode())
        count = sum(1 for name in members if name.startswith("weight_"))
        weights = []
        for k in range(count):
            info = members.get(f"weight_{k}.npy")
            if info is None:
                raise GraphadError(f"weight_{k} is missing")
            weights.append(_read_npy_member(zf, info, limits))
    return cfg, weights


def _read_npy_member(zf: Any, info: Any, limits: Any, weight: bool = True) -> np.ndarray:
    """One ``.npy`` member of a zip file, its header checked before its data is read
    (a weight against ``max_elements`` too)."""
    from numpy.lib import format as npy

    from .core.errors import LimitError

    name = info.filename
    with zf.open(info) as fp:
        try:
            version = npy.read_magic(fp)
            if version == (1, 0):
                shape, fortran_order, dtype = npy.read_array_header_1_0(fp)
            elif version == (2, 0):
                shape, fortran_order, dtype = npy.read_array_header_2_0(fp)
            else:
                raise GraphadError(f"{name}: unsupported .npy format version {version}")
        except GraphadError:
            raise
        except Exception as exc:  # NumPy parses the header text: TokenError, SyntaxError...
            raise GraphadError(
                f"{name}: unreadable .npy header ({type(exc).__name__}: {exc})"
            ) from None
        if dtype.hasobject or dtype.kind not in "biuf":
            raise GraphadError(f"{name}: arrays of dtype {dtype} are not weights")
        if len(shape) > limits.max_ndim:
            raise LimitError(
                f"{name} declares {len(shape)} dimensions, more than max_ndim={limits.max_ndim}"
            )
        if any(d < 0 for d in shape):
            raise GraphadError(f"{name} declares the shape {shape}")
        count = math.prod(shape)
        if weight and count > limits.max_elements:
            raise LimitError(
                f"{name} declares the shape {shape} ({count:,} elements), more than "
                f"max_elements={limits.max_elements}"
            )
        nbytes = count * dtype.itemsize
        held = info.file_size - fp.tell()
        if nbytes != held:
            raise GraphadError(
                f"{name} declares {nbytes:,} bytes of data (shape {shape}) but holds {held:,}"
            )
        data = fp.read(nbytes)  # at most what the member holds, itself within the limits
    if len(data) != nbytes:
        raise GraphadError(f"{name} is truncated")
    order = "F" if fortran_order else "C"
    return np.frombuffer(data, dtype).reshape(shape, order=order).copy()


# -- progress ---------------------------------------------------------------------------------


def _is_dask(value: Any) -> bool:
    """A Dask collection (checked without importing Dask)."""
    return hasattr(type(value), "__dask_graph__")


def _progress(verbose: int, steps: int, epoch: int, epochs: int):
    """A tqdm bar for verbose=1 on a terminal or in Jupyter; None means one line per epoch
    (or silence)."""
    notebook = "ipykernel" in sys.modules
    if verbose != 1 or not (notebook or sys.stdout.isatty()):
        return None
    try:
        if notebook:
            from tqdm.auto import tqdm
        else:
            from tqdm import tqdm
    except ImportError:
        return None
    return tqdm(
        total=steps,
        desc=f"Epoch {epoch + 1}/{epochs}",
        unit="batch",
        file=sys.stdout,
        leave=True,
        dynamic_ncols=True,
    )


def _epoch_line(epoch: int, epochs: int, steps: int, seconds: float, logs: dict) -> str:
    stats = " - ".join(f"{k}: {v:.4f}" for k, v in logs.items())
    return (
        f"Epoch {epoch + 1}/{epochs} - {steps}/{steps} - {seconds:.2f}s - "
        f"{1000 * seconds / steps:.1f}ms/step - {stats}"
    )
