"""``Expr``: a handle on one node of a graph, with Python operators and NumPy-like methods."""

from __future__ import annotations

import functools
import inspect
import math
import re
from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np

from . import ops as _ops
from .errors import GraphadError, LimitError, ParseError, UnknownNameError
from .graph import Graph, ancestors, get_default_graph

__all__ = ["Expr", "symbols", "symbol", "constant", "parse", "to_string"]


class Expr:
    """A handle on one node of a :class:`Graph`.

    Exprs are interned: one node has one Expr object, so Exprs can be dict keys.
    Comparison operators build boolean nodes (for :func:`graphad.where`), so
    the truth value of an Expr is an error, as for NumPy arrays.

    Examples
    --------
    >>> import graphad as ga
    >>> x, y = ga.symbols("x y")
    >>> e = x**2 + ga.sin(x * y)
    >>> e.free_symbols
    ('x', 'y')
    >>> float(e.eval(x=3.0, y=0.0))
    9.0
    """

    __slots__ = ("graph", "id", "__weakref__")
    __array_ufunc__ = None  # make NumPy defer to our reflected operators

    def __new__(cls, graph: Graph, nid: int) -> Expr:
        cache = graph._exprs
        found = cache.get(nid)
        if found is None:
            new = object.__new__(cls)
            new.graph = graph
            new.id = nid
            # setdefault is atomic: two threads get the same handle, never two
            found = cache.setdefault(nid, new)
        return found

    # -- node facts ---------------------------------------------------------------
    @property
    def op(self) -> str:
        """The op name of this node (``"input"``, ``"constant"``, ``"sin"``...)."""
        return self.graph.node(self.id)["op"]

    @property
    def args(self) -> tuple[Expr, ...]:
        return tuple(Expr(self.graph, a) for a in self.graph.node(self.id)["args"])

    @property
    def params(self) -> dict[str, Any]:
        return dict(self.graph.node(self.id)["params"])

    @property
    def role(self) -> str:
        return self.graph.node(self.id)["role"]

    @property
    def shape(self) -> tuple[int, ...] | None:
        """Static shape, or ``None`` where it is not known before evaluation."""
        return self.graph.node(self.id)["shape"]

    @property
    def dtype(self) -> np.dtype | None:
        return self.graph.node(self.id)["dtype"]

    @property
    def ndim(self) -> int | None:
        s = self.shape
        return None if s is None else len(s)

    @property
    def name(self) -> str | None:
        return self.graph.node(self.id).get("name")

    @property
    def free_symbols(self) -> tuple[str, ...]:
        """Names of the inputs this expression uses, in sorted string order."""
        nodes = self.graph._nodes
        return tuple(
            sorted(
                nodes[n]["name"]
                for n in ancestors(self.graph, [self.id])
                if nodes[n]["op"] == "input"
            )
        )

    # -- evaluation ---------------------------------------------------------------
    def eval(self, mapping: Mapping[Any, Any] | None = None, /, **values: Any) -> Any:
        """Evaluate with NumPy: ``e.eval(x=3.0)`` or ``e.eval({"x": 3.0})``.

        Returns a NumPy scalar for 0-d results, an ndarray otherwise.  Values
        for names the expression does not use are ignored.
        """
        from .interp import evaluate

        return evaluate(self.graph, [self.id], _named_values(mapping, values))[0]

    # -- operators ------------------------------------------------------------------
    # ``+ - * / ** @ %``, their reflected forms, ``-x``, ``abs(x)`` and the comparisons
    # are installed from the op table's ``dunder`` facet (ops.core.install_operators).
    def __pos__(self):
        return self

    def __hash__(self) -> int:
        return hash((id(self.graph), self.id))

    def __bool__(self) -> bool:
        raise TypeError(
            "the truth value of a graphad Expr is ambiguous: it is a symbolic "
            "value; use ga.where(...) for a condition, or evaluate it first"
        )

    def __getitem__(self, index):
        """Basic indexing with ints and slices (``x[1:]``, ``m[:, 0]``): a view, as in NumPy."""
        return _ops.getitem(self, index)

    def __iter__(self):
        raise TypeError("a graphad Expr is not iterable")

    def __len__(self) -> int:
        raise TypeError("len() of a graphad Expr is undefined; use .shape")

    # -- NumPy-like methods ------------------------------------------------------------
    @property
    def T(self) -> Expr:
        return _ops.transpose(self)

    def sum(self, axis=None, keepdims=False) -> Expr:
        return _ops.sum(self, axis=axis, keepdims=keepdims)

    def mean(self, axis=None, keepdims=False) -> Expr:
        return _ops.mean(self, axis=axis, keepdims=keepdims)

    def prod(self, axis=None, keepdims=False) -> Expr:
        return _ops.prod(self, axis=axis, keepdims=keepdims)

    def max(self, axis=None, keepdims=False) -> Expr:
        return _ops.max(self, axis=axis, keepdims=keepdims)

    def min(self, axis=None, keepdims=False) -> Expr:
        return _ops.min(self, axis=axis, keepdims=keepdims)

    def reshape(self, *shape) -> Expr:
        if len(shape) == 1 and not isinstance(shape[0], int):
            shape = tuple(shape[0])
        return _ops.reshape(self, shape)

    def transpose(self, *axes) -> Expr:
        if len(axes) == 1 and not isinstance(axes[0], int):
            axes = tuple(axes[0]) if axes[0] is not None else ()
        return _ops.transpose(self, axes or None)

    # -- display ----------------------------------------------------------------------
    def __str__(self) -> str:
        return to_string(self)

    def __repr__(self) -> str:
        n = len(ancestors(self.graph, [self.id]))
        if n > 60:
            return f"<graphad.Expr v{self.id}: {self.op}, {n} nodes>"
        return f"Expr({to_string(self)})"

    def _repr_svg_(self) -> str | None:
        try:  # bounded for big graphs: at most render.DISPLAY_MAX_NODES boxes
            from .render import repr_svg

            return repr_svg(self)
        except Exception:  # no dot program: Jupyter falls back to the next format
            return None

    def _repr_latex_(self) -> str | None:
        try:  # names escaped; shared parts named; a short note when too big
            from ._display import LATEX_MAX_CHARS, LATEX_MAX_NODES
            from .printing import latex_display

            return latex_display(self, 10 * LATEX_MAX_NODES, LATEX_MAX_CHARS)
        except Exception:  # a display must never raise in a notebook
            return None


