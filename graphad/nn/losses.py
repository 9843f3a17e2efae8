"""Losses with Keras' names and formulas, each per sample (reduced over the last axis).

``fit`` averages the per-sample loss over a batch (weighted by ``class_weight``
when given) and adds the layers' regularization penalties.  When the last
layer's activation is ``softmax`` (``sigmoid``) and the loss is a categorical
(binary) cross-entropy, ``fit`` computes it from the logits with
``log_softmax`` (``softplus``), which is exact where the probabilities
underflow; otherwise predictions are clipped to ``[1e-7, 1 - 1e-7]`` as Keras
does.

Examples
--------
>>> import graphad as ga, numpy as np
>>> float(ga.nn.losses.huber(np.array([[0.0, 0.0]]), np.array([[0.5, 3.0]])).eval()[0])
1.3125
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from .. import ops as _ops
from ..core.errors import GraphadError
from ..core.expr import Expr
from ._common import EPSILON, FLOATX

__all__ = [
    "binary_crossentropy",
    "categorical_crossentropy",
    "get",
    "hinge",
    "huber",
    "kl_divergence",
    "kld",
    "mae",
    "mean_absolute_error",
    "mean_squared_error",
    "mse",
    "sparse_categorical_crossentropy",
    "to_categorical",
]


def to_categorical(y: Any, num_classes: int | None = None, dtype: Any = FLOATX) -> np.ndarray:
    """One-hot rows for integer class labels (``keras.utils.to_categorical``).

    Parameters
    ----------
    y : array_like of int
        Class labels (floats holding whole numbers are accepted).
    num_classes : int, optional
        Number of classes (default: the largest label + 1).
    dtype : numpy dtype
        Of the result.

    Returns
    -------
    ndarray
        Shape ``y.shape + (num_classes,)``.

    Raises
    ------
    GraphadError
        If the labels are not integers (or whole-number floats), or lie outside [0,
        ``num_classes`` - 1].

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
    return -_ops.sum(y_true * _ops.log(_ops.clip(p, EPSILON, 1 - EPSILON)), axis=-1)


def categorical_crossentropy(y_true, y_pred, from_logits: bool = False):
    """Per-sample ``-sum(y_true * log(y_pred))`` for one-hot ``y_true``.

    Parameters
    ----------
    y_true : array_like or Expr
        One-hot targets, shape ``(batch, classes)``.
    y_pred : array_like or Expr
        Probabilities (or logits), the shape of ``y_true``.
    from_logits : bool
        ``y_pred`` holds logits (a softmax is applied first).

    Returns
    -------
    Expr
        One value per sample, shape ``(batch,)``.

    Examples
    --------
    >>> import graphad as ga, numpy as np
    >>> p = np.array([[0.5, 0.25, 0.25]])
    >>> float(ga.nn.categorical_crossentropy(np.array([[1.0, 0, 0]]), p).eval()[0])  # log 2
    0.6931471805599453
    """
    return _ce_from(y_true, y_pred, y_pred if from_logits else None)


def sparse_categorical_crossentropy(y_true, y_pred, from_logits: bool = False):
    """Per-sample cross-entropy for integer labels ``y_true`` (NumPy) and probabilities.

    Parameters
    ----------
    y_true : array_like
        Integer class labels (NumPy), shape ``(batch,)``.
    y_pred : array_like or Expr
        Probabilities (or logits), shape ``(batch, classes)``.
    from_logits : bool
        ``y_pred`` holds logits (a softmax is applied first).

    Returns
    -------
    Expr
        One value per sample, shape ``(batch,)``.

    Raises
    ------
    GraphadError
        For symbolic labels (use :func:`categorical_crossentropy`).

    Examples
    --------
    >>> import numpy as np, graphad as ga
    >>> p = np.array([[0.5, 0.25, 0.25]])
    >>> ga.nn.sparse_categorical_crossentropy(np.array([0]), p).eval().tolist()  # log 2
    [0.6931471805599453]
    """
    if isinstance(y_true, Expr):
        raise GraphadError(
            "sparse_categorical_crossentropy: labels must be NumPy integers; "
            "for symbolic one-hot targets use categorical_crossentropy"
        )
    onehot = to_categorical(y_true, int(np.shape(y_pred)[-1]), np.result_type(y_pred))
    return _ce_from(onehot, y_pred, y_pred if from_logits else None)


