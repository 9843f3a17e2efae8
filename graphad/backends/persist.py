"""Saving and loading graphs as versioned JSON: safe to load from a stranger.

``ga.save(exprs, path)`` writes the nodes the expressions need and
``ga.load(path)`` rebuilds them.  The format is plain JSON, never pickle:
loading a file runs no code from it.  Every node is re-created through
:func:`graphad.ops.apply`, so shapes are checked again, and everything else
is validated first (format and version, op names, argument references that
point only backwards, arity, parameter and value types, parameter names the
op's declaration uses, sizes and the ``max_elements`` limit on shape
parameters, as the parser applies it); a bad file raises
:class:`~graphad.GraphadError` saying what and where, and leaves the
graph it was loading into as it was.

The file, version 1::

    {"format": "graphad.graph", "version": 1, "graphad": "0.1.0",
     "nodes": [
       {"id": 0, "op": "input", "name": "x", "shape": null, "dtype": null},
       {"id": 1, "op": "constant", "value": {"type": "float", "value": 2.0}},
       {"id": 2, "op": "power", "args": [0, 1], "role": "forward",
        "shape": null, "dtype": null},
       {"id": 3, "op": "sum", "args": [2], "params": {"axis": null, "keepdims": false},
        "role": "forward", "shape": null, "dtype": null}],
     "outputs": [3]}

Node ids are positions in ``nodes``, arguments before users.  Python
scalars keep their weak typing (``{"type": "float", ...}``); arrays carry
``dtype`` and ``shape`` with their elements inline (``"data": [...]``,
small finite arrays) or as base64 of the little-endian bytes
(``"base64": "..."``).  Non-finite floats are the strings ``"inf"``,
``"-inf"`` and ``"nan"``.  Custom ops (``ga.defop``) are saved by name
(``"custom": true``) and must be registered again before loading.  Gradient
nodes keep ``"role": "grad"`` and their adjoint marks (``"adjoint": [[output,
node], ...]``).  Writes are atomic: a temporary file in the same directory
is renamed over the target, so an interrupted save leaves the old file.
"""

from __future__ import annotations

import base64
import inspect
import json
import math
import os
import re
import string
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..core._atomic import atomic_write
from ..core.errors import GraphadError
from ..core.expr import Expr
from ..core.graph import Graph, ancestors
from ..core.version import __version__
from ..ops import OPS, Op, apply

__all__ = ["FORMAT", "VERSION", "save", "load", "dumps", "loads"]

FORMAT = "graphad.graph"
VERSION = 1
# Arrays with at most this many elements, all finite, are written as JSON lists.
INLINE_MAX = 64

_DTYPES = frozenset({"bool", "float16", "float32", "float64"}) | {
    f"{kind}int{bits}" for kind in ("", "u") for bits in (8, 16, 32, 64)
}
_OP_ROLES = frozenset({"forward", "grad"})
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_NONFINITE = {"inf": math.inf, "-inf": -math.inf, "nan": math.nan}
_MAX_PARAM_DEPTH = 16
_MAX_NDIM = 32
_INT64 = (-(2**63), 2**63)

_KEYS = {
    "input": {"id", "op", "name", "shape", "dtype", "adjoint"},
    "constant": {"id", "op", "value", "adjoint"},
    "op": {"id", "op", "args", "params", "role", "shape", "dtype", "custom", "adjoint"},
}


# -- writing -------------------------------------------------------------------------------------


