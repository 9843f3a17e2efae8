"""JAX-style transformations of Python functions: trace once, differentiate, compile, cache.

A function written with the ``ga`` namespace (``ga.relu``, ``@``,
``ga.log_softmax`` ...) is called once per signature of its arguments (shape
and dtype of every array, value of every static argument) with symbolic
inputs ``a0, a1, ...`` of static shape and dtype in a fresh
:class:`~graphad.core.graph.Graph`.  The resulting graph is differentiated with
:func:`graphad.grad`, compiled with :func:`graphad.compile` and cached; later
calls with the same signature run the generated NumPy code only.

Arguments may be arrays, NumPy or Python floats, or lists, tuples and dicts of
them (as JAX's pytrees); gradients come back in the same structure.  Python
ints, bools, strings and other hashable values in positions not listed in
``argnums`` are static: they are baked into the trace and are part of the
cache key (as ``static_argnums`` in JAX).
"""

from __future__ import annotations

import contextlib
import functools
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ..core.errors import DTypeError, GraphadError

__all__ = ["grad_function", "value_and_grad_function", "jit"]

CACHE_SIZE = 32

_LEAF = "*"


# -- pytrees ------------------------------------------------------------------------------------


def _flatten(value: Any) -> tuple[list[Any], Any]:
    """Leaves of nested lists/tuples/dicts and a hashable description of the nesting."""
    if isinstance(value, list | tuple):
        leaves: list[Any] = []
        specs = []
        for item in value:
            sub, spec = _flatten(item)
            leaves.extend(sub)
            specs.append(spec)
        return leaves, (type(value).__name__, tuple(specs))
    if isinstance(value, dict):
        leaves = []
        specs = []
        for item in value.values():
            sub, spec = _flatten(item)
            leaves.extend(sub)
            specs.append(spec)
        return leaves, ("dict", tuple(value), tuple(specs))
    return [value], _LEAF


def _unflatten(spec: Any, leaves: Sequence[Any]) -> Any:
    it = iter(leaves)

    def build(s: Any) -> Any:
        if s == _LEAF:
            return next(it)
        if s[0] == "dict":
            return {k: build(c) for k, c in zip(s[1], s[2], strict=True)}
        items = [build(c) for c in s[1]]
        return items if s[0] == "list" else tuple(items)

    return build(spec)


def _as_array(v: Any, position: int, differentiated: bool) -> np.ndarray:
    to_array = getattr(v, "__graphad_value__", None)
    if to_array is not None:
        v = to_array()
    if differentiated and isinstance(v, int) and not isinstance(v, bool):
        v = float(v)  # grad(f)(3) means grad at 3.0
    # another library's array (Dask's) is traced by its shape and dtype, never converted
    arr = v if _is_duck(v) else np.asarray(v)
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


def _is_duck(v: Any) -> bool:
    """An array of another library reached through NumPy's dispatch (a Dask array)."""
    return (
        hasattr(v, "__array_function__") and hasattr(v, "dtype") and not isinstance(v, np.ndarray)
    )


def _traceable(v: Any) -> bool:
    """A non-differentiated argument is traced if it is (a container of) arrays or floats."""
    if isinstance(v, bool) or (isinstance(v, int) and not isinstance(v, np.integer)):
        return False
    leaves, _ = _flatten(v) if isinstance(v, list | tuple | dict) else ([v], _LEAF)
    return bool(leaves) and all(
        isinstance(x, np.ndarray | np.generic | float)
        or hasattr(x, "__graphad_value__")
        or _is_duck(x)
        for x in leaves
    )


# -- the transformation ---------------------------------------------------------------------------