def binary_crossentropy(y_true, y_pred, from_logits: bool = False):
    """Per-sample mean of ``-(y log p + (1 - y) log(1 - p))`` over the last axis
    (``p`` clipped to ``[1e-7, 1 - 1e-7]``).

    Parameters
    ----------
    y_true : array_like or Expr
        Labels 0 or 1.
    y_pred : array_like or Expr
        Probabilities (or logits), the shape of ``y_true``.
    from_logits : bool
        ``y_pred`` holds logits (a sigmoid is applied first).

    Returns
    -------
    Expr
        One value per sample, shape ``(batch,)``.

    Examples
    --------
    >>> import numpy as np, graphad as ga
    >>> ga.nn.binary_crossentropy(np.array([[1.0]]), np.array([[0.5]])).eval().tolist()
    [0.6931471805599453]
    """
    if from_logits:  # softplus(z) - y*z == -(y log sigmoid(z) + (1-y) log(1 - sigmoid(z)))
        return _ops.mean(_ops.softplus(y_pred) - y_true * y_pred, axis=-1)
    p = _ops.clip(y_pred, EPSILON, 1 - EPSILON)
    return -_ops.mean(y_true * _ops.log(p) + (1 - y_true) * _ops.log(1 - p), axis=-1)


def mean_squared_error(y_true, y_pred):
    """Per-sample mean of ``(y_true - y_pred)**2`` over the last axis.

    Parameters
    ----------
    y_true : array_like or Expr
        Targets, shape ``(batch, ...)``.
    y_pred : array_like or Expr
        Predictions, the shape of ``y_true``.

    Returns
    -------
    Expr
        One value per sample, shape ``(batch,)``.

    Examples
    --------
    >>> import numpy as np, graphad as ga
    >>> t = np.array([[0.0, 1.0], [1.0, 0.0]])
    >>> p = np.array([[0.25, 0.75], [0.5, 0.5]])
    >>> ga.nn.mean_squared_error(t, p).eval().tolist()
    [0.0625, 0.25]
    """
    return _ops.mean(_ops.square(y_pred - y_true), axis=-1)


def mean_absolute_error(y_true, y_pred):
    """Per-sample mean of ``|y_true - y_pred|`` over the last axis.

    Parameters
    ----------
    y_true : array_like or Expr
        Targets, shape ``(batch, ...)``.
    y_pred : array_like or Expr
        Predictions, the shape of ``y_true``.

    Returns
    -------
    Expr
        One value per sample, shape ``(batch,)``.

    Examples
    --------
    >>> import numpy as np, graphad as ga
    >>> t = np.array([[0.0, 1.0], [1.0, 0.0]])
    >>> p = np.array([[0.25, 0.75], [0.5, 0.5]])
    >>> ga.nn.mean_absolute_error(t, p).eval().tolist()
    [0.25, 0.5]
    """
    return _ops.mean(_ops.abs(y_pred - y_true), axis=-1)


def huber(y_true, y_pred, delta: float = 1.0):
    """Per-sample mean over the last axis of ``0.5 * e**2`` where ``|e| <= delta``, else
    ``delta * |e| - 0.5 * delta**2`` (``keras.losses.huber``), ``e = y_pred - y_true``.

    Parameters
    ----------
    y_true : array_like or Expr
        Targets, shape ``(batch, ...)``.
    y_pred : array_like or Expr
        Predictions, the shape of ``y_true``.
    delta : float
        Where the loss turns from quadratic to linear.

    Returns
    -------
    Expr
        One value per sample, shape ``(batch,)``.

    Examples
    --------
    >>> import numpy as np, graphad as ga
    >>> ga.nn.huber(np.array([[0.0, 0.0]]), np.array([[0.5, 3.0]])).eval().tolist()
    [1.3125]
    """
    delta = float(delta)
    err = _ops.abs(y_pred - y_true)
    quad = 0.5 * _ops.square(err)
    lin = delta * err - 0.5 * delta * delta
    return _ops.mean(_ops.where(err <= delta, quad, lin), axis=-1)


