"""Python operators and NumPy-like methods of :class:`~graphad.core.expr.Expr`.

``Expr`` lives in the core layer, below the op table, so its operators are
attached here, where the ops they build exist: ``x + y`` is ``add(x, y)``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..core.errors import GraphadError
from ..core.expr import Expr
from .core import install_operators
from .indexing import IndexUpdateHelper, getitem
from .linalg import reshape, transpose
from .reduce import max, mean, min, prod, sum

__all__ = ["install"]

REDUCTIONS = {"sum": sum, "mean": mean, "prod": prod, "max": max, "min": min}


def _pos(self: Expr) -> Expr:
    return self


def _getitem(self: Expr, index: Any) -> Expr:
    """``x[index]`` as NumPy: ints, slices, ``None``, ``...``, integer arrays, boolean masks."""
    return getitem(self, index)


def _at(self: Expr) -> IndexUpdateHelper:
    """The functional update, as in JAX: ``x.at[idx].set(v)``, ``x.at[idx].add(v)``."""
    return IndexUpdateHelper(self)


class UnsizedError(GraphadError, TypeError):
    """``len()`` of an Expr whose leading dimension is not static (or a 0-d Expr)."""


def _len(self: Expr) -> int:
    shape = self.shape
    if shape is None:
        raise UnsizedError(
            "len() of a graphad Expr needs a static shape, and this one's is unknown until "
            "evaluation; declare it (ga.symbol(name, shape=...)) or evaluate first"
        )
    if not shape:
        raise UnsizedError("len() of a 0-d graphad Expr (a scalar) is undefined")
    return shape[0]


def _T(self: Expr) -> Expr:
    return transpose(self)


def _reduction(name: str, fn: Callable[..., Expr]) -> Callable[..., Expr]:
    def method(self: Expr, axis: Any = None, keepdims: bool = False) -> Expr:
        return fn(self, axis=axis, keepdims=keepdims)

    method.__name__ = name
    method.__doc__ = f"``ga.{name}(self, axis, keepdims)``, as the NumPy method."
    return method


def _reshape(self: Expr, *shape: Any) -> Expr:
    if len(shape) == 1 and not isinstance(shape[0], int):
        shape = tuple(shape[0])
    return reshape(self, shape)


def _transpose(self: Expr, *axes: Any) -> Expr:
    if len(axes) == 1 and not isinstance(axes[0], int):
        axes = tuple(axes[0]) if axes[0] is not None else ()
    return transpose(self, axes or None)


def install(cls: type = Expr) -> None:
    """Attach the operators and methods to ``cls`` (done once, when :mod:`graphad.ops` loads).

    The Python operators (``+ - * / % ** @``, reflected forms, ``-x``, ``abs(x)``,
    comparisons) are the op table's ``dunder`` facets."""
    install_operators(cls)
    cls.__pos__ = _pos
    cls.__getitem__ = _getitem
    cls.__len__ = _len
    cls.at = property(_at)
    cls.T = property(_T)
    for name, fn in REDUCTIONS.items():
        setattr(cls, name, _reduction(name, fn))
    cls.reshape = _reshape
    cls.transpose = _transpose
