"""The function under check: its inputs, how it is evaluated, and the AD witness.

A :class:`_Problem` holds a private graph of the expression or traced callable,
the point, the inputs checked and a prepared evaluation program reused for the
AD runs and every finite-difference point.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..backends.interp import evaluate, prepare_input
from ..core.errors import GraphadError, MissingInputError
from ..core.expr import Expr
from ..core.graph import Graph, topo_order
from ..ops import OPS, apply, as_expr

_EPS64 = float(np.finfo(np.float64).eps)

# -- the problem being checked ----------------------------------------------------------------


class _Program:
    """The nodes ``outputs`` need, run in topological order with each op's NumPy
    implementation: the checker evaluates its private graphs a few times each
    (the gradient graph at three cotangents, the function at dozens of points),
    where specializing every graph first (``evaluate``) would cost more than the
    evaluations.  The same ops run on the same values, so the numbers are those of
    ``evaluate``; an error falls back to ``evaluate``, which says what is wrong.
    """

    def __init__(self, graph: Graph, outputs: Sequence[int]):
        self.graph, self.outputs = graph, list(outputs)
        nodes = graph.records()
        self.inputs: list[tuple[int, str]] = []
        self.consts: dict[int, Any] = {}
        self.steps: list[tuple[int, Callable, dict, list[int]]] = []
        for n in topo_order(graph, self.outputs):
            node = nodes[n]
            op = node["op"]
            if op == "input":
                self.inputs.append((n, node["name"]))
            elif op == "constant":
                self.consts[n] = node["value"]
            else:
                self.steps.append((n, OPS[op].impl, dict(node["params"]), node["args"]))

    def env(self, values: Mapping[str, Any]) -> dict[int, Any]:
        """Every node's value, given the (prepared) input values by name."""
        env = dict(self.consts)
        try:
            for n, name in self.inputs:
                env[n] = values[name]
            with np.errstate(all="ignore"):
                for n, impl, params, args in self.steps:
                    env[n] = impl(*[env[a] for a in args], **params)
        except Exception:
            got = evaluate(self.graph, self.outputs, values)  # raises graphad's error
            env.update(zip(self.outputs, got, strict=True))
        return env

    def __call__(self, values: Mapping[str, Any]) -> list[np.ndarray]:
        env = self.env(values)
        return [np.asarray(env[o]) for o in self.outputs]


class _Forward:
    """Re-evaluates only the nodes downstream of some inputs; the rest is taken from the
    evaluation at the base point (``base_env``).

    Finite differences evaluate the same graph dozens of times at points that
    differ in one input, so the schedule is prepared once and the interpreter's
    per-call bookkeeping is skipped.  Moving inputs take their values as given
    (float64), like ``evaluate(known=...)``.

    When every moved node is elementwise and scalar at the base point, the points
    of one finite-difference stencil are evaluated together as one vector
    (:meth:`many`): the same operations on the same numbers, one pass.
    """

    def __init__(self, graph: Graph, out: int, base_env: Mapping[int, Any], moving: set[int]):
        order = topo_order(graph, [out])
        nodes = graph.records()
        moved = set(moving)
        for n in order:
            if any(a in moved for a in nodes[n]["args"]):
                moved.add(n)
        static = {a for n in order if n in moved for a in nodes[n]["args"] if a not in moved}
        static |= {out} - moved
        self.env0 = {n: base_env[n] for n in static}
        self.steps = [
            (n, OPS[nodes[n]["op"]].impl, dict(nodes[n]["params"]), nodes[n]["args"])
            for n in order
            if n in moved and n not in moving
        ]
        self.out = out
        self.moved = moved
        self.batchable = all(np.ndim(base_env.get(n, 0.0)) == 0 for n in (*moved, *static)) and all(
            OPS[nodes[n]["op"]].elementwise for n, *_ in self.steps
        )

    def __call__(self, point: Mapping[int, Any], keep: bool = False) -> Any:
        env = dict(self.env0)
        env.update(point)
        with np.errstate(all="ignore"):
            for n, impl, params, args in self.steps:
                env[n] = impl(*[env[a] for a in args], **params)
        return env if keep else env[self.out]


