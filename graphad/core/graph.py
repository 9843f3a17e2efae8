"""The graph: a hash-consed DAG of operations, one typed :class:`Node` record per node.

Node record (``Graph.node(i)``; attributes, and read as a mapping too, ``node["op"]``):

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
``key``
    the hash-cons key the node is found by (``None`` for inputs).
``name``
    the input's name (inputs only).
``value``
    the constant's value (constants only).
``adjoint``
    for gradient nodes that hold a complete adjoint: list of
    ``(output_id, node_id)`` pairs meaning "this node is d output / d node".
``exact`` / ``grad_wrt``
    what a folded constant was folded from; the inputs a derivative is taken
    with respect to.

The optional fields (``name`` ... ``grad_wrt``) read as absent from the mapping
when unset, as the attribute dicts they replace did.

Node ids come from a counter, so an argument always has a smaller id than its
user: ascending id order is a topological order (:meth:`Graph.topo`), and
traversals need neither recursion nor networkx's generic sort.

``Graph.nx`` is a real ``networkx.DiGraph`` (edges argument -> user, node data the
records themselves), built when first asked for and rebuilt whenever the graph
has changed since: networkx algorithms run on it, while building a graph pays
for neither networkx's per-node dicts nor its checks.

One module on purpose, though past 600 lines: it is the Graph class, whose store, hash-consing
table, transactions and copies keep one invariant together (ids ascend topologically, keys
stay unique); splitting it would hand its internals to other modules, which a test forbids.
"""

from __future__ import annotations

import gc
import sys
import threading
from collections.abc import Callable, Container, Iterable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import numpy as np

from .errors import GraphadError

# networkx is imported by the first Graph, not by `import graphad`: it is a third of
# the start-up time of `graphad --help`, which never builds a graph
nx: Any = None

__all__ = [
    "Graph",
    "Node",
    "get_default_graph",
    "entered_graph",
    "reset_default_graph",
    "ancestors",
    "topo_order",
    "gc_paused",
    "carry_adjoints",
]

# Arrays with more elements than this are keyed by identity, not by content,
# when hash-consing constants (hashing megabytes per node would dominate).
_CONTENT_KEY_MAX = 1 << 16


_SIMPLE = frozenset({int, float, bool, str, type(None)})


def _freeze(value: Any) -> Any:
    """Make a parameter value hashable (lists become tuples, arrays bytes)."""
    if type(value) is tuple and all(
        type(p) is tuple and len(p) == 2 and type(p[1]) in _SIMPLE for p in value
    ):
        return value  # the common case: (key, scalar) pairs, already frozen
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


_REQUIRED = ("op", "args", "params", "role", "shape", "dtype", "key")
_OPTIONAL = ("name", "value", "adjoint", "exact", "grad_wrt")
_FIELDS = frozenset(_REQUIRED + _OPTIONAL)
# optional fields few nodes have: kept in the record's side dict, not a slot each
_RARE = ("adjoint", "exact", "grad_wrt")


def _rare_field(k: str) -> property:
    def get(self: Node) -> Any:
        extra = self.extra
        return None if extra is None else extra.get(k)

    def put(self: Node, v: Any) -> None:
        if v is None:
            if self.extra is not None:
                self.extra.pop(k, None)
        elif self.extra is None:
            self.extra = {k: v}
        else:
            self.extra[k] = v

    return property(get, put, doc=f"``{k}`` (``None`` when unset)")


