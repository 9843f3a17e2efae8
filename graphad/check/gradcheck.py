"""Gradient checking: graphad's AD against finite differences and SymPy, with a verdict.

Three witnesses are compared for every input element (or, for large tensors,
along random directions):

* **AD**: ``ga.vjp`` of the expression, built on a private copy of the graph
  (the user's graph gains no nodes) and evaluated in the expression's own dtype.
* **Finite differences**: central differences at the steps ``2h, h, h/2`` with
  ``h = cbrt(eps) * max(1, |x|)``, combined by Richardson extrapolation; the
  spread between the two extrapolations plus a rounding bound is the error
  estimate.  The perturbed inputs are fed as float64 values that bypass the
  cast of declared float32 inputs (as ``evaluate(known=...)`` does), so
  float32 graphs are differenced in float64.  One-sided differences at the same points detect
  kinks (a jump between the slopes that does not shrink with the step) and
  give the subgradient interval there.
* **SymPy**: the symbolic derivative of scalar graphs (time-limited, never
  expanded); "n/a" where the graph does not convert, never a failure.

The verdict is three-valued: ``pass``, ``fail``, or ``inconclusive`` (the
finite-difference noise exceeds the tolerance, the function is not finite
nearby, or the point sits on a kink).  On a failure every op node's own VJP
rule is checked at the values it saw (:func:`localize`), and the earliest
node whose rule disagrees with its numerical derivative is named.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..backends.interp import evaluate, prepare_input
from ..core.errors import GradientCheckError, GraphadError, MissingInputError
from ..core.expr import Expr
from ..core.graph import Graph, topo_order
from ..ops import OPS, apply, as_expr
from .fd import FDEstimate, fd_derivative, fd_sweep, localize
from .report import ElementCheck, GradCheckReport, InputCheck

__all__ = [
    "GradCheckReport",
    "assert_grad",
    "check_grad",
    "default_tolerances",
    "fd_derivative",
    "localize",
]

# (rtol, atol base) by the dtype the AD result is computed in.  atol is per element:
# atol_base * max(1, |fd|) of that element, plus AD's measured rounding noise there
# (inputs moved by a few ulps; for float32 graphs also the same gradient recomputed in
# float64) and the smallest derivative the differences could resolve given the forward
# values a step reaches.  With those measured terms float32 needs no blanket 1e-3:
# 2e-5 catches a 1e-4 relative error in a rule (0 false alarms on 1,600 random float32
# graphs at a quarter of these values).
_TOLERANCES = {"float16": (3e-2, 1e-2), "float32": (2e-5, 2e-6), "float64": (1e-6, 1e-9)}


def default_tolerances(dtype: Any) -> tuple[float, float]:
    """``(rtol, atol_base)`` used for gradients computed in ``dtype``.

    Examples
    --------
    >>> from graphad.check.gradcheck import default_tolerances
    >>> default_tolerances("float32")
    (2e-05, 2e-06)
    """
    dt = np.dtype(dtype)
    if dt.kind != "f" or dt.itemsize >= 8:
        return _TOLERANCES["float64"]
    return _TOLERANCES["float16" if dt.itemsize <= 2 else "float32"]


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
        nodes = graph.nx.nodes
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

    vals = run(w)
    noise = _ad_noise(prob, run, w, vals)
    if _least_precise([*vals, y, *prob.values.values()]).itemsize < 8:
        wide = _ad_in_float64(prob, w)
        for k, (a, b) in enumerate(zip(vals, wide, strict=False)):
            if np.shape(a) == np.shape(b):
                with np.errstate(all="ignore"):
                    gap = np.abs(np.asarray(a, np.float64) - np.asarray(b, np.float64))
                noise[k] = np.maximum(noise[k], 4 * np.where(np.isfinite(gap), gap, 0.0))
    note = ""
    for k, (g1, g2) in enumerate(zip(vals, run(-2.0 * w), strict=True)):
        if np.shape(g1) != np.shape(g2):
            continue
        a, b = np.asarray(g1, dtype=np.float64), np.asarray(g2, dtype=np.float64)
        with np.errstate(all="ignore"):
            bad = np.abs(b + 2.0 * a) > 1e-9 * np.abs(a) + 1e-300
        if np.any(bad & np.isfinite(a) & np.isfinite(b)):
            note = (
                f"the gradient with respect to {prob.names[k]!r} is not linear in the "
                f"output's cotangent (scaling it by -2 does not scale the gradient by -2): "
                f"a rule's result is not multiplied by its incoming gradient "
                f"(backward not multiplied by grad_output)"
            )
            break
    return vals, noise, note


def _ad_in_float64(prob: _Problem, w: np.ndarray) -> list[np.ndarray]:
    """AD's gradient of a float32 graph recomputed with every float input and constant in
    float64: the same rules, so its difference from the float32 gradient is rounding
    alone (a wrong rule is wrong in both).  Empty when the graph cannot be widened."""
    from ..transforms.autodiff import vjp

    try:
        copy, ids = replay(prob.graph, [prob.out], widen=True)
        out = Expr(copy, ids[prob.out])
        wrt = [
            Expr(copy, ids[n] if n in ids else copy.input(prob.names[k]))
            for k, n in enumerate(prob.wrt)
        ]
        cot = Expr(copy, copy.constant(np.asarray(w, dtype=np.float64)))
        with copy:
            grads = vjp([out], wrt, [cot])
        feed = {
            n: (np.asarray(v, np.float64) if np.asarray(v).dtype.kind == "f" else v)
            for n, v in prob.values.items()
        }
        return [np.asarray(v) for v in evaluate(copy, [g.id for g in grads], feed)]
    except Exception:  # a graph that only works in its own dtypes: no estimate
        return []


def _ad_noise(
    prob: _Problem, run: Callable, w: np.ndarray, vals: list[np.ndarray]
) -> list[np.ndarray]:
    """Per element, how much AD's result moves when the floating-point inputs move by a
    few units in the last place: the size of its own rounding error, which for an
    element that cancels to ~0 is set by the terms that cancelled (not by the
    element, nor by its neighbours).  Sixteen times one such move (0 false alarms on
    1,500 float64 and 1,000 float32 random graphs)."""
    rng = np.random.default_rng(12345)
    moves = [np.zeros(np.shape(v)) for v in vals]
    for _ in range(1):
        values = {}
        for name, v in prob.values.items():
            arr = np.asarray(v)
            if arr.dtype.kind == "f":
                eps = float(np.finfo(arr.dtype).eps)
                factor = 1 + 4 * eps * rng.uniform(-1, 1, arr.shape)
                arr = np.asarray(arr * factor, dtype=arr.dtype)
            values[name] = arr
        with np.errstate(all="ignore"):
            other = run(w, values)
            for k, (a, b) in enumerate(zip(vals, other, strict=True)):
                if np.shape(a) == np.shape(b):
                    gap = np.abs(np.asarray(b, np.float64) - np.asarray(a, np.float64))
                    moves[k] = np.maximum(moves[k], np.where(np.isfinite(gap), gap, 0.0))
    return [16 * m for m in moves]


# -- the SymPy witness -------------------------------------------------------------------------


# SymPy's form of one op at dummy arguments (constant arguments inlined) and its partial
# derivatives, per (op, params, constant arguments): built once, evaluated per check
_SYMPY_FORMS: dict[tuple, Any] = {}
_MPMATH_LOCK = threading.Lock()


def _sympy_form(sp: Any, nodes: Any, n: int) -> tuple | None:
    """``(form, partials, dummies, moving)`` of node ``n``: its op's SymPy form at dummy
    arguments (an integer power inlined), and the partials with respect to the
    arguments that are not constants (``moving``), each planned for evaluation
    (:func:`~graphad.backends.sympy_box.plan_form`); None where the op has no SymPy
    form or one that is not plain arithmetic and common functions."""
    from ..backends import sympy_box as _sympy_box

    node = nodes[n]
    spec = OPS.get(node["op"])
    if spec is None or not spec.has_sympy:
        return None
    inline: list[int | None] = []
    moving = []
    for i, a in enumerate(node["args"]):
        inline.append(None)
        if nodes[a]["op"] != "constant":
            moving.append(i)
            continue
        v = np.asarray(nodes[a]["value"])
        if v.ndim or v.dtype.kind not in "biuf":
            return None
        item = v.item()
        # an integer power is inlined (x**2 differentiates to 2*x, which is 0 at x = 0,
        # where b*x**b/x has no value); other constants are bound like arguments, so one
        # cached form serves every constant
        if node["op"] == "power" and float(item).is_integer() and abs(item) < 1e15:
            inline[i] = int(item)
    key = (node["op"], node["params"], tuple(inline), tuple(moving))
    if key not in _SYMPY_FORMS:
        dummies = _sympy_box.dummies(sp, len(node["args"]))
        sargs = [dummies[i] if c is None else sp.Integer(c) for i, c in enumerate(inline)]
        try:
            expr = spec.to_sympy(sp, *sargs, **dict(node["params"]))
            form = _sympy_box.plan_form(sp, expr)
            partials = [_sympy_box.plan_form(sp, sp.diff(expr, dummies[i])) for i in moving]
        except Exception:  # no form, or one that is not plain arithmetic (NotCovered)
            form, partials = None, []
        got = None if form is None else (form, partials, dummies, moving)
        if len(_SYMPY_FORMS) > 4096:
            _SYMPY_FORMS.clear()
        _SYMPY_FORMS[key] = got
        return got
    return _SYMPY_FORMS.get(key)


def _sympy_at_point(prob: _Problem) -> list[float | None] | None:
    """SymPy's derivative of a scalar graph at the point, evaluated along the graph: each
    node's value from its op's SymPy form and its partial derivatives from SymPy's
    ``diff`` of that form (both cached per op), combined by the chain rule in 100-bit
    mpmath numbers.  No expression of the whole graph is built, so this costs a few
    arithmetic operations per node.  ``None`` when a node has no SymPy form or one
    whose evaluation is not plain arithmetic and common functions (a condition, say):
    then SymPy works on the whole expression, in its time-boxed process."""
    import mpmath
    import sympy as sp

    from ..backends import sympy_box as _sympy_box

    nodes = prob.graph.nx.nodes
    order = topo_order(prob.graph, [prob.out])
    env = prob.values_at_point()
    if any(np.ndim(env.get(n, 0.0)) for n in order):
        # a tensor inside a scalar graph (sum of a broadcast): an op's scalar form would
        # be a wrong witness, so the whole-expression path says why there is none
        return None
    wanted = set(prob.wrt)
    val: dict[int, Any] = {}
    der: dict[int, dict[int, Any]] = {}
    try:
        # mpmath's working precision is one global setting: one check at a time sets it
        with _MPMATH_LOCK, mpmath.workprec(_sympy_box.PREC):
            for n in order:
                node = nodes[n]
                op = node["op"]
                if op in ("input", "constant"):
                    v = np.asarray(prob.values[node["name"]] if op == "input" else node["value"])
                    if v.ndim or v.dtype.kind not in "biuf":
                        return None
                    val[n], der[n] = mpmath.mpf(float(v)), ({n: 1} if n in wanted else {})
                    continue
                form = _sympy_form(sp, nodes, n)
                if form is None:
                    return None
                expr, partials, dummies, moving = form
                args = node["args"]
                bind = {dummies[i]: val[a] for i, a in enumerate(args)}
                val[n] = _sympy_box.run_plan(sp, expr, bind)
                total: dict[int, Any] = {}
                for i, partial in zip(moving, partials, strict=True):
                    if not der[args[i]]:
                        continue
                    p = _sympy_box.run_plan(sp, partial, bind)
                    for w, g in der[args[i]].items():
                        total[w] = total[w] + p * g if w in total else p * g
                der[n] = total
            d = der[prob.out]
            return [_sympy_box.real(d.get(w, 0)) for w in prob.wrt]
    except (_sympy_box.NotCovered, ZeroDivisionError, ValueError, TypeError, OverflowError):
        return None


class _SympyWitness:
    """SymPy's derivative per wrt input at the point.

    Where every node's op has a SymPy form of plain arithmetic and common functions,
    it is computed here along the graph (:func:`_sympy_at_point`: SymPy's partials
    per op, chained at the point), which costs a few operations per node.  Otherwise
    the expression is converted here and sent at once to SymPy's own process
    (:mod:`graphad.backends.sympy_box`), which works on it while the checker computes AD and
    finite differences, and is killed at ``timeout`` seconds after the request.
    :meth:`values` collects the numbers: Nones and the reason where there are none.
    """

    def __init__(self, prob: _Problem, timeout: float, scalar_output: bool) -> None:
        self.n = len(prob.wrt)
        self.timeout = timeout
        self.note = ""
        self.pending: Any = None
        self.here: list | None = None  # computed in this process (derivatives_here)
        if any(np.ndim(prob.values[n]) for n in prob.values) or not scalar_output:
            self.note = "n/a: SymPy checks scalar graphs only"
            return
        if len(topo_order(prob.graph, [prob.out])) > 2000:
            self.note = "n/a: graph too large for SymPy"
            return

        from ..backends import sympy_box as _sympy_box
        from ..backends.sympy import to_sympy

        try:
            self.here = _sympy_at_point(prob)
        except Exception:
            self.here = None
        if self.here is not None:
            return
        try:
            expr = to_sympy(Expr(prob.graph, prob.out))
            values = {n: float(v) for n, v in prob.values.items()}
            self.pending = _sympy_box.submit(expr, list(prob.names), values, timeout)
        except Exception as exc:
            self.note = f"n/a: {type(exc).__name__}: {exc}"[:160]

    def values(self) -> tuple[list[float | None], str]:
        none: list[float | None] = [None] * self.n
        if self.here is not None:
            vals = self.here
            return vals, "" if all(
                v is not None for v in vals
            ) else "n/a at this point for some inputs"
        if self.pending is None:
            return none, self.note
        from ..backends import sympy_box as _sympy_box

        pending, self.pending = self.pending, None
        try:
            vals = pending.result()
        except _sympy_box.SympyTimeout:
            return none, f"n/a: SymPy took longer than {self.timeout:g} s (stopped)"
        except Exception as exc:
            return none, f"n/a: {type(exc).__name__}: {exc}"[:160]
        return vals, "" if all(v is not None for v in vals) else "n/a at this point for some inputs"

    def cancel(self) -> None:
        """Stop the child's work when the check ends without collecting it (an error)."""
        if self.pending is not None:
            self.pending.cancel()
            self.pending = None


