"""Batched evaluation of wide scalar graphs: one NumPy call per (level, op), not per node.

A gradient written one scalar at a time (``sum 100*(x[i+1]-x[i]**2)**2 + ...``
over a thousand inputs) is ten thousand 0-d operations, but only a handful of
*kinds*: at each level (longest path from the inputs) the same few ops repeat
for every term.  :func:`plan` lays all values out in one float64 buffer, the
members of each (level, op, constant operands) group in consecutive slots, and
emits one line per group::

    b[1000:1999] = np.multiply(b[_ga_i3], b[_ga_i4])

so a 10^4-node gradient runs as a few dozen vectorized calls, and the source
to compile is a few dozen lines instead of ten thousand.

It applies only where the semantics are NumPy's float64 ones: every input
declared float64 with shape ``()``, every node a float64 scalar computed by a
NumPy ufunc (vectorized loops may round a transcendental function differently
in the last ulp than the scalar path), and the graph wide enough (on average at
least :data:`MIN_BATCH` nodes per group); deep chains (``x1*x2*...*xn``,
``sin(sin(...))``) keep the straight-line code.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..core.graph import Graph
from ..ops import OPS

__all__ = ["ENABLED", "MIN_BATCH", "MIN_NODES", "plan"]

ENABLED = True
MIN_BATCH = 16  # average group size below which straight-line code is faster
MIN_NODES = 64
_F64 = np.dtype(np.float64)


def _ufunc(op_name: str) -> str | None:
    op = OPS.get(op_name)
    return None if op is None else op.ufunc_name


def _literal(value: Any) -> str | None:
    """A constant operand as source (weak Python scalars stay weak), else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        v = float(value) if isinstance(value, float) else value
    else:
        arr = np.asarray(value)
        if arr.shape != () or arr.dtype != _F64:
            return None
        v = arr.item()
        if not math.isfinite(v):
            return f"np.float64({_float(v)})"
        return f"np.float64({v!r})"
    return _float(v) if isinstance(v, float) else f"({v!r})"


def _float(v: float) -> str:
    if math.isnan(v):
        return "float('nan')"
    if math.isinf(v):
        return "float('inf')" if v > 0 else "float('-inf')"
    return f"({v!r})"


def _index_source(slots: list[int], name: str, consts: dict[str, np.ndarray]) -> str:
    """``b[3]``, ``b[10:20]`` or ``b[_ga_iK]`` (an index array bound in the namespace)."""
    if len(slots) == 1:
        return f"b[{slots[0]}]"
    first = slots[0]
    if slots == list(range(first, first + len(slots))):
        return f"b[{first}:{first + len(slots)}]"
    consts[name] = np.asarray(slots, dtype=np.intp)
    return f"b[{name}]"


def plan(
    graph: Graph, order: Sequence[int], outputs: Sequence[int], inputs: Sequence[int]
) -> tuple[list[str], dict[str, np.ndarray]] | None:
    """Body lines and namespace constants of the batched form, or None where it does not
    apply (or would not pay)."""
    if not ENABLED:
        return None
    nodes = graph.records()
    inset = set(inputs)
    level: dict[int, int] = {}
    groups: dict[tuple, list[int]] = {}
    n_ops = 0
    for n in order:
        node = nodes[n]
        if node.shape != ():
            return None
        op = node.op
        if op == "input":
            if n not in inset or node.dtype is None or node.dtype != _F64:
                return None
            level[n] = 0
            continue
        if op == "constant":
            level[n] = 0
            continue
        uf = _ufunc(op)
        if uf is None or node.dtype is None or node.dtype != _F64:
            return None
        kinds = []
        lv = 0
        for a in node.args:
            an = nodes[a]
            if an.op == "constant":
                lit = _literal(an.value)
                if lit is None:
                    return None
                kinds.append(lit)
            else:
                kinds.append(None)
                lv = max(lv, level[a])
        level[n] = lv + 1
        extra = tuple(map(repr, OPS[op].ufunc_args))  # relu is maximum(x, 0)
        groups.setdefault((lv + 1, uf, tuple(kinds), extra), []).append(n)
        n_ops += 1
    if n_ops < MIN_NODES or len(groups) * MIN_BATCH > n_ops:
        return None
    return _emit(nodes, outputs, inputs, groups)


def _emit(
    nodes: dict, outputs: Sequence[int], inputs: Sequence[int], groups: dict
) -> tuple[list[str], dict[str, np.ndarray]]:
    slot: dict[int, int] = {}
    for k, i in enumerate(inputs):
        slot[i] = k
    template_values: dict[int, float] = {}
    for key in sorted(groups, key=lambda k: k[0]):  # by level: arguments first
        for n in groups[key]:
            slot[n] = len(slot)
    for o in outputs:  # constants returned as outputs live in the buffer too
        if o not in slot:
            slot[o] = len(slot)
            template_values[slot[o]] = float(np.asarray(nodes[o].value))
    consts: dict[str, np.ndarray] = {}
    template = np.zeros(len(slot))
    for s, v in template_values.items():
        template[s] = v
    template.flags.writeable = False
    consts["_ga_b0"] = template
    params = ", ".join(f"x{k}" for k in range(len(inputs)))
    lines = ["b = _ga_b0.copy()"]
    if inputs:
        lines.append(f"b[0:{len(inputs)}] = ({params}{',' if len(inputs) == 1 else ''})")
    for g, key in enumerate(sorted(groups, key=lambda k: k[0])):
        members = groups[key]
        _, uf, kinds, extra = key
        args = []
        for pos, lit in enumerate(kinds):
            if lit is not None:
                args.append(lit)
            else:
                arg_slots = [slot[nodes[m].args[pos]] for m in members]
                args.append(_index_source(arg_slots, f"_ga_i{g}_{pos}", consts))
        args.extend(extra)
        target = _index_source([slot[m] for m in members], f"_ga_o{g}", consts)
        lines.append(f"{target} = np.{uf}({', '.join(args)})")
    out_src = _index_source([slot[o] for o in outputs], "_ga_out", consts)
    if len(outputs) == 1:
        lines.append(f"return ({out_src},)")
    else:
        lines.append(f"return tuple({out_src})")
    return lines, consts