class Node:
    """One node's record: attributes for the hot paths, a mapping for the rest.

    ``node.op`` and ``node["op"]`` read the same field.  The optional fields
    (``name``, ``value``, ``adjoint``, ``exact``, ``grad_wrt``) are ``None``
    when unset and then absent from the mapping (``"exact" in node`` is False,
    ``node.get("adjoint", ())`` gives ``()``).  Keys that are no field (set by
    a user through ``graph.nx``, say) live in a small side dict.
    """

    __slots__ = (*_REQUIRED, "name", "value", "nusers", "extra")

    adjoint = _rare_field("adjoint")
    exact = _rare_field("exact")
    grad_wrt = _rare_field("grad_wrt")

    def __init__(
        self,
        op: str,
        args: tuple[int, ...],
        params: tuple,
        role: str,
        shape: tuple[int, ...] | None,
        dtype: Any,
        key: tuple | None,
        name: str | None = None,
        value: Any = None,
    ) -> None:
        self.op = op
        self.args = args
        self.params = params
        self.role = role
        self.shape = shape
        self.dtype = dtype
        self.key = key
        self.name = name
        self.value = value
        self.extra = None
        self.nusers = 0  # distinct nodes that use this one (the out-degree)

    # -- the mapping view ---------------------------------------------------------
    def __getitem__(self, k: str) -> Any:
        if k in _FIELDS:
            v = getattr(self, k)
            if v is None and k in _OPTIONAL:
                raise KeyError(k)
            return v
        if self.extra is not None and k in self.extra:
            return self.extra[k]
        raise KeyError(k)

    def get(self, k: str, default: Any = None) -> Any:
        if k in _FIELDS:
            v = getattr(self, k)
            return default if v is None and k in _OPTIONAL else v
        return default if self.extra is None else self.extra.get(k, default)

    def __contains__(self, k: object) -> bool:
        if k in _FIELDS:
            return k in _REQUIRED or getattr(self, k) is not None  # type: ignore[arg-type]
        return self.extra is not None and k in self.extra

    def __setitem__(self, k: str, v: Any) -> None:
        if k in _FIELDS:
            setattr(self, k, v)
        else:
            if self.extra is None:
                self.extra = {}
            self.extra[k] = v

    def __delitem__(self, k: str) -> None:
        if k in _OPTIONAL and getattr(self, k) is not None:
            setattr(self, k, None)
        elif self.extra is not None and k in self.extra:
            del self.extra[k]
        else:
            raise KeyError(k)

    def setdefault(self, k: str, default: Any = None) -> Any:
        if k not in self:
            self[k] = default
        return self[k]

    def pop(self, k: str, *default: Any) -> Any:
        if k in self:
            v = self[k]
            del self[k]
            return v
        if default:
            return default[0]
        raise KeyError(k)

    def keys(self) -> list[str]:
        out = list(_REQUIRED)
        if self.name is not None:
            out.append("name")
        if self.value is not None:
            out.append("value")
        if self.extra:
            out += list(self.extra)  # the rare fields that are set, and any other keys
        return out

    def __iter__(self) -> Iterator[str]:
        return iter(self.keys())

    def __len__(self) -> int:
        return len(self.keys())

    def items(self) -> list[tuple[str, Any]]:
        return [(k, self[k]) for k in self.keys()]

    def values(self) -> list[Any]:
        return [self[k] for k in self.keys()]

    def update(self, other: Any = (), **kw: Any) -> None:
        for k, v in dict(other, **kw).items():
            self[k] = v

    def copy(self) -> dict[str, Any]:
        """A plain dict of the fields (what networkx's graph copies make of node data)."""
        return dict(self.items())

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Node | dict):
            return dict(self.items()) == dict(other.items())
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"Node({dict(self.items())!r})"


_new_record = object.__new__