# -- decisions ----------------------------------------------------------------------------------


def _decide(
    ad: float, fd: FDEstimate, sym: float | None, rtol: float, atol: float
) -> tuple[str, str]:
    """Status of one element: pass / fail / noisy / kink / kink? / jump / nonfinite."""
    kind, val, err = str(fd.kind), float(fd.value), float(fd.err)
    if not np.isfinite(ad):
        if kind == "nonfinite" or not np.isfinite(val):
            return "nonfinite", "AD and the function are not finite here"
        return "fail", "AD is not finite but the finite difference is"
    if kind == "nonfinite" or not np.isfinite(val):
        return "nonfinite", "the function is not finite within the step"
    if kind == "kink":
        lo, hi = float(fd.lo), float(fd.hi)
        where = f"one-sided slopes give [{lo:.6g}, {hi:.6g}]"
        if lo - atol <= ad <= hi + atol:
            return "kink", f"kink: AD lies in the subgradient interval, {where}"
        return "kink?", f"kink: AD outside the subgradient interval, {where}"
    tol = atol + rtol * abs(val)
    diff = abs(ad - val)
    if diff <= tol:
        status, note = "pass", ""
    elif kind == "jump":
        status, note = "jump", "a discontinuity lies within the step"
    elif diff > tol + 2 * err:
        status, note = "fail", ""
    else:
        status, note = "noisy", f"finite-difference error {err:.2g} exceeds the tolerance"
    if sym is not None and np.isfinite(sym):
        agrees = abs(ad - sym) <= atol + rtol * abs(sym)
        if status in ("noisy", "jump"):
            status, note = ("pass" if agrees else "fail"), f"decided by SymPy ({note})"
        elif status == "fail" and agrees:
            status, note = "noisy", "finite differences disagree, SymPy agrees with AD"
        elif status == "pass" and not agrees and abs(val - sym) > atol + rtol * abs(sym):
            note = "SymPy disagrees with both AD and finite differences"
    return status, note


