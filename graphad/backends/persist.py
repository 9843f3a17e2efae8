"""Saving and loading graphs as versioned JSON: safe to load from a stranger.

``ga.save(exprs, path)`` writes the nodes the expressions need and
``ga.load(path)`` rebuilds them.  The format is plain JSON, never pickle:
loading a file runs no code from it.  Every node is re-created through
:func:`graphad.ops.apply`, so shapes are checked again, and everything else
is validated first, by :mod:`graphad.backends._persist_reader` (format and
version, op names, argument references that point only backwards, arity,
parameter and value types, parameter names the op's declaration uses, sizes
and the ``max_elements`` limit on shape parameters, as the parser applies
it); a bad file raises :class:`~graphad.GraphadError` saying what and where,
and leaves the graph it was loading into as it was.

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
import json
import math
import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..core._atomic import atomic_write
from ..core.errors import GraphadError
from ..core.expr import Expr
from ..core.graph import Graph, ancestors
from ..core.version import __version__
from ..ops import OPS
from ._persist_reader import _DTYPES, FORMAT, VERSION, _loads

__all__ = ["FORMAT", "VERSION", "save", "load", "dumps", "loads"]

# Arrays with at most this many elements, all finite, are written as JSON lists.
INLINE_MAX = 64


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
