"""Rounding-error bounds for the gradient checker: how far a computed value may be from
the exact value of the same expression at the same (given) inputs.

A first-order running bound is carried along the graph, node by node, at the values
one evaluation produced::

    err[n] = local(n) + sum_i |d op / d a_i| * err[a_i]

* ``local(n)`` is the rounding of the op itself: ``ulps * eps * |value|`` for
  elementwise ops (0 for ops that only move or select numbers, 1 for the basic
  arithmetic, 4 for library functions, 8 for ops that are several NumPy operations
  and for custom ops), and ``eps * (terms + 2) * op(|args|)`` for sums and products
  of arrays, where ``terms`` is the number of summed terms per result element.
* The propagated part uses each op's own partial derivative magnitude, measured at
  the point: for elementwise ops as the larger of the two secant slopes over a
  relative step of ``2**-20`` (one vectorized call per node); for ops linear in
  each argument (views, sums, matrix products) exactly, as ``op`` applied to the
  error with the other arguments replaced by their absolute values; for anything
  else from a move of each argument by its error bound with random signs, doubled.

Inputs and constants are exact (they are the point and the expression).  The bound
is worst case over the signs of the individual errors, so it is usually
pessimistic by a small factor; it is not rigorous where a secant underestimates a
slope (a singularity closer than the relative step).  :func:`graph_bounds` returns
the bound of every node evaluated.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ..ops import OPS

__all__ = ["graph_bounds"]

# ops that only move, select or copy numbers: no rounding of their own
_EXACT = {
    "negative", "abs", "maximum", "minimum", "where", "relu", "sign", "stop_gradient",
    "clip", "copysign", "zeros_like", "ones_like", "concatenate", "stack", "vstack",
    "hstack", "column_stack", "pad", "diag", "tril", "triu", "roll", "repeat", "tile",
    "take_along_axis", "index_update", "sort", "astype", "fabs", "floor", "ceil", "round",
    "trunc", "heaviside", "max", "min",
}  # fmt: skip
# correctly rounded IEEE operations (half an ulp, counted as one)
_ONE_ULP = {"add", "subtract", "multiply", "divide", "sqrt", "square", "reciprocal"}
# several NumPy operations in one op
_COMPOSITE = {
    "sigmoid", "softplus", "logaddexp", "logaddexp2", "sinc", "hypot", "power", "erf",
    "erfc", "log_softmax", "softmax", "logsumexp", "var", "std", "norm",
}  # fmt: skip
# linear in each floating argument with non-negative coefficients: op(|a|.., e_i, ..|a|)
# is the exact first-order bound of the propagated error
_POSITIVE_MULTILINEAR = {
    "sum", "mean", "cumsum", "trace", "matmul", "dot", "einsum", "tensordot", "inner",
    "outer", "kron", "concatenate", "stack", "vstack", "hstack", "column_stack",
    "repeat", "tile", "roll", "diag", "tril", "triu", "pad", "index_update",
    "take_along_axis", "multiply",
}  # fmt: skip
# sums of products: local rounding grows with the number of terms per result element
_SUMMING = {"sum", "mean", "cumsum", "trace", "matmul", "dot", "einsum", "tensordot", "inner"}

_STEP = 2.0**-20  # relative step of the secant slopes


def _eps(value: Any) -> float:
    dt = np.asarray(value).dtype
    return float(np.finfo(dt).eps) if dt.kind == "f" else 0.0


def _is_float(v: Any) -> bool:
    return np.asarray(v).dtype.kind in "fc"


def graph_bounds(
    records: Mapping[int, Any],
    steps: Sequence[int],
    env: Mapping[int, Any],
    given: Mapping[int, Any] | None = None,
) -> dict[int, np.ndarray]:
    """A bound on the rounding error of each node in ``steps`` (topological order), at
    the values ``env`` holds for every node; ``given`` sets the errors of nodes not
    computed here (default: exact).  Non-finite bounds are ``inf``.

    Parameters
    ----------
    records : mapping
        The graph's node records (``graph.records()``).
    steps : sequence of int
        The op nodes to bound, arguments before users.
    env : mapping
        Every node's value from one evaluation (arguments of ``steps`` included).
    given : mapping, optional
        Error bounds of nodes outside ``steps`` (inputs and constants default to 0).

    Returns
    -------
    dict
        Node id -> bound (a float for a scalar node, else an array of its shape).

    Examples
    --------
    >>> import numpy as np, graphad as ga
    >>> from graphad.check.rounding import graph_bounds
    >>> with ga.Graph() as g:
    ...     x = ga.symbols("x")
    ...     e = (x + 1e8) - 1e8
    >>> from graphad.backends.interp import evaluate
    >>> order = g.topo([e.id])
    >>> env = dict(zip(order, evaluate(g, order, {"x": 0.5})))
    >>> steps = [n for n in order if g.op(n) not in ("input", "constant")]
    >>> bound = graph_bounds(g.records(), steps, env)[e.id]
    >>> bool(1e8 * 2.2e-16 <= bound < 1e8 * 1e-15)
    True
    """
    err: dict[int, Any] = dict(given or {})
    rng = None
    with np.errstate(all="ignore"):
        for n in steps:
            node = records[n]
            name = node.op
            if n not in env:
                err[n] = np.inf
                continue
            raw = env[n]
            ids = node.args
            args = [env[a] if a in env else records[a].value for a in ids]
            errs = [err.get(a, 0.0) for a in ids]
            eps = _SCALAR_EPS.get(type(raw))
            narrow = (eps is not None and eps > _EPS64) or (
                eps is None and isinstance(raw, np.ndarray) and raw.dtype.kind == "f"
                and raw.dtype.itemsize < 8
            )  # fmt: skip
            if narrow:  # a wider constant is rounded to this op's precision when it is used
                for j, a in enumerate(ids):
                    if a not in err and records[a].op == "constant":
                        errs[j] = _constant_rounding(records[a].value, raw)
            if eps is not None:  # a scalar node: plain float arithmetic where a rule exists
                fast = _scalar_bound(name, args, errs, float(raw), eps)
                if fast is not None:
                    err[n] = fast if fast == fast else np.inf
                    continue
            value = np.asarray(raw)
            try:
                got = _node_bound(name, dict(node.params), args, errs, value, rng)
            except Exception:  # an op our estimates cannot re-run: no bound there
                got = np.full(value.shape, np.inf)
            if np.ndim(got):
                err[n] = np.where(np.isnan(got), np.inf, got)
            else:
                got = float(got)
                err[n] = got if got == got else np.inf
    return err


# |d op / d a_i| at the point, per argument, for common ops (args, value, errors): no
# re-evaluation needed; other elementwise ops use secant slopes
def _cos_bound(a: Any, e: Any) -> Any:
    return np.minimum(1.0, np.abs(np.cos(a)) + e)


def _sin_bound(a: Any, e: Any) -> Any:
    return np.minimum(1.0, np.abs(np.sin(a)) + e)


_PARTIALS: dict[str, Any] = {
    "add": lambda a, v, e: (1.0, 1.0),
    "subtract": lambda a, v, e: (1.0, 1.0),
    "negative": lambda a, v, e: (1.0,),
    "abs": lambda a, v, e: (1.0,),
    "relu": lambda a, v, e: (1.0,),
    "maximum": lambda a, v, e: (1.0, 1.0),
    "minimum": lambda a, v, e: (1.0, 1.0),
    "multiply": lambda a, v, e: (np.abs(a[1]), np.abs(a[0])),
    "divide": lambda a, v, e: (1.0 / np.abs(a[1]), np.abs(v / a[1])),
    "square": lambda a, v, e: (2.0 * np.abs(a[0]),),
    "exp": lambda a, v, e: (np.abs(v),),
    "log": lambda a, v, e: (1.0 / np.abs(a[0]),),
    "sin": lambda a, v, e: (_cos_bound(a[0], e[0]),),
    "cos": lambda a, v, e: (_sin_bound(a[0], e[0]),),
    "tanh": lambda a, v, e: (np.minimum(1.0, 1.0 - v * v + 2 * e[0]),),
    "sigmoid": lambda a, v, e: (np.minimum(0.25, np.abs(v * (1.0 - v)) + e[0]),),
    "sqrt": lambda a, v, e: (0.5 / np.abs(v),),
}

_KINDS: dict[str, str] = {}


def _kind(name: str, op: Any) -> str:
    """How an op rounds: "sum" (sums of products), "exact", "one" (one ulp), "lib"
    (4 ulps), "comp" (8 ulps) or "other" (grows with the operand size)."""
    got = _KINDS.get(name)
    if got is None:
        if name in _SUMMING:
            got = "sum"
        elif name in _EXACT or (op is not None and op.view):
            got = "exact"
        elif name in _ONE_ULP:
            got = "one"
        elif op is not None and op.elementwise and not op.custom and name not in _COMPOSITE:
            got = "lib"
        elif op is not None and (op.elementwise or op.custom or name in _COMPOSITE):
            got = "comp"
        else:
            got = "other"
        _KINDS[name] = got
    return got


_ULPS = {"exact": 0.0, "one": 1.0, "lib": 4.0, "comp": 8.0}


_EPS64 = float(np.finfo(np.float64).eps)


def _constant_rounding(c: Any, result: Any) -> Any:
    """The error of constant ``c`` once rounded to the dtype of ``result``: 0 when it is
    not wider (a float32 graph's Python-float constants compute in float32)."""
    arr = np.asarray(c)
    dt = np.asarray(result).dtype
    if arr.dtype.kind != "f" or arr.dtype.itemsize <= dt.itemsize:
        return 0.0
    with np.errstate(all="ignore"):
        gap = np.abs(arr.astype(dt).astype(np.float64) - arr.astype(np.float64))
    return float(gap) if gap.ndim == 0 else gap


_SCALAR_EPS = {
    float: float(np.finfo(np.float64).eps),
    np.float64: float(np.finfo(np.float64).eps),
    np.float32: float(np.finfo(np.float32).eps),
    np.float16: float(np.finfo(np.float16).eps),
}
_SCALAR_ULPS = {
    "add": 1.0, "subtract": 1.0, "multiply": 1.0, "divide": 1.0, "square": 1.0,
    "negative": 0.0, "abs": 0.0, "relu": 0.0, "maximum": 0.0, "minimum": 0.0,
    "exp": 4.0, "log": 4.0, "sin": 4.0, "cos": 4.0, "tanh": 4.0, "sigmoid": 8.0,
    "sqrt": 1.0,
}  # fmt: skip


# eps -> the spacing of the subnormal range of that float type: rounding there is absolute,
# so each rounded result carries up to this much error however small it is
_SUBNORMAL = {
    float(np.finfo(t).eps): float(np.finfo(t).smallest_subnormal)
    for t in (np.float16, np.float32, np.float64)
}


def subnormal_spacing(eps: float) -> float:
    """The spacing of the subnormal range of the float type whose epsilon is ``eps``
    (float16, float32 or float64; float64's for any other value).

    Examples
    --------
    >>> f32 = np.finfo(np.float32)
    >>> subnormal_spacing(float(f32.eps)) == float(f32.smallest_subnormal)
    True
    """
    return _SUBNORMAL.get(eps, _SUBNORMAL[_EPS64])


def _scalar_bound(name: str, args: list, errs: list, v: float, eps: float) -> float | None:
    """The bound of a scalar node of a common op in float arithmetic (the rules of
    ``_PARTIALS``), or None for the general path."""
    ulps = _SCALAR_ULPS.get(name)
    if ulps is None or len(args) != len(errs):
        return None
    local = ulps * (eps * abs(v) + subnormal_spacing(eps))
    if not any(errs):
        return local
    if any(type(e) is not float for e in errs):
        return None
    try:
        a = [float(x) for x in args]
    except (TypeError, ValueError):
        return None
    e0 = errs[0]
    if name in ("add", "subtract", "maximum", "minimum"):
        prop = e0 + errs[1]
    elif name in ("negative", "abs", "relu"):
        prop = e0
    elif name == "multiply":
        prop = abs(a[1]) * e0 + abs(a[0]) * errs[1]
    elif name == "divide":
        prop = (e0 + abs(v) * errs[1]) / abs(a[1]) if a[1] else math.inf
    elif name == "square":
        prop = 2 * abs(a[0]) * e0
    elif name == "exp":
        prop = abs(v) * e0
    elif name == "log":
        prop = e0 / abs(a[0]) if a[0] else math.inf
    elif name == "sin":
        prop = min(1.0, abs(math.cos(a[0])) + e0) * e0 if math.isfinite(a[0]) else math.inf
    elif name == "cos":
        prop = min(1.0, abs(math.sin(a[0])) + e0) * e0 if math.isfinite(a[0]) else math.inf
    elif name == "tanh":
        prop = min(1.0, 1.0 - v * v + 2 * e0) * e0
    elif name == "sqrt":
        prop = 0.5 * e0 / v if v > 0 else math.inf
    else:  # sigmoid
        prop = min(0.25, abs(v * (1.0 - v)) + e0) * e0
    return local + prop


def _node_bound(
    name: str,
    params: dict,
    args: list[Any],
    errs: list[Any],
    value: np.ndarray,
    rng: Any,
) -> Any:
    op = OPS.get(name)
    dt = value.dtype
    eps = float(np.finfo(dt).eps) if dt.kind == "f" else 0.0
    kind = _kind(name, op)
    local: Any
    tiny = subnormal_spacing(eps) if eps else 0.0
    if kind in _ULPS:
        local = _ULPS[kind] * (eps * np.abs(value) + tiny) if kind != "exact" and eps else 0.0
    elif kind == "sum":
        absargs = [np.abs(a) if _is_float(a) else a for a in args]
        whole = np.abs(np.asarray(op.impl(*absargs, **params), dtype=np.float64))
        insize = max((np.size(a) for a in args), default=1)
        terms = max(1, insize // max(1, value.size))
        local = (terms + 2) * (eps * whole + tiny)
    else:  # a non-elementwise library op (solve, det, ...): grows with the operand size
        insize = max((np.size(a) for a in args), default=1)
        local = (8 + insize) * (eps * np.abs(value) + tiny)
    moving = [
        i
        for i, e in enumerate(errs)
        if (e if type(e) is float else np.any(np.asarray(e) != 0)) and _is_float(args[i])
    ]
    if not moving:
        return local if not value.ndim else local + np.zeros(value.shape)
    if op is None:
        return np.full(value.shape, np.inf)
    rule = _PARTIALS.get(name)
    if rule is not None and len(args) == len(errs):
        parts = rule(args, value, errs)
        prop: Any = 0.0
        for i in moving:
            prop = prop + parts[i] * errs[i]
    elif op.view or name in _POSITIVE_MULTILINEAR:
        prop = 0.0
        for i in moving:
            subst = [
                np.asarray(errs[i], dtype=np.float64) * np.ones(np.shape(a))
                if j == i
                else (np.abs(a) if _is_float(a) else a)
                for j, a in enumerate(args)
            ]
            prop = prop + np.abs(np.asarray(op.impl(*subst, **params), dtype=np.float64))
    elif op.elementwise:
        prop = _elementwise_slopes(op, params, args, errs, moving, value)
    else:
        prop = 0.0
        for i in moving:
            prop = prop + _random_move(op, params, args, errs, i, value, rng)
    total = local + prop
    if np.shape(total) != value.shape:
        total = np.broadcast_to(total, value.shape).copy()
    return total


def _elementwise_slopes(
    op: Any, params: dict, args: list[Any], errs: list[Any], moving: list[int], value: np.ndarray
) -> np.ndarray:
    """``sum_i |d op/d a_i| * err_i`` for an elementwise op: for each moving argument the
    larger secant slope over ``+-s`` (``s`` relative to the argument, at least its
    error bound), all points in one call on arrays stacked along a new first axis."""
    nd = value.ndim
    k = len(moving)
    stacked = []
    steps = {}
    for j, a in enumerate(args):
        arr = np.asarray(a)
        if not _is_float(arr):
            stacked.append(arr)
            continue
        arr = arr.reshape((1,) * (nd - arr.ndim) + arr.shape) if arr.ndim < nd else arr
        rows = [arr] * (2 * k)
        if j in moving:
            e = np.asarray(errs[j], dtype=np.float64)
            e = e.reshape((1,) * (nd - e.ndim) + e.shape) if e.ndim < nd else e
            s = np.maximum(np.maximum(e, _STEP * np.abs(arr)), np.finfo(np.float64).tiny)
            s = np.where(e > 0, s, 0.0)
            steps[j] = (s, e)
            p = moving.index(j)
            rows = list(rows)
            rows[2 * p] = arr + s
            rows[2 * p + 1] = arr - s
        stacked.append(
            np.stack([np.broadcast_to(r, np.broadcast_shapes(*map(np.shape, rows))) for r in rows])
        )
    got = np.asarray(op.impl(*stacked, **params), dtype=np.float64)
    v = np.asarray(value, dtype=np.float64)
    total = np.zeros(value.shape)
    for p, j in enumerate(moving):
        s, e = steps[j]
        up, down = np.abs(got[2 * p] - v), np.abs(got[2 * p + 1] - v)
        up = np.where(np.isfinite(up), up, np.nan)
        down = np.where(np.isfinite(down), down, np.nan)
        both = np.fmax(up, down)  # NaN only where neither side is finite
        with np.errstate(all="ignore"):
            slope = np.where(s > 0, both / np.where(s > 0, s, 1.0), 0.0)
            # at a zero-error element the slope does not matter; elsewhere a side that
            # left the domain is unknown (inf)
            term = np.where(e > 0, np.where(np.isnan(slope), np.inf, slope * e), 0.0)
        total = total + np.broadcast_to(term, value.shape)
    return total


def _random_move(
    op: Any,
    params: dict,
    args: list[Any],
    errs: list[Any],
    i: int,
    value: np.ndarray,
    rng: Any,
) -> np.ndarray:
    """The change of ``op`` when argument ``i`` moves by its error bound (scaled up to a
    visible relative step) with random signs, scaled back and doubled: an estimate of
    ``|J_i| err_i`` for ops with no better rule."""
    a = np.asarray(args[i], dtype=np.float64)
    e = np.asarray(errs[i], dtype=np.float64) * np.ones(a.shape)
    big = float(np.max(e, initial=0.0))
    scale = max(1.0, _STEP * float(np.max(np.abs(a), initial=0.0)) / big) if big > 0 else 1.0
    signs = np.random.default_rng(7).choice([-1.0, 1.0], size=a.shape)
    moved = list(args)
    moved[i] = a + scale * e * signs
    got = np.asarray(op.impl(*moved, **params), dtype=np.float64)
    return 2 * np.abs(got - np.asarray(value, dtype=np.float64)) / scale
