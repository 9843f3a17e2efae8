"""Layers with Keras' names and semantics: Input, Dense, Flatten, Reshape, Activation,
Dropout and BatchNormalization.

A layer builds its weights (``Variable`` objects) for an input shape and
computes its output with ``forward(x, params, ctx)`` from *given* parameter
values, so the same code runs eagerly (NumPy values, recorded by a tape) and
symbolically (the model's compiled training step).  ``ctx`` says whether this
is training and supplies the random numbers a training pass needs (Dropout)
and collects the new values of non-trainable weights (BatchNormalization's
moving statistics).

Past 600 lines because it is a catalogue: one class per Keras layer (Dense, Dropout,
BatchNormalization, Activation, Reshape, Flatten, Input) with its configuration.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from .. import ops as _ops
from ..core.errors import GraphadError, ShapeError
from ..core.expr import Expr
from ..eager.tensor import Variable, convert_to_tensor
from . import initializers as _init
from . import regularizers as _reg
from ._common import FLOATX, check_count, check_fraction, check_seed, global_rng

__all__ = [
    "Activation",
    "BatchNormalization",
    "Context",
    "Dense",
    "Dropout",
    "Flatten",
    "Input",
    "Layer",
    "Reshape",
    "from_config",
]

# -- activations --------------------------------------------------------------------------------

_ACTIVATIONS: dict[str | None, Callable | None] = {None: None, "linear": None, **_ops.ACTIVATIONS}


def _activation(spec: str | Callable | None) -> Callable | None:
    if callable(spec):
        return spec
    if spec not in _ACTIVATIONS:
        raise GraphadError(
            f"unknown activation {spec!r}; use one of "
            f"{sorted(k for k in _ACTIVATIONS if k)}, None or a callable"
        )
    return _ACTIVATIONS[spec]


class Context:
    """What one forward pass may need besides its input and weights.

    ``training`` turns Dropout and batch statistics on; ``noise(shape)`` gives
    uniform random numbers on [0, 1) (NumPy values eagerly, graph inputs when a
    step is built); ``updates`` collects new values of non-trainable weights,
    in the model's order.
    """

    def __init__(self, training: bool = False, noise: Callable[[tuple], Any] | None = None):
        self.training = bool(training)
        self._noise = noise
        self.updates: list[Any] = []

    def noise(self, shape: tuple) -> Any:
        if self._noise is None:
            return global_rng().random(shape, dtype=np.float32)
        return self._noise(tuple(shape))


def _batch(x: Any) -> Any:
    return x.shape[0] if isinstance(x, Expr) else np.shape(x)[0]


def _check_weight_arrays(ws: Sequence[Variable], arrays: Sequence[Any], who: str) -> list:
    """``arrays`` as NumPy arrays matching ``ws`` in number, shape and dtype kind."""
    arrays = [np.asarray(a) for a in arrays]
    if len(arrays) != len(ws):
        raise GraphadError(f"{who}: expected {len(ws)} arrays, got {len(arrays)}")
    for k, (w, a) in enumerate(zip(ws, arrays, strict=True)):
        if a.shape != w.shape:
            raise ShapeError(
                f"{who}: array {k} has shape {a.shape}, weight {w.name!r} has {w.shape}"
            )
        if not np.can_cast(a.dtype, w.dtype, casting="same_kind"):
            raise GraphadError(
                f"{who}: array {k} has dtype {a.dtype}, weight {w.name!r} is {w.dtype}"
            )
    return arrays


class Layer:
    """Base layer: ``build(input_shape)``, ``forward(x, params, ctx)``, ``weights``.

    ``weights`` lists the trainable weights first, then the non-trainable ones
    (as Keras orders them); ``forward`` receives their values in that order.

    Parameters
    ----------
    name : str, optional
        The layer's name (default: made from its kind).

    Raises
    ------
    GraphadError
        If ``name`` is given and is not a string.

    Examples
    --------
    A layer without weights only needs ``forward``, returning ``(output,
    pre-activation)`` (``None`` when there is none):

    >>> import graphad as ga, numpy as np
    >>> class Double(ga.nn.Layer):
    ...     def forward(self, x, params, ctx=None):
    ...         return 2 * x, None
    >>> model = ga.nn.Sequential([ga.nn.Input(shape=(2,)), Double()])
    >>> model.predict(np.array([[1.0, 2.0]], "float32"))
    array([[2., 4.]], dtype=float32)
    """

    kind = "layer"

    def __init__(self, name: str | None = None):
        if name is not None and not isinstance(name, str):
            raise GraphadError(f"a layer name must be a string, got {type(name).__name__}")
        self.name = name
        self.built = False
        self.input_shape: tuple | None = None
        self.output_shape: tuple | None = None

    @property
    def trainable_weights(self) -> list[Variable]:
        return []

    @property
    def non_trainable_weights(self) -> list[Variable]:
        return []

    @property
    def weights(self) -> list[Variable]:
        return self.trainable_weights + self.non_trainable_weights

    def build(self, input_shape: tuple) -> None:
        self.input_shape = tuple(input_shape)
        self.output_shape = self.compute_output_shape(self.input_shape)
        self.built = True

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        return input_shape

    def weight_shapes(self, input_shape: tuple) -> list[tuple[int, ...]]:
        """The shapes of the weights ``build(input_shape)`` would create (nothing allocated)."""
        return []

    def noise_shapes(self, input_shape: tuple) -> list[tuple[int, ...]]:
        """The shapes of the uniform random arrays one training pass on a batch of
        ``input_shape`` (batch size included) takes."""
        return []

    def penalty(self, params: Sequence[Any]) -> Any:
        """The regularization term of this layer's weights (None: none)."""
        return None

    def forward(self, x: Any, params: Sequence[Any], ctx: Context | None = None) -> tuple[Any, Any]:
        """``(output, pre-activation)`` for ``x`` with these parameter values."""
        return x, None

    def __call__(self, x: Any, training: bool = False) -> Any:
        """The layer applied to ``x``: eagerly (a Tensor, recorded by an active tape) for
        arrays, symbolically for expressions."""
        if not isinstance(x, Expr):
            x = convert_to_tensor(np.asarray(x, FLOATX) if isinstance(x, np.ndarray | list) else x)
        if not self.built:
            self.build((None, *np.shape(x)[1:]))
        return self.forward(x, self.weights, Context(training))[0]

    def get_weights(self) -> list[np.ndarray]:
        """Copies of the weights' values (``layer.get_weights()``)."""
        return [w.numpy() for w in self.weights]

    def set_weights(self, arrays: Sequence[Any]) -> None:
        """Set every weight; all shapes and dtypes are checked first, so a failed call
        changes nothing."""
        checked = _check_weight_arrays(
            self.weights, arrays, f"{self.name or self.kind}.set_weights"
        )
        for w, a in zip(self.weights, checked, strict=True):
            w.assign(a)

    def get_config(self) -> dict:
        return {"class": type(self).__name__, "name": self.name}