def dumps(exprs: Expr | Sequence[Expr]) -> str:
    """The JSON text :func:`save` writes (one graph's nodes the expressions need).

    Examples
    --------
    >>> import graphad as ga
    >>> from graphad.backends.persist import dumps, loads
    >>> with ga.Graph():
    ...     x = ga.symbols("x")
    ...     text = dumps(ga.sin(x))
    >>> [str(e) for e in loads(text)]
    ['sin(x)']
    """
    outs = _outputs(exprs)
    graph = outs[0].graph
    nodes = graph.records()
    with graph.lock:  # a consistent snapshot while other threads build
        order = sorted(ancestors(graph, [o.id for o in outs]))
        index = {n: i for i, n in enumerate(order)}
        records = [_node_record(graph, n, nodes[n], index) for n in order]
    doc = {
        "format": FORMAT,
        "version": VERSION,
        "graphad": _version(),
        "nodes": records,
        "outputs": [index[o.id] for o in outs],
    }
    return json.dumps(doc, allow_nan=False, separators=(",", ":"), ensure_ascii=False) + "\n"


def save(exprs: Expr | Sequence[Expr], path: str | os.PathLike) -> None:
    """Write expressions (and every node they need) to a JSON file, atomically.

    Parameters
    ----------
    exprs : Expr or sequence of Expr
        Outputs of one graph; :func:`load` returns them in this order.
    path : str or path-like
        The file; written to a temporary file in the same directory first,
        then renamed over ``path``, so a failed save leaves the old file intact.

    Raises
    ------
    GraphadError
        For outputs of different graphs, or a parameter that has no JSON form.
    OSError
        If the file cannot be written.

    Examples
    --------
    >>> import graphad as ga, os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "f.json")
    >>> with ga.Graph():
    ...     x, y = ga.symbols("x y")
    ...     e = x**2 * y
    ...     ga.save([e, ga.grad(e, x)], path)
    >>> f, gx = ga.load(path)
    >>> float(f.eval(x=3.0, y=2.0)), float(gx.eval(x=3.0, y=2.0))
    (18.0, 12.0)
    """
    data = dumps(exprs).encode("utf-8")
    atomic_write(os.fspath(path), lambda fh: fh.write(data))


def _outputs(exprs: Any) -> list[Expr]:
    outs = [exprs] if isinstance(exprs, Expr) else list(exprs)
    if not outs or not all(isinstance(o, Expr) for o in outs):
        raise GraphadError("save: expected an Expr or a non-empty sequence of Exprs")
    if any(o.graph is not outs[0].graph for o in outs):
        raise GraphadError("save: the expressions belong to different graphs")
    return outs


def _version() -> str:
    return __version__


def _node_record(graph: Graph, nid: int, node: dict, index: dict[int, int]) -> dict:
    op = node["op"]
    rec: dict[str, Any] = {"id": index[nid], "op": op}
    # any node can hold an adjoint: d(x*y)/dx is the input y itself
    marks = [[index[o], index[m]] for o, m in node.get("adjoint", ()) if o in index and m in index]
    if op == "input":
        rec.update(name=node["name"], shape=_shape_out(node["shape"]), dtype=_dtype_out(node))
    elif op == "constant":
        rec["value"] = _encode_value(node["value"])
    else:
        _op_fields(rec, nid, node, index)
    if marks:
        rec["adjoint"] = marks
    return rec


def _op_fields(rec: dict, nid: int, node: dict, index: dict[int, int]) -> None:
    op = rec["op"]
    rec["args"] = [index[a] for a in node["args"]]
    if node["params"]:
        rec["params"] = {
            k: _encode_param(v, f"parameter {k!r} of node v{nid} ({op})") for k, v in node["params"]
        }
    rec["role"] = node["role"]
    rec["shape"] = _shape_out(node["shape"])
    rec["dtype"] = _dtype_out(node)
    spec = OPS.get(op)
    if spec is not None and spec.custom:
        rec["custom"] = True


def _shape_out(shape: tuple | None) -> list | None:
    return None if shape is None else [int(s) for s in shape]


def _dtype_out(node: dict) -> str | None:
    dt = node["dtype"]
    return None if dt is None else np.dtype(dt).name


def _float_out(v: float) -> float | str:
    if math.isfinite(v):
        return v
    return "nan" if math.isnan(v) else ("inf" if v > 0 else "-inf")


