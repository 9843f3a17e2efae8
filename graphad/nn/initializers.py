"""Weight initializers with Keras' names: ``glorot_uniform`` (the default), ``he_uniform``,
``zeros`` and ``ones``.

An initializer is ``fn(shape, dtype, rng=None)``; a user's callable takes
``(shape, dtype)``.  graphad's own initializers draw from ``rng``, else from the
generator :func:`graphad.nn.set_random_seed` seeds.

Examples
--------
>>> import graphad as ga
>>> ga.nn.initializers.ones((2,))
array([1., 1.], dtype=float32)
"""

from __future__ import annotations

import contextlib
import math
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np

from ..core.errors import GraphadError, ShapeError
from ._common import FLOATX, global_rng

__all__ = ["get", "glorot_uniform", "he_uniform", "ones", "zeros"]

_NAMES = ("glorot_uniform", "he_uniform", "zeros", "ones")
_feed = threading.local()  # what the layers being built take instead of initializing


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
    return (rng or global_rng()).uniform(-limit, limit, size=shape).astype(dtype)


def he_uniform(shape, dtype=FLOATX, rng=None):
    """Uniform on ``[-l, l]`` with ``l = sqrt(6 / fan_in)`` (for relu layers)."""
    limit = math.sqrt(6.0 / _fans(tuple(shape))[0])
    return (rng or global_rng()).uniform(-limit, limit, size=shape).astype(dtype)


def zeros(shape, dtype=FLOATX, rng=None):
    """All zeros."""
    return np.zeros(shape, dtype)


def ones(shape, dtype=FLOATX, rng=None):
    """All ones."""
    return np.ones(shape, dtype)


def get(spec: str | Callable) -> Callable:
    """The initializer named ``spec`` (looked up when called, so it can be replaced), or
    ``spec`` itself when it is a callable."""
    if callable(spec):
        return spec
    if spec not in _NAMES:
        raise GraphadError(
            f"unknown initializer {spec!r}; use one of {sorted(_NAMES)} or a callable(shape, dtype)"
        )
    return getattr(sys.modules[__name__], spec)


@contextlib.contextmanager
def from_arrays(arrays: Sequence[np.ndarray]) -> Iterator[list[np.ndarray]]:
    """While active, the layers built in this thread take their weights from ``arrays``,
    in order (what :func:`graphad.nn.load` does); the list yielded holds those left."""
    left = list(arrays)
    _feed.arrays = left
    try:
        yield left
    finally:
        _feed.arrays = None


@contextlib.contextmanager
def placeholders() -> Iterator[None]:
    """While active, layers built in this thread get zeros and draw nothing from the
    seeded generator (for a copy of a model whose weights are sent with each call)."""
    _feed.placeholders = True
    try:
        yield
    finally:
        _feed.placeholders = False


def initial_value(spec: str | Callable, shape: tuple[int, ...], rng: Any) -> np.ndarray:
    """The initial value of a weight of ``shape`` (see :func:`from_arrays` and
    :func:`placeholders` for the two ways a build takes it from elsewhere)."""
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
    fn = get(spec)
    ours = any(fn is globals()[name] for name in _NAMES)
    if callable(spec) and not ours:
        value = np.asarray(fn(shape, FLOATX))
    else:
        value = np.asarray(fn(shape, FLOATX, rng=rng))
    if value.shape != tuple(shape):
        raise ShapeError(f"the initializer {spec!r} gave shape {value.shape}, not {tuple(shape)}")
    return value