@dataclass
class _Problem:
    graph: Graph
    out: int
    wrt: list[int]  # input node ids
    names: list[str]
    values: dict[str, Any]  # prepared input values by name (as the AD sees them)
    label: str
    w: np.ndarray | None = None  # random cotangent for a non-scalar output
    private: bool = False  # the graph was traced by the checker (the user never sees it)
    eps: float = float(np.finfo(np.float64).eps)
    base: dict[int, np.ndarray] = field(default_factory=dict)  # float64 points
    forward: _Forward | None = None
    _base_env: dict | None = None
    _delta: np.ndarray | None = None
    env: dict[int, Any] | None = None  # every node's value at the given point

    def values_at_point(self) -> dict[int, Any]:
        """Every node's value at the point as given (prepared input values), computed once."""
        if self.env is None:
            self.env = _Program(self.graph, [self.out]).env(self.values)
        return self.env

    def objective(self, point: Mapping[int, np.ndarray]) -> np.ndarray:
        """f(point), or the terms of <w, f(point)>, in float64; wrt inputs enter as given
        (no cast back to float32).  The terms are differenced one by one (``fd_sweep(...,
        terms=True)``) so that each one's rounding error scales with that term."""
        if self.forward is None:
            self.forward = _Forward(self.graph, self.out, self.values_at_point(), set(self.wrt))
        y = np.asarray(self.forward(point), dtype=np.float64)
        return y if self.w is None else self.w * y  # the terms of <w, f>

    def base_env(self) -> dict[int, Any]:
        """Every moved node's value at the base point (float64 inputs), computed once."""
        if self.forward is None:
            self.objective(self.base)
        assert self.forward is not None
        if self._base_env is None:
            self._base_env = self.forward(self.base, keep=True)
        return self._base_env

    def delta(self) -> np.ndarray:
        """A bound on the rounding error of the objective (of each of its terms ``w * f``)
        as the finite differences evaluate it, at the base point: the running error bound
        of the nodes downstream of the inputs (:func:`.rounding.graph_bounds`; the other
        nodes' rounding is the same at every point of a stencil and cancels), doubled."""
        if self._delta is None:
            from .rounding import graph_bounds

            env = self.base_env()
            assert self.forward is not None
            ids = [n for n, *_ in self.forward.steps]
            bound = graph_bounds(self.graph.records(), ids, env).get(self.out, 0.0)
            y = np.asarray(env[self.out], dtype=np.float64)
            b = 2 * np.broadcast_to(np.asarray(bound, dtype=np.float64), y.shape)
            if self.w is not None:  # the terms w * f, and their own rounding
                b = np.abs(self.w) * b + _EPS64 * np.abs(self.w * y)
            self._delta = b
        return self._delta

    def resolution(self, k: int, direction: np.ndarray, h: float) -> float:
        """The magnitude ``M`` of the forward values that a step of ``h * direction`` in
        input ``k`` reaches: the largest changed element of any node, or the whole node
        where the change was rounded away.  A derivative below about ``eps * M / h``
        leaves the function unchanged, so finite differences cannot see it."""
        if self.forward is None:
            self.objective(self.base)
        assert self.forward is not None
        if self._base_env is None:
            self._base_env = self.forward(self.base, keep=True)
        point = dict(self.base)
        nid = self.wrt[k]
        point[nid] = self.base[nid] + h * direction
        env = self.forward(point, keep=True)
        big = 0.0
        nodes = self.graph.records()
        with np.errstate(all="ignore"):
            for n in self.forward.moved:
                if n in self.forward.env0 or n not in env:
                    continue
                a, b = np.asarray(env[n]), np.asarray(self._base_env[n])
                if a.dtype.kind != "f" or a.shape != b.shape:
                    continue
                changed = a != b
                if np.any(changed):
                    mag = np.abs(b[changed])
                elif any(
                    np.any(np.asarray(env[x]) != np.asarray(self._base_env[x]))
                    for x in nodes[n]["args"]
                    if x in env
                ):
                    mag = np.abs(b)
                else:
                    continue
                mag = mag[np.isfinite(mag)]
                if mag.size:
                    big = max(big, float(np.max(mag)))
        return big

    def along(self, k: int, direction: np.ndarray) -> Callable[[float], np.ndarray]:
        nid = self.wrt[k]
        base = self.base[nid]

        def phi(t: float) -> np.ndarray:
            point = dict(self.base)
            point[nid] = base + t * direction
            return self.objective(point)

        if self.forward is None:
            self.objective(self.base)
        if self.forward is not None and self.forward.batchable and base.ndim == 0:

            def many(ts: np.ndarray) -> np.ndarray:
                point = dict(self.base)
                point[nid] = base + ts * direction
                return np.broadcast_to(self.objective(point), ts.shape)

            phi.many = many  # type: ignore[attr-defined]
        return phi