_ops.core.Expr = Expr  # the op table builds Exprs; expr.py imports it, so bind here
_ops.core._PLAIN.add(Expr)
_ops.core.install_operators(Expr)


def _named_values(mapping: Mapping[Any, Any] | None, values: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, v in (mapping or {}).items():
        if isinstance(key, Expr):
            if key.op != "input":
                raise GraphadError(f"values must be given for inputs, not for {key!r}")
            key = key.name
        out[str(key)] = v
    out.update(values)
    return out


# -- constructors ----------------------------------------------------------------------------


def symbol(
    name: str,
    shape: tuple[int, ...] | None = None,
    dtype: Any = None,
    *,
    graph: Graph | None = None,
) -> Expr:
    """One input, optionally with a static shape and dtype.

    Examples
    --------
    >>> import graphad as ga
    >>> W = ga.symbol("W", shape=(3, 2), dtype="float32")
    >>> W.shape, str(W.dtype)
    ((3, 2), 'float32')
    """
    if not isinstance(name, str) or not name:
        raise GraphadError(f"a symbol's name must be a non-empty string, not {name!r}")
    g = graph if graph is not None else get_default_graph()  # an empty Graph is falsy
    return Expr(g, g.input(name, shape, dtype))


def symbols(
    names: str,
    *,
    shape: tuple[int, ...] | None = None,
    dtype: Any = None,
    graph: Graph | None = None,
) -> Expr | tuple[Expr, ...]:
    """Inputs named by a string: ``symbols("x")`` is one Expr, ``symbols("x y")`` a tuple.

    Names are separated by spaces or commas, as in SymPy.

    Examples
    --------
    >>> import graphad as ga
    >>> x, y = ga.symbols("x y")
    >>> x.name, y.name
    ('x', 'y')
    """
    parts = [p for p in re.split(r"[\s,]+", names.strip()) if p]
    if not parts:
        raise GraphadError("symbols() needs at least one name")
    out = tuple(symbol(p, shape, dtype, graph=graph) for p in parts)
    return out[0] if len(out) == 1 else out


def constant(value: Any, dtype: Any = None, *, graph: Graph | None = None) -> Expr:
    """A constant node holding ``value`` (copied).

    Examples
    --------
    >>> import graphad as ga, numpy as np
    >>> ga.constant(np.eye(2)).shape
    (2, 2)
    """
    _ops.core._refuse_masked(value, "constant")  # before asarray drops the mask
    if dtype is not None:
        value = np.asarray(value, dtype=dtype)
    return _ops.as_expr(value, graph if graph is not None else get_default_graph())


# -- string form ------------------------------------------------------------------------------


def to_string(e: Expr, max_nodes: int = 10_000, max_chars: int = 1_000_000) -> str:
    """Python-syntax text of an expression, as people write it (:mod:`graphad.printing`).

    It parses back with :func:`parse` to an expression with the same values
    (up to rounding: products are collected, constants shown exactly).  A
    shared subexpression is written out at each use (``ga.printing.to_text(e,
    names=True)`` names it instead), so text can grow much faster than the
    graph: past ``max_nodes`` nodes or ``max_chars`` characters a ``<...>``
    summary is returned instead.
    """
    from .printing import to_text

    return to_text(e, names=False, max_nodes=max_nodes, max_chars=max_chars)


# -- parsing ---------------------------------------------------------------------------------


@functools.cache
def _graph_parameters(func: str) -> frozenset[str]:
    """The parameter names of a ``ga`` function that take graph operands (its first
    ``nargs`` parameters), as opposed to params such as ``axis``."""
    op_name, fn = _ops.FUNCTIONS[func]
    nargs = _ops.OPS[op_name].nargs or 1
    return frozenset(list(inspect.signature(fn).parameters)[:nargs])


class _GraphBuilder:
    """Builds parser output straight into a graph, through the ``ga`` functions."""

    # infix operators of parsed text: the op table's ``infix`` facet
    _BINARY: ClassVar[dict[str, str]] = {
        op.infix: op.name for op in _ops.OPS.values() if op.infix and op.nargs == 2
    }

    def __init__(self, graph: Graph, max_nodes: int = 0, max_elements: int = 0):
        self.graph = graph
        # limits (graphad.limits): nodes this parse adds, elements of a static shape
        self.stop = graph._next + max_nodes if max_nodes else None
        self.max_nodes = max_nodes
        self.max_elements = max_elements

    def _checked(self, e: Expr) -> Expr:
        if self.stop is not None and self.graph._next > self.stop:
            raise LimitError(
                f"the expression needs more than {self.max_nodes} graph nodes; "
                f"the limit is max_nodes={self.max_nodes} (see ga.limits)"
            )
        node = self.graph._nodes[e.id]
        shape = node["shape"]
        if shape is None and node["params"]:  # broadcast_to/reshape of an unknown shape
            shape = dict(node["params"]).get("shape")
            shape = shape if type(shape) is tuple and all(type(s) is int for s in shape) else None
        if self.max_elements and shape and math.prod(shape) > self.max_elements:
            raise LimitError(
                f"a tensor of shape {shape} has more than {self.max_elements} elements; "
                f"the limit is max_elements={self.max_elements} (see ga.limits)"
            )
        return e

    def number(self, value, text=""):
        if type(value) is int and not -(2**63) <= value < 2**63:
            digits = str(abs(value))
            shown = digits if len(digits) <= 30 else f"{digits[:12]}... ({len(digits)} digits)"
            raise ParseError(
                f"integer literal {shown} does not fit in int64; write it as a float, "
                f"e.g. {'-' if value < 0 else ''}{digits[0]}.{digits[1:4]}e{len(digits) - 1}"
            )
        return self._checked(Expr(self.graph, self.graph.constant(value)))

    def name(self, ident: str):
        if ident == "pi":
            return Expr(self.graph, self.graph.constant(math.pi))
        if ident == "e":
            return Expr(self.graph, self.graph.constant(math.e))
        return self._checked(Expr(self.graph, self.graph.input(ident)))

    def unary(self, op: str, operand):
        return self._checked(_ops.negative(operand)) if op == "-" else operand

    def binary(self, op: str, left, right):
        return self._checked(_ops.apply(self._BINARY[op], left, right))

    def is_function(self, name: str) -> bool:
        return name in _ops.PARSE_FUNCTIONS or (name in _ops.OPS and _ops.OPS[name].custom)

    def call(self, func: str, args: list, kwargs: dict):
        if func in _ops.PARSE_FUNCTIONS:
            fn = _ops.FUNCTIONS[func][1]
        elif func in _ops.OPS and _ops.OPS[func].custom:

            def fn(*a):
                return _ops.apply(func, *a)
        else:
            raise UnknownNameError(f"unknown function {func!r}")
        stack = [*args, *kwargs.values()]
        while stack:  # ints in tuples and keywords (shapes, axes) must fit in int64 too
            v = stack.pop()
            if isinstance(v, list | tuple):
                stack.extend(v)
            elif type(v) is int and not -(2**63) <= v < 2**63:
                self.number(v)  # raises the int64 error
        if kwargs and func in _ops.PARSE_FUNCTIONS:
            named = set(kwargs) & _graph_parameters(func)
            if named:  # sin(x=1) reads as binding x; an op's operands go by position
                raise ParseError(
                    f"{func}() takes its operand {sorted(named)[0]!r} by position, not as a keyword"
                )
        args = [self._wrap(a) for a in args]
        try:
            return self._checked(fn(*args, **kwargs))
        except TypeError as exc:
            raise ParseError(f"bad arguments to {func}(): {exc}") from None

    def _wrap(self, a):
        """Numbers in (nested) list arguments become constants; iterative, as lists
        may nest as deep as the parser's max_depth."""
        if not isinstance(a, list):
            return self._leaf(a)
        out: list = []
        stack = [(a, 0, out)]
        while stack:
            items, i, dest = stack.pop()
            while i < len(items):
                v = items[i]
                i += 1
                if isinstance(v, list):
                    inner: list = []
                    dest.append(inner)
                    stack.append((items, i, dest))
                    stack.append((v, 0, inner))
                    break
                dest.append(self._leaf(v))
        return out

    def _leaf(self, a):
        if isinstance(a, int | float) and not isinstance(a, bool):
            return self.number(a)
        return a


def parse(text: str, *, graph: Graph | None = None, limits: Any = None) -> Expr:
    """Parse Python-syntax expression text into a graph, safely (no ``eval``).

    Names become inputs (the same node as ``ga.symbols`` of that name), ``pi``
    and ``e`` are constants, and calls may use the ``ga`` functions.

    Parameters
    ----------
    text : str
    graph : Graph, optional
        Where the nodes go (default: the current graph).
    limits : graphad.limits.Limits or graphad.parse.ParseLimits, optional
        Resource limits; default ``ga.limits.current()``.  Integer literals
        must fit in int64.

    Raises
    ------
    ParseError
        With ``.position`` and a caret display under the fault; also for an
        exceeded limit, naming it (``max_nodes=...``).

    Examples
    --------
    >>> import graphad as ga
    >>> float(ga.parse("x**2 + x - 1").eval(x=3.0))
    11.0
    >>> ga.parse("2x")
    Traceback (most recent call last):
    ...
    graphad.errors.ParseError: ...
    """
    from .limits import Limits, current
    from .parse import parse as _parse

    if not isinstance(text, str):
        raise ParseError(f"expected a string, got {type(text).__name__}")
    g = graph if graph is not None else get_default_graph()  # an empty Graph is falsy
    lim = current()
    if isinstance(limits, Limits):
        lim, limits = limits, None
    plimits = lim.parse_limits() if limits is None else limits
    builder = _GraphBuilder(g, lim.max_nodes, lim.max_elements)
    with g.transaction():  # a rejected text leaves no nodes or inputs behind
        return _parse(text, builder, limits=plimits)