def hinge(y_true, y_pred):
    """Per-sample mean of ``max(1 - y_true * y_pred, 0)`` (``keras.losses.hinge``); labels
    that are all 0 or 1 are first mapped to -1 and 1, as Keras does.

    Parameters
    ----------
    y_true : array_like or Expr
        Labels, -1 and 1 (or 0 and 1).
    y_pred : array_like or Expr
        Predictions (scores), the shape of ``y_true``.

    Returns
    -------
    Expr
        One value per sample, shape ``(batch,)``.

    Examples
    --------
    >>> import numpy as np, graphad as ga
    >>> ga.nn.hinge(np.array([[1.0, -1.0]]), np.array([[0.5, -2.0]])).eval().tolist()
    [0.25]
    """
    is01 = _ops.min(_ops.equal(y_true, 0.0) + _ops.equal(y_true, 1.0))
    y = _ops.where(is01 > 0, 2.0 * y_true - 1.0, y_true)
    return _ops.mean(_ops.maximum(1.0 - y * y_pred, 0.0), axis=-1)


def kl_divergence(y_true, y_pred):
    """Per-sample ``sum(t * log(t / p))`` with both clipped to ``[1e-7, 1]``
    (``keras.losses.kl_divergence``).

    Parameters
    ----------
    y_true : array_like or Expr
        Target distributions (rows summing to 1).
    y_pred : array_like or Expr
        Predicted distributions, the shape of ``y_true``.

    Returns
    -------
    Expr
        One value per sample, shape ``(batch,)``.

    Examples
    --------
    >>> import numpy as np, graphad as ga
    >>> t, p = np.array([[0.5, 0.5]]), np.array([[0.25, 0.75]])
    >>> got = ga.nn.kl_divergence(t, p).eval()
    >>> bool(np.isclose(got[0], 0.5 * np.log(0.5 / 0.25) + 0.5 * np.log(0.5 / 0.75)))
    True
    """
    t = _ops.clip(y_true, EPSILON, 1.0)
    p = _ops.clip(y_pred, EPSILON, 1.0)
    return _ops.sum(t * _ops.log(t / p), axis=-1)


mse = mean_squared_error
mae = mean_absolute_error
kld = kl_divergence

_BY_NAME: dict[str, Callable] = {
    "sparse_categorical_crossentropy": sparse_categorical_crossentropy,
    "categorical_crossentropy": categorical_crossentropy,
    "binary_crossentropy": binary_crossentropy,
    "mean_squared_error": mean_squared_error,
    "mean_absolute_error": mean_absolute_error,
    "huber": huber,
    "hinge": hinge,
    "kl_divergence": kl_divergence,
}
_ALIASES = {
    "mse": "mean_squared_error",
    "mae": "mean_absolute_error",
    "kld": "kl_divergence",
    "kullback_leibler_divergence": "kl_divergence",
    "huber_loss": "huber",
}


def get(spec: str | Callable) -> str | Callable:
    """The canonical name of a named loss (aliases resolved), or a callable loss itself."""
    if isinstance(spec, str):
        name = _ALIASES.get(spec, spec)
        if name not in _BY_NAME:
            raise GraphadError(
                f"unknown loss {spec!r}; use one of {sorted(_BY_NAME)} "
                "or a callable(y_true, y_pred)"
            )
        return name
    if not callable(spec):
        raise GraphadError("loss must be a name or a callable(y_true, y_pred)")
    return spec


def per_sample(loss: str | Callable, last_act: Any, Y: Any, out: Any, pre: Any) -> Any:
    """The per-sample loss expression (fused with the last activation where possible)."""
    if callable(loss):
        return loss(Y, out)
    if loss in ("sparse_categorical_crossentropy", "categorical_crossentropy"):
        return _ce_from(Y, out, pre if last_act == "softmax" and pre is not None else None)
    if loss == "binary_crossentropy" and last_act == "sigmoid" and pre is not None:
        return binary_crossentropy(Y, pre, from_logits=True)
    return _BY_NAME[loss](Y, out)