def _prepare(f: Any, at: Any, wrt: Any) -> _Problem:
    if isinstance(f, Expr):
        return _prepare_expr(f, at, wrt)
    if callable(f):
        return _prepare_callable(f, at, wrt)
    raise GraphadError(f"check_grad expects an Expr or a callable, got {type(f).__name__}")


def _prepare_expr(e: Expr, at: Any, wrt: Any) -> _Problem:
    graph = e.graph
    values: dict[str, Any] = {}
    for key, v in dict(at or {}).items():
        values[key.name if isinstance(key, Expr) else str(key)] = v
    needed = [n for n in topo_order(graph, [e.id]) if graph.op(n) == "input"]
    missing = sorted(graph.node(n)["name"] for n in needed if graph.node(n)["name"] not in values)
    if missing:
        raise MissingInputError(
            f"check_grad: no value given for input(s) "
            f"{', '.join(map(repr, missing))}; pass at={{name: value}}"
        )
    if wrt is None:
        names = [graph.node(n)["name"] for n in needed]
        names = sorted(
            n for n in names if np.asarray(values[n]).dtype.kind in "biuf" and _float_ok(graph, n)
        )
    else:
        items = [wrt] if isinstance(wrt, str | Expr) else list(wrt)
        names = [w.name if isinstance(w, Expr) else str(w) for w in items]
    return _finish_problem(graph, e.id, names, values, _label(e))


def _label(e: Expr, limit: int = 400) -> str:
    """``str(e)`` when short; a summary otherwise.  The text writes a shared
    subexpression at each use, so its length is estimated first (a DAG of
    doublings would otherwise need exponential memory)."""
    nodes = e.graph.records()
    order = topo_order(e.graph, [e.id])
    size: dict[int, int] = {}
    for n in order:
        size[n] = min(limit + 1, 8 + sum(size[a] for a in nodes[n]["args"]))
    if size[e.id] > limit:
        return f"<{nodes[e.id]['op']} expression of {len(order)} nodes, v{e.id}>"
    return str(e)


def _float_ok(graph: Graph, name: str) -> bool:
    nid = graph.input_id(name)
    dt = graph.node(nid)["dtype"] if nid is not None else None
    return dt is None or dt.kind == "f"


def _parameter_names(fn: Callable, count: int) -> list[str]:
    """Names for a callable's ``count`` positional arguments: its own parameter names
    (``inspect.signature``), or ``a0, a1, ...`` for those it does not name (``*args``,
    builtins without a signature, names that clash)."""
    import inspect

    names = [f"a{i}" for i in range(count)]
    try:
        params = list(inspect.signature(fn).parameters.values())
    except (TypeError, ValueError):
        return names
    positional = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    own = [p.name for p in params if p.kind in positional]
    for i in range(min(count, len(own))):
        if own[i] not in names[i + 1 :] and own[i] != "__cotangent__":
            names[i] = own[i]
    return names if len(set(names)) == count else [f"a{i}" for i in range(count)]


