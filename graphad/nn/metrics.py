"""Metrics with Keras' names: accuracy, mse, mae, top_k_categorical_accuracy, precision,
recall.

``fit`` and ``evaluate`` accumulate each metric over an epoch as sums computed
inside the compiled step (a metric is a list of batch sums and a final ratio),
so a metric over the whole data set does not depend on how it is batched:
precision is ``true positives / predicted positives`` over all samples, as
Keras' stateful ``Precision`` metric gives, not a mean of per-batch ratios.

Examples
--------
>>> import graphad as ga, numpy as np
>>> t = np.array([[0, 1, 0], [1, 0, 0]], "float32")
>>> p = np.array([[0.1, 0.7, 0.2], [0.3, 0.4, 0.3]], "float32")
>>> ga.nn.metrics.top_k_categorical_accuracy(t, p, k=1).eval().tolist()
[1.0, 0.0]
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .. import ops as _ops
from ..core.errors import GraphadError
from . import losses as _losses

__all__ = [
    "accuracy",
    "mae",
    "mse",
    "precision",
    "recall",
    "top_k_categorical_accuracy",
]


def accuracy(y_true, y_pred):
    """Per-sample 1.0 where the largest prediction is at the one-hot target's class.

    Parameters
    ----------
    y_true : array_like or Expr
        One-hot targets, shape ``(batch, classes)``.
    y_pred : array_like or Expr
        Scores or probabilities, the shape of ``y_true``.

    Returns
    -------
    Expr
        1.0 or 0.0 per sample, shape ``(batch,)``.

    Examples
    --------
    >>> import numpy as np, graphad as ga
    >>> t = np.array([[0.0, 1.0], [1.0, 0.0]])
    >>> p = np.array([[0.25, 0.75], [0.4, 0.6]])
    >>> ga.nn.accuracy(t, p).eval().tolist()
    [1.0, 0.0]
    """
    hit_pred = y_pred >= _ops.max(y_pred, axis=-1, keepdims=True)
    hit_true = y_true >= _ops.max(y_true, axis=-1, keepdims=True)
    return _ops.max(hit_pred * hit_true * 1.0, axis=-1)


def top_k_categorical_accuracy(y_true, y_pred, k: int = 5):
    """Per-sample 1.0 where the target's class is among the ``k`` largest predictions.

    As ``tf.math.in_top_k``: predictions tied with the target's count for it, so
    the class is in the top k when fewer than ``k`` predictions are strictly larger.

    Parameters
    ----------
    y_true : array_like or Expr
        One-hot targets, shape ``(batch, classes)``.
    y_pred : array_like or Expr
        Scores or probabilities, the shape of ``y_true``.
    k : int
        How many of the largest predictions count.

    Returns
    -------
    Expr
        1.0 or 0.0 per sample, shape ``(batch,)``.

    Examples
    --------
    >>> import numpy as np, graphad as ga
    >>> t = np.array([[0.0, 0.0, 1.0], [1.0, 0.0, 0.0]])
    >>> p = np.array([[0.1, 0.3, 0.6], [0.1, 0.3, 0.6]])
    >>> ga.nn.top_k_categorical_accuracy(t, p, k=2).eval().tolist()
    [1.0, 0.0]
    """
    target = _ops.sum(y_true * y_pred, axis=-1, keepdims=True)  # y_true is one-hot
    larger = _ops.sum((y_pred > target) * 1.0, axis=-1)
    return (larger < k) * 1.0


def _confusion(y_true, y_pred, threshold):
    predicted = (y_pred > threshold) * 1.0
    actual = (y_true > 0.5) * 1.0
    return _ops.sum(predicted * actual), _ops.sum(predicted), _ops.sum(actual)


def precision(y_true, y_pred, threshold: float = 0.5):
    """``true positives / predicted positives`` over all entries (0 when nothing is
    predicted positive), a prediction being positive above ``threshold``.

    Parameters
    ----------
    y_true : array_like or Expr
        Labels 0 or 1.
    y_pred : array_like or Expr
        Probabilities, the shape of ``y_true``.
    threshold : float
        A prediction above it is positive.

    Returns
    -------
    Expr
        A scalar.

    Examples
    --------
    >>> import numpy as np, graphad as ga
    >>> t = np.array([1.0, 0.0, 1.0, 1.0])
    >>> p = np.array([0.9, 0.8, 0.2, 0.7])
    >>> round(float(ga.nn.precision(t, p).eval()), 6)  # 2 of 3
    0.666667
    """
    tp, pp, _ = _confusion(y_true, y_pred, threshold)
    return _ops.where(pp > 0, tp / _ops.maximum(pp, 1.0), 0.0)


def recall(y_true, y_pred, threshold: float = 0.5):
    """``true positives / actual positives`` over all entries (0 when there are none),
    a prediction being positive above ``threshold``.

    Parameters
    ----------
    y_true : array_like or Expr
        Labels 0 or 1.
    y_pred : array_like or Expr
        Probabilities, the shape of ``y_true``.
    threshold : float
        A prediction above it is positive.

    Returns
    -------
    Expr
        A scalar.

    Examples
    --------
    >>> import numpy as np, graphad as ga
    >>> t = np.array([1.0, 0.0, 1.0, 1.0])
    >>> p = np.array([0.9, 0.8, 0.2, 0.7])
    >>> round(float(ga.nn.recall(t, p).eval()), 6)  # 2 of 3
    0.666667
    """
    tp, _, ap = _confusion(y_true, y_pred, threshold)
    return _ops.where(ap > 0, tp / _ops.maximum(ap, 1.0), 0.0)


mse = _losses.mean_squared_error
mae = _losses.mean_absolute_error


@dataclass(frozen=True)
class Metric:
    """A metric as the training step computes it: batch sums, and the epoch's value
    from their totals over the epoch (and the number of samples)."""

    name: str
    sums: Callable[[Any, Any, Any, Any], list]  # (loss, Y, out, pre) -> batch sums
    result: Callable[[list[float], int], float]


def _mean_of(per_sample: Callable) -> Callable:
    return lambda loss, Y, out, pre: [_ops.sum(per_sample(Y, out))]


def _per_sample_mean(totals: list[float], n: int) -> float:
    return totals[0] / n


def _ratio(totals: list[float], n: int) -> float:
    return totals[0] / totals[1] if totals[1] else 0.0


def _accuracy_sums(loss, Y, out, pre):
    if loss == "binary_crossentropy" or out.shape[-1] == 1:
        hit = _ops.equal(out > 0.5, Y > 0.5) * 1.0
        return [_ops.sum(_ops.mean(hit, axis=-1))]
    z = pre if pre is not None else out
    if loss in ("sparse_categorical_crossentropy", "categorical_crossentropy"):
        return [_ops.sum(Y * (z >= _ops.max(z, axis=-1, keepdims=True)))]
    return [_ops.sum(accuracy(Y, out))]


def _confusion_sums(which: int) -> Callable:
    def sums(loss, Y, out, pre):
        c = _confusion(Y, out, 0.5)
        return [c[0], c[which]]

    return sums


_MSE = Metric("mse", _mean_of(_losses.mean_squared_error), _per_sample_mean)
_MAE = Metric("mae", _mean_of(_losses.mean_absolute_error), _per_sample_mean)
_ACC = Metric("accuracy", _accuracy_sums, _per_sample_mean)
_BY_NAME: dict[str, Metric] = {
    "accuracy": _ACC,
    "acc": _ACC,
    "mse": _MSE,
    "mean_squared_error": _MSE,
    "mae": _MAE,
    "mean_absolute_error": _MAE,
    "top_k_categorical_accuracy": Metric(
        "top_k_categorical_accuracy", _mean_of(top_k_categorical_accuracy), _per_sample_mean
    ),
    "precision": Metric("precision", _confusion_sums(1), _ratio),
    "recall": Metric("recall", _confusion_sums(2), _ratio),
}


def get(name: Any) -> Metric:
    """The metric named ``name`` (Keras' names)."""
    metric = _BY_NAME.get(name) if isinstance(name, str) else None
    if metric is None:
        raise GraphadError(f"unknown metric {name!r}; use one of {list(_BY_NAME)}")
    return metric
