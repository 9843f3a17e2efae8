"""A read/write interpreter: evaluates graph nodes in topological order with NumPy.

Each intermediate is released after its last use, so peak memory stays near
what the live values need.  Generated code (``ga.compile``) is the fast path;
this is the reference the compiler is tested against.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

from ..core.errors import DTypeError, GraphadError, MissingInputError, ShapeError
from ..core.graph import Graph, ancestors
from ..ops import OPS

__all__ = ["evaluate", "prepare_input", "run_node"]


def not_numbers(what: str, dtype: np.dtype, value: Any) -> DTypeError:
    """The error for a value that is not real numbers: complex values are named as such
    (as ``ga.grad`` and ``ga.jit`` name them), anything else by its dtype and type."""
    if dtype.kind == "c":
        return DTypeError(
            f"{what}: complex numbers are not supported (dtype {dtype}); graphad computes "
            f"with real arrays (pass the real and imaginary parts apart)"
        )
    return DTypeError(f"{what}: expected numbers, got dtype {dtype} (from {type(value).__name__})")


def prepare_input(graph: Graph, nid: int, value: Any) -> Any:
    """Check one input value against the input's declared shape and dtype."""
    node = graph.node(nid)
    name = node["name"]
    to_array = getattr(value, "__graphad_value__", None)  # e.g. a tape Variable
    if to_array is not None:
        value = to_array()
    if isinstance(value, np.ma.MaskedArray):  # compiled code checks through here too
        raise DTypeError(
            f"input {name!r}: masked arrays (numpy.ma) are not supported, their masks would be "
            "ignored; pass value.filled(...) or value.data and handle the mask explicitly"
        )
    arr = value if isinstance(value, np.ndarray) else np.asarray(value)
    if arr.dtype == object or arr.dtype.kind not in "biuf":
        raise not_numbers(f"input {name!r}", arr.dtype, value)
    want = node["dtype"]
    if want is not None and arr.dtype != want:
        if not np.can_cast(arr.dtype, want, casting="same_kind"):
            raise DTypeError(f"input {name!r} is declared {want}, got {arr.dtype}")
        arr = arr.astype(want)
    shape = node["shape"]
    if shape is not None and arr.shape != shape:
        raise ShapeError(f"input {name!r} is declared with shape {shape}, got {arr.shape}")
    return arr


def run_node(
    op_name: str, params: dict, args: list, graph: Graph | None = None, nid: int | None = None
) -> Any:
    """Apply one op to NumPy values, turning NumPy's errors into graphad's."""
    op = OPS[op_name]
    try:
        return op.impl(*args, **params)
    except (ValueError, IndexError) as exc:
        shapes = ", ".join(str(np.shape(a)) for a in args)
        where = f" (node v{nid})" if nid is not None else ""
        raise ShapeError(
            f"{op_name}{where}: cannot apply to operands of shapes {shapes}: {exc}"
        ) from None


def evaluate(
    graph: Graph,
    outputs: Iterable[int],
    values: Mapping[str, Any],
    known: Mapping[int, Any] | None = None,
) -> list[Any]:
    """Evaluate the output nodes given input values by name.

    Values for inputs the outputs do not use are ignored; a missing one raises
    :class:`MissingInputError` naming it.  The graph is specialized to the
    types of the values first (:mod:`graphad.transforms.specialize`, cached), so shape
    helpers are plain ops and nothing is computed only for its shape.

    ``known`` maps node ids to values already computed (a tape's forward
    values), which are reused, not recomputed; the graph is then interpreted
    as it is (its helpers run their generic implementations).
    """
    outputs = list(outputs)
    if known:
        return _interpret(graph, outputs, values, known)
    from ..transforms.specialize import check_live_elements, specialized, value_type

    nodes = graph.records()
    needed = [n for n in ancestors(graph, outputs) if nodes[n]["op"] == "input"]
    _check_missing(nodes, needed, values, {})
    inputs = sorted(needed)
    arrays = [prepare_input(graph, n, values[nodes[n]["name"]]) for n in inputs]
    spec = specialized(graph, outputs, inputs, [value_type(a) for a in arrays])
    check_live_elements(spec.graph, spec.outputs)
    feed = dict(zip(spec.inputs, arrays, strict=True))
    return _interpret(spec.graph, list(spec.outputs), {}, feed)


def _check_missing(nodes: dict, inputs: Iterable[int], values: Mapping, known: Mapping) -> None:
    missing = sorted(
        nodes[n]["name"] for n in inputs if nodes[n]["name"] not in values and n not in known
    )
    if missing:
        raise MissingInputError(f"no value given for input(s) {', '.join(map(repr, missing))}")


def _interpret(
    graph: Graph, outputs: list[int], values: Mapping[str, Any], known: Mapping[int, Any]
) -> list[Any]:
    """The reference interpreter: every node the outputs need, in topological order."""
    order = sorted(ancestors(graph, outputs, stop=known))
    nodes = graph.records()
    _check_missing(nodes, (n for n in order if nodes[n]["op"] == "input"), values, known)
    # remaining uses of each value, so that it can be dropped after the last one
    uses: dict[int, int] = {}
    for n in order:
        for a in nodes[n]["args"]:
            uses[a] = uses.get(a, 0) + 1
    keep = set(outputs)
    env: dict[int, Any] = {}
    with np.errstate(all="ignore"):  # NaN/inf are results to show, not warnings
        for n in order:
            node = nodes[n]
            op = node["op"]
            if n in known:
                env[n] = known[n]
                continue
            if op == "input":
                env[n] = prepare_input(graph, n, values[node["name"]])
                continue
            if op == "constant":
                env[n] = node["value"]
                continue
            if op not in OPS:
                raise GraphadError(f"node v{n} uses unknown op {op!r}")
            args = [env[a] for a in node["args"]]
            env[n] = run_node(op, dict(node["params"]), args, graph, n)
            for a in set(node["args"]):
                uses[a] -= 1
                if uses[a] == 0 and a not in keep:
                    del env[a]
    return [_finish(env[o]) for o in outputs]


def _finish(value: Any) -> Any:
    """NumPy scalars for 0-d results (np.float64 for a float), arrays otherwise."""
    arr = np.asarray(value)
    if arr.ndim == 0:
        return arr[()]
    return arr
