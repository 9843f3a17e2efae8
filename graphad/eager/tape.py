"""``GradientTape``: eager operations recorded as a graph, differentiated as one.

``tape.gradient`` is the same graph transformation as :func:`graphad.grad`
(``ga.vjp`` on the tape's graph), evaluated with the forward values the tape
kept, so nothing is computed twice.  :func:`tracing` lets an optimizer trace a
loss function of Variables into a graph whose inputs they are.  The eager
values themselves are in :mod:`graphad.eager.tensor`.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np

from .. import ops as _ops
from ..backends.interp import evaluate
from ..core.errors import DTypeError, GraphadError, ShapeError
from ..core.expr import Expr
from ..core.graph import Graph, ancestors, topo_order
from .tensor import (
    Tensor,
    Variable,
    _active_tapes,
    _expr_constant,
    _local,
    _run_eager,
    _tracer,
    _value_of,
    convert_to_tensor,
)

__all__ = ["GradientTape", "Tensor", "Variable", "call_expr", "convert_to_tensor", "tracing"]

# -- the tape -----------------------------------------------------------------------------------


class GradientTape:
    """Records eager operations as a graph, for reverse-mode gradients (``tf.GradientTape``).

    Parameters
    ----------
    persistent : bool
        A persistent tape allows several ``gradient`` calls; otherwise the
        second one raises, as in TensorFlow.
    watch_accessed_variables : bool
        Watch every trainable Variable read inside the tape (default True).

    Attributes
    ----------
    graph : Graph
        The recorded graph (forward nodes, and gradient nodes after ``gradient``).
    outputs : list of Expr
        The targets and gradients of the ``gradient`` calls so far (else the
        graph's sinks): what ``ga.render(tape)`` draws.

    Examples
    --------
    >>> import graphad as ga
    >>> x = ga.Variable(5.0)
    >>> with ga.GradientTape() as tape:
    ...     y = x * x
    >>> tape.gradient(y, x)
    np.float64(10.0)
    """

    def __init__(self, persistent: bool = False, watch_accessed_variables: bool = True):
        self.persistent = bool(persistent)
        self.watch_accessed_variables = bool(watch_accessed_variables)
        self.graph = Graph()
        self._recording = False
        self._used = False
        self._values: dict[int, Any] = {}  # forward node -> value
        self._objects: dict[int, Any] = {}  # forward node -> Tensor/Variable (for nesting)
        self._watched: dict[int, Any] = {}  # id(obj) -> obj, explicitly watched
        self._inputs: dict[int, list[tuple[int, int]]] = {}  # id(obj) -> [(version, node)]
        self._outputs: list[int] = []

    # -- context ---------------------------------------------------------------------------
    def __enter__(self) -> GradientTape:
        if self._recording:
            raise GraphadError("this GradientTape is already recording")
        self._recording = True
        _active_tapes().append(self)
        return self

    def __exit__(self, *exc: object) -> None:
        self._recording = False
        tapes = _active_tapes()
        if self in tapes:
            tapes.remove(self)

    @contextmanager
    def stop_recording(self) -> Iterator[None]:
        """Compute without recording inside this block (``tape.stop_recording()``)."""
        was = self._recording
        self._recording = False
        try:
            yield
        finally:
            self._recording = was

    def reset(self) -> None:
        """Forget everything recorded so far."""
        self.__init__(self.persistent, self.watch_accessed_variables)

    def watch(self, tensor: Any) -> None:
        """Watch a Variable or an eager tensor (or a list of them).

        NumPy arrays, Python numbers and symbolic :func:`graphad.constant`
        nodes cannot be watched: operations on them are never recorded.  Make an
        eager constant with :func:`graphad.convert_to_tensor` (TensorFlow's
        ``tf.constant``) and watch that.

        Raises
        ------
        GraphadError
            If something other than a Variable or an eager tensor is given (the
            message names the eager constant to make instead).
        """
        items = tensor if isinstance(tensor, list | tuple) else [tensor]
        for t in items:
            if not isinstance(t, Variable | Tensor):
                hint = (
                    " (a ga.constant is a node of a symbolic graph: use "
                    "ga.convert_to_tensor(value) for an eager constant)"
                    if isinstance(t, Expr)
                    else ""
                )
                raise GraphadError(
                    f"GradientTape.watch: cannot watch a {type(t).__name__}{hint}; operations "
                    "on it are not recorded.  Watch a ga.Variable, or wrap the value with "
                    "ga.convert_to_tensor(...)"
                )
            self._watched[id(t)] = t

    def watched_variables(self) -> list[Variable]:
        """The Variables this tape has seen as sources, in the order first read."""
        out = []
        for key in self._inputs:
            obj = self._watched.get(key) or self._objects.get(self._inputs[key][0][1])
            if isinstance(obj, Variable):
                out.append(obj)
        return out

    # -- recording ----------------------------------------------------------------------------
    def _tracks(self, a: Any) -> bool:
        if isinstance(a, Tensor):
            return (a._nodes is not None and self in a._nodes) or id(a) in self._watched
        if isinstance(a, Variable):
            return id(a) in self._watched or (a.trainable and self.watch_accessed_variables)
        return False

    def _source_node(self, a: Any) -> int:
        """The input node standing for a watched object (a fresh one after a Variable changes)."""
        version = a._version if isinstance(a, Variable) else 0
        reads = self._inputs.setdefault(id(a), [])
        if reads and reads[-1][0] == version:
            return reads[-1][1]
        base = getattr(a, "name", None) if isinstance(a, Variable) else None
        base = base if isinstance(base, str) and base.isidentifier() else "x"
        name, k = base, 0
        while self.graph.input_id(name) is not None:
            k += 1
            name = f"{base}_{k}"
        value = _value_of(a)
        arr = np.asarray(value)
        nid = self.graph.input(name, arr.shape, arr.dtype)
        reads.append((version, nid))
        self._watched.setdefault(id(a), a)  # keeps id(a) from being reused while we hold it
        self._values[nid] = value
        self._objects[nid] = a
        return nid

    def _expr_of(self, a: Any) -> Expr:
        g = self.graph
        if isinstance(a, Tensor) and a._nodes is not None and self in a._nodes:
            return Expr(g, a._nodes[self])
        if self._tracks(a):
            return Expr(g, self._source_node(a))
        value = _value_of(a)
        if isinstance(value, bool | int | float):
            return Expr(g, g.constant(value))
        return Expr(g, g.constant(np.asarray(value)))

    def _record(self, op_name: str, args: Sequence, params: dict, value: Any) -> int:
        exprs = [self._expr_of(a) for a in args]
        if _ops.OPS[op_name].nargs is None:
            e = _ops.apply(op_name, exprs, **params)
        else:
            e = _ops.apply(op_name, *exprs, **params)
        self._values[e.id] = value
        return e.id

    # -- gradients ------------------------------------------------------------------------------
    def gradient(self, target: Any, sources: Any, output_gradients: Any = None) -> Any:
        """d(sum of target) / d source, for each source (zeros where unconnected).

        Parameters
        ----------
        target : tensor or list of tensors
            Non-scalar targets are summed, as TensorFlow does; a list adds up.
        sources : Variable, tensor, watched constant, or a list / tuple / dict of them
            The result has the same structure.
        output_gradients : array or list, optional
            Cotangents for the targets (default: ones).

        Returns
        -------
        NumPy values (eager tensors when an outer tape is recording, so that
        the gradient can be differentiated again).

        Raises
        ------
        GraphadError
            If a non-persistent tape is asked a second time, a target is a symbolic
            Expr, or ``output_gradients`` does not fit the targets; a refused call
            leaves the tape usable.
        """
        if self._used and not self.persistent:
            raise GraphadError(
                "a non-persistent GradientTape can compute gradients only once; "
                "use ga.GradientTape(persistent=True) for several gradient calls"
            )
        flat, rebuild = _flatten_sources(sources)
        single = not isinstance(target, list | tuple)
        targets = [target] if single else list(target)
        if any(isinstance(t, Expr) for t in targets):
            raise GraphadError(
                "GradientTape.gradient: the target is a symbolic Expr, not a value computed "
                "from Variables inside the tape; use ga.grad(expr, x) for symbolic expressions"
            )
        cotangents = _check_output_gradients(targets, output_gradients, single)
        self._used = True  # only now: a call refused above leaves the tape usable
        result = self._tape_gradient(targets, flat, cotangents)
        if not self.persistent:
            self._values, self._objects = {}, {}
        return rebuild(result)

    def _tape_gradient(self, targets: list, flat: list, given: list | None) -> list:
        g = self.graph
        outs, cots = [], []
        cot_list = [None] * len(targets) if given is None else given
        for t, c in zip(targets, cot_list, strict=True):
            if isinstance(t, Tensor) and t._nodes is not None and self in t._nodes:
                outs.append(Expr(g, t._nodes[self]))
                cots.append(c)
            elif isinstance(t, Variable) and id(t) in self._inputs:
                outs.append(Expr(g, self._inputs[id(t)][-1][1]))
                cots.append(c)
        per_source: list[list[int]] = []
        wrt: list[int] = []
        for s in flat:
            ids = self._source_ids(s)
            per_source.append(ids)
            wrt.extend(i for i in ids if i not in wrt)
        if not outs or not wrt:
            return [_zeros_for(s) for s in flat]
        cotangents = None
        if any(c is not None for c in cots):
            cotangents = [
                _ones_like(self._values[o.id]) if c is None else np.asarray(_value_of(c))
                for o, c in zip(outs, cots, strict=True)
            ]
        grads = _ops_vjp(outs, [Expr(g, w) for w in wrt], cotangents)
        gid = {w: e.id for w, e in zip(wrt, grads, strict=True)}
        self._outputs.extend([o.id for o in outs] + list(gid.values()))
        values = self._evaluate(list(gid.values()))
        by_id = dict(zip(gid.values(), values, strict=True))
        result = []
        for s, ids in zip(flat, per_source, strict=True):
            if not ids:
                result.append(_zeros_for(s))
                continue
            total = by_id[gid[ids[0]]]
            for i in ids[1:]:  # a Variable read before and after an assign
                total = total + by_id[gid[i]]
            result.append(total)
        return result

    def _source_ids(self, s: Any) -> list[int]:
        if isinstance(s, Tensor) and s._nodes is not None and self in s._nodes:
            return [s._nodes[self]]
        return [nid for _, nid in self._inputs.get(id(s), [])]

    def _evaluate(self, ids: list[int]) -> list[Any]:
        outer = [t for t in _active_tapes() if t is not self and t._recording]
        if not outer:
            return evaluate(self.graph, ids, {}, known=self._values)
        # An outer tape is recording: replay the gradient graph eagerly, so that
        # the outer tape records it and can differentiate it again.
        env: dict[int, Any] = {}
        nodes = self.graph.records()
        for n in sorted(ancestors(self.graph, ids, stop=self._objects)):
            node = nodes[n]
            if n in self._objects:
                env[n] = self._objects[n]
            elif node["op"] == "constant":
                env[n] = node["value"]
            else:
                env[n] = _run_eager(
                    node["op"], [env[a] for a in node["args"]], dict(node["params"]), outer
                )
        return [env[i] for i in ids]

    @property
    def outputs(self) -> list[Expr]:
        if self._outputs:
            ids = list(dict.fromkeys(i for i in self._outputs if i in self.graph))
        else:
            ids = [
                n
                for n in self.graph.nodes()
                if self.graph.n_users(n) == 0 and self.graph.op(n) not in ("input", "constant")
            ]
        return [Expr(self.graph, i) for i in ids]

    @property
    def values(self) -> dict[int, Any]:
        """Recorded forward values by node id (empty after a non-persistent gradient)."""
        return dict(self._values)

    def __repr__(self) -> str:
        return (
            f"<graphad.GradientTape persistent={self.persistent} {len(self.graph)} nodes recorded>"
        )


def _check_output_gradients(targets: list, given: Any, single: bool) -> list | None:
    """One cotangent array (or None) per target, each of its target's shape.

    For a single target, ``given`` is one array (a nested list is an array too);
    a one-element list holding an array of the target's shape is accepted as well,
    as TensorFlow does.  For a list of targets, a list of the same length."""
    if given is None:
        return None
    if single:
        want = (
            np.shape(_value_of(targets[0])) if isinstance(targets[0], Tensor | Variable) else None
        )
        if (
            isinstance(given, list | tuple)
            and len(given) == 1
            and want is not None
            and np.shape(_value_of(given[0])) == want
            and np.shape(given) != want
        ):
            given = given[0]
        cots = [given]
    else:
        if not isinstance(given, list | tuple) or len(given) != len(targets):
            got = f"{len(given)} items" if isinstance(given, list | tuple) else "one array"
            raise GraphadError(
                f"GradientTape.gradient: output_gradients must be a list with one entry per "
                f"target ({len(targets)}), got {got}"
            )
        cots = list(given)
    out: list = []
    for k, (t, c) in enumerate(zip(targets, cots, strict=True)):
        where = "output_gradients" if single else f"output_gradients[{k}]"
        if c is None:
            out.append(None)
            continue
        arr = np.asarray(_value_of(c))
        if arr.dtype == object or arr.dtype.kind not in "biuf":
            raise DTypeError(f"GradientTape.gradient: {where} has dtype {arr.dtype}, not numbers")
        if isinstance(t, Tensor | Variable):
            want = np.shape(_value_of(t))
            if arr.shape != want:
                raise ShapeError(
                    f"GradientTape.gradient: {where} has shape {arr.shape}, but its target "
                    f"has shape {want}"
                )
        out.append(arr)
    return out


def _ops_vjp(outs: list[Expr], wrt: list[Expr], cotangents: Any) -> list[Expr]:
    from ..transforms.autodiff import _vjp

    # a tape differentiates with respect to intermediate tensors too, as TensorFlow's
    return _vjp(outs, wrt, cotangents, inputs_only=False)


def _ones_like(value: Any) -> np.ndarray:
    dt = np.result_type(value)
    return np.ones(np.shape(value), dt if dt.kind in "fc" else np.float64)


def _zeros_for(s: Any) -> Any:
    arr = np.asarray(_value_of(s))
    dt = arr.dtype if arr.dtype.kind in "fc" else np.dtype(np.float64)
    z = np.zeros(arr.shape, dt)
    return z[()] if z.ndim == 0 else z


def _flatten_sources(sources: Any):
    if isinstance(sources, dict):
        keys = list(sources)
        return [sources[k] for k in keys], lambda r: dict(zip(keys, r, strict=True))
    if isinstance(sources, list):
        return list(sources), list
    if isinstance(sources, tuple):
        return list(sources), tuple
    return [sources], lambda r: r[0]


# -- tracing: Variables as symbolic inputs -------------------------------------------------------


class _Tracer:
    """Builds a symbolic graph from eager code: Variables of ``var_list`` become the
    inputs ``var0, var1...``; every other array or tensor read becomes a captured
    input ``cap0, cap1...`` (its value is fed at each call, never baked in)."""

    def __init__(self, graph: Graph, var_list: Sequence[Variable]):
        self.graph = graph
        self.vars = {id(v): i for i, v in enumerate(var_list)}
        self.var_list = list(var_list)
        self.captured: list[Any] = []
        self._cap_ids: dict[int, int] = {}
        self.var_inputs = [
            Expr(graph, graph.input(f"var{i}", v.shape, v.dtype)) for i, v in enumerate(var_list)
        ]

    def expr_of(self, a: Any) -> Expr:
        g = self.graph
        if isinstance(a, Expr):
            if a.graph is g:
                return a
            return Expr(g, g.constant(_expr_constant(a)))
        if isinstance(a, Variable) and id(a) in self.vars:
            return self.var_inputs[self.vars[id(a)]]
        if isinstance(a, bool | int | float):
            return Expr(g, g.constant(a))
        k = self._cap_ids.get(id(a))
        if k is None:
            value = np.asarray(_value_of(a))
            k = self._cap_ids[id(a)] = len(self.captured)
            self.captured.append(a)  # the object itself: keeps id(a) valid during the trace
            g.input(f"cap{k}", value.shape, value.dtype)
        return Expr(g, g.input_id(f"cap{k}"))

    def record(self, op_name: str, args: Sequence, params: dict) -> Expr:
        exprs = [self.expr_of(a) for a in args]
        if _ops.OPS[op_name].nargs is None:
            return _ops.apply(op_name, exprs, **params)
        return _ops.apply(op_name, *exprs, **params)

    def captured_values(self) -> list[Any]:
        return [np.asarray(_value_of(a)) for a in self.captured]


@contextmanager
def tracing(graph: Graph, var_list: Sequence[Variable]) -> Iterator[_Tracer]:
    """Inside this block, operations on Variables build nodes of ``graph`` (for optimizers)."""
    previous = _tracer()
    tracer = _Tracer(graph, var_list)
    _local.tracer = tracer
    try:
        with graph:
            yield tracer
    finally:
        _local.tracer = previous


def call_expr(expr: Expr, values: dict[str, Any]) -> Any:
    """Apply a symbolic expression to (eager) values by replaying its ops.

    With Variables as values the result is an eager tensor (recorded by an
    active tape), or a traced node inside :func:`tracing`.

    Examples
    --------
    >>> import graphad as ga
    >>> from graphad.eager.tape import call_expr
    >>> with ga.Graph():
    ...     e = ga.parse("x**2 + x - 1")
    >>> float(call_expr(e, {"x": ga.Variable(3.0)}))
    11.0
    """
    graph = expr.graph
    nodes = graph.records()
    env: dict[int, Any] = {}
    for n in topo_order(graph, [expr.id]):
        node = nodes[n]
        if node["op"] == "input":
            if node["name"] not in values:
                raise GraphadError(f"no value given for input {node['name']!r}")
            env[n] = values[node["name"]]
        elif node["op"] == "constant":
            env[n] = node["value"]
        else:
            args = [env[a] for a in node["args"]]
            if _ops.OPS[node["op"]].nargs is None:
                env[n] = _ops.apply(node["op"], args, **dict(node["params"]))
            else:
                env[n] = _ops.apply(node["op"], *args, **dict(node["params"]))
    return env[expr.id]
