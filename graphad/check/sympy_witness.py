"""The SymPy witness of the gradient checker: SymPy's derivative of a scalar graph at a point.

Along the graph, in this process, where every node is a scalar with a plain SymPy
form (each op's form and partials from ``sympy.diff``, cached, chained at the point in
high-precision arithmetic); otherwise the whole expression is differentiated by SymPy
in a child process stopped at its time limit (:mod:`graphad.backends.sympy_box`).
"""

from __future__ import annotations

import threading
from typing import Any

import numpy as np

from ..core.expr import Expr
from ..core.graph import topo_order
from ..ops import OPS
from .problem import _Problem

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


def _plain_forms(records: Any, order: list[int]) -> bool:
    """Whether every op node has a plain SymPy form (cached per op), so the derivative
    can be computed here along the graph."""
    try:
        import sympy as sp
    except ImportError:  # pragma: no cover - sympy is a dependency
        return False
    try:
        return all(
            records[n]["op"] in ("input", "constant") or _sympy_form(sp, records, n) is not None
            for n in order
        )
    except Exception:
        return False


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
        self.deferred = False  # computed in this process when first asked (:meth:`values`)
        self.prob, self.timeout = prob, timeout
        if any(np.ndim(prob.values[n]) for n in prob.values) or not scalar_output:
            self.note = "n/a: SymPy checks scalar graphs only"
            return
        if len(topo_order(prob.graph, [prob.out])) > 2000:
            self.note = "n/a: graph too large for SymPy"
            return

        records = prob.graph.records()
        order = topo_order(prob.graph, [prob.out])
        env = prob.values_at_point()
        if all(np.ndim(env.get(n, 0.0)) == 0 for n in order) and _plain_forms(records, order):
            # likely computable here along the graph: only when a verdict needs it, or
            # the report is read
            self.deferred = True
            return
        self._submit()

    def _submit(self) -> None:
        """Compute here along the graph, else send the expression to SymPy's process."""
        from ..backends import sympy_box as _sympy_box
        from ..backends.sympy import to_sympy

        prob, timeout = self.prob, self.timeout
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
        if self.deferred:
            self.deferred = False
            self._submit()
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