def _prepare_callable(fn: Callable, at: Any, wrt: Any) -> _Problem:
    args = tuple(at) if isinstance(at, list | tuple) else (at,)
    arg_names = _parameter_names(fn, len(args))
    graph = Graph()
    values: dict[str, Any] = {}
    with graph:
        syms = []
        for i, a in enumerate(args):
            arr = np.asarray(a)
            if arr.dtype.kind in "iu":  # 3 means 3.0; booleans stay masks
                arr = arr.astype(np.float64)
            name = arg_names[i]
            values[name] = arr
            syms.append(Expr(graph, graph.input(name, arr.shape, arr.dtype)))
        out = fn(*syms)
    if isinstance(out, list | tuple):
        raise GraphadError(
            f"check_grad: the function must return one array expression, not a {type(out).__name__}"
        )
    out = as_expr(out, graph)
    if wrt is None:
        idx = [i for i in range(len(args)) if values[arg_names[i]].dtype.kind == "f"]
    else:
        items = [wrt] if isinstance(wrt, int | str) else list(wrt)
        idx = [_argument_position(w, arg_names) for w in items]
    label = getattr(fn, "__name__", "f") + "(" + ", ".join(arg_names) + ")"
    prob = _finish_problem(graph, out.id, [arg_names[i] for i in idx], values, label)
    prob.private = True
    return prob


def _argument_position(w: Any, names: list[str]) -> int:
    """An entry of ``wrt`` for a callable: a position, a parameter name, or ``"a<i>"``."""
    if isinstance(w, str):
        if w in names:
            return names.index(w)
        if w.startswith("a") and w[1:].isdigit() and int(w[1:]) < len(names):
            return int(w[1:])
        raise GraphadError(
            f"check_grad: wrt names {w!r}, which is not an argument (they are {', '.join(names)})"
        )
    if isinstance(w, bool) or not isinstance(w, int | np.integer) or not 0 <= w < len(names):
        raise GraphadError(
            f"check_grad: wrt position {w!r} is not one of the {len(names)} arguments"
        )
    return int(w)


def _finish_problem(
    graph: Graph, out: int, names: list[str], values: dict[str, Any], label: str
) -> _Problem:
    prepared: dict[str, Any] = {}
    for name, v in values.items():
        nid = graph.input_id(name)
        arr = np.asarray(v)
        if name in names and arr.dtype.kind in "biu":
            arr = arr.astype(np.float64)
        prepared[name] = prepare_input(graph, nid, arr) if nid is not None else arr
    wrt: list[int] = []
    for name in names:
        if name not in prepared:  # checked first: a failed call adds no input
            raise MissingInputError(f"check_grad: no value given for input {name!r}")
        nid = graph.input_id(name)
        if nid is None:  # an input the expression never uses: gradient 0
            nid = graph.input(name)
        if np.asarray(prepared[name]).dtype.kind != "f":
            raise GraphadError(
                f"check_grad: cannot differentiate with respect to {name!r} "
                f"of dtype {np.asarray(prepared[name]).dtype}"
            )
        wrt.append(nid)
    prob = _Problem(graph, out, wrt, names, prepared, label)
    prob.base = {
        nid: np.asarray(prepared[n], dtype=np.float64) for nid, n in zip(wrt, names, strict=True)
    }
    return prob


# -- the AD witness ----------------------------------------------------------------------------


def replay(
    graph: Graph, outputs: Sequence[int], widen: bool = False
) -> tuple[Graph, dict[int, int]]:
    """Copy the nodes ``outputs`` need into a fresh graph; returns it and the id map.
    ``widen`` declares float inputs and constants as float64 (the same numbers)."""

    def rebuild(new: Graph, n: int, node: Any, args: tuple[int, ...]) -> int:
        op = node["op"]
        if op == "input":
            dt = node["dtype"]
            if widen and dt is not None and np.dtype(dt).kind == "f":
                dt = np.dtype(np.float64)
            return new.input(node["name"], node["shape"], dt)
        if op == "constant":
            value = node["value"]
            if widen and np.asarray(value).dtype.kind == "f":
                value = np.asarray(value, dtype=np.float64)
            return new.constant(value)
        xs = [Expr(new, a) for a in args]
        params = dict(node["params"])
        e = apply(op, xs, **params) if OPS[op].nargs is None else apply(op, *xs, **params)
        return e.id

    return graph.copy(outputs, remap=rebuild, marks=False)