class _Transformed:
    """Trace-compile-cache machinery shared by grad, value_and_grad and jit."""

    def __init__(self, f: Callable, argnums: int | Sequence[int] | None, mode: str):
        if not callable(f):
            raise GraphadError(f"expected a callable, got {type(f).__name__}")
        self.f = f
        self.mode = mode  # "grad", "value_and_grad" or "jit"
        self.single = isinstance(argnums, int)
        nums = () if argnums is None else (argnums,) if self.single else tuple(argnums)
        if mode != "jit" and not nums:
            raise GraphadError("argnums must name at least one argument")
        self.argnums = nums
        self._cache: OrderedDict[Any, Any] = OrderedDict()
        functools.update_wrapper(self, f)

    def _signature(self, args: tuple) -> tuple[Any, list[np.ndarray], list]:
        n = len(args)
        nums = tuple(a % n if -n <= a < n else a for a in self.argnums)
        for a in nums:
            if not 0 <= a < n:
                raise GraphadError(f"argnums {self.argnums} out of range for {n} argument(s)")
        key: list[Any] = []
        arrays: list[np.ndarray] = []
        layout: list[Any] = []  # per argument: ("traced", spec, count) or ("static", value)
        for i, v in enumerate(args):
            diff = i in nums
            if diff or _traceable(v):
                leaves, spec = _flatten(v)
                arrs = [_as_array(x, i, diff) for x in leaves]
                arrays.extend(arrs)
                layout.append(("traced", spec, len(arrs)))
                key.append((spec, tuple((a.shape, a.dtype.str) for a in arrs)))
            else:
                try:
                    hash(v)
                except TypeError:
                    raise GraphadError(
                        f"argument {i} ({type(v).__name__}) is neither an array nor hashable; "
                        f"pass arrays, floats, or hashable static values"
                    ) from None
                layout.append(("static", v))
                key.append(("static", type(v).__name__, v))
        return (nums, tuple(key)), arrays, layout

    def __call__(self, *args: Any) -> Any:
        key, arrays, layout = self._signature(args)
        entry = self._cache.get(key)
        if entry is None:
            entry = self._trace(key[0], arrays, layout)
            self._cache[key] = entry
            if len(self._cache) > CACHE_SIZE:
                with contextlib.suppress(KeyError):  # another thread emptied it meanwhile
                    self._cache.popitem(last=False)
        else:
            # another thread may have evicted the key since get(); the entry is still good
            with contextlib.suppress(KeyError):
                self._cache.move_to_end(key)
        fn, finish = entry
        return finish(fn(*arrays))

    def _trace(self, nums: tuple, arrays: list[np.ndarray], layout: list) -> tuple:
        import graphad as ga

        from ..backends.codegen import compile as ga_compile
        from ..core.expr import Expr

        with ga.Graph() as g:
            syms = [
                ga.symbol(f"a{k}", shape=a.shape, dtype=a.dtype, graph=g)
                for k, a in enumerate(arrays)
            ]
            targs: list[Any] = []
            diff_syms: list[list[Expr]] = []
            diff_specs: list[Any] = []
            pos = 0
            for i, item in enumerate(layout):
                if item[0] == "static":
                    targs.append(item[1])
                    continue
                _, spec, count = item
                mine = syms[pos : pos + count]
                pos += count
                targs.append(_unflatten(spec, mine))
                if i in nums:
                    diff_syms.append(mine)
                    diff_specs.append(spec)
            result = self.f(*targs)
            if self.mode == "jit":
                return self._compile_jit(g, result, syms)
            out = _as_output(result, g, self.mode)
            flat_wrt = [s for group in diff_syms for s in group]
            grads = ga.grad(out, flat_wrt)
            outputs = grads if self.mode == "grad" else [out, *grads]
            fn = ga_compile(outputs, inputs=syms)
        counts = [len(group) for group in diff_syms]
        single = self.single

        def finish(values: tuple) -> Any:
            if self.mode == "value_and_grad":
                value, values = values[0], values[1:]
            trees, start = [], 0
            for spec, c in zip(diff_specs, counts, strict=True):
                trees.append(_unflatten(spec, values[start : start + c]))
                start += c
            g_out = trees[0] if single else tuple(trees)
            return g_out if self.mode == "grad" else (value, g_out)

        return fn, finish

    def _compile_jit(self, graph: Any, result: Any, syms: list) -> tuple:
        from ..backends.codegen import compile as ga_compile
        from ..ops import as_expr

        leaves, spec = _flatten(result)
        exprs = [as_expr(v, graph) for v in leaves]
        fn = ga_compile(exprs, inputs=syms)
        return fn, lambda values: _unflatten(spec, values)


def _as_output(result: Any, graph: Any, mode: str) -> Any:
    from ..core.expr import Expr
    from ..ops import as_expr

    if isinstance(result, list | tuple | dict):
        raise GraphadError(
            f"{mode}: the function must return one array (the value to "
            f"differentiate), got a {type(result).__name__}"
        )
    e = as_expr(result, graph)
    if not isinstance(e, Expr):
        raise GraphadError(f"{mode}: the function returned {type(result).__name__}")
    return e


def grad_function(f: Callable, argnums: int | Sequence[int] = 0) -> Callable:
    """``ga.grad`` of a Python function: a function returning its gradient (as ``jax.grad``).

    ``f`` must return one value; a non-scalar value means the gradient of its
    sum.  The function is traced once per signature of its arguments, then the
    gradient runs as compiled NumPy code.

    Parameters
    ----------
    f : callable
        Written with the ``ga`` namespace and Python operators.
    argnums : int or tuple of int
        Which positional arguments to differentiate; a tuple gives a tuple of
        gradients.

    Examples
    --------
    >>> import numpy as np, graphad as ga
    >>> df = ga.grad(lambda x, y: ga.sum(x**2) * y, argnums=(0, 1))
    >>> gx, gy = df(np.array([1.0, 2.0]), 3.0)
    >>> gx, float(gy)
    (array([ 6., 12.]), 5.0)
    """
    return _Transformed(f, argnums, "grad")


def value_and_grad_function(f: Callable, argnums: int | Sequence[int] = 0) -> Callable:
    """A function returning ``(f(*args), gradient)``, computed in one pass (as JAX).

    The forward values the gradient needs are computed once and shared.

    Examples
    --------
    >>> import graphad as ga
    >>> vg = ga.value_and_grad(lambda x: x**2 + x - 1)
    >>> value, slope = vg(3.0)
    >>> float(value), float(slope)
    (11.0, 7.0)
    """
    return _Transformed(f, argnums, "value_and_grad")


def jit(f: Callable) -> Callable:
    """Trace ``f`` once per argument signature and run it as compiled NumPy code.

    ``f`` may return one value or (nested) lists, tuples and dicts of values.

    Examples
    --------
    >>> import numpy as np, graphad as ga
    >>> fast = ga.jit(lambda x: ga.tanh(x) * 2)
    >>> fast(np.zeros(3))
    array([0., 0., 0.])
    """
    return _Transformed(f, None, "jit")