class Graph:
    """A computational graph: a DAG whose nodes are hash-consed ops.

    Use ``with Graph():`` to build expressions in a fresh graph instead of the
    default one.  Within one graph an input is identified by its name, and
    structurally equal expressions are the same node.  ``graph.nx`` is the same
    DAG as a ``networkx.DiGraph``.

    Examples
    --------
    >>> import graphad as ga
    >>> with ga.Graph() as g:
    ...     x = ga.symbols("x")
    ...     e = ga.sin(x) + ga.sin(x)
    >>> sum(1 for n in g.nodes() if g.op(n) == "sin")
    1
    >>> g.users(x.id) == [g.node(e.id).args[0]]
    True
    """

    def __init__(self) -> None:
        # the records in id order (insertion order is ascending id order: a topological order)
        self._nodes: dict[int, Node] = {}
        self._cons: dict[tuple, int] = {}
        self._inputs: dict[str, int] = {}
        self._next = 0
        self._version = 0  # bumped by every structural change (for the nx view)
        self._view: Any = None
        self._view_version = -1
        self._role_stack: list[str] = ["forward"]
        self._lock = threading.RLock()
        # keeps large constants alive while they are keyed by id()
        self._pinned: list[Any] = []
        self.handles: dict[int, Any] = {}  # interned Expr handles, one per node (graphad.expr)
        self._caches: dict[str, Any] = {}

    # -- context management -------------------------------------------------
    def __enter__(self) -> Graph:
        _stack().append(self)
        return self

    def __exit__(self, *exc: object) -> None:
        stack = _stack()
        if stack and stack[-1] is self:
            stack.pop()

    @property
    def lock(self) -> threading.RLock:
        """The graph's re-entrant lock: hold it for a consistent read while other
        threads build (every node creation takes it)."""
        return self._lock

    @property
    def next_id(self) -> int:
        """The id the next new node gets (ids are never reused): nodes made after
        reading it have ids >= it."""
        return self._next

    def cache(self, name: str) -> dict:
        """A dict kept with the graph for a pass's derived data (``name`` keeps passes
        apart); valid as long as nodes are not removed, since nodes never change."""
        found = self._caches.get(name)
        if found is None:
            found = self._caches[name] = {}
        return found

    # -- pickling ------------------------------------------------------------
    def __getstate__(self) -> dict[str, Any]:
        """The graph's records without what is per process: the lock (it does not
        pickle), the Expr handles (remade on demand), the networkx view and the
        passes' caches (derived data, rebuilt when next asked for)."""
        with self._lock:  # a consistent copy of the tables while other threads may build
            state = dict(self.__dict__)
            for k in ("_nodes", "_cons", "_inputs", "_pinned"):
                state[k] = state[k].copy()
        for k in ("_lock", "handles", "_view", "_caches"):
            del state[k]
        state["_role_stack"] = ["forward"]
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._lock = threading.RLock()
        self.handles = {}
        self._view, self._view_version = None, -1
        self._caches = {}
        for node in self._nodes.values():  # pickle does not keep arrays read-only
            if isinstance(node.value, np.ndarray):
                node.value.setflags(write=False)
        # large constants are hash-consed by id(value), and the values have new ids here:
        # rekey them, or a stale id could match an unrelated array made later
        stale = [
            node
            for node in self._nodes.values()
            if node.key is not None and node.key[:2] == ("constant", "id")
        ]
        owners = [self._cons.pop(node.key) for node in stale if node.key in self._cons]
        for node in stale:
            node.key = ("constant", "id", id(node.value))
        for nid in owners:
            self._cons[self._nodes[nid].key] = nid

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
                self.prune((), since=start)
                del self._pinned[pinned:]
                raise

    # -- node creation --------------------------------------------------------
    def _add(self, nid: int, node: Node) -> int:
        """Store ``node`` under ``nid`` (lock held; its arguments exist)."""
        self._nodes[nid] = node
        nodes = self._nodes
        args = node.args
        if args:
            if len(args) == 1 or (len(args) == 2 and args[0] != args[1]):
                for a in args:
                    nodes[a].nusers += 1
            else:
                for a in set(args):
                    nodes[a].nusers += 1
        if node.key is not None:
            self._cons[node.key] = nid
        self._version += 1
        return nid

    def _make(self, key: tuple | None, node: Node) -> int:
        """The node found by ``key``, else ``node`` stored under a fresh id."""
        with self._lock:
            if key is not None:
                found = self._cons.get(key)
                if found is not None:
                    return found
            nid = self._next
            self._next = nid + 1
            return self._add(nid, node)

    def input(self, name: str, shape: tuple[int, ...] | None = None, dtype: Any = None) -> int:
        """The input node called ``name`` (created on first use).

        A declaration is a constraint on the input, fixed when it is made: asking
        again with no shape or dtype, or with the same ones, returns the same node;
        a different shape or dtype (including one where the first said none) is an
        error that changes nothing, since expressions already built rely on it.

        Raises
        ------
        GraphadError
            If ``name`` was declared before with another shape or dtype (nothing is
            changed).
        """
        with self._lock:
            nid = self._inputs.get(name)
            dt = None if dtype is None else np.dtype(dtype)
            shp = None if shape is None else tuple(int(s) for s in shape)
            if nid is not None:
                node = self._nodes[nid]
                for what, want, have in (
                    ("shape", shp, node.shape),
                    ("dtype", dt, node.dtype),
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
            nid = self._make(None, Node("input", (), (), "input", shp, dt, None, name=name))
            self._inputs[name] = nid
            return nid

    def constant(self, value: Any, exact: tuple | None = None) -> int:
        """A constant node.  Python scalars stay Python scalars (weakly typed,
        so ``x32 * 2.0`` stays float32, as in NumPy 2).

        ``exact``: for a Python float folded from other constants, what it was folded
        from (``log(2)``, ``1 / 3``; see ``graphad.ops.core``), which printers and
        pictures show instead of the float.  Such a constant is its own node, shared
        only with equal folds: never with the literal of the same value, which must
        keep printing as that literal."""
        if isinstance(value, np.generic):
            value = np.asarray(value)
        if not isinstance(value, bool | int | float):
            value = np.array(value)  # a private copy: later mutation can't change the graph
            value.setflags(write=False)
        if exact is not None and type(value) is float:
            return self._intern_constant(value, exact)
        return self._intern_constant(value)

    def adopt_constant(self, value: Any) -> int:
        """A constant node for a value that is already a graph constant (a Python scalar,
        or a private read-only array): shared, not copied (passes that copy graphs)."""
        if not isinstance(value, np.ndarray) or value.flags.writeable:
            return self.constant(value)
        return self._intern_constant(value)

    def adopt(self, other: Graph, nid: int) -> int:
        """The constant node ``nid`` of graph ``other``, interned here (the same value,
        under the same key: constants hold private read-only values, nothing is copied).

        Raises
        ------
        GraphadError
            If node ``nid`` of ``other`` is not a constant.
        """
        node = other._nodes[nid]
        if node.op != "constant":
            raise GraphadError(f"only constants move between graphs, not a {node.op} node")
        key = node.key
        if key is None or key[0] != "constant":
            return self.constant(node.value)
        with self._lock:
            if key[1] == "id":  # keyed by id(value): keep the object alive in this graph too
                self._pinned.append(node.value)
            made = Node("constant", (), (), "constant", node.shape, node.dtype, key)
            made.value = node.value
            return self._make(key, made)

    def _intern_constant(self, value: Any, exact: tuple | None = None) -> int:
        """The node of a private constant value (hash-consed by content, or by identity
        for large arrays, which are then kept alive here); a recorded fold's ``exact``
        form is part of its key."""
        weak = isinstance(value, bool | int | float)
        key = _constant_key(value) if exact is None else (*_constant_key(value), exact)
        found = self._cons.get(key)  # the common case: made before (_make checks again, locked)
        if found is not None:
            return found
        with self._lock:
            if key[1] == "id":
                self._pinned.append(value)
            node = Node(
                "constant",
                (),
                (),
                "constant",
                () if weak else value.shape,
                None if weak else value.dtype,
                key,
                value=value,
            )
            node.exact = exact
            return self._make(key, node)

    def apply(
        self,
        op: str,
        args: tuple[int, ...],
        params: tuple = (),
        shape: tuple[int, ...] | None = None,
        dtype: Any = None,
        role: str | None = None,
    ) -> int:
        """The node ``op(*args, **params)``, reusing an equal existing node.

        ``role`` (default: the innermost :meth:`role` block's) applies to a new node only.
        """
        if params:
            params = _freeze(params)
        if type(args) is not tuple:
            args = tuple(args)
        key = (op, params, args)
        lock = self._lock
        # a transaction of this thread may hold the lock already (autodiff's does): then
        # taking it again would only count up and down
        owned = lock._is_owned()
        if not owned:
            lock.acquire()  # also waits out another thread's transaction (its nodes may go)
        try:
            cons = self._cons
            found = cons.get(key)
            if found is not None:
                return found
            nid = self._next
            self._next = nid + 1
            nodes = self._nodes
            # the record, made as Node(...) makes it without the call into __init__ (this
            # is the hot path of every pass that builds nodes)
            node = _new_record(Node)
            node.op = op
            node.args = args
            node.params = params
            node.role = role or self._role_stack[-1]
            node.shape = shape
            node.dtype = dtype
            node.key = key
            node.name = None
            node.value = None
            node.extra = None
            node.nusers = 0
            nodes[nid] = node
            # _add, inlined
            if len(args) == 1:
                nodes[args[0]].nusers += 1
            elif len(args) == 2 and args[0] != args[1]:
                nodes[args[0]].nusers += 1
                nodes[args[1]].nusers += 1
            else:
                for a in set(args):
                    nodes[a].nusers += 1
            cons[key] = nid
            self._version += 1
            return nid
        finally:
            if not owned:
                lock.release()

    def remove(self, nid: int) -> None:
        """Drop a node no other node uses (for passes that clean up after themselves).

        Raises
        ------
        GraphadError
            If another node still uses node ``nid`` (nothing is changed).
        """
        with self._lock:
            node = self._nodes[nid]
            if node.nusers:
                raise GraphadError(f"node v{nid} is still used and cannot be removed")
            if node.key is not None and self._cons.get(node.key) == nid:
                del self._cons[node.key]
            if node.op == "input" and self._inputs.get(node.name) == nid:  # type: ignore[arg-type]
                del self._inputs[node.name]  # type: ignore[arg-type]
            self.handles.pop(nid, None)
            args = node.args
            for a in set(args) if len(args) > 1 else args:
                self._nodes[a].nusers -= 1
            del self._nodes[nid]
            self._version += 1

    def prune(self, keep: Iterable[int], since: int = 0) -> int:
        """Remove the nodes with id >= ``since`` that no node in ``keep`` needs and that
        nothing else uses, newest first; returns how many were removed."""
        with self._lock:
            nodes = self._nodes
            # no walk from ``keep``: users have larger ids than their arguments, so newest
            # first a node's dead users are gone when it is reached, and one that nothing
            # uses then is needed by ``keep`` only if it is in it
            live = set(keep)
            removed = 0
            for n in range(self._next - 1, since - 1, -1):
                node = nodes.get(n)
                if node is not None and node.nusers == 0 and n not in live:
                    self.remove(n)
                    removed += 1
            return removed

    def copy(
        self,
        outputs: Iterable[int] | None = None,
        *,
        remap: Callable[[Graph, int, Node, tuple[int, ...]], int | None] | None = None,
        seed: dict[int, int] | None = None,
        marks: bool = True,
        into: Graph | None = None,
        order: list[int] | None = None,
    ) -> tuple[Graph, dict[int, int]]:
        """Copy the nodes ``outputs`` need (every node if ``None``) into a new graph.

        Nodes are visited arguments first.  ``seed`` maps old ids already made in the
        new graph (not visited).  ``remap(new, nid, node, args)`` builds node ``nid``
        (record ``node``, arguments already mapped to ``args``) in ``new`` and returns
        its id there, or ``None`` for an exact copy (same op, params, shape, dtype and
        role; inputs by name, constants shared).  The new graph is the innermost graph
        and its role is the node's while ``remap`` runs, so what it builds through
        ``apply`` lands there as the node's role.  ``marks`` carries the adjoint marks
        where both ends survive.  ``into``: a graph to copy into instead of a new one
        (where ``seed``'s nodes were made).  ``order``: ``self.topo(outputs)`` when the
        caller has it already (one walk fewer).  Returns the new graph and the id mapping.

        Examples
        --------
        >>> import graphad as ga
        >>> with ga.Graph() as g:
        ...     x = ga.symbol("x")
        ...     e = ga.sin(x) * 2.0
        ...     unused = ga.cos(x)
        >>> new, mapping = g.copy([e.id])
        >>> len(new), new.op(mapping[e.id])
        (4, 'multiply')
        """
        new = into if into is not None else Graph()
        mapping: dict[int, int] = dict(seed) if seed else {}
        nodes = self._nodes
        if order is None:
            order = list(nodes) if outputs is None else self.topo(outputs)
        roles = new._role_stack
        with gc_paused(), new:
            for n in order:
                if n in mapping:
                    continue
                node = nodes[n]
                args = tuple([mapping[a] for a in node.args])
                m = None
                if remap is not None:
                    if roles[-1] == node.role:  # the common case: no push and pop
                        m = remap(new, n, node, args)
                    else:
                        roles.append(node.role)
                        try:
                            m = remap(new, n, node, args)
                        finally:
                            roles.pop()
                if m is None:
                    m = new._copy_of(self, n, node, args)
                mapping[n] = m
            if marks:
                carry_adjoints(self, new, mapping)
        return new, mapping

    def subgraph(
        self, ids: Iterable[int], args: Callable[[int, Node], tuple[int, ...]] | None = None
    ) -> Graph:
        """A graph of the nodes ``ids`` under the same ids (a view to draw or print), no
        adjoint marks.  ``args(nid, node)`` may give a node other arguments (ids among
        ``ids``, smaller than ``nid``); such a node is not hash-consed."""
        view = Graph()
        nodes = self._nodes
        with self._lock:
            for n in sorted(ids):
                node = nodes[n]
                new_args = node.args if args is None else args(n, node)
                key = node.key if new_args == node.args else None
                made = Node(node.op, new_args, node.params, node.role, node.shape, node.dtype, key)
                made.name, made.value, made.exact = node.name, node.value, node.exact
                made.grad_wrt = node.grad_wrt
                view._add(n, made)
                if node.op == "input":
                    view._inputs[node.name] = n  # type: ignore[index]
            view._next = self._next
            view._pinned = list(self._pinned)
        return view

    def _copy_of(self, old: Graph, nid: int, node: Node, args: tuple[int, ...]) -> int:
        """An exact copy of ``old``'s node ``nid`` with arguments ``args`` (ids here)."""
        op = node.op
        if op == "input":
            return self.input(node.name, node.shape, node.dtype)  # type: ignore[arg-type]
        if op == "constant":
            return self.adopt(old, nid)
        return self.apply(op, args, node.params, node.shape, node.dtype, node.role)

    # -- queries ----------------------------------------------------------------
    def __len__(self) -> int:
        return len(self._nodes)

    def __contains__(self, nid: object) -> bool:
        return nid in self._nodes

    def nodes(self) -> Iterable[int]:
        """The node ids, ascending (a topological order)."""
        return self._nodes.keys()

    def records(self) -> Mapping[int, Node]:
        """Node id -> :class:`Node`, ascending (read it, don't change it: build through
        :meth:`apply`, :meth:`input`, :meth:`constant`)."""
        return self._nodes

    def node(self, nid: int) -> Node:
        return self._nodes[nid]

    def op(self, nid: int) -> str:
        return self._nodes[nid].op

    def args(self, nid: int) -> tuple[int, ...]:
        return self._nodes[nid].args

    def params(self, nid: int) -> dict[str, Any]:
        return dict(self._nodes[nid].params)

    def inputs(self) -> dict[str, int]:
        """Mapping of input name to node id."""
        return dict(self._inputs)

    def input_id(self, name: str) -> int | None:
        return self._inputs.get(name)

    def topo(self, outputs: Iterable[int] | None = None, stop: Container[int] = ()) -> list[int]:
        """The nodes ``outputs`` need (every node if ``None``), arguments before users;
        nodes in ``stop`` are included but what they need is not."""
        if outputs is None:
            return list(self._nodes)
        return sorted(ancestors(self, outputs, stop))

    def users(self, nid: int) -> list[int]:
        """The nodes that take ``nid`` as an argument, ascending."""
        with self._lock:
            index = self._caches.get("users")
            if index is None or index[0] != self._version:
                table: dict[int, list[int]] = {}
                for n, node in self._nodes.items():
                    args = node.args
                    for a in set(args) if len(args) > 1 else args:
                        table.setdefault(a, []).append(n)
                index = self._caches["users"] = (self._version, table)
            return list(index[1].get(nid, ()))

    def n_users(self, nid: int) -> int:
        """How many nodes use ``nid`` (its out-degree; O(1))."""
        return self._nodes[nid].nusers

    def sinks(self) -> list[int]:
        """The nodes nothing uses, ascending."""
        return [n for n, node in self._nodes.items() if not node.nusers]

    def content_hash(self, outputs: Iterable[int] | None = None) -> str:
        """A SHA-256 hex digest of what ``outputs`` compute (every node if ``None``): each
        needed node's op, parameters, shape, dtype, input name or constant value, and
        arguments by position, in topological order.  Node ids, roles and the graph's
        other nodes do not enter it, so two graphs built alike (in another process, by
        another Python function) hash alike.

        Parameters
        ----------
        outputs : iterable of int, optional
            The output node ids, in order.

        Returns
        -------
        str
            64 hex digits.

        Examples
        --------
        >>> import graphad as ga
        >>> def build():
        ...     with ga.Graph() as g:
        ...         x = ga.symbol("x")
        ...         return g.content_hash([(ga.sin(x) * 2.0).id])
        >>> build() == build()
        True
        """
        import hashlib

        outs = list(self._nodes) if outputs is None else list(outputs)
        order = self.topo(outs)
        where = {n: k for k, n in enumerate(order)}
        h = hashlib.sha256()
        for n in order:
            node = self._nodes[n]
            value = node.value
            if node.op == "constant" and value is not None:
                arr = np.asarray(value)
                const: Any = (arr.dtype.str, arr.shape, hashlib.sha256(arr.tobytes()).hexdigest())
            else:
                const = None
            record = (
                node.op,
                tuple(where[a] for a in node.args),
                repr(_freeze(node.params)),
                node.shape,
                str(node.dtype),
                node.name if node.op == "input" else None,
                const,
            )
            h.update(repr(record).encode())
            h.update(b";")
        h.update(repr([where[n] for n in outs]).encode())
        return h.hexdigest()

    def stats(self) -> dict[str, Any]:
        """Counts: nodes, edges, inputs, constants, nodes per op and per role, and an
        estimate of the bytes the graph's own structures take (records, keys, tables;
        constant values and Expr handles not included)."""
        ops: dict[str, int] = {}
        roles: dict[str, int] = {}
        edges = 0
        size = sys.getsizeof(self._nodes) + sys.getsizeof(self._cons)
        for node in self._nodes.values():
            ops[node.op] = ops.get(node.op, 0) + 1
            roles[node.role] = roles.get(node.role, 0) + 1
            edges += len(set(node.args))
            size += sys.getsizeof(node) + sys.getsizeof(node.args)
            if node.key is not None:
                size += sys.getsizeof(node.key)
        return {
            "nodes": len(self._nodes),
            "edges": edges,
            "inputs": len(self._inputs),
            "constants": ops.get("constant", 0),
            "ops": ops,
            "roles": roles,
            "next_id": self._next,
            "bytes": size,
        }

    @property
    def nx(self) -> Any:
        """The graph as a ``networkx.DiGraph``: an edge from each argument to its user,
        each node's data its :class:`Node` record (the same object).  Built on first use
        and again whenever the graph has changed since; changing it changes nothing
        here (build through the Graph)."""
        with self._lock:
            if self._view is None or self._view_version != self._version:
                global nx
                if nx is None:
                    import networkx

                    nx = networkx
                view = nx.DiGraph()
                view.add_nodes_from(self._nodes)
                view.add_edges_from((a, n) for n, node in self._nodes.items() for a in node.args)
                # the records themselves as node data (DiGraph keeps node data in _node), so
                # marks written later are seen through the view too
                view._node.update(self._nodes)
                self._view, self._view_version = view, self._version
            return self._view

    def label(self, nid: int) -> str:
        """A short human name for a node: the input name, or ``v<id>``."""
        node = self._nodes[nid]
        if node.op == "input":
            return node.name  # type: ignore[return-value]
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
    add, push, pop = seen.add, stack.extend, stack.pop
    if not stop:
        while stack:
            n = pop()
            if n not in seen:
                add(n)
                push(nodes[n].args)
        return seen
    while stack:
        n = pop()
        if n in seen:
            continue
        add(n)
        if n not in stop:
            push(nodes[n].args)
    return seen


def carry_adjoints(old: Graph, new: Graph, mapping: dict[int, int]) -> None:
    """Copy the "this node is d output / d node" marks of ``old`` into ``new`` (a copy
    made by a pass, ``mapping`` taking old ids to new), where both ends survive."""
    old_nodes, new_nodes = old._nodes, new._nodes
    seen: dict[int, set] = {}  # one node can hold many adjoints (the seed of a long sum)
    for n, m in mapping.items():
        extra = old_nodes[n].extra  # where the rare fields live: most nodes have none
        if extra is None:
            continue
        marks = extra.get("adjoint")
        if not marks or m not in new_nodes:
            continue
        target = new_nodes[m].adjoint
        if target is None:
            target = new_nodes[m].adjoint = []
        have = seen.get(m)
        if have is None:
            have = seen[m] = set(target)
        for out, of in marks:
            pair = (mapping.get(out), mapping.get(of))
            if None not in pair and pair not in have:
                have.add(pair)
                target.append(pair)
        if not target:
            new_nodes[m].adjoint = None


def topo_order(graph: Graph, outputs: Iterable[int]) -> list[int]:
    """The nodes the outputs need, arguments before users (:meth:`Graph.topo`)."""
    return graph.topo(outputs)


_local = threading.local()
_default_lock = threading.Lock()
_default: Graph | None = None  # made on first use (see the networkx note above)


def _stack() -> list[Graph]:
    stack = getattr(_local, "stack", None)
    if stack is None:
        stack = _local.stack = []
    return stack


def entered_graph() -> Graph | None:
    """The graph of the innermost ``with Graph():`` block of this thread, if any."""
    stack = getattr(_local, "stack", None)
    return stack[-1] if stack else None


def get_default_graph() -> Graph:
    """The graph new symbols go into: the innermost ``with Graph():``, else a global one.

    Returns
    -------
    Graph
        The current default graph.

    Examples
    --------
    >>> import graphad as ga
    >>> with ga.Graph() as g:
    ...     x = ga.symbol("x")
    ...     ga.get_default_graph() is g and x.graph is g
    True
    """
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

    Returns
    -------
    Graph
        The new default graph (empty).

    Raises
    ------
    GraphadError
        If called inside a ``with ga.Graph():`` block (nothing is changed).

    Examples
    --------
    A notebook cell that can be run again with new shapes::

        import graphad as ga
        ga.reset_default_graph()
        W = ga.symbol("W", shape=(4, 2))    # was (3, 2) in the previous run

    Inside a ``with ga.Graph():`` block it is refused, and that block's graph
    stays the default:

    >>> import graphad as ga
    >>> with ga.Graph() as g:
    ...     try:
    ...         ga.reset_default_graph()
    ...     except ga.GraphadError as e:
    ...         print(str(e)[:60])
    ...     print(ga.get_default_graph() is g)
    reset_default_graph() inside `with ga.Graph():` would not ch
    True
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
