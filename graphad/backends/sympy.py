"""Conversion between graphad graphs and SymPy expressions, through the op table.

Both directions are iterative (explicit stacks), so deep expressions convert
without hitting Python's recursion limit.  SymPy is imported here only.
"""

from __future__ import annotations

from typing import Any

from ..core.errors import GraphadError
from ..core.expr import Expr
from ..core.graph import Graph, ancestors, get_default_graph
from ..ops import OPS, apply, as_expr
from ..ops import elementwise as E

__all__ = ["to_sympy", "from_sympy"]


def to_sympy(e: Expr, *, real: bool = True) -> Any:
    """The SymPy expression of a scalar graph.

    Inputs become ``sympy.Symbol`` (real by default), so the conversion is the
    expression with every input a scalar.  It is refused (:class:`GraphadError`)
    where that would be wrong or cannot be known: an input declared with a
    non-scalar shape, or an op whose value is not a scalar when every input is
    one (``broadcast_to(x, (3,))``, a tensor constant, ``W @ v``): SymPy's
    scalar ``x`` is not a tensor, and ``sum``/``softmax`` of it would come out
    as ``x``/``1``.  An op without a SymPy equivalent is refused too.

    Parameters
    ----------
    e : Expr
        A scalar expression.
    real : bool
        Make the SymPy symbols real (default), so SymPy simplifies as for reals.

    Returns
    -------
    sympy.Expr
        The SymPy expression.

    Raises
    ------
    GraphadError
        For a non-scalar input or value, or an op without a SymPy equivalent.

    Examples
    --------
    >>> import graphad as ga
    >>> x = ga.symbols("x")
    >>> ga.to_sympy(x**2 + ga.sin(x))
    x**2 + sin(x)
    """
    import sympy as sp

    order = sorted(ancestors(e.graph, [e.id]))
    _check_scalar(e.graph, order)
    depth = _depth(e.graph, order)
    try:
        if depth > _EVALUATE_DEPTH:
            # SymPy's automatic simplification recurses once per level; a deep
            # expression is built unevaluated, which SymPy handles iteratively enough
            with sp.core.parameters.evaluate(False):
                return _build_sympy(sp, e, order, real)
        return _build_sympy(sp, e, order, real)
    except RecursionError:
        raise GraphadError(
            f"to_sympy: the expression is {depth} levels deep, too deep for "
            "SymPy's recursive algorithms"
        ) from None


_EVALUATE_DEPTH = 200


def _check_scalar(graph: Graph, order: list[int]) -> None:
    """Refuse unless every node is a scalar when every input is one (see :func:`to_sympy`).

    Shapes follow each op's shape rule from scalar inputs; a node whose rule
    fails or gives a non-scalar shape is named in the error.
    """
    import numpy as np

    nodes = graph.records()
    shapes: dict[int, tuple | None] = {}
    for n in order:
        node = nodes[n]
        op = node["op"]
        if op == "input":
            declared = node.get("shape")
            if declared not in (None, ()):
                raise GraphadError(
                    f"to_sympy: input {node['name'][:100]!r} is declared with shape "
                    f"{tuple(declared)}; SymPy's symbols are scalars, so only expressions "
                    "of scalar inputs convert"
                )
            shapes[n] = ()
            continue
        if op == "constant":
            shapes[n] = tuple(np.shape(node["value"]))
        else:
            spec = OPS.get(op)
            shape = None
            arg_shapes = [shapes[a] for a in node["args"]]
            if spec is not None and spec.shape is not None:
                try:
                    shape = spec.shape(*arg_shapes, **dict(node["params"]))
                except Exception:
                    shape = None
            elif spec is not None and all(s == () for s in arg_shapes):
                shape = ()  # a custom op without a shape rule: scalars in, a scalar out
            shapes[n] = None if shape is None else tuple(shape)
        if shapes[n] != () and op == "constant":
            raise GraphadError(
                f"to_sympy: node v{n} is a tensor constant of shape {shapes[n]}; "
                "only scalar graphs convert"
            )
        if shapes[n] != ():
            what = "unknown" if shapes[n] is None else str(shapes[n])
            raise GraphadError(
                f"to_sympy: node v{n} ({op}) is not a scalar when the inputs are (its shape: "
                f"{what}); SymPy's form of it would be wrong, so tensor expressions do not "
                "convert"
            )


def _depth(graph: Graph, order: list[int]) -> int:
    nodes = graph.records()
    depth: dict[int, int] = {}
    for n in order:
        depth[n] = 1 + max((depth[a] for a in nodes[n]["args"]), default=0)
    return depth[order[-1]] if order else 0


