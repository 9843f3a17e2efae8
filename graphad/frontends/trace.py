"""JAX-style transformations of Python functions: trace, transform the graph, compile, cache.

``ga.grad``, ``ga.value_and_grad``, ``ga.jit``, ``ga.jacfwd``, ``ga.jacrev``,
``ga.jacobian``, ``ga.hessian``, ``ga.jvp``, ``ga.vjp`` and ``ga.vmap`` take a
Python function written with the ``ga`` namespace (``ga.relu``, ``@``,
``ga.log_softmax`` ...) and return a function.  Given Exprs, and on Exprs
alone (``ga.grad(e, x)``), they dispatch to the graph transformations of
:mod:`graphad.transforms.autodiff` and :mod:`graphad.transforms.vmap`.

Called with arrays, a transformed function traces the function once per
signature of its arguments (shape and dtype of every array, value of every
static argument) on symbolic inputs ``a0, a1, ...`` of static shape and dtype
in a fresh :class:`~graphad.core.graph.Graph`, transforms the graph, compiles it
with :func:`graphad.compile` and caches the result; later calls with the same
signature run the generated NumPy code only.

Called with Exprs -- because an outer transformation is tracing it, as in
``ga.grad(ga.grad(f))``, ``ga.jit(ga.grad(f))`` or
``ga.vmap(ga.grad(loss))`` -- it builds its result into the Exprs' graph
instead: the differentiated arguments are replaced by fresh inputs while the
function is traced (so a closure over a value of the outer trace is a
constant to the inner derivative, and never confused with the argument),
the graph is transformed, and the fresh inputs are substituted back by the
arguments.  That is why transformations compose to any depth.

Arguments may be arrays, NumPy or Python floats, or lists, tuples and dicts of
them (as JAX's pytrees); gradients come back in the same structure.  Python
ints, bools, strings and other hashable values in positions not listed in
``argnums`` are static: they are baked into the trace and are part of the
cache key (as ``static_argnums`` in JAX).  Keyword arguments are never
differentiated (nor batched by ``vmap``); arrays among them are traced,
other values are static.

One module on purpose, though past 600 lines: every function transformation (grad, jit,
jacfwd, jacrev, hessian, jvp, vjp, vmap) is a mode of one tracing machine (``_Transformed``)
with shared pytree handling, so that they compose; splitting by transformation would
split that machine.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import itertools
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from ..core.arrays import is_duck_array
from ..core.errors import DTypeError, GraphadError, ShapeError
from ..core.expr import Expr
from ..transforms import autodiff

__all__ = [
    "grad",
    "value_and_grad",
    "jit",
    "jacfwd",
    "jacrev",
    "jacobian",
    "hessian",
    "jvp",
    "vjp",
    "vmap",
    "grad_function",
    "value_and_grad_function",
]

CACHE_SIZE = 32

_LEAF = "*"
_NONE = ("none",)
_serial = itertools.count()


# -- pytrees ------------------------------------------------------------------------------------


def _flatten(value: Any) -> tuple[list[Any], Any]:
    """Leaves of nested lists/tuples/dicts and a hashable description of the nesting
    (``None`` is an empty subtree, as in JAX)."""
    if value is None:
        return [], _NONE
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
        if s == _NONE:
            return None
        if s[0] == "dict":
            return {k: build(c) for k, c in zip(s[1], s[2], strict=True)}
        items = [build(c) for c in s[1]]
        return items if s[0] == "list" else tuple(items)

    return build(spec)


def _as_array(v: Any, position: Any, differentiated: bool) -> np.ndarray:
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


#: the graph a transformation is tracing into, while it runs the user's function
_TRACING: contextvars.ContextVar[Any] = contextvars.ContextVar("graphad_tracing", default=None)


def _traceable(v: Any) -> bool:
    """A non-differentiated argument is traced if it is (a container of) arrays or floats."""
    if isinstance(v, bool) or (isinstance(v, int) and not isinstance(v, np.integer)):
        return False
    leaves, _ = _flatten(v) if isinstance(v, list | tuple | dict) else ([v], _LEAF)
    return bool(leaves) and all(
        isinstance(x, np.ndarray | np.generic | float)
        or hasattr(x, "__graphad_value__")
        or is_duck_array(x)
        for x in leaves
    )


def _has_expr(args: tuple, kwargs: Mapping[str, Any]) -> bool:
    for v in itertools.chain(args, kwargs.values()):
        if isinstance(v, Expr):
            return True
        if isinstance(v, list | tuple | dict) and any(isinstance(x, Expr) for x in _flatten(v)[0]):
            return True
    return False


def _graph_of(args: tuple, kwargs: Mapping[str, Any]) -> Any:
    for v in itertools.chain(args, kwargs.values()):
        for x in _flatten(v)[0]:
            if isinstance(x, Expr):
                return x.graph
    raise GraphadError("no Expr among the arguments")  # never: callers checked _has_expr


def _fresh_input(graph: Any, like: Expr, shape: Any = "like") -> Expr:
    """A new input of the graph standing for an argument while a function is traced."""
    from ..core.expr import symbol

    name = f"_ga_arg{next(_serial)}"
    while graph.input_id(name) is not None:  # a user's input of that name stays theirs
        name = f"_ga_arg{next(_serial)}"
    return symbol(
        name,
        like.shape if shape == "like" else shape,
        like.dtype,
        graph=graph,
    )


def _check_differentiable(e: Expr, position: Any, what: str) -> None:
    if e.dtype is not None and e.dtype.kind != "f":
        raise DTypeError(
            f"{what}: argument {position} is differentiated but has dtype {e.dtype}; "
            f"gradients need floating-point inputs (convert with .astype(float))"
        )


# -- the transformation ---------------------------------------------------------------------------

_MODES = ("grad", "value_and_grad", "jit", "jacfwd", "jacrev", "hessian", "jvp", "vjp", "vmap")


class _Transformed:
    """A transformation of a Python function: trace-compile-cache on arrays, a graph
    transformation on Exprs (so that transformations nest)."""

    def __init__(
        self,
        f: Callable,
        argnums: int | Sequence[int] | None,
        mode: str,
        *,
        has_aux: bool = False,
        in_axes: Any = 0,
        out_axes: Any = 0,
    ):
        name = "vmap" if mode == "vmap" else mode
        if not callable(f):
            raise GraphadError(f"{name}: expected a callable, got {type(f).__name__}")
        self.f = f
        self.mode = mode
        self.has_aux = bool(has_aux)
        self.single = isinstance(argnums, int) and not isinstance(argnums, bool)
        if argnums is None:
            nums: tuple = ()
        elif self.single:
            nums = (argnums,)
        else:
            try:
                nums = tuple(argnums)  # type: ignore[arg-type]
            except TypeError:
                raise GraphadError(
                    f"{name}: argnums must be an int or a tuple of ints, got {argnums!r}"
                ) from None
        if any(isinstance(a, bool) or not isinstance(a, int | np.integer) for a in nums):
            raise GraphadError(
                f"{name}: argnums must be an int or a tuple of ints, got {argnums!r}"
            )
        if mode not in ("jit", "vmap", "jvp", "vjp") and not nums:
            raise GraphadError(f"{name}: argnums must name at least one argument")
        self.argnums = tuple(int(a) for a in nums)
        self.in_axes = in_axes
        self.out_axes = out_axes
        self._cache: OrderedDict[Any, Any] = OrderedDict()
        # name, qualname, doc of f; not its __dict__: when f is itself a transformed
        # function that would overwrite this one's state with the inner one's
        functools.update_wrapper(self, f, updated=())

    def __repr__(self) -> str:
        return f"<graphad {self.mode} of {getattr(self.f, '__name__', self.f)!r}>"

    def __get__(self, obj: Any, objtype: Any = None) -> Any:
        """As a method (``@ga.jit`` in a class body): bound to the instance, which is a
        static argument (hashable, part of the cache key)."""
        return self if obj is None else functools.partial(self, obj)

    # -- argument handling ------------------------------------------------------------------------
    def _nums(self, n: int) -> tuple[int, ...]:
        nums = []
        for a in self.argnums:
            if not -n <= a < n:
                raise GraphadError(
                    f"{self.mode}: argnums {self.argnums if not self.single else a} out of "
                    f"range for {n} positional argument(s)"
                )
            nums.append(a % n)
        return tuple(nums)

    def _positions(self, n: int) -> tuple[int, ...]:
        """The differentiated positional arguments of a call with ``n`` of them."""
        if self.mode == "jvp":  # (*primals, *tangents)
            return tuple(range(n // 2))
        if self.mode == "vjp":  # (*primals, cotangent)
            return tuple(range(n - 1))
        return self._nums(n)

    def _signature(self, args: tuple, kwargs: Mapping[str, Any]) -> tuple:
        nums = self._positions(len(args))
        key: list[Any] = []
        arrays: list[np.ndarray] = []
        layout: list[Any] = []  # per argument: ("traced", spec, count) or ("static", value)
        named = [(i, v) for i, v in enumerate(args)] + sorted(kwargs.items())
        for i, v in named:
            diff = i in nums
            if diff or _traceable(v):
                leaves, spec = _flatten(v)
                arrs = [_as_array(x, i, diff) for x in leaves]
                arrays.extend(arrs)
                layout.append(("traced", spec, len(arrs)))
                key.append((i, spec, tuple((a.shape, a.dtype.str) for a in arrs)))
            else:
                try:
                    hash(v)
                except TypeError:
                    raise GraphadError(
                        f"argument {i} ({type(v).__name__}) is neither an array nor hashable; "
                        f"pass arrays, floats, or hashable static values"
                    ) from None
                layout.append(("static", v))
                key.append((i, "static", type(v).__name__, v))
        return ((len(args), tuple(sorted(kwargs))), tuple(key)), arrays, layout

    # -- calls ------------------------------------------------------------------------------------
    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        outer = _TRACING.get()
        if outer is not None and not _has_expr(args, kwargs):
            # called on plain values inside another transformation's trace: the function
            # may close over that trace's Exprs (x * grad(lambda y: x * y)(2.0)), so it
            # builds into the trace's graph, the values as its constants
            args, kwargs = self._as_constants(outer, args, kwargs)
        if _has_expr(args, kwargs):
            graph = _graph_of(args, kwargs)
            with graph.transaction(), graph:  # a failed call leaves the graph as it was
                return self._on_exprs(graph, args, kwargs, fresh=False)
        key, arrays, layout = self._signature(args, kwargs)
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

    def _as_constants(self, graph: Any, args: tuple, kwargs: Mapping[str, Any]) -> tuple:
        from ..ops import as_expr

        nums = self._positions(len(args))

        def convert(i: Any, v: Any) -> Any:
            if not (i in nums or _traceable(v)):
                return v
            leaves, spec = _flatten(v)
            return _unflatten(spec, [as_expr(_as_array(x, i, i in nums), graph) for x in leaves])

        new_args = tuple(convert(i, v) for i, v in enumerate(args))
        return new_args, {k: convert(k, v) for k, v in kwargs.items()}

    def _trace(self, meta: tuple, arrays: list[np.ndarray], layout: list) -> tuple:
        from ..backends.function import compile as ga_compile
        from ..core.expr import symbol
        from ..core.graph import Graph
        from ..ops import as_expr

        with Graph() as g:
            syms = [
                symbol(f"a{k}", shape=a.shape, dtype=a.dtype, graph=g) for k, a in enumerate(arrays)
            ]
            values: list[Any] = []
            pos = 0
            for item in layout:
                if item[0] == "static":
                    values.append(item[1])
                    continue
                _, spec, count = item
                values.append(_unflatten(spec, syms[pos : pos + count]))
                pos += count
            nargs, names = meta
            args = tuple(values[:nargs])
            kwargs = dict(zip(names, values[nargs:], strict=True))
            token = _TRACING.set(g)
            try:
                result = self._on_exprs(g, args, kwargs, fresh=True)
            finally:
                _TRACING.reset(token)
            leaves, spec = _flatten(result)
            exprs = [as_expr(v, g) for v in leaves]
            fn = ga_compile(exprs, inputs=syms)
        return fn, lambda values: _unflatten(spec, values)

    def _on_exprs(self, graph: Any, args: tuple, kwargs: dict, *, fresh: bool) -> Any:
        """The transformation applied to Exprs, building into ``graph``.  ``fresh``: the
        arguments are inputs made for this call alone (no substitution needed)."""
        if self.mode == "jit":
            return self.f(*args, **kwargs)
        if self.mode == "vmap":
            return _vmap_exprs(self, graph, args, kwargs)
        return _differentiate(self, graph, args, kwargs, fresh)


# -- differentiation of functions ------------------------------------------------------------------


def _describe(v: Any) -> str:
    if isinstance(v, Expr):
        return f"an Expr of shape {v.shape}" if v.shape is not None else "an Expr"
    return f"a {type(v).__name__}"


def _as_output(result: Any, graph: Any, mode: str) -> Expr:
    from ..ops import as_expr

    if isinstance(result, list | tuple | dict):
        hint = "; to return extra values, pass has_aux=True and return (value, aux)"
        raise GraphadError(
            f"{mode}: the function must return one array (the value to "
            f"differentiate), got a {type(result).__name__}{hint if mode != 'hessian' else ''}"
        )
    try:
        e = as_expr(result, graph)
    except GraphadError:
        raise
    except Exception:
        e = None
    if not isinstance(e, Expr):
        raise GraphadError(f"{mode}: the function returned {_describe(result)}, not an array")
    return e


def _jac_leaf(mode: str, o: Expr, x: Expr) -> Expr:
    """d o / d x, shape ``o.shape + x.shape``: one JVP (jacfwd) or VJP (jacrev) whose
    tangent or cotangent is a fresh input, batched over the standard basis by
    :func:`graphad.transforms.vmap.batch` -- one graph the size of a JVP/VJP with a batch
    axis, not one copy per element.  Unknown shapes: a ``jacobian`` node, expanded once
    they are known."""
    if o.shape is None or x.shape is None or 0 in o.shape or 0 in x.shape:
        return autodiff.jacobian(o, x)
    from ..ops import as_expr
    from ..ops.linalg import reshape, transpose
    from ..transforms.vmap import batch, tile

    graph = o.graph
    scope = autodiff._Scope(graph)
    side = x if mode == "jacfwd" else o
    n = int(np.prod(side.shape))
    probe = _fresh_input(graph, side)
    if mode == "jacfwd":
        d = autodiff.jvp(o, {x: probe})  # shape o.shape
    else:
        (d,) = autodiff.vjp([o], [x], [probe])  # shape x.shape
    dtype = side.dtype if side.dtype is not None else np.float64
    basis = as_expr(np.eye(n, dtype=dtype).reshape((n, *side.shape)), graph)
    ((rows, batched),) = batch(graph, [d.id], {probe.id: basis}, n)
    if not batched:  # the derivative does not depend on the probe: it is 0
        rows = tile(rows, n)
    if mode == "jacfwd":  # (n,) + o.shape: the basis axis goes last
        r = len(o.shape)
        rows = transpose(rows, (*range(1, r + 1), 0)) if r else rows
    out = reshape(rows, (*o.shape, *x.shape))
    scope.prune([out.id, o.id, x.id])
    return out


def _differentiate(t: _Transformed, graph: Any, args: tuple, kwargs: dict, fresh: bool) -> Any:
    from ..ops import as_expr

    mode = t.mode
    nums = t._positions(len(args))
    extra: tuple = ()
    if mode == "jvp":
        args, extra = args[: len(nums)], args[len(nums) :]
    elif mode == "vjp":
        args, extra = args[:-1], args[-1:]
    scope = autodiff._Scope(graph)
    mapping: dict[int, int] = {}  # fresh input -> the argument it stands for
    targs = list(args)
    groups: dict[int, tuple[Any, list[Expr]]] = {}
    for i in dict.fromkeys(nums):
        leaves, spec = _flatten(args[i])
        made = []
        for leaf in leaves:
            if isinstance(leaf, int) and not isinstance(leaf, bool):
                leaf = float(leaf)
            e = as_expr(leaf, graph)
            _check_differentiable(e, i, mode)
            if fresh and e.op == "input":
                x = e
            else:
                x = _fresh_input(graph, e)
                mapping[x.id] = e.id
            made.append(x)
        groups[i] = (spec, made)
        targs[i] = _unflatten(spec, made)
    wrt = [x for i in nums for x in groups[i][1]]

    def per_arg(leaf_fn: Callable[[Expr], Any]) -> Any:
        trees = [_unflatten(groups[i][0], [leaf_fn(x) for x in groups[i][1]]) for i in nums]
        return trees[0] if t.single else tuple(trees)

    result = t.f(*targs, **kwargs)
    aux = None
    if t.has_aux:
        if not (isinstance(result, tuple | list) and len(result) == 2):
            raise GraphadError(
                f"{mode}(has_aux=True): the function must return a pair (value, aux), "
                f"got {_describe(result)}"
            )
        result, aux = result

    grad_part: Any
    value_part: Any = None
    if mode in ("grad", "value_and_grad"):
        out = _as_output(result, graph, mode)
        grads = dict(zip((x.id for x in wrt), autodiff.vjp(out, wrt) if wrt else [], strict=True))
        grad_part = per_arg(lambda x: grads[x.id])
        value_part = out
    elif mode in ("jacfwd", "jacrev"):
        leaves, spec = _flatten(result)
        outs = [_as_output(v, graph, mode) for v in leaves]
        grad_part = _unflatten(spec, [per_arg(lambda x, o=o: _jac_leaf(mode, o, x)) for o in outs])
    elif mode == "hessian":
        out = _as_output(result, graph, mode)
        if out.shape is not None and out.shape != ():
            raise ShapeError(
                f"hessian: the function returned shape {out.shape}; hessian needs a scalar "
                f"output (reduce it, e.g. with ga.sum, or take ga.jacfwd(ga.jacrev(f)) for the "
                f"second derivatives of every output)"
            )
        grads = dict(zip((x.id for x in wrt), autodiff.vjp(out, wrt) if wrt else [], strict=True))
        grad_part = per_arg(lambda x: per_arg(lambda y, gx=grads[x.id]: _jac_leaf("jacfwd", gx, y)))
    elif mode == "jvp":
        leaves, spec = _flatten(result)
        outs = [as_expr(v, graph) for v in leaves]
        tan: dict[Expr, Expr] = {}
        for i in nums:
            t_leaves, t_spec = _flatten(extra[i])
            if t_spec != groups[i][0]:
                raise GraphadError(
                    f"jvp: tangents[{i}] does not have the structure of primals[{i}]; give one "
                    f"tangent array per primal array"
                )
            for x, tv in zip(groups[i][1], t_leaves, strict=True):
                te = as_expr(tv, graph)
                if te.shape is not None and x.shape is not None and te.shape != x.shape:
                    raise ShapeError(
                        f"jvp: tangents[{i}] has shape {te.shape} but primals[{i}] has shape "
                        f"{x.shape}; each tangent has its primal's shape"
                    )
                tan[x] = te
        tangents_out = [autodiff.jvp(o, tan) if tan else autodiff.jvp(o, {}) for o in outs]
        value_part = result
        grad_part = _unflatten(spec, tangents_out)
    else:  # vjp
        leaves, spec = _flatten(result)
        outs = [as_expr(v, graph) for v in leaves]
        c_leaves, c_spec = _flatten(extra[0])
        if c_spec != spec:
            raise GraphadError(
                "vjp: the cotangent does not have the structure of the function's output; give "
                "one array per output array"
            )
        for o, c in zip(outs, c_leaves, strict=True):
            ce = as_expr(c, graph)
            if ce.shape is not None and o.shape is not None and ce.shape != o.shape:
                raise ShapeError(
                    f"vjp: the cotangent has shape {ce.shape} but the output has shape "
                    f"{o.shape}; it must match"
                )
        cots = autodiff.vjp(outs, wrt, list(c_leaves)) if wrt else []
        by_id = dict(zip((x.id for x in wrt), cots, strict=True))
        grad_part = tuple(
            _unflatten(groups[i][0], [by_id[x.id] for x in groups[i][1]]) for i in nums
        )

    if mode == "grad":
        tree = (grad_part, aux) if t.has_aux else grad_part
    elif mode == "value_and_grad":
        tree = ((value_part, aux) if t.has_aux else value_part, grad_part)
    elif mode == "jvp":
        tree = (value_part, grad_part)
    else:
        tree = (grad_part, aux) if t.has_aux else grad_part
    if mapping:
        tree = _substitute_tree(graph, tree, mapping, scope)
    return tree


def _substitute_tree(graph: Any, tree: Any, mapping: dict[int, int], scope: Any) -> Any:
    """The result with each fresh input replaced by the argument it stood for; the nodes
    built on the fresh inputs (and the inputs) are removed again."""
    leaves, spec = _flatten(tree)
    positions = [k for k, v in enumerate(leaves) if isinstance(v, Expr)]
    new_ids = autodiff.substitute(graph, [leaves[k].id for k in positions], mapping)
    out = list(leaves)
    for k, nid in zip(positions, new_ids, strict=True):
        out[k] = Expr(graph, nid)
    scope.prune(new_ids + list(mapping.values()))
    nodes = graph.records()
    for nid in range(scope.start, graph.next_id):  # adjoint marks naming removed nodes
        node = nodes.get(nid)
        if node is not None and node.get("adjoint"):
            node["adjoint"] = [m for m in node["adjoint"] if m[0] in nodes and m[1] in nodes]
            if not node["adjoint"]:
                del node["adjoint"]
    return _unflatten(spec, out)


# -- public entry points ---------------------------------------------------------------------------


def grad_function(f: Callable, argnums: int | Sequence[int] = 0, *, has_aux: bool = False) -> Any:
    """``ga.grad`` of a Python function (see :func:`grad`)."""
    return _Transformed(f, argnums, "grad", has_aux=has_aux)


def value_and_grad_function(
    f: Callable, argnums: int | Sequence[int] = 0, *, has_aux: bool = False
) -> Any:
    """``ga.value_and_grad`` of a Python function (see :func:`value_and_grad`)."""
    return _Transformed(f, argnums, "value_and_grad", has_aux=has_aux)


def grad(
    f: Any, wrt: Any = None, *, argnums: int | Sequence[int] = 0, has_aux: bool = False
) -> Any:
    """The gradient of ``f``: of an Expr with respect to inputs (new nodes of its graph), or
    of a Python function, as a function (as ``jax.grad``).

    ``f`` non-scalar means the gradient of its sum (as TensorFlow's
    ``GradientTape.gradient``).  The gradient has the shape of the input and is
    zero (never None) for an input ``f`` does not use.

    Parameters
    ----------
    f : Expr or callable
        A callable is written with the ``ga`` namespace and Python operators; it may
        itself be a transformed function (``ga.grad(ga.grad(f))``).
    wrt : Expr, str, or a list of them
        For an Expr: one input gives one Expr, a list a list in the same order.
        Omitted: the single input of ``f``.
    argnums : int or tuple of int
        For a callable: which positional arguments to differentiate; a tuple gives a
        tuple of gradients in the order given.
    has_aux : bool
        For a callable returning ``(value, aux)``: return ``(gradient, aux)``.

    Returns
    -------
    Expr, list of Expr or callable
        For an Expr, gradient node(s) in its graph; for a callable, a function
        of the same arguments returning the gradient(s) as arrays.

    Raises
    ------
    GraphadError
        If ``f`` is neither an Expr nor a callable, ``has_aux`` is given with an Expr,
        or ``wrt`` with a function (use ``argnums``).

    Examples
    --------
    >>> import numpy as np, graphad as ga
    >>> x = ga.symbols("x")
    >>> float(ga.grad(x**2 + x - 1, x).eval(x=3.0))
    7.0
    >>> df = ga.grad(lambda x, y: ga.sum(x**2) * y, argnums=(1, 0))
    >>> gy, gx = df(np.array([1.0, 2.0]), 3.0)
    >>> float(gy), gx
    (5.0, array([ 6., 12.]))
    >>> float(ga.grad(ga.grad(ga.sin))(0.0))
    -0.0
    """
    if isinstance(f, Expr):
        if has_aux:
            raise GraphadError("grad: has_aux applies to functions, not to an Expr")
        return autodiff.grad(f, wrt)
    if callable(f):
        if wrt is not None:
            raise GraphadError(
                "grad: wrt applies to an Expr; for a function say which arguments with argnums="
            )
        return grad_function(f, argnums, has_aux=has_aux)
    raise GraphadError(f"grad expects an Expr or a callable, got {type(f).__name__}")


def value_and_grad(f: Callable, argnums: int | Sequence[int] = 0, *, has_aux: bool = False) -> Any:
    """A function returning ``(f(*args), gradient)``, computed in one pass (as JAX).

    With ``has_aux=True`` ``f`` returns ``(value, aux)`` and the result is
    ``((value, aux), gradient)``.

    Parameters
    ----------
    f : callable
        A function of arrays, written with the ``ga`` namespace.
    argnums : int or tuple of int
        Which positional arguments to differentiate (a tuple: a tuple of gradients).
    has_aux : bool
        ``f`` returns ``(value, aux)``.

    Returns
    -------
    callable
        A function of ``f``'s arguments returning ``(value, gradient)``.

    Raises
    ------
    GraphadError
        If ``f`` is an Expr or not callable.

    Examples
    --------
    >>> import graphad as ga
    >>> vg = ga.value_and_grad(lambda x: x**2 + x - 1)
    >>> value, slope = vg(3.0)
    >>> float(value), float(slope)
    (11.0, 7.0)
    """
    if isinstance(f, Expr) or not callable(f):
        raise GraphadError(
            f"value_and_grad expects a callable, got {type(f).__name__} (for an Expr e, the "
            f"value is e itself and ga.grad(e, x) its gradient)"
        )
    return value_and_grad_function(f, argnums, has_aux=has_aux)


def jit(f: Callable) -> Callable:
    """Trace ``f`` once per argument signature and run it as compiled NumPy code.

    ``f`` may return one value or (nested) lists, tuples and dicts of values.  Called
    by an outer transformation (with Exprs), the function is simply traced inline.

    Parameters
    ----------
    f : callable
        A function of arrays, written with the ``ga`` namespace.

    Returns
    -------
    callable
        ``f`` compiled: same arguments, same results as NumPy arrays.

    Examples
    --------
    >>> import numpy as np, graphad as ga
    >>> fast = ga.jit(lambda x: ga.tanh(x) * 2)
    >>> fast(np.zeros(3))
    array([0., 0., 0.])
    """
    return _Transformed(f, None, "jit")


def _expr_jacobian(mode: str, v: Expr, wrt: Any) -> Any:
    """``jacfwd(v, x)`` / ``jacrev(v, x)`` of an Expr: one Expr, or a list for a list."""
    if wrt is None:
        raise GraphadError(f"{mode}: say with respect to which input: ga.{mode}(v, x)")
    single = isinstance(wrt, Expr | str)
    xs = [wrt] if single else list(wrt)
    out = []
    for x in xs:
        xe = Expr(v.graph, autodiff._resolve(v.graph, x))
        out.append(_jac_leaf(mode, v, xe))
    return out[0] if single else out


def _function_only(mode: str, f: Any, wrt: Any) -> None:
    if not callable(f):
        raise GraphadError(f"{mode} expects an Expr or a callable, got {type(f).__name__}")
    if wrt is not None:
        raise GraphadError(
            f"{mode}: a second argument applies to an Expr; for a function use argnums="
        )


def jacrev(
    f: Any, wrt: Any = None, *, argnums: int | Sequence[int] = 0, has_aux: bool = False
) -> Any:
    """The Jacobian by reverse mode (one VJP per output element): of a function, as a
    function (for an output of shape ``S`` and an argument of shape ``T``, shape
    ``S + T``); of an Expr ``v`` with respect to input(s) ``wrt``, as Exprs.

    Parameters
    ----------
    f : Expr or callable
        The output(s), or a function of arrays.
    wrt : Expr, str, or a list of them, optional
        For an Expr: the inputs (omitted: its single input).
    argnums : int or tuple of int
        For a function: the arguments to differentiate.
    has_aux : bool
        For a function returning ``(value, aux)``.

    Returns
    -------
    Expr, list of Expr, or callable
        The Jacobian (reverse mode) as Exprs, or a function returning it as arrays.

    Examples
    --------
    >>> import numpy as np, graphad as ga
    >>> ga.jacrev(lambda x: x * x)(np.array([1.0, 2.0]))
    array([[2., 0.],
           [0., 4.]])
    """
    if isinstance(f, Expr):
        return _expr_jacobian("jacrev", f, wrt)
    _function_only("jacrev", f, wrt)
    return _Transformed(f, argnums, "jacrev", has_aux=has_aux)


def jacfwd(
    f: Any, wrt: Any = None, *, argnums: int | Sequence[int] = 0, has_aux: bool = False
) -> Any:
    """The Jacobian by forward mode (one JVP per input element), of a function or of an
    Expr as :func:`jacrev`: the same values, cheaper when the input is the smaller side.

    Parameters
    ----------
    f : Expr or callable
        The output(s), or a function of arrays.
    wrt : Expr, str, or a list of them, optional
        For an Expr: the inputs (omitted: its single input).
    argnums : int or tuple of int
        For a function: the arguments to differentiate.
    has_aux : bool
        For a function returning ``(value, aux)``.

    Returns
    -------
    Expr, list of Expr, or callable
        The Jacobian (forward mode) as Exprs, or a function returning it as arrays.

    Examples
    --------
    >>> import numpy as np, graphad as ga
    >>> ga.jacfwd(lambda x: ga.sum(x**3))(np.array([1.0, 2.0]))
    array([ 3., 12.])
    """
    if isinstance(f, Expr):
        return _expr_jacobian("jacfwd", f, wrt)
    _function_only("jacfwd", f, wrt)
    return _Transformed(f, argnums, "jacfwd", has_aux=has_aux)


def jacobian(f: Any, x: Any = None, *, argnums: int | Sequence[int] = 0) -> Any:
    """``ga.jacobian(v, x)``: the Jacobian of an Expr (see
    :func:`graphad.transforms.autodiff.jacobian`); ``ga.jacobian(f)``: that of a function,
    as :func:`jacrev` (as ``jax.jacobian``).

    Parameters
    ----------
    f : Expr or callable
        The output, or a function of arrays.
    x : Expr or str
        For an Expr: the input to differentiate with respect to (required).
    argnums : int or tuple of int
        For a function: the arguments to differentiate.

    Returns
    -------
    Expr or callable
        The Jacobian as an Expr (shape ``S + T`` for an output of shape ``S`` and an
        input of shape ``T``), or a function returning it as an array.

    Raises
    ------
    GraphadError
        For an Expr without ``x``, a function with ``x``, or anything else as ``f``.

    Examples
    --------
    >>> import numpy as np, graphad as ga
    >>> x = ga.symbol("x", shape=(2,))
    >>> ga.jacobian(x**2, x).eval(x=np.array([1.0, 3.0]))
    array([[2., 0.],
           [0., 6.]])
    >>> ga.jacobian(lambda v: v**2)(np.array([1.0, 3.0]))
    array([[2., 0.],
           [0., 6.]])
    """
    if isinstance(f, Expr):
        if x is None:
            raise GraphadError("jacobian: say with respect to which input: ga.jacobian(v, x)")
        return autodiff.jacobian(f, x)
    if callable(f):
        if x is not None:
            raise GraphadError(
                "jacobian: a second argument applies to an Expr; for a function use argnums="
            )
        return jacrev(f, argnums=argnums)
    raise GraphadError(f"jacobian expects an Expr or a callable, got {type(f).__name__}")


def hessian(
    f: Any, wrt: Any = None, *, argnums: int | Sequence[int] = 0, has_aux: bool = False
) -> Any:
    """Second derivatives: of an Expr, ``hessian(e, [x, y])[i][j] = d²e / dx_i dx_j``
    (nested list, one Expr for a single input); of a scalar-valued function, a function
    returning the Hessian (shape ``T + T`` for an argument of shape ``T``, nested tuples
    for several ``argnums``), as ``jax.hessian``.

    Parameters
    ----------
    f : Expr or callable
        A scalar Expr or a scalar-valued function.
    wrt : Expr, str, or a list of them, optional
        For an Expr: the inputs (omitted: its single input).
    argnums : int or tuple of int
        For a function: the arguments to differentiate.
    has_aux : bool
        For a function returning ``(value, aux)``.

    Returns
    -------
    Expr, nested list of Expr, or callable
        The Hessian as Exprs, or a function returning it as arrays.

    Raises
    ------
    GraphadError
        If ``f`` is neither an Expr nor a callable, an Expr comes without the inputs to
        differentiate in, or a function with them (use ``argnums``).

    Examples
    --------
    >>> import numpy as np, graphad as ga
    >>> ga.hessian(lambda x: ga.sum(x**3))(np.array([1.0, 2.0]))
    array([[ 6.,  0.],
           [ 0., 12.]])
    """
    if isinstance(f, Expr):
        if wrt is None:
            raise GraphadError("hessian: say with respect to which inputs: ga.hessian(e, [x, y])")
        return autodiff.hessian(f, wrt)
    if callable(f):
        if wrt is not None:
            raise GraphadError(
                "hessian: a second argument applies to an Expr; for a function use argnums="
            )
        return _Transformed(f, argnums, "hessian", has_aux=has_aux)
    raise GraphadError(f"hessian expects an Expr or a callable, got {type(f).__name__}")


def _tangent_array(v: Any) -> np.ndarray:
    # a float array keeps its dtype; anything else (a Python float, ints, bools) is
    # float64: np.result_type(0.3, np.float16) is float16 under NumPy 2's rules, which
    # rounded Python-float tangents to 3 digits
    arr = np.asarray(v)
    return arr if arr.dtype.kind == "f" else arr.astype(np.float64)


def _tangent_leaves_as_floats(tree: Any) -> Any:
    leaves, spec = _flatten(tree)
    fixed = [v if isinstance(v, Expr) or is_duck_array(v) else _tangent_array(v) for v in leaves]
    return _unflatten(spec, fixed)


def jvp(f: Any, primals: Any, tangents: Any = None) -> Any:
    """Forward mode.  ``ga.jvp(e, {x: t})``: the directional derivative of an Expr, a graph
    (see :func:`graphad.transforms.autodiff.jvp`).  ``ga.jvp(f, primals, tangents)``: for a
    function, ``(f(*primals), J·tangents)`` with one tangent per primal, as ``jax.jvp``.

    Parameters
    ----------
    f : Expr or callable
        The output, or a function.
    primals : dict or tuple
        For an Expr, ``{input: tangent}``; for a function, the point (one value per
        argument).
    tangents : tuple, optional
        For a function: one tangent per primal.

    Returns
    -------
    Expr or tuple
        The tangent Expr, or ``(f(*primals), tangent)`` for a function.

    Raises
    ------
    GraphadError
        If ``f`` is neither an Expr nor a callable; for an Expr, if ``tangents`` is
        given apart from ``primals`` (pass one mapping ``{x: t}``); for a function, if
        ``primals`` and ``tangents`` are not tuples or lists of one length.

    Examples
    --------
    >>> import graphad as ga
    >>> y, t = ga.jvp(lambda x: x**3, (2.0,), (1.0,))
    >>> float(y), float(t)
    (8.0, 12.0)
    """
    if isinstance(f, Expr):
        if tangents is not None:
            raise GraphadError("jvp: for an Expr, pass the tangents as one mapping {x: t}")
        return autodiff.jvp(f, primals)
    if not callable(f):
        raise GraphadError(f"jvp expects an Expr or a callable, got {type(f).__name__}")
    if not isinstance(primals, tuple | list) or not isinstance(tangents, tuple | list):
        raise GraphadError(
            "jvp: primals and tangents must be tuples (one entry per positional argument of "
            "the function), e.g. ga.jvp(f, (x,), (t,))"
        )
    if len(primals) != len(tangents):
        raise GraphadError(
            f"jvp: {len(primals)} primal(s) but {len(tangents)} tangent(s); give one tangent "
            f"per primal"
        )
    tangents = tuple(_tangent_leaves_as_floats(t) for t in tangents)
    return _Transformed(f, None, "jvp")(*primals, *tangents)


def vjp(f: Any, *primals: Any, **kwargs: Any) -> Any:
    """Reverse mode.  ``ga.vjp(outputs, wrt, cotangents)`` on Exprs (see
    :func:`graphad.transforms.autodiff.vjp`).  ``ga.vjp(f, *primals)`` on a function returns
    ``(f(*primals), vjp_fn)`` where ``vjp_fn(cotangent)`` gives one cotangent per primal
    (a tuple), as ``jax.vjp``.

    Parameters
    ----------
    f : Expr, list of Expr or callable
        The outputs (with ``wrt`` and the cotangents), or a function.
    *primals
        For a function: the point (one array per argument).  For Exprs: the inputs
        and the cotangents, as :func:`graphad.transforms.autodiff.vjp`.
    **kwargs
        Passed to :func:`graphad.transforms.autodiff.vjp` for Exprs.

    Returns
    -------
    tuple or list of Expr
        For a function ``(f(*primals), vjp_fn)``; for Exprs the cotangent Exprs.

    Raises
    ------
    GraphadError
        If ``f`` is neither Exprs nor a callable, or keyword arguments come with a
        function.

    Examples
    --------
    >>> import numpy as np, graphad as ga
    >>> y, back = ga.vjp(lambda a, b: a * b, 2.0, 3.0)
    >>> [float(c) for c in back(1.0)]
    [3.0, 2.0]
    """
    if isinstance(f, Expr) or (isinstance(f, list | tuple) and f and isinstance(f[0], Expr)):
        return autodiff.vjp(f, *primals, **kwargs)
    if not callable(f):
        raise GraphadError(f"vjp expects Exprs or a callable, got {type(f).__name__}")
    if kwargs:
        raise GraphadError(f"vjp: unexpected keyword argument(s) {sorted(kwargs)}")
    out = jit(f)(*primals)
    back = _Transformed(f, None, "vjp")

    def vjp_fn(cotangent: Any) -> tuple:
        return back(*primals, _tangent_leaves_as_floats(cotangent))

    return out, vjp_fn


def vmap(f: Callable, in_axes: Any = 0, out_axes: Any = 0) -> Any:
    """Vectorize ``f`` over a batch axis, as ``jax.vmap``: a graph transformation.

    ``f`` is traced once on one example (the arguments without their batch axis),
    then every node of its graph that depends on a batched argument is rewritten to
    carry a leading batch axis (:func:`graphad.transforms.vmap.batch`); the result runs as one
    compiled vectorized function, not a loop.

    Parameters
    ----------
    f : callable
        A function of one example's arrays.
    in_axes : int, None, or a tuple with one int/None per positional argument
        The batch axis of each argument (``None``: not batched, shared by all examples).
        Keyword arguments are never batched.
    out_axes : int, None, or a tuple with one per output
        Where the batch axis goes in each output (``None`` only for an output that
        does not depend on a batched argument).

    Returns
    -------
    callable
        The batched function: each argument carries the batch axis ``in_axes``
        gives it.

    Examples
    --------
    >>> import numpy as np, graphad as ga
    >>> loss = lambda w, x, y: (ga.sum(w * x) - y) ** 2
    >>> per_example = ga.vmap(ga.grad(loss), in_axes=(None, 0, 0))
    >>> per_example(np.ones(2), np.array([[1.0, 2.0], [0.0, 1.0]]), np.array([1.0, 0.0]))
    array([[4., 8.],
           [0., 2.]])
    """
    return _Transformed(f, None, "vmap", in_axes=in_axes, out_axes=out_axes)


# -- vmap ------------------------------------------------------------------------------------------


def _axes_per_argument(spec: Any, n: int, what: str) -> list:
    if spec is None or (isinstance(spec, int) and not isinstance(spec, bool)):
        return [spec] * n
    if isinstance(spec, tuple | list):
        if len(spec) != n:
            raise GraphadError(
                f"vmap: {what} has {len(spec)} entries for {n} "
                f"{'argument' if what == 'in_axes' else 'output'}(s); give one int or None each"
            )
        for a in spec:
            if a is not None and (isinstance(a, bool) or not isinstance(a, int)):
                raise GraphadError(f"vmap: {what} entries must be ints or None, got {a!r}")
        return list(spec)
    raise GraphadError(f"vmap: {what} must be an int, None or a tuple of them, got {spec!r}")


def _vmap_exprs(t: _Transformed, graph: Any, args: tuple, kwargs: dict) -> Any:
    from ..ops import as_expr
    from ..ops.linalg import transpose
    from ..transforms.vmap import batch, move_batch_axis, tile

    axes = _axes_per_argument(t.in_axes, len(args), "in_axes")
    scope = autodiff._Scope(graph)
    size: int | None = None
    batched: dict[int, Expr] = {}
    example_args = list(args)
    for i, (value, ax) in enumerate(zip(args, axes, strict=True)):
        if ax is None:
            continue
        leaves, spec = _flatten(value)
        made = []
        for leaf in leaves:
            e = as_expr(leaf, graph)
            if e.shape is None:
                raise ShapeError(
                    f"vmap: argument {i} has no static shape; vmap needs it to find the batch "
                    f"axis (call with arrays, or declare the symbol's shape)"
                )
            rank = len(e.shape)
            if not -rank <= ax < rank:
                raise ShapeError(
                    f"vmap: in_axes[{i}] = {ax} but argument {i} has shape {e.shape}; use an "
                    f"axis it has, or None for an argument shared by all examples"
                )
            a = ax % rank
            if size is None:
                size = e.shape[a]
            elif e.shape[a] != size:
                raise ShapeError(
                    f"vmap: argument {i} has {e.shape[a]} examples along axis {a}, but an "
                    f"earlier one has {size}; all batched arguments need the same batch size"
                )
            front = e if a == 0 else transpose(e, (a, *(k for k in range(rank) if k != a)))
            x = _fresh_input(graph, e, shape=tuple(s for k, s in enumerate(e.shape) if k != a))
            batched[x.id] = front
            made.append(x)
        example_args[i] = _unflatten(spec, made)
    if size is None:
        raise GraphadError("vmap: no argument is batched (every in_axes is None)")
    result = t.f(*example_args, **kwargs)
    leaves, spec = _flatten(result)
    outs = [as_expr(v, graph) for v in leaves]
    per_top = _top_level_counts(result)
    out_axes = _axes_per_argument(t.out_axes, len(per_top), "out_axes")
    leaf_axes = [ax for ax, c in zip(out_axes, per_top, strict=True) for _ in range(c)]
    done = batch(graph, [o.id for o in outs], batched, size)
    final = []
    for (e, is_batched), ax in zip(done, leaf_axes, strict=True):
        if ax is None:
            if is_batched:
                raise GraphadError(
                    "vmap: out_axes is None for an output that depends on a batched argument; "
                    "give it an axis"
                )
            final.append(e)
            continue
        if not is_batched:
            e = tile(e, size)
        final.append(move_batch_axis(e, ax))
    scope.prune([e.id for e in final] + [v.id for v in batched.values()])
    return _unflatten(spec, final)


def _top_level_counts(result: Any) -> list[int]:
    """Leaves per top-level output (a tuple/list result has one output per entry)."""
    if isinstance(result, tuple | list):
        return [len(_flatten(r)[0]) for r in result]
    return [len(_flatten(result)[0])]