def _ad_gradients(prob: _Problem, y: np.ndarray) -> tuple[list[np.ndarray], list[np.ndarray], str]:
    """AD's gradients at the problem's cotangent (``w``, or 1 for a scalar output), and a
    note when they are not linear in that cotangent.

    The cotangent is an input of the private copy, so the same gradient graph is also
    evaluated at ``-2*w``.  Scaling by a power of two commutes with rounding, so a
    rule linear in its cotangent gives exactly ``-2`` times the gradient; one that
    ignores (or squares, or takes the absolute value of) its incoming cotangent does
    not -- also where the output is a scalar, where ``w = 1`` and the differences of
    ``f`` itself cannot see it.
    """
    from ..transforms.autodiff import vjp

    if prob.private:  # the checker traced this graph itself: no copy needed
        copy, ids = prob.graph, {n: n for n in prob.wrt}
    else:
        copy, ids = replay(prob.graph, [prob.out])
    out = Expr(copy, prob.out if prob.private else ids[prob.out])
    # an input the output does not use is not in the copy: declared there, its gradient is 0
    wrt = [
        Expr(copy, ids[n] if n in ids else copy.input(prob.names[k]))
        for k, n in enumerate(prob.wrt)
    ]
    taken = {copy.node(n)["name"] for n in copy.nodes() if copy.op(n) == "input"}
    cot_name = "__cotangent__"
    while cot_name in taken:
        cot_name += "_"
    cot = Expr(copy, copy.input(cot_name, y.shape, y.dtype))
    with copy:  # the rules' own nodes (ga.constant(...) in a custom VJP) belong here too
        grads = vjp([out], wrt, [cot])
    program = _Program(copy, [g.id for g in grads])
    w = np.ones(y.shape) if prob.w is None else prob.w

    def run(c: np.ndarray, values: Mapping[str, Any] | None = None) -> list[np.ndarray]:
        feed = dict(prob.values if values is None else values)
        feed[cot_name] = np.asarray(c, dtype=y.dtype)
        return program(feed)

    feed = dict(prob.values)
    feed[cot_name] = np.asarray(w, dtype=y.dtype)
    env = program.env(feed)
    vals = [np.asarray(env[o]) for o in program.outputs]
    noise = _ad_bounds(program, env, vals)
    note = ""
    for k, (g1, g2) in enumerate(zip(vals, run(-2.0 * w), strict=True)):
        if np.shape(g1) != np.shape(g2):
            continue
        a, b = np.asarray(g1, dtype=np.float64), np.asarray(g2, dtype=np.float64)
        dt = np.asarray(g1).dtype
        # scaling by 2 is exact except in the subnormal range, where products round to
        # a fixed spacing: allow a few of those spacings, times AD's own rounding bound
        floor = 16 * float(np.finfo(dt).smallest_subnormal) if dt.kind == "f" else 1e-300
        with np.errstate(all="ignore"):
            bad = np.abs(b + 2.0 * a) > 1e-9 * np.abs(a) + 3 * noise[k] + floor
        if np.any(bad & np.isfinite(a) & np.isfinite(b)):
            note = (
                f"the gradient with respect to {prob.names[k]!r} is not linear in the "
                f"output's cotangent (scaling it by -2 does not scale the gradient by -2): "
                f"a rule's result is not multiplied by its incoming gradient "
                f"(backward not multiplied by grad_output)"
            )
            break
    return vals, noise, note


def _ad_bounds(
    program: _Program, env: Mapping[int, Any], vals: list[np.ndarray]
) -> list[np.ndarray]:
    """Per gradient element, a bound on AD's rounding error: the running error bound of
    the gradient program at the values it computed (:func:`.rounding.graph_bounds`;
    inputs, cotangent and constants exact), doubled (first order only)."""
    from .rounding import graph_bounds

    ids = [n for n, *_ in program.steps]
    bounds = graph_bounds(program.graph.records(), ids, env)
    out = []
    for o, v in zip(program.outputs, vals, strict=True):
        b = np.asarray(bounds.get(o, 0.0), dtype=np.float64)
        out.append(
            2 * np.broadcast_to(b, np.shape(v)).copy() if np.shape(b) != np.shape(v) else 2 * b
        )
    return out


def _least_precise(arrays: Sequence[Any]) -> np.dtype:
    """The float dtype of least precision among the arrays: what the AD was limited to
    (a float32 graph can return a float64 gradient when a rule promotes)."""
    floats = [np.asarray(a).dtype for a in arrays if np.asarray(a).dtype.kind == "f"]
    return min(floats, key=lambda d: d.itemsize) if floats else np.dtype(np.float64)