# Chains of one associative op become one n-ary SymPy Add/Mul: built pairwise, a
# 30,000-term sum was a 30,000-deep nest of unevaluated binary Adds, which SymPy's
# recursive algorithms (printing, diff, lambdify) cannot handle.
_CHAIN = {"add": "add", "subtract": "add", "multiply": "mul"}


def _chain_members(nodes: dict, order: list[int], root: int) -> set[int]:
    """Nodes folded into their only user's n-ary Add/Mul (never the output itself)."""
    uses: dict[int, int] = {}
    user: dict[int, int] = {}
    for n in order:
        for a in nodes[n]["args"]:
            uses[a] = uses.get(a, 0) + 1
            user[a] = n
    members = set()
    for n in order:
        kind = _CHAIN.get(nodes[n]["op"])
        if kind is None or n == root or uses.get(n) != 1:
            continue
        u = nodes[user[n]]
        if _CHAIN.get(u["op"]) == kind and not (u["op"] == "subtract" and u["args"][1] == n):
            members.add(n)
    return members


def _build_sympy(sp, e: Expr, order: list[int], real: bool) -> Any:
    import numpy as np

    nodes = e.graph.records()
    out: dict[int, Any] = {}
    members = _chain_members(nodes, order, e.id)
    terms: dict[int, list] = {}  # the operands collected so far for each chain node
    for n in order:
        node = nodes[n]
        op = node["op"]
        if op in _CHAIN and not node["params"]:
            collected: list = []
            for i, a in enumerate(node["args"]):
                if a in members:
                    collected.extend(terms.pop(a))
                else:
                    collected.append(-out[a] if op == "subtract" and i == 1 else out[a])
            if n in members:
                terms[n] = collected
            else:
                out[n] = (sp.Mul if op == "multiply" else sp.Add)(*collected)
        elif op == "input":
            out[n] = sp.Symbol(node["name"], real=real)
        elif op == "constant":
            v = np.asarray(node["value"])
            if v.ndim:
                raise GraphadError(
                    f"to_sympy: node v{n} is a tensor constant of shape "
                    f"{v.shape}; only scalar graphs convert"
                )
            item = v.item()
            out[n] = sp.Integer(item) if isinstance(item, int | bool) else sp.Float(item)
            if isinstance(node["value"], float) and float(item).is_integer() and abs(item) < 1e15:
                out[n] = sp.Integer(int(item))  # 2.0 -> 2 keeps x**2 polynomial in SymPy
            elif node.get("exact") is not None:  # a fold of Python scalars: log(2), 1/3
                out[n] = _exact_sympy(sp, node["exact"], out[n])
        else:
            spec = OPS.get(op)
            if spec is None or not spec.has_sympy:
                raise GraphadError(f"to_sympy: op {op!r} (node v{n}) has no SymPy equivalent")
            sargs = [out[a] for a in node["args"]]
            if op == "power" and all(getattr(s, "is_Number", False) for s in sargs):
                out[n] = _number_power(sp, *sargs)  # SymPy would compute 9**10**14 exactly
            else:
                out[n] = spec.to_sympy(sp, *sargs, **dict(node["params"]))
    return out[e.id]


def _exact_sympy(sp, tree: tuple, fallback: Any) -> Any:
    """The SymPy form of a recorded fold (``graphad.ops.core._exact_form``: at most a
    few nodes deep), or ``fallback`` (the float) where a part has no SymPy form."""
    import math

    def build(t: tuple) -> Any:
        if t[0] == "num":
            v = t[1]
            if v == math.pi:
                return sp.pi
            if v == math.e:
                return sp.E
            if isinstance(v, bool | int) or (float(v).is_integer() and abs(v) < 1e15):
                return sp.Integer(int(v))
            return sp.Float(v)
        spec = OPS.get(t[0])
        return spec.to_sympy(sp, *[build(a) for a in t[1]])

    try:
        return build(tree)
    except Exception:
        return fallback


# Exact rational powers are kept while their result has at most this many bits.
_EXACT_POWER_BITS = 4096


