"""Pytrees for the function transformations: nested lists, tuples and dicts of arrays.

:func:`flatten` turns a structure of arguments (or results) into its leaves and a
hashable spec; :func:`unflatten` rebuilds the structure from the spec and new
leaves, so gradients come back in the shape the arguments came in (as JAX's
pytrees).  :func:`as_array` is how a leaf becomes an array a trace can be
specialized on.  Used by :mod:`.tracer` and by :mod:`graphad.distributed`, which
ships a function's arguments to workers the same way.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ..core.arrays import is_duck_array
from ..core.errors import DTypeError

__all__ = ["flatten", "unflatten", "as_array"]

_LEAF = "*"
_NONE = ("none",)


def flatten(value: Any) -> tuple[list[Any], Any]:
    """Leaves of nested lists/tuples/dicts and a hashable description of the nesting
    (``None`` is an empty subtree, as in JAX)."""
    if value is None:
        return [], _NONE
    if isinstance(value, list | tuple):
        leaves: list[Any] = []
        specs = []
        for item in value:
            sub, spec = flatten(item)
            leaves.extend(sub)
            specs.append(spec)
        return leaves, (type(value).__name__, tuple(specs))
    if isinstance(value, dict):
        leaves = []
        specs = []
        for item in value.values():
            sub, spec = flatten(item)
            leaves.extend(sub)
            specs.append(spec)
        return leaves, ("dict", tuple(value), tuple(specs))
    return [value], _LEAF


def unflatten(spec: Any, leaves: Sequence[Any]) -> Any:
    it = iter(leaves)

    def build(s: Any) -> Any:
        if s == _LEAF:
            return next(it)
        if s == _NONE:
            return None
        if s[0] == "dict":
            return {k: build(c) for k, c in zip(s[1], s[2], strict=True)}
        items = [build(c) for c in s[1]]
        return items if s[0] == "list" else tuple(items)

    return build(spec)


def as_array(v: Any, position: Any, differentiated: bool) -> np.ndarray:
    to_array = getattr(v, "__graphad_value__", None)
    if to_array is not None:
        v = to_array()
    if differentiated and isinstance(v, int) and not isinstance(v, bool):
        v = float(v)  # grad(f)(3) means grad at 3.0
    # another library's array (Dask's) is traced by its shape and dtype, never converted
    arr = v if is_duck_array(v) else np.asarray(v)
    if arr.dtype.kind == "c":
        raise DTypeError(
            f"argument {position}: complex numbers are not supported (dtype {arr.dtype}); "
            f"graphad differentiates real arrays (pass the real and imaginary parts apart)"
        )
    if arr.dtype.kind not in "biuf":
        raise DTypeError(
            f"argument {position}: expected numbers, got {type(v).__name__} (dtype {arr.dtype})"
        )
    if differentiated and arr.dtype.kind != "f":
        raise DTypeError(
            f"argument {position} is differentiated but has dtype {arr.dtype}; "
            f"gradients need floating-point inputs (convert with .astype(float))"
        )
    return arr