def _encode_value(value: Any) -> dict:
    if isinstance(value, bool | int | float):
        kind = type(value).__name__
        return {"type": kind, "value": _float_out(value) if kind == "float" else value}
    arr = np.asarray(value)
    if arr.dtype.name not in _DTYPES:
        raise GraphadError(f"save: constants of dtype {arr.dtype} cannot be saved")
    out: dict[str, Any] = {"dtype": arr.dtype.name, "shape": list(arr.shape)}
    finite = arr.dtype.kind != "f" or bool(np.isfinite(arr).all())
    if arr.size <= INLINE_MAX and finite:
        out["data"] = arr.ravel().tolist()
    else:
        little = arr.astype(arr.dtype.newbyteorder("<"), copy=False)
        out["base64"] = base64.b64encode(np.ascontiguousarray(little).tobytes()).decode("ascii")
    return out


def _encode_param(value: Any, where: str) -> Any:
    # parameters are frozen (graphad.core.graph._freeze): scalars, str, None, tuples, bytes
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else {"float": _float_out(value)}
    if isinstance(value, bytes):
        return {"bytes": base64.b64encode(value).decode("ascii")}
    if isinstance(value, tuple):
        return [_encode_param(v, where) for v in value]
    raise GraphadError(f"save: {where} is a {type(value).__name__}, which has no JSON form")


# -- reading -------------------------------------------------------------------------------------


def load(path: str | os.PathLike, *, graph: Graph | None = None) -> list[Expr]:
    """Read expressions written by :func:`save`, re-created in a graph.

    Parameters
    ----------
    path : str or path-like
    graph : Graph, optional
        Where to build the nodes (default: a fresh ``Graph``).  Loading into
        an existing graph shares its inputs (by name) and equal nodes.

    Returns
    -------
    list of Expr
        The saved expressions, in the order given to :func:`save`.

    Raises
    ------
    GraphadError
        For a missing, oversized (``max_file_bytes``, see :mod:`graphad.core.limits`),
        malformed or wrong-version file, an unknown or unregistered op,
        references to later nodes, wrong arity, parameter or value types, a
        parameter the op does not take, a shape the ops reject, a shape (or
        shape parameter) of more than ``max_elements`` elements, or more than
        ``max_nodes`` nodes.  Nothing is added to ``graph`` then: no nodes,
        no inputs, no changed declarations.

    Examples
    --------
    >>> import graphad as ga, os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "g.json")
    >>> with ga.Graph():
    ...     ga.save(ga.parse("x * sin(y)"), path)
    >>> (e,) = ga.load(path)
    >>> e.free_symbols
    ('x', 'y')
    """
    from ..core.limits import current

    path = os.fspath(path)
    limit = current().max_file_bytes
    try:
        with open(path, "rb") as fh:
            data = fh.read(limit + 1)
    except FileNotFoundError:
        raise GraphadError(f"load: no such file: {path!r}") from None
    except OSError as exc:
        raise GraphadError(f"load: cannot read {path!r}: {exc}") from None
    if len(data) > limit:
        raise GraphadError(
            f"load: {path!r} is larger than {limit} bytes; the limit is "
            f"max_file_bytes={limit} (see ga.limits)"
        )
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise GraphadError(f"load: {path!r} is not UTF-8 text ({exc})") from None
    return _loads(text, graph, repr(path))


def loads(text: str, *, graph: Graph | None = None) -> list[Expr]:
    """Rebuild expressions from the JSON text of :func:`dumps` (see :func:`load`).

    Examples
    --------
    >>> from graphad.backends.persist import loads
    >>> loads('{"format": "graphad.graph", "version": 99}')  # doctest: +ELLIPSIS
    Traceback (most recent call last):
        ...
    graphad.GraphadError: load: <text>: format version 99 ... reads version 1...
    """
    if not isinstance(text, str):
        raise GraphadError(f"loads: expected str, got {type(text).__name__}")
    return _loads(text, graph, "<text>")