_VERDICT_OF = {"pass": "pass", "kink": "pass", "fail": "fail"}


def _combine(statuses: Sequence[str]) -> str:
    verdicts = {_VERDICT_OF.get(s, "inconclusive") for s in statuses}
    if "fail" in verdicts:
        return "fail"
    return "inconclusive" if "inconclusive" in verdicts else "pass"


def _check_input(
    prob: _Problem,
    k: int,
    ad: np.ndarray,
    sym: float | None,
    rtol: float,
    atol_base: float,
    atol: float | None,
    rng: np.random.Generator,
    max_full: int,
    projections: int,
    max_elements: int,
    noise: np.ndarray,
) -> InputCheck:
    """One input's rows.  Tolerances are per element: ``atol_base * max(1, |fd|)`` of
    that element (or the user's ``atol``), so a 10% error in a small element is seen
    next to an element of 1e6.  A large input is checked along random directions;
    when one fails, the failing element is found by bisection over the tensor
    (about ``2*log2(size)`` differences), falling back to a sample of elements only
    when the mismatch does not narrow to one element."""
    nid = prob.wrt[k]
    x = prob.base[nid]
    name = prob.names[k]
    eps_h = np.cbrt(prob.eps)
    dtype = str(np.asarray(prob.values[name]).dtype)
    size = x.size
    scaled = atol is None
    atol_given = atol_base if atol is None else float(atol)
    if ad.shape != x.shape:
        note = f"AD returned shape {ad.shape} for an input of shape {x.shape}"
        return InputCheck(
            name, x.shape, dtype, "shape", rtol, atol_given, [], "fail", [note], scaled, ad.shape
        )
    rows: list[tuple[Any, float, FDEstimate, float]] = []
    mode = "full"
    flat: Any = np.arange(size)
    h_all = eps_h * max(1.0, float(np.max(np.abs(x), initial=0.0)))
    if size > max_full:
        mode = "projection"
        for p in range(projections):
            v = rng.standard_normal(x.shape)
            v /= np.max(np.abs(v))
            fd = fd_sweep(prob.along(k, v), h_all, prob.eps, rtol, atol_base, prob.w is not None)
            extra = float(np.sum(np.abs(v) * noise)) + _unseen(prob, k, v, fd)
            rows.append((f"proj{p}", float(np.sum(ad * v)), fd, extra))
        flat = None
        if _projections_fail(rows, rtol, atol_base, atol):
            found = _bisect_input(prob, k, ad, rtol, atol_base, atol, rng, h_all, noise)
            if found is not None:
                mode, flat = "projection+bisection", [found]
            else:
                mode, flat = "projection+full", np.arange(size)
                if size > max_elements:
                    flat = np.sort(rng.choice(size, max_elements, replace=False))
    for j in [] if flat is None else flat:
        idx = np.unravel_index(int(j), x.shape)
        v = np.zeros_like(x)
        v[idx] = 1.0
        h = eps_h * max(1.0, abs(float(x[idx])))
        fd = fd_sweep(prob.along(k, v), h, prob.eps, rtol, atol_base, prob.w is not None)
        extra = float(noise[idx]) + _unseen(prob, k, v, fd)
        rows.append((tuple(int(i) for i in idx), float(ad[idx]), fd, extra))
    elements = []
    for index, a, fd, extra in rows:
        tol_abs = _element_atol(atol_base, atol, fd, extra)
        status, note = _decide(a, fd, sym, rtol, tol_abs)
        interval = (float(fd.lo), float(fd.hi)) if str(fd.kind) == "kink" else None
        elements.append(
            ElementCheck(
                index,
                a,
                float(fd.value),
                float(fd.err),
                sym,
                status,
                note,
                float(fd.step),
                interval,
                tol_abs,
            )
        )
    # after a projection failed, the elementwise rows decide, but a decisive projection
    # failure still counts (the elements may be a sample)
    checked = [
        e.status
        for e in elements
        if mode in ("full", "projection") or isinstance(e.index, tuple) or e.status == "fail"
    ]
    verdict = _combine(checked)
    return InputCheck(name, x.shape, dtype, mode, rtol, atol_given, elements, verdict, [], scaled)


