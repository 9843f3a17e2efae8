"""The graph: a hash-consed networkx DAG of operations.

Node schema (attributes of ``Graph.nx.nodes[i]``):

``op``
    name of the op in the op table (``"input"`` and ``"constant"`` for leaves).
``args``
    tuple of argument node ids, in order.  This tuple is the truth: networkx
    edges are unordered and ``x*x`` has one edge.
``params``
    tuple of ``(key, value)`` pairs of static parameters (``axis`` ...).
``role``
    ``"input"``, ``"constant"``, ``"forward"`` or ``"grad"``.
``shape`` / ``dtype``
    static shape (tuple) and NumPy dtype where known, else ``None``.
``name``
    the input's name (inputs only).
``value``
    the constant's value (constants only).
``adjoint``
    for gradient nodes that hold a complete adjoint: list of
    ``(output_id, node_id)`` pairs meaning "this node is d output / d node".

Node ids come from a counter, so an argument always has a smaller id than its
user: ascending id order is a topological order, and traversals need neither
recursion nor networkx's generic sort.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Container, Iterable, Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np

from .errors import GraphadError

# networkx is imported by the first Graph, not by `import graphad`: it is a third of
# the start-up time of `graphad --help`, which never builds a graph
nx: Any = None

__all__ = [
    "Graph",
    "get_default_graph",
    "reset_default_graph",
    "ancestors",
    "topo_order",
    "gc_paused",
    "carry_adjoints",
]

# Arrays with more elements than this are keyed by identity, not by content,
# when hash-consing constants (hashing megabytes per node would dominate).
_CONTENT_KEY_MAX = 1 << 16


def _freeze(value: Any) -> Any:
    """Make a parameter value hashable (lists become tuples, arrays bytes)."""
    if isinstance(value, list | tuple):
        return tuple(_freeze(v) for v in value)
    if isinstance(value, np.ndarray):
        return ("ndarray", value.dtype.str, value.shape, value.tobytes())
    if isinstance(value, np.generic):
        return value.item()
    return value


def _constant_key(value: Any) -> tuple:
    t = type(value)
    if t is float or t is int or t is bool:
        # type name keeps 1, 1.0 and True apart; repr keeps 0.0 and -0.0 apart
        return ("constant", t.__name__, repr(value))
    arr = np.asarray(value)
    if arr.size <= _CONTENT_KEY_MAX:
        return ("constant", arr.dtype.str, arr.shape, arr.tobytes())
    return ("constant", "id", id(value))


class Graph:
    """A computational graph: a networkx DAG whose nodes are hash-consed ops.

    Use ``with Graph():`` to build expressions in a fresh graph instead of the
    default one.  Within one graph an input is identified by its name, and
    structurally equal expressions are the same node.

    Examples
    --------
    >>> import graphad as ga
    >>> with ga.Graph() as g:
    ...     x = ga.symbols("x")
    ...     e = ga.sin(x) + ga.sin(x)
    >>> sum(1 for n in g.nodes() if g.op(n) == "sin")
    1
    """

    def __init__(self) -> None:
        global nx
        if nx is None:
            import networkx

            nx = networkx
        self.nx = nx.DiGraph()
        # the node-attribute dict itself: networkx's ``nodes[...]`` view costs a
        # method call per lookup, which dominates traversals of large graphs
        self._nodes: dict[int, dict[str, Any]] = self.nx._node
        self._cons: dict[tuple, int] = {}
        self._inputs: dict[str, int] = {}
        self._next = 0
        self._role_stack: list[str] = ["forward"]
        self._lock = threading.RLock()
        # keeps large constants alive while they are keyed by id()
        self._pinned: list[Any] = []
        self._exprs: dict[int, Any] = {}  # interned Expr handles, one per node

    # -- context management -------------------------------------------------
    def __enter__(self) -> Graph:
        _stack().append(self)
        return self

    def __exit__(self, *exc: object) -> None:
        stack = _stack()
        if stack and stack[-1] is self:
            stack.pop()

    @contextmanager
    def role(self, role: str) -> Iterator[None]:
        """Mark every node created inside the block with ``role``."""
        with self._lock:
            self._role_stack.append(role)
        try:
            yield
        finally:
            with self._lock:
                self._role_stack.pop()

    @contextmanager
    def transaction(self) -> Iterator[Graph]:
        """All or nothing: if the block raises, the graph is put back as it was.

        Nodes created inside the block are removed (newest first) with their
        input names and hash-cons keys (inputs that existed before are never
        changed: a declaration is fixed when made).  The graph's lock is held throughout, so
        no other thread can build a node that would be removed with the block's,
        or hash-cons onto one of them.  Node ids are not reused: handles to the
        removed nodes name nothing rather than some later node.  Changes other
        than creating nodes and declaring inputs (e.g. adjoint marks written
        into existing nodes) are the caller's to avoid until the block can no
        longer fail.

        Examples
        --------
        >>> import graphad as ga
        >>> g = ga.Graph()
        >>> x = ga.symbol("x", graph=g)
        >>> try:
        ...     with g.transaction():
        ...         y = ga.sin(x) + ga.symbol("y", graph=g)
        ...         raise ValueError("changed my mind")
        ... except ValueError:
        ...     pass
        >>> len(g), sorted(g.inputs())
        (1, ['x'])
        """
        with self._lock:
            # O(what the block changes), not O(graph): the counter bounds the new nodes
            start, pinned = self._next, len(self._pinned)
            try:
                yield self
            except BaseException:
                for nid in range(self._next - 1, start - 1, -1):  # users before arguments
                    if nid in self._nodes:
                        self.remove(nid)  # also drops its hash-cons key and input name
                del self._pinned[pinned:]
                raise

    # -- node creation --------------------------------------------------------
    def _new(self, key: tuple | None, attrs: dict[str, Any]) -> int:
        with self._lock:
            if key is not None:
                found = self._cons.get(key)
                if found is not None:
                    return found
            nid = self._next
            self._next += 1
            attrs.setdefault("role", self._role_stack[-1])
            attrs["key"] = key
            # networkx's add_node/add_edge validate and copy on every call, which
            # dominated building large graphs; a new node whose arguments already
            # exist needs only these dict entries (DiGraph's documented layout).
            g = self.nx
            g._node[nid] = attrs
            succ, pred = g._succ, {}
            g._succ[nid] = {}
            g._pred[nid] = pred
            for a in attrs["args"]:
                if a not in pred:
                    edge: dict = {}
                    succ[a][nid] = edge
                    pred[a] = edge
            nx._clear_cache(g)
            if key is not None:
                self._cons[key] = nid
            return nid

    def input(self, name: str, shape: tuple[int, ...] | None = None, dtype: Any = None) -> int:
        """The input node called ``name`` (created on first use).

        A declaration is a constraint on the input, fixed when it is made: asking
        again with no shape or dtype, or with the same ones, returns the same node;
        a different shape or dtype (including one where the first said none) is an
        error that changes nothing, since expressions already built rely on it.
        """
        with self._lock:
            nid = self._inputs.get(name)
            dt = None if dtype is None else np.dtype(dtype)
            shp = None if shape is None else tuple(int(s) for s in shape)
            if nid is not None:
                node = self._nodes[nid]
                for what, want, have in (
                    ("shape", shp, node["shape"]),
                    ("dtype", dt, node["dtype"]),
                ):
                    if want is not None and have != want:
                        said = "no " + what if have is None else f"{what} {have}"
                        raise GraphadError(
                            f"input {name!r} was already declared with {said}, not {want}; "
                            f"declare it once (the first ga.symbol), or use a new name or a "
                            f"separate ga.Graph(); in a notebook, ga.reset_default_graph() "
                            f"starts afresh"
                        )
                return nid
            nid = self._new(
                None,
                {
                    "op": "input",
                    "args": (),
                    "params": (),
                    "role": "input",
                    "name": name,
                    "shape": shp,
                    "dtype": dt,
                },
            )
            self._inputs[name] = nid
            return nid

    def constant(self, value: Any) -> int:
        """A constant node.  Python scalars stay Python scalars (weakly typed,
        so ``x32 * 2.0`` stays float32, as in NumPy 2)."""
        if isinstance(value, np.generic):
            value = np.asarray(value)
        if not isinstance(value, bool | int | float):
            value = np.array(value)  # a private copy: later mutation can't change the graph
            value.setflags(write=False)
        return self._intern_constant(value)

    def adopt_constant(self, value: Any) -> int:
        """A constant node for a value that is already a graph constant (a Python scalar,
        or a private read-only array): shared, not copied (passes that copy graphs)."""
        if not isinstance(value, np.ndarray) or value.flags.writeable:
            return self.constant(value)
        return self._intern_constant(value)

    def _intern_constant(self, value: Any) -> int:
        """The node of a private constant value (hash-consed by content, or by identity
        for large arrays, which are then kept alive here)."""
        weak = isinstance(value, bool | int | float)
        key = _constant_key(value)
        found = self._cons.get(key)  # the common case: made before (_new checks again, locked)
        if found is not None:
            return found
        with self._lock:
            if key[1] == "id":
                self._pinned.append(value)
            return self._new(
                key,
                {
                    "op": "constant",
                    "args": (),
                    "params": (),
                    "role": "constant",
                    "value": value,
                    "shape": () if weak else value.shape,
                    "dtype": None if weak else value.dtype,
                },
            )

    def apply(
        self,
        op: str,
        args: tuple[int, ...],
        params: tuple = (),
        shape: tuple[int, ...] | None = None,
        dtype: Any = None,
    ) -> int:
        """The node ``op(*args, **params)``, reusing an equal existing node."""
        if params:
            params = _freeze(params)
        return self._new(
            (op, params, tuple(args)),
            {"op": op, "args": tuple(args), "params": params, "shape": shape, "dtype": dtype},
        )

    def remove(self, nid: int) -> None:
        """Drop a node no other node uses (for passes that clean up after themselves)."""
        with self._lock:
            if self.nx.out_degree(nid):
                raise GraphadError(f"node v{nid} is still used and cannot be removed")
            node = self.nx.nodes[nid]
            if node.get("key") is not None and self._cons.get(node["key"]) == nid:
                del self._cons[node["key"]]
            if node["op"] == "input" and self._inputs.get(node["name"]) == nid:
                del self._inputs[node["name"]]
            self._exprs.pop(nid, None)
            self.nx.remove_node(nid)

    # -- queries ----------------------------------------------------------------
    def __len__(self) -> int:
        return self.nx.number_of_nodes()

    def __contains__(self, nid: object) -> bool:
        return nid in self.nx

    def nodes(self) -> Iterable[int]:
        return self.nx.nodes

    def node(self, nid: int) -> dict[str, Any]:
        return self._nodes[nid]

    def op(self, nid: int) -> str:
        return self._nodes[nid]["op"]

    def args(self, nid: int) -> tuple[int, ...]:
        return self._nodes[nid]["args"]

    def params(self, nid: int) -> dict[str, Any]:
        return dict(self._nodes[nid]["params"])

    def inputs(self) -> dict[str, int]:
        """Mapping of input name to node id."""
        return dict(self._inputs)

    def input_id(self, name: str) -> int | None:
        return self._inputs.get(name)

    def label(self, nid: int) -> str:
        """A short human name for a node: the input name, or ``v<id>``."""
        node = self.nx.nodes[nid]
        if node["op"] == "input":
            return node["name"]
        return f"v{nid}"

    def __repr__(self) -> str:
        return f"<graphad.Graph with {len(self)} nodes, inputs {sorted(self._inputs)}>"


@contextmanager
def gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while a pass allocates many nodes.

    Graph nodes are long-lived dicts and tuples without cycles worth
    collecting; letting the collector rescan the whole growing graph made large
    transformations several times slower.  Nesting is safe.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def ancestors(graph: Graph, outputs: Iterable[int], stop: Container[int] = ()) -> set[int]:
    """Every node the outputs depend on, the outputs included (iterative).

    Nodes in ``stop`` are included but their arguments are not followed (values
    already known need nothing below them).
    """
    seen: set[int] = set()
    stack = list(outputs)
    nodes = graph._nodes
    while stack:
        n = stack.pop()
        if n in seen:
            continue
        seen.add(n)
        if n in stop:
            continue
        for a in nodes[n]["args"]:
            if a not in seen:
                stack.append(a)
    return seen


def carry_adjoints(old: Graph, new: Graph, mapping: dict[int, int]) -> None:
    """Copy the "this node is d output / d node" marks of ``old`` into ``new`` (a copy
    made by a pass, ``mapping`` taking old ids to new), where both ends survive."""
    old_nodes, new_nodes = old.nx.nodes, new.nx.nodes
    seen: dict[int, set] = {}  # one node can hold many adjoints (the seed of a long sum)
    for n, m in mapping.items():
        marks = old_nodes[n].get("adjoint")
        if not marks or m not in new_nodes:
            continue
        target = new_nodes[m].setdefault("adjoint", [])
        have = seen.get(m)
        if have is None:
            have = seen[m] = set(target)
        for out, of in marks:
            pair = (mapping.get(out), mapping.get(of))
            if None not in pair and pair not in have:
                have.add(pair)
                target.append(pair)
        if not target:
            del new_nodes[m]["adjoint"]


def topo_order(graph: Graph, outputs: Iterable[int]) -> list[int]:
    """The nodes the outputs need, arguments before users."""
    return sorted(ancestors(graph, outputs))


_local = threading.local()
_default_lock = threading.Lock()
_default: Graph | None = None  # made on first use (see the networkx note above)


def _stack() -> list[Graph]:
    stack = getattr(_local, "stack", None)
    if stack is None:
        stack = _local.stack = []
    return stack


def get_default_graph() -> Graph:
    """The graph new symbols go into: the innermost ``with Graph():``, else a global one."""
    global _default
    stack = _stack()
    if stack:
        return stack[-1]
    if _default is None:
        with _default_lock:
            if _default is None:
                _default = Graph()
    return _default


def reset_default_graph() -> Graph:
    """Replace the global default graph by a new, empty one, and return it (as TF1's).

    For notebooks: a cell that declares ``ga.symbol("W", shape=(4, 2))`` after an
    earlier run declared ``(3, 2)`` fails, since an input is declared once per
    graph; calling this first (at the top of the cell or notebook) starts over.
    Expressions built before keep their own graph and still work; they just do
    not mix with new ones.  Inside ``with ga.Graph():`` it is an error (that
    block's graph is the default there, and the with block already scopes it).

    Examples
    --------
    A notebook cell that can be run again with new shapes (not run here: the
    docstring examples each run inside their own ``with ga.Graph():``)::

        import graphad as ga
        ga.reset_default_graph()
        W = ga.symbol("W", shape=(4, 2))    # was (3, 2) in the previous run
    """
    global _default
    stack = _stack()
    if stack:
        raise GraphadError(
            "reset_default_graph() inside `with ga.Graph():` would not change the graph in "
            "use there; call it outside the with block"
        )
    with _default_lock:
        _default = Graph()
        return _default
