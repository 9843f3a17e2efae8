"""Text to graph: the builder behind :func:`parse`.

The tokenizer and parser (:mod:`graphad.frontends.text`) know no graphs; they call
a builder for each number, name, operator and call.  This one builds the nodes with
the ``ga`` functions, in a transaction, under the current resource limits.
"""

from __future__ import annotations

import functools
import inspect
import math
from typing import Any, ClassVar

from .. import ops as _ops
from ..core.errors import LimitError, ParseError, UnknownNameError
from ..core.expr import Expr
from ..core.graph import Graph, get_default_graph
from ..core.limits import Limits, current
from .text import parse as _parse

__all__ = ["parse"]


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
        # limits (graphad.core.limits): nodes this parse adds, elements of a static shape
        self.stop = graph.next_id + max_nodes if max_nodes else None
        self.max_nodes = max_nodes
        self.max_elements = max_elements

    def _checked(self, e: Expr) -> Expr:
        if self.stop is not None and self.graph.next_id > self.stop:
            raise LimitError(
                f"the expression needs more than {self.max_nodes} graph nodes; "
                f"the limit is max_nodes={self.max_nodes} (see ga.limits)"
            )
        node = self.graph.node(e.id)
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
        return name in _ops.PARSER_FUNCTIONS or (name in _ops.OPS and _ops.OPS[name].custom)

    def call(self, func: str, args: list, kwargs: dict):
        if func in _ops.PARSER_FUNCTIONS:
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
        if kwargs and func in _ops.PARSER_FUNCTIONS:
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
    limits : graphad.core.limits.Limits or graphad.frontends.text.ParseLimits, optional
        Resource limits; default ``ga.limits.current()``.  Integer literals
        must fit in int64.

    Returns
    -------
    Expr
        The expression's output node.

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
    graphad.ParseError: ...
    """
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
