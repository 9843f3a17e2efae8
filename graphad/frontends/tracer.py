"""The tracing machine behind ``ga.grad``, ``ga.jit``, ``ga.vmap`` and the rest.

:class:`_Transformed` is one transformation of a Python function in one mode
(``grad``, ``value_and_grad``, ``jit``, ``jacfwd``, ``jacrev``, ``hessian``, ``vmap``).
Called with arrays, it traces the function once per signature of its arguments on
fresh symbolic inputs in a new graph, transforms the graph, compiles it and caches
the result.  Called with Exprs, because an outer transformation is tracing it, it
builds its result into the Exprs' graph: the differentiated arguments are replaced by
fresh inputs while the function runs and substituted back afterwards, which is what
lets transformations compose to any depth.  Every mode is a branch of this one
machine, kept in one module; the public entry points are in :mod:`.trace` and
:mod:`.jacobians`.
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
from .pytree import _LEAF, as_array, flatten, unflatten

CACHE_SIZE = 32
_serial = itertools.count()


_TRACING: contextvars.ContextVar[Any] = contextvars.ContextVar("graphad_tracing", default=None)


def _traceable(v: Any) -> bool:
    """A non-differentiated argument is traced if it is (a container of) arrays or floats."""
    if isinstance(v, bool) or (isinstance(v, int) and not isinstance(v, np.integer)):
        return False
    leaves, _ = flatten(v) if isinstance(v, list | tuple | dict) else ([v], _LEAF)
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
        if isinstance(v, list | tuple | dict) and any(isinstance(x, Expr) for x in flatten(v)[0]):
            return True
    return False


def _graph_of(args: tuple, kwargs: Mapping[str, Any]) -> Any:
    for v in itertools.chain(args, kwargs.values()):
        for x in flatten(v)[0]:
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
                leaves, spec = flatten(v)
                arrs = [as_array(x, i, diff) for x in leaves]
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
            leaves, spec = flatten(v)
            return unflatten(spec, [as_expr(as_array(x, i, i in nums), graph) for x in leaves])

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
                values.append(unflatten(spec, syms[pos : pos + count]))
                pos += count
            nargs, names = meta
            args = tuple(values[:nargs])
            kwargs = dict(zip(names, values[nargs:], strict=True))
            token = _TRACING.set(g)
            try:
                result = self._on_exprs(g, args, kwargs, fresh=True)
            finally:
                _TRACING.reset(token)
            leaves, spec = flatten(result)
            exprs = [as_expr(v, g) for v in leaves]
            fn = ga_compile(exprs, inputs=syms)
        return fn, lambda values: unflatten(spec, values)

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
        leaves, spec = flatten(args[i])
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
        targs[i] = unflatten(spec, made)
    wrt = [x for i in nums for x in groups[i][1]]

    def per_arg(leaf_fn: Callable[[Expr], Any]) -> Any:
        trees = [unflatten(groups[i][0], [leaf_fn(x) for x in groups[i][1]]) for i in nums]
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
        leaves, spec = flatten(result)
        outs = [_as_output(v, graph, mode) for v in leaves]
        grad_part = unflatten(spec, [per_arg(lambda x, o=o: _jac_leaf(mode, o, x)) for o in outs])
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
        leaves, spec = flatten(result)
        outs = [as_expr(v, graph) for v in leaves]
        tan: dict[Expr, Expr] = {}
        for i in nums:
            t_leaves, t_spec = flatten(extra[i])
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
        grad_part = unflatten(spec, tangents_out)
    else:  # vjp
        leaves, spec = flatten(result)
        outs = [as_expr(v, graph) for v in leaves]
        c_leaves, c_spec = flatten(extra[0])
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
            unflatten(groups[i][0], [by_id[x.id] for x in groups[i][1]]) for i in nums
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
    leaves, spec = flatten(tree)
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
    return unflatten(spec, out)


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
        leaves, spec = flatten(value)
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
        example_args[i] = unflatten(spec, made)
    if size is None:
        raise GraphadError("vmap: no argument is batched (every in_axes is None)")
    result = t.f(*example_args, **kwargs)
    leaves, spec = flatten(result)
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
    return unflatten(spec, final)


def _top_level_counts(result: Any) -> list[int]:
    """Leaves per top-level output (a tuple/list result has one output per entry)."""
    if isinstance(result, tuple | list):
        return [len(flatten(r)[0]) for r in result]
    return [len(flatten(result)[0])]