_PARAM_NAMES: dict[str, tuple[Op, frozenset[str]]] = {}


def _param_names(spec: Op) -> frozenset[str]:
    """The parameters an op's declaration uses, so a file can give no others.

    Derived from the op table, not listed by hand: the keys of the op's
    ``test_params``, the named fields of its ``emit`` template, and, when its
    ``impl`` is a Python function (not a NumPy function or ufunc, whose
    signatures hold ``out=``, ``where=`` and the like), the parameters it takes
    beyond its graph arguments.  Elementwise ops take none (``where=`` on
    ``sin`` would leave elements of the result uninitialised), nor do custom
    ops, which ``ga.defop`` makes without parameters.
    """
    cached = _PARAM_NAMES.get(spec.name)
    if cached is not None and cached[0] is spec:
        return cached[1]
    names: set[str] = set()
    if not spec.custom:
        names.update(k for d in spec.test_params for k in d)
        if isinstance(spec.emit, str):
            fields = string.Formatter().parse(spec.emit)
            names.update(f for _, f, _, _ in fields if f and not f.isdigit())
        if inspect.isfunction(spec.impl):
            sig = list(inspect.signature(spec.impl).parameters.values())
            if all(p.kind is not p.VAR_KEYWORD for p in sig):
                positional = [
                    p for p in sig if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
                ]
                n_args = len(positional) if spec.nargs is None else spec.nargs
                names.update(p.name for p in positional[n_args:])
                names.update(p.name for p in sig if p.kind is p.KEYWORD_ONLY)
    allowed = frozenset(names)
    _PARAM_NAMES[spec.name] = (spec, allowed)
    return allowed


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _loads(text: str, graph: Graph | None, source: str) -> list[Expr]:
    try:
        doc = json.loads(text, parse_constant=_reject_constant)
    except RecursionError:
        raise GraphadError(f"load: {source}: JSON nested too deeply") from None
    except ValueError as exc:  # JSONDecodeError, over-long integers
        raise GraphadError(f"load: {source}: malformed JSON: {exc}") from None
    return _Loader(source, graph if graph is not None else Graph()).run(doc)


