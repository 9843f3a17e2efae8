"""``Expr``: a handle on one node of a graph, with Python operators and NumPy-like methods."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from .errors import GraphadError
from .graph import Graph, ancestors, get_default_graph

__all__ = ["Expr", "symbols", "symbol"]


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

    if TYPE_CHECKING:
        # Attached at import time by the layers above (graphad.ops.expr_methods: the
        # operators and NumPy-like methods; graphad._methods: eval and the displays).
        # Declared here so that type checkers and editors see them on Expr.
        def __add__(self, other: Any) -> Expr: ...
        def __radd__(self, other: Any) -> Expr: ...
        def __sub__(self, other: Any) -> Expr: ...
        def __rsub__(self, other: Any) -> Expr: ...
        def __mul__(self, other: Any) -> Expr: ...
        def __rmul__(self, other: Any) -> Expr: ...
        def __truediv__(self, other: Any) -> Expr: ...
        def __rtruediv__(self, other: Any) -> Expr: ...
        def __pow__(self, other: Any) -> Expr: ...
        def __rpow__(self, other: Any) -> Expr: ...
        def __mod__(self, other: Any) -> Expr: ...
        def __rmod__(self, other: Any) -> Expr: ...
        def __matmul__(self, other: Any) -> Expr: ...
        def __rmatmul__(self, other: Any) -> Expr: ...
        def __neg__(self) -> Expr: ...
        def __pos__(self) -> Expr: ...
        def __abs__(self) -> Expr: ...
        def __lt__(self, other: Any) -> Expr: ...
        def __le__(self, other: Any) -> Expr: ...
        def __gt__(self, other: Any) -> Expr: ...
        def __ge__(self, other: Any) -> Expr: ...
        def __eq__(self, other: Any) -> Expr: ...  # type: ignore[override]
        def __ne__(self, other: Any) -> Expr: ...  # type: ignore[override]
        def __getitem__(self, index: Any) -> Expr: ...
        @property
        def T(self) -> Expr: ...
        def sum(self, axis: Any = None, keepdims: bool = False) -> Expr: ...
        def mean(self, axis: Any = None, keepdims: bool = False) -> Expr: ...
        def prod(self, axis: Any = None, keepdims: bool = False) -> Expr: ...
        def max(self, axis: Any = None, keepdims: bool = False) -> Expr: ...
        def min(self, axis: Any = None, keepdims: bool = False) -> Expr: ...
        def reshape(self, *shape: Any) -> Expr: ...
        def transpose(self, *axes: Any) -> Expr: ...
        def eval(self, mapping: Mapping[Any, Any] | None = None, /, **values: Any) -> Any: ...
        def _repr_svg_(self) -> str | None: ...
        def _repr_latex_(self) -> str | None: ...

    def __new__(cls, graph: Graph, nid: int) -> Expr:
        cache = graph.handles
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
        return self.graph.node(self.id).op

    @property
    def args(self) -> tuple[Expr, ...]:
        return tuple(Expr(self.graph, a) for a in self.graph.node(self.id).args)

    @property
    def params(self) -> dict[str, Any]:
        return dict(self.graph.node(self.id).params)

    @property
    def role(self) -> str:
        return self.graph.node(self.id).role

    @property
    def shape(self) -> tuple[int, ...] | None:
        """Static shape, or ``None`` where it is not known before evaluation."""
        return self.graph.node(self.id).shape

    @property
    def dtype(self) -> np.dtype | None:
        return self.graph.node(self.id).dtype

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
        nodes = self.graph.records()
        return tuple(
            sorted(
                nodes[n]["name"]
                for n in ancestors(self.graph, [self.id])
                if nodes[n]["op"] == "input"
            )
        )

    def __hash__(self) -> int:
        return hash((id(self.graph), self.id))

    def __bool__(self) -> bool:
        raise TypeError(
            "the truth value of a graphad Expr is ambiguous: it is a symbolic "
            "value; use ga.where(...) for a condition, or evaluate it first"
        )

    def __iter__(self) -> Iterator[Expr]:
        raise TypeError("a graphad Expr is not iterable")

    def __len__(self) -> int:
        raise TypeError("len() of a graphad Expr is undefined; use .shape")


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

    Parameters
    ----------
    name : str
        The input's name (an identifier), declared once per graph.
    shape : tuple of int, optional
        Static shape; ``None`` (default) leaves the graph shape-polymorphic.
    dtype : str or numpy dtype, optional
        Static dtype; ``None``: whatever the input is fed with.
    graph : Graph, optional
        Where the input goes (default: the current graph).

    Returns
    -------
    Expr
        The input node.

    Raises
    ------
    GraphadError
        For a name declared before, in the same graph, with another shape or
        dtype (the graph is left as it was).

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

    Parameters
    ----------
    names : str
        One or more names, separated by spaces or commas.
    shape, dtype : optional
        Given to every input, as :func:`symbol`.
    graph : Graph, optional
        Where the inputs go (default: the current graph).

    Returns
    -------
    Expr or tuple of Expr
        One Expr for one name, else a tuple in the order given.

    Raises
    ------
    GraphadError
        If ``names`` holds no name (or a name that is not valid, as for :func:`symbol`).

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