class Input(Layer):
    """The input of a :class:`Sequential` model: ``Input(shape=(784,))``.

    Parameters
    ----------
    shape : sequence of int
        The shape of one sample (without the batch axis).
    name : str, optional
        The layer's name (default: made from its kind).

    Examples
    --------
    >>> import graphad as ga
    >>> model = ga.nn.Sequential([ga.nn.Input(shape=(3,)), ga.nn.Dense(2)])
    >>> model.count_params()   # a 3x2 kernel and 2 biases
    8
    """

    kind = "input"

    def __init__(self, shape: Sequence[int], name: str | None = None):
        super().__init__(name)
        self.shape = tuple(check_count(n, "Input: shape") for n in shape)
        self.build((None, *self.shape))

    def get_config(self) -> dict:
        return {**super().get_config(), "shape": list(self.shape)}


class Flatten(Layer):
    """Reshape each sample to one dimension (``(batch, 28, 28)`` -> ``(batch, 784)``).

    Parameters
    ----------
    name : str, optional
        The layer's name (default: made from its kind).

    Examples
    --------
    >>> import graphad as ga, numpy as np
    >>> ga.nn.Flatten()(np.zeros((2, 3, 4), "float32")).shape
    (2, 12)
    """

    kind = "flatten"

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        return (input_shape[0], math.prod(input_shape[1:]))

    def forward(self, x, params, ctx=None):
        return _ops.reshape(x, (_batch(x), -1)), None