def _unseen(prob: _Problem, k: int, v: np.ndarray, fd: FDEstimate) -> float:
    """The smallest derivative finite differences could have seen along ``v``: a change
    below the rounding of the forward values the step reaches leaves no trace."""
    h = float(fd.step)
    if not h or str(fd.kind) == "nonfinite":
        return 0.0
    return 4 * prob.eps * prob.resolution(k, v, h) / h


def _element_atol(
    atol_base: float, atol: float | None, fd: FDEstimate, noise: float = 0.0
) -> float:
    """The absolute tolerance of one compared number: the user's, or the dtype's base
    scaled by that number's own magnitude (never by its neighbours') plus AD's own
    rounding noise in that number (:func:`_ad_noise`)."""
    if atol is not None:
        return float(atol)
    value = float(fd.value)
    return atol_base * max(1.0, abs(value) if np.isfinite(value) else 1.0) + noise


def _projections_fail(rows: list, rtol: float, atol_base: float, atol: float | None) -> bool:
    return any(
        _decide(a, fd, None, rtol, _element_atol(atol_base, atol, fd, extra))[0]
        not in ("pass", "kink")
        for _, a, fd, extra in rows
    )


def _bisect_input(
    prob: _Problem,
    k: int,
    ad: np.ndarray,
    rtol: float,
    atol_base: float,
    atol: float | None,
    rng: np.random.Generator,
    h: float,
    noise: np.ndarray,
) -> int | None:
    """The flat index of an element where AD and the differences disagree, found by
    halving the set of moved elements along a random direction; None when no half
    fails decisively (noise, or errors that cancel between halves)."""
    x = prob.base[prob.wrt[k]]
    v = rng.standard_normal(x.shape)
    v /= np.max(np.abs(v))

    def fails(idx: np.ndarray) -> bool:
        mask = np.zeros(x.size)
        mask[idx] = 1.0
        d = v * mask.reshape(x.shape)
        fd = fd_sweep(prob.along(k, d), h, prob.eps, rtol, atol_base, prob.w is not None)
        return (
            _decide(
                float(np.sum(ad * d)),
                fd,
                None,
                rtol,
                _element_atol(atol_base, atol, fd, float(np.sum(np.abs(d) * noise))),
            )[0]
            == "fail"
        )

    idx = np.arange(x.size)
    if not fails(idx):
        return None
    while idx.size > 1:
        half, rest = idx[: idx.size // 2], idx[idx.size // 2 :]
        if fails(half):
            idx = half
        elif fails(rest):
            idx = rest
        else:
            return None
    return int(idx[0])


# -- public API ------------------------------------------------------------------------------


def check_grad(
    f: Any,
    at: Any = None,
    *,
    wrt: Any = None,
    rtol: float | None = None,
    atol: float | None = None,
    seed: int = 0,
    sympy: bool = True,
    strict: bool = False,
    localize_on_fail: bool = True,
    max_full: int = 64,
    projections: int = 2,
    max_elements: int = 1024,
    sympy_timeout: float = 2.0,
    order: int = 1,
) -> GradCheckReport:
    """Check graphad's gradient of ``f`` against finite differences and SymPy.

    Parameters
    ----------
    f : Expr or callable
        An expression (``at`` maps input names, or input Exprs, to values) or
        a Python function of Exprs (``at`` is the tuple of its positional
        arguments; it is traced with inputs ``a0, a1, ...`` of their shapes and
        dtypes).  A non-scalar result is checked through ``<w, f>`` for a
        random ``w``.
    wrt : str, Expr, int or a list of them, optional
        Inputs to check (names/Exprs; argument positions for a callable).
        Default: every floating-point input.
    rtol, atol : float, optional
        Pass when ``|ad - fd| <= atol + rtol*|fd|``.  Defaults by the least
        precise float dtype among the inputs, the output and the gradients
        (:func:`default_tolerances`; atol is scaled by ``max(1, max|fd|)`` of
        each input).
    seed : int
        Seed of the random directions and cotangents (checks are reproducible).
    sympy : bool
        Use SymPy as a third witness for scalar graphs.  SymPy runs in a
        child process, stopped after ``sympy_timeout`` seconds (the column then
        says n/a); the first check of a session also waits about a second for
        that process to start and import SymPy.
    strict : bool
        Make ``report.ok`` False for an inconclusive verdict too.
    order : int
        1 checks the gradient; 2 checks Hessian-vector products: the gradient of
        ``s = sum_k <r_k, df/dx_k>`` for random ``r`` (built by differentiating
        graphad's own gradient graph) against finite differences of that gradient.
        On a failure the culprit is the node of the gradient graph whose own rule
        is wrong, i.e. the rule whose derivative is wrong.
    localize_on_fail : bool
        On a failure, check each node's own rule and name the culprit.
    max_full, projections, max_elements : int
        Inputs with at most ``max_full`` elements get a full Jacobian check;
        larger ones ``projections`` random directional checks, and on their
        failure an elementwise check of at most ``max_elements`` elements.

    Returns
    -------
    GradCheckReport

    Examples
    --------
    >>> import graphad as ga
    >>> x, y = ga.symbols("x y")
    >>> report = ga.check_grad(x**2 + ga.sin(x * y), at={"x": 3.0, "y": 2.0})
    >>> report.verdict, report.ok
    ('pass', True)
    >>> ga.check_grad(lambda a: ga.relu(a), at=(0.0,)).verdict
    'pass'
    """
    _check_arguments(
        rtol=rtol,
        atol=atol,
        seed=seed,
        max_full=max_full,
        projections=projections,
        max_elements=max_elements,
        sympy_timeout=sympy_timeout,
    )
    if isinstance(order, bool) or order not in (1, 2):
        raise GraphadError(f"check_grad: order must be 1 or 2, got {order!r}")
    prob = _prepare(f, at, wrt)
    if order == 2:
        return _check_second_order(
            prob,
            seed=seed,
            rtol=rtol,
            atol=atol,
            sympy=sympy,
            strict=strict,
            localize_on_fail=localize_on_fail,
            max_full=max_full,
            projections=projections,
            max_elements=max_elements,
            sympy_timeout=sympy_timeout,
        )
    rng = np.random.default_rng(seed)
    y = np.asarray(prob.values_at_point()[prob.out])
    if y.dtype.kind not in "f":
        raise GraphadError(f"check_grad: the output has dtype {y.dtype}; it must be floating")
    if y.ndim:
        prob.w = rng.standard_normal(y.shape)
        prob.w = np.asarray(prob.w.astype(y.dtype), dtype=np.float64)
    # SymPy works in its own process meanwhile: started first, collected last
    witness = _SympyWitness(prob, sympy_timeout, y.ndim == 0) if sympy else None
    try:
        return _check_first_order(
            prob, y, rng, witness, rtol, atol, seed, strict, localize_on_fail, max_full,
            projections, max_elements
        )  # fmt: skip
    finally:
        if witness is not None:
            witness.cancel()


def _check_first_order(
    prob: _Problem,
    y: np.ndarray,
    rng: np.random.Generator,
    witness: _SympyWitness | None,
    rtol: float | None,
    atol: float | None,
    seed: int,
    strict: bool,
    localize_on_fail: bool,
    max_full: int,
    projections: int,
    max_elements: int,
) -> GradCheckReport:
    ad, ad_noise, linearity_note = _ad_gradients(prob, y)
    ad_dtype = _least_precise([*ad, y, *prob.values.values()])
    rtol_d, atol_base = default_tolerances(ad_dtype)
    rtol = rtol_d if rtol is None else float(rtol)
    if not _evaluates_in_float64(prob):
        prob.eps = float(np.finfo(np.float32).eps)
    syms, sym_note = ([None] * len(prob.wrt), "not requested")
    if witness is not None:
        syms, sym_note = witness.values()
    inputs = [
        _check_input(
            prob,
            k,
            ad[k],
            syms[k],
            rtol,
            atol_base,
            atol,
            rng,
            max_full,
            projections,
            max_elements,
            ad_noise[k],
        )
        for k in range(len(prob.wrt))
    ]
    verdict = _combine([i.verdict for i in inputs]) if inputs else "pass"
    report = GradCheckReport(
        verdict=verdict,
        inputs=inputs,
        graph=prob.graph,
        outputs=[prob.out],
        label=prob.label,
        point={n: np.asarray(v) for n, v in prob.values.items()},
        dtype=str(ad_dtype),
        sympy_note=sym_note,
        strict=strict,
        output_shape=tuple(y.shape),
    )
    if not np.all(np.isfinite(y)):
        report.notes.append("the function value is not finite at this point")
    if linearity_note:
        report.verdict = "fail"
        report.notes.append(linearity_note)
    if report.verdict == "fail" and localize_on_fail:
        _attach_culprit(report, prob, seed, rtol)
    return report


def _check_second_order(prob: _Problem, *, seed: int, **kwargs: Any) -> GradCheckReport:
    """``order=2``: the first-order check of ``s(x) = sum_k <r_k, grad_k f(x)>``, whose
    gradient is the Hessian-vector product ``H r``, on a private copy of the graph."""
    from ..transforms.autodiff import vjp

    rng = np.random.default_rng(seed + 1)
    copy, ids = replay(prob.graph, [prob.out])
    out = Expr(copy, ids[prob.out])
    wrt = [
        Expr(copy, ids[n] if n in ids else copy.input(prob.names[k]))
        for k, n in enumerate(prob.wrt)
    ]
    (y,) = evaluate(prob.graph, [prob.out], prob.values)
    y = np.asarray(y)
    if y.dtype.kind != "f":
        raise GraphadError(f"check_grad: the output has dtype {y.dtype}; it must be floating")
    with copy:  # the rules' own nodes belong to the copy
        cot = None
        if y.ndim:
            cot = [Expr(copy, copy.constant(rng.standard_normal(y.shape).astype(y.dtype)))]
        grads = vjp([out], wrt, cot)
        s = None
        for k, g in enumerate(grads):
            shape = np.shape(prob.values[prob.names[k]])
            dt = np.asarray(prob.values[prob.names[k]]).dtype
            r = Expr(copy, copy.constant(np.asarray(rng.standard_normal(shape), dtype=dt)))
            term = apply("sum", r * g, axis=None, keepdims=False) if shape else r * g
            s = term if s is None else s + term
    if s is None:
        raise GraphadError("check_grad: order=2 needs at least one input to differentiate")
    report = check_grad(s, at=dict(prob.values), wrt=list(prob.names), seed=seed, **kwargs)
    report.label = f"order 2 of {prob.label}"
    report.notes.insert(
        0,
        "order 2: checked the gradient of s = sum_k <r_k, df/dx_k> for random r (its "
        "gradient is the Hessian-vector product H r) against finite differences of "
        "graphad's gradient",
    )
    return report


def _check_arguments(**args: Any) -> None:
    """check_grad's numeric arguments, refused with an error naming the argument: a NaN or
    negative tolerance would silently turn every comparison into a failure (or a pass)."""
    import math

    def real(name: str) -> float:
        value = args[name]
        if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
            raise GraphadError(f"check_grad: {name} must be a real number, got {value!r}")
        return float(value)

    for name in ("rtol", "atol"):
        if args[name] is not None:
            value = real(name)
            if not (math.isfinite(value) and value >= 0):
                raise GraphadError(
                    f"check_grad: {name} must be a finite number >= 0 (or None for the "
                    f"dtype's default), got {value!r}"
                )
    timeout = real("sympy_timeout")
    if not (math.isfinite(timeout) and timeout > 0):
        raise GraphadError(
            f"check_grad: sympy_timeout must be a finite number > 0, got {timeout!r}"
        )
    for name, least in (("seed", 0), ("max_full", 0), ("projections", 1), ("max_elements", 1)):
        value = args[name]
        if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < least:
            raise GraphadError(f"check_grad: {name} must be an integer >= {least}, got {value!r}")


def _least_precise(arrays: Sequence[Any]) -> np.dtype:
    """The float dtype of least precision among the arrays: what the AD was limited to
    (a float32 graph can return a float64 gradient when a rule promotes)."""
    floats = [np.asarray(a).dtype for a in arrays if np.asarray(a).dtype.kind == "f"]
    return min(floats, key=lambda d: d.itemsize) if floats else np.dtype(np.float64)


def _evaluates_in_float64(prob: _Problem) -> bool:
    """False when a node that depends on the inputs computes in less than float64
    (e.g. a custom op's implementation), so the differences need a float32 step."""
    prob.objective(prob.base)
    assert prob.forward is not None
    if prob._base_env is None:  # resolution() reuses it
        prob._base_env = prob.forward(prob.base, keep=True)
    env = prob._base_env
    return all(
        np.asarray(env[n]).dtype.kind != "f" or np.asarray(env[n]).dtype.itemsize >= 8
        for n in prob.forward.moved
        if n in env
    )


def _attach_culprit(report: GradCheckReport, prob: _Problem, seed: int, rtol: float) -> None:
    checks = localize(prob.graph, prob.out, prob.values, prob.wrt, seed=seed, rtol=max(rtol, 1e-7))
    report.node_checks = [c for c in checks if c.status != "pass"]
    failing = [c for c in checks if c.status == "fail"]
    if failing:
        c = failing[0]
        report.culprit = c.node
        report.culprit_reason = c.short()
        return
    kinks = [c for c in checks if c.status == "kink"]
    if kinks:
        report.verdict = "inconclusive"
        where = ", ".join(f"v{c.node} {c.op}" for c in kinks[:5])
        for i in report.inputs:
            for e in i.elements:
                if e.status == "fail":
                    e.status, e.note = "kink?", f"the point sits on a kink of {where}"
            i.verdict = _combine([e.status for e in i.elements])
        report.notes.append(
            f"no node's own rule fails its check, and the point sits on a kink "
            f"of {where}: AD's convention there need not match the derivative "
            f"of the composition; verdict downgraded to inconclusive"
        )
    else:
        report.notes.append("no single node's rule fails its local check")


def assert_grad(f: Any, at: Any = None, **kwargs: Any) -> GradCheckReport:
    """:func:`check_grad`, raising :class:`GradientCheckError` when the verdict is "fail"
    (or, with ``strict=True``, inconclusive); returns the report otherwise.

    Parameters
    ----------
    f : Expr or callable
        What to check, as for :func:`check_grad`.
    at : dict or sequence, optional
        The point, as for :func:`check_grad`.
    **kwargs
        Every other :func:`check_grad` option (``wrt``, ``seed``, ``strict`` ...).

    Returns
    -------
    GradCheckReport
        The report, when the check did not fail.

    Raises
    ------
    GradientCheckError
        When the verdict is "fail" (or, with ``strict=True``, inconclusive).

    Examples
    --------
    >>> import numpy as np, graphad as ga
    >>> x = ga.symbols("x")
    >>> ga.assert_grad(ga.tanh(x) * x, at={"x": 0.5}).verdict
    'pass'
    >>> bad = ga.defop("bad_exp_doc", np.exp, vjp=lambda g, x: [g * x])
    >>> ga.assert_grad(bad(x), at={"x": 0.5})
    Traceback (most recent call last):
    ...
    graphad.GradientCheckError: ...
    """
    report = check_grad(f, at, **kwargs)
    if not report.ok or report.verdict == "fail":
        raise GradientCheckError(report.summary(), report)
    return report
