"""The validating reader of graphad's JSON graph files (:mod:`graphad.backends.persist`).

Kept apart from the writer because it is the part that faces untrusted input: a
file from a stranger is checked here field by field (format and version, op
names, backward-only argument references, arity, parameter and value types,
parameter names the op declares, shape sizes against ``max_elements``) before
any node is made, and every node is then re-created through
:func:`graphad.ops.apply`.  A bad file raises :class:`~graphad.GraphadError`
saying what and where, and leaves the graph it was loading into as it was.
Nothing here uses pickle, ``eval`` or ``exec``.
"""

from __future__ import annotations

import base64
import inspect
import json
import math
import re
import string
from typing import Any

import numpy as np

from ..core.errors import GraphadError
from ..core.expr import Expr
from ..core.graph import Graph
from ..ops import OPS, Op, apply

FORMAT = "graphad.graph"
VERSION = 1

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
