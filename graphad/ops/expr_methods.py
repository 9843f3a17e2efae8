"""Python operators and NumPy-like methods of :class:`~graphad.core.expr.Expr`.

``Expr`` lives in the core layer, below the op table, so its operators are
attached here, where the ops they build exist: ``x + y`` is ``add(x, y)``.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import numpy as np

from ..core.errors import GraphadError
from ..core.expr import Expr
from .core import FUNCTIONS, OPS, apply, install_operators
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


def _ufunc_table() -> dict[str, str]:
    """NumPy ufunc name -> the public op computing exactly that ufunc."""
    table: dict[str, str] = {}
    for op in OPS.values():
        if op.public and op.ufunc_name and not op.ufunc_args:
            table.setdefault(op.ufunc_name, op.name)
    for name, op in OPS.items():  # ops named as their ufunc (np.matmul)
        if op.public and isinstance(getattr(np, name, None), np.ufunc):
            table.setdefault(name, name)
    return table


_UFUNCS: dict[str, str] = {}


def _array_ufunc(self: Expr, ufunc: Any, method: str, *inputs: Any, **kwargs: Any) -> Any:
    """``np.sin(e)``, ``np.add(a, e)``: the op the table declares for that ufunc."""
    name = getattr(ufunc, "__name__", repr(ufunc))
    if not _UFUNCS:
        _UFUNCS.update(_ufunc_table())
    if method != "__call__":
        raise GraphadError(
            f"np.{name}.{method} is not supported on graphad Exprs; use the ga functions "
            "(ga.sum, ga.cumsum ...) instead"
        )
    if kwargs:
        raise GraphadError(
            f"np.{name} on graphad Exprs takes no keyword arguments "
            f"(got {', '.join(sorted(kwargs))}): the result is a new Expr"
        )
    op_name = _UFUNCS.get(name)
    if op_name is None or OPS[op_name].nargs != len(inputs):
        raise GraphadError(f"np.{name} is not supported on graphad Exprs (no op computes it)")
    return apply(op_name, *inputs)


#: NumPy functions that inspect their arguments rather than compute with them
_INTROSPECTION = frozenset(
    {
        "shape",
        "ndim",
        "size",
        "result_type",
        "can_cast",
        "min_scalar_type",
        "isscalar",
        "iscomplexobj",
        "isrealobj",
        "may_share_memory",
        "shares_memory",
        "copyto",
    }
)


def _array_function(self: Expr, func: Any, types: Any, args: Any, kwargs: Any) -> Any:
    """``np.sum(e)``, ``np.stack([a, e])``: the ``ga`` function of the same name."""
    name = getattr(func, "__name__", repr(func))
    module = getattr(func, "__module__", "") or ""
    found = FUNCTIONS.get(name)
    if name in _INTROSPECTION and getattr(np, name, None) is func:
        if name in ("shape", "ndim") and len(args) == 1 and self.shape is not None:
            return self.shape if name == "shape" else len(self.shape)
        # questions about objects, not computations: NumPy's own answer, as without dispatch
        return func._implementation(*args, **kwargs)
    if found is None or not OPS[found[0]].public or getattr(np, name, None) is not func:
        where = "np." + name if getattr(np, name, None) is func else f"{module}.{name}"
        raise GraphadError(
            f"{where} is not supported on graphad Exprs; use a ga function, or evaluate first"
        )
    fn = found[1]
    try:
        inspect.signature(fn).bind(*args, **kwargs)
    except TypeError as exc:
        raise GraphadError(f"np.{name} on graphad Exprs: {exc} (ga.{name} is used)") from None
    return fn(*args, **kwargs)


def _masked_operand(self: Expr) -> Any:
    """numpy.ma reads ``_data`` / ``_mask`` of its operands (``masked * x``): refused, as
    masked arrays are everywhere else (NumPy's ufunc dispatch would bypass as_expr)."""
    raise GraphadError(
        "masked arrays (numpy.ma) are not supported; pass plain arrays, e.g. "
        "value.filled(fill) or value.data, and handle the mask explicitly"
    )


def install(cls: type = Expr) -> None:
    """Attach the operators and methods to ``cls`` (done once, when :mod:`graphad.ops` loads).

    The Python operators (``+ - * / % ** @``, reflected forms, ``-x``, ``abs(x)``,
    comparisons) are the op table's ``dunder`` facets."""
    install_operators(cls)
    cls.__pos__ = _pos
    cls.__getitem__ = _getitem
    cls.__len__ = _len
    cls.__array_ufunc__ = _array_ufunc
    cls.__array_function__ = _array_function
    cls._data = property(_masked_operand)
    cls._mask = property(_masked_operand)
    cls.at = property(_at)
    cls.T = property(_T)
    for name, fn in REDUCTIONS.items():
        setattr(cls, name, _reduction(name, fn))
    cls.reshape = _reshape
    cls.transpose = _transpose