class _Loader:
    def __init__(self, source: str, graph: Graph):
        self.source = source
        self.graph = graph
        self.where = ""  # "node 7" once nodes are read

    def fail(self, message: str) -> GraphadError:
        where = f"{self.where}: " if self.where else ""
        if len(message) > 300:  # a hostile file must not make a megabyte message
            message = message[:300] + "..."
        return GraphadError(f"load: {self.source}: {where}{message}")

    def run(self, doc: Any) -> list[Expr]:
        from ..core.limits import current

        if not isinstance(doc, dict) or doc.get("format") != FORMAT:
            raise self.fail(f'not a graphad graph file (no "format": "{FORMAT}")')
        version = doc.get("version")
        if type(version) is not int:
            raise self.fail(f"the format version must be an integer, not {version!r}")
        if version != VERSION:
            raise self.fail(
                f"format version {version} (written by graphad {doc.get('graphad', '?')}); "
                f"this graphad reads version {VERSION}"
            )
        records, outputs = doc.get("nodes"), doc.get("outputs")
        if not isinstance(records, list) or not isinstance(outputs, list) or not outputs:
            raise self.fail('"nodes" must be a list and "outputs" a non-empty list')
        limits = current()
        max_nodes, self.max_elements = limits.max_nodes, limits.max_elements
        if len(records) > max_nodes:
            raise self.fail(
                f"{len(records)} nodes; the limit is max_nodes={max_nodes} (see ga.limits)"
            )
        graph = self.graph
        ids: list[int] = []
        names: set[str] = set()
        # all or nothing: a bad node anywhere leaves the target graph as it was (the
        # transaction holds the graph's lock, which the role stack needs too)
        with graph.transaction():
            for i, rec in enumerate(records):
                self.where = f"node {i}"
                ids.append(self.node(i, rec, ids, names))
                self.check_size(ids[-1])
            self.where = "outputs"
            outs = [ids[self.ref(o, len(ids))] for o in outputs]
            marks = []
            for i, rec in enumerate(records):
                self.where = f"node {i}"
                marks.extend(self.marks(rec, ids))
            # adjoint marks change existing nodes too: written once nothing can fail
            for nid, mark in marks:
                target = graph.node(nid).setdefault("adjoint", [])
                if mark not in target:
                    target.append(mark)
        return [Expr(graph, o) for o in outs]

    # -- one node --------------------------------------------------------------------------------
    def node(self, i: int, rec: Any, ids: list[int], names: set[str]) -> int:
        if not isinstance(rec, dict):
            raise self.fail("a node must be a JSON object")
        if rec.get("id") != i or type(rec.get("id")) is not int:
            raise self.fail(f'"id" must be its position in "nodes" ({i}), not {rec.get("id")!r}')
        op = rec.get("op")
        if not isinstance(op, str):
            raise self.fail(f'"op" must be a string, not {op!r}')
        kind = op if op in ("input", "constant") else "op"
        extra = set(rec) - _KEYS[kind]
        if extra:
            raise self.fail(f"unknown field(s) {', '.join(map(repr, sorted(extra)))} for {op!r}")
        graph = self.graph
        if op == "input":
            name = rec.get("name")
            if not isinstance(name, str) or not name or len(name) > 10_000:
                raise self.fail(f"an input's name must be a non-empty string, not {name!r}")
            if name in names:
                raise self.fail(f"input {name!r} appears twice")
            names.add(name)
            shape, dtype = self.shape(rec.get("shape")), self.dtype(rec.get("dtype"))
            try:
                return graph.input(name, shape, dtype)
            except GraphadError as exc:
                raise self.fail(str(exc)) from None
        if op == "constant":
            return graph.constant(self.value(rec.get("value")))
        return self.op_node(op, rec, ids)

    def op_node(self, op: str, rec: dict, ids: list[int]) -> int:
        spec = OPS.get(op)
        custom = rec.get("custom", False)
        if type(custom) is not bool:
            raise self.fail(f'"custom" must be true or false, not {custom!r}')
        if spec is None:
            hint = (
                f"; register it with ga.defop({op!r}, ...) before loading"
                if custom
                else " (not a graphad op)"
            )
            raise self.fail(f"unknown op {op!r}{hint}")
        if spec.custom != custom:
            now = "a custom" if spec.custom else "a built-in"
            raise self.fail(f"op {op!r} was {'' if custom else 'not '}custom when saved; "
                            f"here it is {now} op")  # fmt: skip
        args = rec.get("args")
        if not isinstance(args, list):
            raise self.fail('"args" must be a list of node ids')
        arg_ids = [ids[self.ref(a, len(ids))] for a in args]
        if spec.nargs is None and not arg_ids:
            raise self.fail(f"{op} needs at least one argument")
        if spec.nargs is not None and len(arg_ids) != spec.nargs:
            raise self.fail(f"{op} takes {spec.nargs} argument(s), got {len(arg_ids)}")
        params = self.params(rec.get("params", {}))
        allowed = _param_names(spec)
        unknown = sorted(set(params) - allowed)
        if unknown:
            takes = f"takes only {', '.join(sorted(allowed))}" if allowed else "takes no parameters"
            raise self.fail(f"{op} {takes}, not {', '.join(unknown)}")
        self.check_shape_params(op, params)
        role = rec.get("role")
        if role not in _OP_ROLES:
            raise self.fail(f'"role" must be one of {sorted(_OP_ROLES)}, not {role!r}')
        shape, dtype = self.shape(rec.get("shape")), self.dtype(rec.get("dtype"))
        graph = self.graph
        exprs = [Expr(graph, a) for a in arg_ids]
        try:
            with graph, graph.role(role):  # constant-only nodes go here too
                call_args = (exprs,) if spec.nargs is None else tuple(exprs)
                e = apply(op, *call_args, **params)
            if spec.emit is not None and not spec.custom:
                spec.source([f"a{k}" for k in range(len(arg_ids))], params)  # params complete?
        except (GraphadError, TypeError, ValueError, KeyError, IndexError) as exc:
            what = f"{type(exc).__name__}: {exc}" if not isinstance(exc, GraphadError) else exc
            raise self.fail(f"{op} cannot be rebuilt: {what}") from None
        node = graph.node(e.id)
        if shape is not None and node["shape"] is not None and node["shape"] != shape:
            raise self.fail(f"{op} has shape {node['shape']} here, but the file says {shape}")
        if dtype is not None and node["dtype"] is not None and node["dtype"] != dtype:
            raise self.fail(f"{op} has dtype {node['dtype']} here, but the file says {dtype}")
        return e.id

    def marks(self, rec: dict, ids: list[int]) -> list[tuple[int, tuple[int, int]]]:
        """The node's adjoint marks, checked: ``(node id, (output, node))`` pairs."""
        marks = rec.get("adjoint")
        if marks is None:
            return []
        if not isinstance(marks, list):
            raise self.fail('"adjoint" must be a list of [output, node] pairs')
        nid = ids[rec["id"]]
        out = []
        for pair in marks:
            if not isinstance(pair, list) or len(pair) != 2:
                raise self.fail('"adjoint" must be a list of [output, node] pairs')
            out.append((nid, (ids[self.ref(pair[0], len(ids))], ids[self.ref(pair[1], len(ids))])))
        return out

    def check_size(self, nid: int) -> None:
        shape = self.graph.node(nid)["shape"]
        if shape and math.prod(shape) > self.max_elements:
            raise self.fail(
                f"shape {shape} has more than {self.max_elements} elements; the limit is "
                f"max_elements={self.max_elements} (see ga.limits)"
            )

    def check_shape_params(self, op: str, params: dict[str, Any]) -> None:
        """The parser's limit on a shape parameter (``broadcast_to``, ``reshape`` ...),
        before the node exists: of an input of unknown shape, the node's own shape is
        unknown too, and the tensor would be allocated only when evaluated."""
        shape = params.get("shape")
        if not isinstance(shape, tuple) or not all(type(s) is int for s in shape):
            return  # not a shape: the op's own checks say what is wrong with it
        if len(shape) > _MAX_NDIM:
            raise self.fail(f"{op}: a shape may have at most {_MAX_NDIM} dimensions")
        # |s|: reshape's -1 stands for at least one element
        if math.prod(max(abs(s), 1) for s in shape) > self.max_elements:
            raise self.fail(
                f"{op} to shape {shape} has more than {self.max_elements} elements; the limit "
                f"is max_elements={self.max_elements} (see ga.limits)"
            )

    # -- fields ------------------------------------------------------------------------------
    def ref(self, value: Any, limit: int) -> int:
        """A reference to an earlier node (so the graph can have no cycle)."""
        if type(value) is not int or not 0 <= value < limit:
            raise self.fail(f"{value!r} is not the id of an earlier node (0..{limit - 1})")
        return value

    def shape(self, value: Any) -> tuple[int, ...] | None:
        if value is None:
            return None
        if (
            not isinstance(value, list)
            or len(value) > _MAX_NDIM
            or not all(type(s) is int and 0 <= s < _INT64[1] for s in value)
        ):
            raise self.fail(f"a shape must be a list of at most {_MAX_NDIM} sizes, not {value!r}")
        return tuple(value)

    def dtype(self, value: Any) -> np.dtype | None:
        if value is None:
            return None
        if value not in _DTYPES:
            raise self.fail(f"unsupported dtype {value!r}; expected one of {sorted(_DTYPES)}")
        return np.dtype(value)

    def value(self, rec: Any) -> Any:
        if not isinstance(rec, dict):
            raise self.fail("a constant's value must be a JSON object")
        if "type" in rec:
            return self.scalar(rec)
        if set(rec) - {"dtype", "shape", "data", "base64"} or ("data" in rec) == ("base64" in rec):
            raise self.fail('an array needs "dtype", "shape" and one of "data" or "base64"')
        dtype = self.dtype(rec.get("dtype"))
        shape = self.shape(rec.get("shape"))
        if dtype is None or shape is None:
            raise self.fail("an array constant needs a dtype and a shape")
        size = math.prod(shape)
        try:
            if "data" in rec:
                data = rec["data"]
                if not isinstance(data, list) or len(data) != size:
                    raise self.fail(f'"data" must be a flat list of {size} numbers')
                if not all(type(v) in (int, float, bool) for v in data):
                    raise self.fail('"data" may hold only numbers')
                arr = np.array(data, dtype=dtype).reshape(shape)
            else:
                raw = base64.b64decode(str(rec["base64"]), validate=True)
                little = dtype.newbyteorder("<")
                if len(raw) != size * little.itemsize:
                    raise self.fail(
                        f"base64 data has {len(raw)} bytes; shape {shape} of {dtype} "
                        f"needs {size * little.itemsize}"
                    )
                arr = np.frombuffer(raw, dtype=little).astype(dtype).reshape(shape)
        except GraphadError:
            raise
        except (ValueError, TypeError, OverflowError) as exc:
            raise self.fail(f"bad array constant: {exc}") from None
        return arr

    def scalar(self, rec: dict) -> bool | int | float:
        kind, v = rec.get("type"), rec.get("value")
        if set(rec) != {"type", "value"}:
            raise self.fail('a scalar constant is {"type": ..., "value": ...}')
        if kind == "bool" and type(v) is bool:
            return v
        if kind == "int" and type(v) is int:
            if not _INT64[0] <= v < _INT64[1]:
                raise self.fail(f"integer constant {v} does not fit in int64")
            return v
        if kind == "float" and type(v) in (int, float):
            try:
                return float(v)
            except OverflowError:
                raise self.fail(f"float constant out of range: {v}") from None
        if kind == "float" and v in _NONFINITE:
            return _NONFINITE[v]
        raise self.fail(f"bad scalar constant {rec!r}")

    def params(self, value: Any) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise self.fail('"params" must be a JSON object')
        out = {}
        for k, v in value.items():
            if not _IDENT.match(k) or k.startswith("__"):
                raise self.fail(f"parameter name {k!r} is not a plain identifier")
            out[k] = self.param(v, 0)
        return out

    def param(self, v: Any, depth: int) -> Any:
        if depth > _MAX_PARAM_DEPTH:
            raise self.fail("parameter values nest too deeply")
        if v is None or isinstance(v, bool | float):
            return v
        if isinstance(v, int):
            if not _INT64[0] <= v < _INT64[1]:
                raise self.fail(f"integer parameter {v} does not fit in int64")
            return v
        if isinstance(v, str):
            if len(v) > 100 or not _IDENT.match(v):
                raise self.fail(f"string parameter {v!r} is not a plain identifier")
            return v
        if isinstance(v, list):
            return tuple(self.param(x, depth + 1) for x in v)
        if isinstance(v, dict) and set(v) == {"float"} and v["float"] in _NONFINITE:
            return _NONFINITE[v["float"]]
        if isinstance(v, dict) and set(v) == {"bytes"} and isinstance(v["bytes"], str):
            try:
                return base64.b64decode(v["bytes"], validate=True)
            except ValueError as exc:
                raise self.fail(f"bad base64 in a parameter: {exc}") from None
        raise self.fail(f"bad parameter value {v!r}")