def _number_power(sp, base, exponent):
    """``base**exponent`` for SymPy numbers without unbounded exact arithmetic.

    Small exact powers stay exact (``2**10`` is 1024); larger ones become the
    float64 value NumPy computes at run time (``inf`` past the float range),
    as constant folding does, so conversion never hangs or exhausts memory.
    """
    if base.is_Rational and exponent.is_Rational:
        size = max(abs(base.p).bit_length(), abs(base.q).bit_length(), 1)
        if abs(exponent.p) * size <= _EXACT_POWER_BITS and exponent.q <= 64:
            return base**exponent
    elif not (base.is_Rational or exponent.is_Rational):
        return base**exponent  # Floats (and oo, nan) are evaluated at fixed precision
    import numpy as np

    with np.errstate(all="ignore"):
        value = float(np.power(np.float64(float(base)), np.float64(float(exponent))))
    return sp.Float(value)


def _sympy_table(sp) -> dict[Any, str]:
    """SymPy function -> op name, from the op table's ``sympy_name`` facet."""
    return {
        getattr(sp, op.sympy_name): op.name
        for op in OPS.values()
        if op.sympy_name is not None and op.public
    }


def from_sympy(expr: Any, *, graph: Graph | None = None) -> Expr:
    """A graph from a SymPy expression (symbols become inputs of the same name).

    Parameters
    ----------
    expr : sympy.Expr
        The SymPy expression (its functions must have graphad ops).
    graph : Graph, optional
        Where the nodes go (default: the current graph).

    Returns
    -------
    Expr
        The expression's output node.

    Raises
    ------
    GraphadError
        If ``expr`` is text (SymPy would eval it: use :func:`graphad.parse`), or holds a
        SymPy function graphad has no op for.

    Examples
    --------
    >>> import sympy, graphad as ga
    >>> x = sympy.Symbol("x")
    >>> float(ga.from_sympy(x**2 + sympy.sin(x)).eval(x=0.0))
    0.0
    """
    import sympy as sp

    if isinstance(expr, str | bytes):
        # sympify would run eval() on text; graphad never evaluates strings
        raise GraphadError(
            "from_sympy takes a SymPy expression, not text (SymPy would eval it); "
            "use ga.parse for strings"
        )
    g = graph if graph is not None else get_default_graph()  # an empty Graph is falsy
    table = _sympy_table(sp)
    done: dict[Any, Expr] = {}
    stack: list[tuple[Any, bool]] = [(sp.sympify(expr), False)]
    while stack:
        node, expanded = stack.pop()
        if node in done:
            continue
        if not expanded and node.args and not node.is_Number:
            stack.append((node, True))
            stack.extend((a, False) for a in node.args if a not in done)
            continue
        done[node] = _convert(sp, g, node, [done.get(a) for a in node.args], table)
    return done[sp.sympify(expr)]


def _convert(sp, g: Graph, node, args: list, table) -> Expr:
    if node.is_Symbol:
        return Expr(g, g.input(node.name))
    if node is sp.pi:
        return as_expr(float(sp.pi), g)
    if node is sp.E:
        return as_expr(float(sp.E), g)
    if node.is_Number:
        if node.is_Integer:
            return as_expr(int(node), g)
        if node.is_finite is False:
            return as_expr(float("inf") if node.is_positive else float("-inf"), g)
        return as_expr(float(node), g)
    if node.is_Add or node.is_Mul:
        fn = E.add if node.is_Add else E.multiply
        acc = args[0]
        for a in args[1:]:
            acc = fn(acc, a)
        return acc
    if node.is_Pow:
        ex = node.args[1]
        if ex == sp.Rational(1, 2):
            return E.sqrt(args[0])
        return E.power(args[0], args[1])
    if isinstance(node, sp.Piecewise):
        return _piecewise(sp, g, node)
    if node is sp.true or node is sp.false:
        return as_expr(bool(node), g)
    name = table.get(node.func)
    if name is not None:
        nargs = OPS[name].nargs
        if nargs == len(args):
            return apply(name, *args)
        if nargs == 2 and len(args) > 2:  # n-ary in SymPy (Max, Min): a chain of pairs
            acc = args[0]
            for a in args[1:]:
                acc = apply(name, acc, a)
            return acc
    raise GraphadError(f"from_sympy: no graphad op for SymPy's {node.func.__name__}")


def _piecewise(sp, g: Graph, node) -> Expr:
    # Piecewise((a, c1), (b, c2), ..., (z, True)) -> where(c1, a, where(c2, b, ... z))
    pieces = list(node.args)
    acc = from_sympy(pieces[-1].expr, graph=g) if pieces[-1].cond is sp.true else None
    if acc is None:
        acc = as_expr(float("nan"), g)
    else:
        pieces = pieces[:-1]
    for piece in reversed(pieces):
        cond = from_sympy(piece.cond, graph=g)
        acc = E.where(cond, from_sympy(piece.expr, graph=g), acc)
    return acc