class Reshape(Layer):
    """Give each sample the shape ``target_shape`` (one entry may be -1), as
    ``keras.layers.Reshape``.

    Parameters
    ----------
    target_shape : sequence of int
        The shape of one sample (without the batch axis).
    name : str, optional
        The layer's name (default: made from its kind).

    Raises
    ------
    GraphadError
        If an entry of ``target_shape`` is neither a positive int nor -1, or more than
        one is -1.
    ShapeError
        When built on samples whose number of elements ``target_shape`` cannot hold.

    Examples
    --------
    >>> import graphad as ga, numpy as np
    >>> ga.nn.Reshape((2, -1))(np.arange(6.0).reshape(1, 6)).shape
    (1, 2, 3)
    """

    kind = "reshape"

    def __init__(self, target_shape: Sequence[int], name: str | None = None):
        super().__init__(name)
        shape = tuple(target_shape)
        for d in shape:
            if isinstance(d, bool) or not isinstance(d, int | np.integer) or (d < 1 and d != -1):
                raise GraphadError(
                    f"Reshape: target_shape entries must be positive or -1, got {shape}"
                )
        if sum(d == -1 for d in shape) > 1:
            raise GraphadError(f"Reshape: at most one entry of target_shape may be -1, got {shape}")
        self.target_shape = tuple(int(d) for d in shape)

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        """``(batch, *target_shape)``, the -1 entry worked out from ``input_shape``.

        Raises
        ------
        ShapeError
            If samples of ``input_shape`` do not have the number of elements
            ``target_shape`` holds.
        """
        size = math.prod(input_shape[1:])
        known = math.prod(d for d in self.target_shape if d != -1)
        if -1 in self.target_shape:
            if size % known:
                raise ShapeError(
                    f"Reshape: cannot reshape samples of {size} elements to {self.target_shape}"
                )
            return (input_shape[0], *(size // known if d == -1 else d for d in self.target_shape))
        if known != size:
            raise ShapeError(
                f"Reshape: cannot reshape samples of {size} elements to {self.target_shape}"
            )
        return (input_shape[0], *self.target_shape)

    def forward(self, x, params, ctx=None):
        return _ops.reshape(x, (_batch(x), *self.target_shape)), None

    def get_config(self) -> dict:
        return {**super().get_config(), "target_shape": list(self.target_shape)}


class Activation(Layer):
    """An activation function as a layer (``keras.layers.Activation("relu")``).

    Parameters
    ----------
    activation : str or callable
        An activation's name (``"relu"``, ``"softmax"``...) or a function of Exprs.
    name : str, optional
        The layer's name (default: made from its kind).

    Examples
    --------
    >>> import graphad as ga, numpy as np
    >>> ga.nn.Activation("relu")(np.array([[-1.0, 2.0]], "float32")).numpy()
    array([[0., 2.]], dtype=float32)
    """

    kind = "activation"

    def __init__(self, activation: str | Callable, name: str | None = None):
        super().__init__(name)
        self.activation = activation
        self._act = _activation(activation)

    def forward(self, x, params, ctx=None):
        return (x if self._act is None else self._act(x)), x

    def get_config(self) -> dict:
        """The layer's configuration (a JSON-able dict), as Keras's.

        Raises
        ------
        GraphadError
            If the activation is a Python function (only named ones can be saved).
        """
        if callable(self.activation):
            raise GraphadError(
                f"layer {self.name!r} uses a Python function; only named ones can be saved"
            )
        return {**super().get_config(), "activation": self.activation}


class Dropout(Layer):
    """Zero each input with probability ``rate`` while training, scaling the kept ones
    by ``1 / (1 - rate)`` (inverted dropout, as ``keras.layers.Dropout``); the identity
    otherwise (``evaluate``, ``predict``, calling the model).

    The random numbers come from ``fit``'s generator (seeded by ``fit(seed=...)`` or
    :func:`graphad.nn.set_random_seed`).

    Parameters
    ----------
    rate : float
        The fraction of inputs zeroed while training, in ``[0, 1)``.
    name : str, optional
        The layer's name (default: made from its kind).
    seed : int, optional
        Not used for the draws (they come from ``fit``'s generator); kept in the config.

    Examples
    --------
    >>> import graphad as ga, numpy as np
    >>> ga.nn.Dropout(0.5)(np.ones((1, 3), "float32")).numpy()   # not training: unchanged
    array([[1., 1., 1.]], dtype=float32)
    """

    kind = "dropout"

    def __init__(self, rate: float, name: str | None = None, seed: int | None = None):
        super().__init__(name)
        self.rate = check_fraction(rate, "Dropout: rate")
        self.seed = None if seed is None else check_seed(seed, "Dropout: seed")

    def noise_shapes(self, input_shape: tuple) -> list[tuple[int, ...]]:
        return [tuple(input_shape)] if self.rate > 0 else []

    def forward(self, x, params, ctx=None):
        if ctx is None or not ctx.training or self.rate == 0:
            return x, None
        u = ctx.noise(tuple(x.shape) if isinstance(x, Expr) else np.shape(x))
        keep = 1.0 - self.rate
        return _ops.where(u >= self.rate, x / np.float32(keep), 0.0), None

    def get_config(self) -> dict:
        return {**super().get_config(), "rate": self.rate}


class Dense(Layer):
    """A fully connected layer: ``activation(x @ kernel + bias)`` (``keras.layers.Dense``).

    Parameters
    ----------
    units : int
    activation : None, "relu", "sigmoid", "tanh", "softmax", "softplus" or callable
    use_bias : bool
    kernel_initializer : "glorot_uniform" (default), "he_uniform", "zeros", "ones" or
        a callable ``(shape, dtype) -> array``
    bias_initializer : as kernel_initializer, default "zeros"
    kernel_regularizer, bias_regularizer : None, "l1", "l2", "l1_l2" or
        ``ga.nn.regularizers.l2(0.01)``...; the penalty is added to the training loss.
    input_shape : tuple, optional
        Keras 2's way of fixing the input size of a first layer: ``(784,)``.
    seed : int, optional
        The seed of this layer's initializers.

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
        kernel_regularizer: Any = None,
        bias_regularizer: Any = None,
    ):
        super().__init__(name)
        self.units = check_count(units, "Dense: units")
        self.activation = activation
        self._act = _activation(activation)
        _init.get(kernel_initializer)  # an unknown name fails here, not at build
        _init.get(bias_initializer)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = kernel_initializer
        self.bias_initializer = bias_initializer
        self.kernel_regularizer = _reg.get(kernel_regularizer)
        self.bias_regularizer = _reg.get(bias_regularizer)
        self.seed = None if seed is None else check_seed(seed, "Dense: seed")
        self.kernel: Variable | None = None
        self.bias: Variable | None = None
        if input_shape is not None:
            self.build((None, *tuple(input_shape)))

    @property
    def trainable_weights(self) -> list[Variable]:
        if not self.built:
            return []
        return [self.kernel, self.bias] if self.use_bias else [self.kernel]

    def weight_shapes(self, input_shape: tuple) -> list[tuple[int, ...]]:
        """``[(features, units), (units,)]``, checked against ``ga.limits`` ``max_elements``.

        Raises
        ------
        ShapeError
            For inputs that are not ``(batch, features)`` with a positive int
            number of features.
        LimitError
            For a kernel of more than ``max_elements`` elements.
        """
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
        from ..core.limits import current

        limit = current().max_elements
        if int(features) * self.units > limit:
            from ..core.errors import LimitError

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
        kernel = _init.initial_value(self.kernel_initializer, shapes[0], rng)
        self.kernel = Variable(np.asarray(kernel, FLOATX), name=f"{self.name or 'dense'}_kernel")
        if self.use_bias:
            bias = _init.initial_value(self.bias_initializer, shapes[1], rng)
            self.bias = Variable(np.asarray(bias, FLOATX), name=f"{self.name or 'dense'}_bias")

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        return (input_shape[0], self.units)

    def penalty(self, params):
        terms = []
        if self.kernel_regularizer is not None:
            terms.append(self.kernel_regularizer(params[0]))
        if self.use_bias and self.bias_regularizer is not None:
            terms.append(self.bias_regularizer(params[1]))
        return sum(terms[1:], terms[0]) if terms else None

    def forward(self, x, params, ctx=None):
        z = _ops.matmul(x, params[0])
        if self.use_bias:
            z = z + params[1]
        return (z if self._act is None else self._act(z)), z

    def get_config(self) -> dict:
        """The layer's configuration (a JSON-able dict), as Keras's.

        Raises
        ------
        GraphadError
            If the activation or an initializer is a Python function (only named
            ones can be saved).
        """
        if (
            callable(self.activation)
            or callable(self.kernel_initializer)
            or callable(self.bias_initializer)
        ):
            raise GraphadError(
                f"layer {self.name!r} uses a Python function (activation or "
                "initializer); only named ones can be saved"
            )
        cfg = {
            **super().get_config(),
            "units": self.units,
            "activation": self.activation,
            "use_bias": self.use_bias,
            "kernel_initializer": self.kernel_initializer,
            "bias_initializer": self.bias_initializer,
        }
        for key in ("kernel_regularizer", "bias_regularizer"):
            reg = getattr(self, key)
            if reg is not None:
                cfg[key] = reg.get_config()
        return cfg


class BatchNormalization(Layer):
    """Normalize each feature (the last axis) by batch statistics while training and by
    moving averages otherwise (``keras.layers.BatchNormalization``).

    Training: ``y = gamma * (x - mean) / sqrt(var + epsilon) + beta`` with the
    batch's mean and (biased) variance over every axis but the last, and
    ``moving = moving * momentum + batch_stat * (1 - momentum)``.  Otherwise the
    moving mean and variance replace the batch's.  Weights, in Keras' order:
    gamma, beta (trainable), moving_mean, moving_variance (not trainable).

    Parameters
    ----------
    axis : int
        The feature axis (only the last, -1, is supported).
    momentum : float
        Of the moving averages.
    epsilon : float
        Added to the variance.
    center, scale : bool
        Learn ``beta`` / ``gamma`` (else 0 / 1).
    input_shape : sequence of int, optional
        The sample shape, when it is the first layer.
    name : str, optional
        The layer's name (default: made from its kind).

    Raises
    ------
    GraphadError
        If ``axis`` is not -1, ``momentum`` is not a number in [0, 1), or ``epsilon``
        is not a positive number.

    Examples
    --------
    >>> import graphad as ga, numpy as np
    >>> bn = ga.nn.BatchNormalization(input_shape=(2,))
    >>> [w.shape for w in bn.weights]
    [(2,), (2,), (2,), (2,)]
    """

    kind = "batch_normalization"

    def __init__(
        self,
        axis: int = -1,
        momentum: float = 0.99,
        epsilon: float = 1e-3,
        center: bool = True,
        scale: bool = True,
        input_shape: Sequence[int] | None = None,
        name: str | None = None,
    ):
        super().__init__(name)
        if axis != -1:
            raise GraphadError("BatchNormalization: only axis=-1 (the features) is supported")
        self.axis = -1
        self.momentum = check_fraction(momentum, "BatchNormalization: momentum")
        if isinstance(epsilon, bool) or not isinstance(epsilon, int | float) or not epsilon > 0:
            raise GraphadError(f"BatchNormalization: epsilon must be positive, got {epsilon!r}")
        self.epsilon = float(epsilon)
        self.center = bool(center)
        self.scale = bool(scale)
        self._trainable: list[Variable] = []
        self._moving: list[Variable] = []
        if input_shape is not None:
            self.build((None, *tuple(input_shape)))

    @property
    def trainable_weights(self) -> list[Variable]:
        return list(self._trainable)

    @property
    def non_trainable_weights(self) -> list[Variable]:
        return list(self._moving)

    def weight_shapes(self, input_shape: tuple) -> list[tuple[int, ...]]:
        """One ``(features,)`` shape per weight: gamma and beta (when ``scale`` and
        ``center``), then the moving mean and variance.

        Raises
        ------
        ShapeError
            If ``input_shape`` is not ``(batch, ..., features)`` with known features.
        """
        if len(input_shape) < 2 or input_shape[-1] is None:
            raise ShapeError(
                f"BatchNormalization expects (batch, ..., features), got {input_shape}"
            )
        n = (int(input_shape[-1]),)
        return [n] * (int(self.scale) + int(self.center) + 2)

    def build(self, input_shape: tuple) -> None:
        (n, *_) = self.weight_shapes(tuple(input_shape))
        super().build(input_shape)
        base = self.name or self.kind
        made = []
        for what, init, wanted in (
            ("gamma", "ones", self.scale),
            ("beta", "zeros", self.center),
            ("moving_mean", "zeros", True),
            ("moving_variance", "ones", True),
        ):
            if wanted:
                value = np.asarray(_init.initial_value(init, n, None), FLOATX)
                made.append(Variable(value, name=f"{base}_{what}"))
        k = int(self.scale) + int(self.center)
        self._trainable, self._moving = made[:k], made[k:]

    def forward(self, x, params, ctx=None):
        k = 0
        gamma = beta = None
        if self.scale:
            gamma, k = params[k], k + 1
        if self.center:
            beta, k = params[k], k + 1
        moving_mean, moving_var = params[k], params[k + 1]
        ndim = len(x.shape) if isinstance(x, Expr) else np.ndim(x)
        axes = tuple(range(ndim - 1))
        if ctx is not None and ctx.training:
            mean = _ops.mean(x, axis=axes)
            var = _ops.mean(_ops.square(x - mean), axis=axes)
            m = self.momentum
            ctx.updates += [moving_mean * m + mean * (1 - m), moving_var * m + var * (1 - m)]
        else:
            mean, var = moving_mean, moving_var
        y = (x - mean) / _ops.sqrt(var + self.epsilon)
        if gamma is not None:
            y = y * gamma
        if beta is not None:
            y = y + beta
        return y, None

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "momentum": self.momentum,
            "epsilon": self.epsilon,
            "center": self.center,
            "scale": self.scale,
        }


LAYERS: dict[str, type[Layer]] = {
    cls.__name__: cls
    for cls in (Dense, Flatten, Input, Reshape, Activation, Dropout, BatchNormalization)
}


def from_config(config: dict) -> Layer:
    """A new layer from ``layer.get_config()`` (its weights initialized afresh)."""
    if not isinstance(config, dict):
        raise GraphadError(f"a layer configuration must be a dict, got {type(config).__name__}")
    cfg = dict(config)
    name = cfg.pop("class", None)
    cls = LAYERS.get(name) if isinstance(name, str) else None
    if cls is None:
        raise GraphadError(f"unknown layer class {name!r}; known: {sorted(LAYERS)}")
    return cls(**cfg)
