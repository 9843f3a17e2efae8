"""Code generation: a graph becomes straight-line Python/NumPy source, then a Function.

The schedule is the topological order of the nodes the outputs need (node
ids ascend topologically).  Each node is one SSA line (``v7 = np.sin(v3)``)
followed by ``del`` of the arrays it used for the last time, so peak memory
stays near what the live values need (0-d values are left to the function's
end).  Every name in the source is generated (``x0`` for the first input,
``v<id>`` for nodes, ``c<id>`` for array constants, ``f<k>`` for custom ops):
input names, which are arbitrary user strings, never reach the text.  Large
constants and the implementations of custom ops are passed in the module's
namespace; small ones are written out.  The source is compiled under a unique
file name registered in :mod:`linecache`, so a traceback shows the generated line.
"""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..core.errors import GraphadError, MissingInputError
from ..core.graph import Graph, topo_order
from ..ops import OPS

__all__ = ["Program", "generate"]

FUNCTION_NAME = "graphad_function"
BODY_NAME = "_graphad_body"  # the straight-line code; FUNCTION_NAME adds np.errstate
# Array constants with at most this many elements are written into .source;
# larger ones are bound in the namespace (and, on export, stored in a .npz).
INLINE_MAX = 16
EXPORT_INLINE_MAX = 256

_counter = itertools.count()
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")

FINISH_SRC = """
def _ga_finish(v):
    if type(v) is np.ndarray:
        return v[()] if v.ndim == 0 else v
    if isinstance(v, np.generic) or (
            hasattr(v, "__array_function__") and not isinstance(v, np.ndarray)):
        return v  # another library's array (a lazy Dask array) stays what it is
    return np.asarray(v)[()]
"""
NUMPY_SRC = """
def _ga_numpy(*values):
    # True unless an input is another library's array (Dask, CuPy): ops whose NumPy
    # form such arrays cannot run lazily then take their second form (right for any array)
    for v in values:
        if hasattr(v, "__array_function__") and not isinstance(v, np.ndarray):
            return False
    return True
"""
ARRAY_SRC = """
def _ga_array(flat, dtype, shape):
    a = np.array(flat, dtype=dtype).reshape(shape)
    a.flags.writeable = False
    return a
"""


# -- literals --------------------------------------------------------------------------------


def _float_text(v: float) -> str:
    if math.isfinite(v):
        return repr(v)
    return "float('nan')" if math.isnan(v) else ("float('inf')" if v > 0 else "float('-inf')")


def _scalar_text(v: bool | int | float) -> str:
    """A weakly typed Python scalar as an atom (negative numbers parenthesized)."""
    if isinstance(v, bool):
        return repr(v)
    text = repr(v) if isinstance(v, int) else _float_text(v)
    return f"({text})" if text.startswith("-") else text


def _element_text(v: Any) -> str:
    if isinstance(v, float):
        return _float_text(v)
    return repr(v)


def _numpy_scalar_text(arr: np.ndarray) -> str:
    """A 0-d array as a (strongly typed) NumPy scalar literal, e.g. ``np.float32(0.5)``."""
    return f"np.{arr.dtype.name}({_element_text(arr.item())})"


def _array_literal(arr: np.ndarray) -> str:
    flat = ", ".join(_element_text(v) for v in arr.ravel().tolist())
    return f"_ga_array([{flat}], {arr.dtype.name!r}, {arr.shape!r})"


def _literal_ok(value: Any) -> bool:
    """Params are written with repr(): only plain numbers, None, bools and tuples of them."""
    stack = [value]
    while stack:
        v = stack.pop()
        if isinstance(v, tuple):
            stack.extend(v)
        elif v is not None and not isinstance(v, bool | int | float | str):
            return False
        elif isinstance(v, float) and not math.isfinite(v):
            return False  # repr(inf) is not valid source
        elif isinstance(v, str) and not _IDENT.match(v):
            return False
    return True


# -- generation --------------------------------------------------------------------------------


class Program:
    """Generated source plus what its namespace must hold.

    ``body`` is the function definition and helpers, ``constants`` maps the
    generated name of each array constant to its value, ``impls`` maps the
    generated name of each custom op to its implementation.
    """

    def __init__(self) -> None:
        self.helpers: list[str] = []
        self.constants: dict[str, np.ndarray] = {}
        self.impls: dict[str, Any] = {}
        self.impl_notes: dict[str, str] = {}
        self.body: list[str] = []
        self.batched = False  # one vectorized line per (level, op): see graphad.transforms.batching

    def module(self, inline_max: int = INLINE_MAX, *, npz: bool = False) -> str:
        """The module text; constants over ``inline_max`` elements are bound by name
        (from the namespace, or from the sibling ``.npz`` file when ``npz``)."""
        head = [
            '"""Generated by graphad: straight-line NumPy code, one line per graph node."""',
            "",
            "import numpy as np",
        ]
        if npz:
            head.insert(2, "import os")
        helpers = list(self.helpers)
        lines: list[str] = []
        big = [k for k, v in self.constants.items() if v.size > inline_max]
        if any(v.size <= inline_max for v in self.constants.values()):
            helpers.append(ARRAY_SRC)
        for name, value in self.constants.items():
            if value.size <= inline_max:
                lines.append(f"{name} = {_array_literal(value)}")
        if big and npz:
            lines.append("with np.load(os.path.splitext(__file__)[0] + '.npz') as _ga_npz:")
            lines.extend(f"    {k} = _ga_npz[{k!r}]" for k in big)
            lines.extend(f"{k}.flags.writeable = False" for k in big)
        elif big:
            lines.append("# bound in the namespace when compiled (not printed):")
            lines.extend(
                f"#   {k}: {self.constants[k].dtype.name} array of shape {self.constants[k].shape}"
                for k in big
            )
        if self.impls:
            lines.append("# custom op implementations bound in the namespace:")
            lines.extend(f"#   {k}: {self.impl_notes[k]}" for k in self.impls)
        parts = ["\n".join(head), *(h.strip("\n") for h in helpers)]
        if lines:
            parts.append("\n".join(lines))
        parts.append("\n".join(self.body))
        return "\n\n\n".join(parts) + "\n"


def generate(graph: Graph, outputs: Sequence[int], inputs: Sequence[int]) -> Program:
    """Straight-line source computing ``outputs`` from ``inputs`` (node ids of ``graph``)."""
    nodes = graph.records()
    prog = Program()
    names: dict[int, str] = {}
    for k, i in enumerate(inputs):
        names[i] = f"x{k}"
    order = topo_order(graph, outputs)
    missing = [n for n in order if nodes[n].op == "input" and n not in names]
    if missing:
        labels = sorted(nodes[n].name for n in missing)
        raise MissingInputError(
            f"compile: the outputs use input(s) {', '.join(map(repr, labels))} not listed in "
            f"inputs=; add them (or leave inputs=None to take all, sorted by name)"
        )
    from ..transforms import batching
    from . import fusion  # numexpr itself is imported only when a kernel is built

    batched = batching.plan(graph, order, outputs, inputs)
    if batched is not None:  # a wide scalar graph: one vectorized line per (level, op)
        body, prog.constants = batched
        prog.batched = True
        params_src = ", ".join(f"x{k}" for k in range(len(inputs)))
        prog.body = [
            f"def {FUNCTION_NAME}({params_src}):",
            '    with np.errstate(all="ignore"):  # NaN/inf are results, not warnings',
            f"        return {BODY_NAME}({params_src})",
            "",
            "",
            f"def {BODY_NAME}({params_src}):",
            *("    " + line for line in body),
        ]
        return prog
    fused = fusion.plan(graph, order, set(outputs))
    # liveness: the position of each value's last use (a fused kernel reads its leaves)
    last: dict[int, int] = {}
    for pos, n in enumerate(order):
        for a in fused.args_of(n, nodes):
            last[a] = pos
    outset = set(outputs)
    dead_after: dict[int, list[int]] = {}
    for n, pos in last.items():
        # 0-d values are a few bytes: releasing them early saves nothing but a line
        if n not in outset and nodes[n].op != "constant" and nodes[n].shape != ():
            dead_after.setdefault(pos, []).append(n)
    seen_helpers: set[str] = set()
    impl_names: dict[str, str] = {}
    literal: set[int] = set()  # constants written inline as Python/NumPy scalars
    lines: list[str] = []
    for pos, n in enumerate(order):
        node = nodes[n]
        op_name = node.op
        if op_name == "input":
            continue
        if op_name == "constant":
            names[n] = _constant_name(prog, n, node.value)
            if names[n] != f"c{n}":
                literal.add(n)
            continue
        if n in fused.members:
            continue
        kernel = fused.kernels.get(n)
        op = OPS.get(op_name)
        if op is None:
            raise GraphadError(f"node v{n} uses unknown op {op_name!r}")
        args = [names[a] for a in node.args] if kernel is None else []
        if args and all(a in literal for a in node.args):
            # Python would compute 2 + 3 as a Python int; NumPy gives np.int64, as the
            # interpreter does
            args = [f"np.asarray({s})" for s in args]
        params = dict(node.params)
        if kernel is not None:
            expr = fusion.call_source(kernel, nodes, names)
            for src in kernel.helpers:
                if src not in seen_helpers:
                    seen_helpers.add(src)
                    prog.helpers.append(src)
        elif op.custom or op.emit is None:
            if op.emit is None and not op.custom:
                raise GraphadError(
                    f"op {op_name!r} (node v{n}) cannot be compiled: it has no source form"
                )
            fname = impl_names.get(op_name)
            if fname is None:
                fname = impl_names[op_name] = f"f{len(impl_names)}"
                prog.impls[fname] = op.impl
                prog.impl_notes[fname] = (
                    f"custom op {op_name!r}" if _IDENT.match(op_name) else "custom op"
                )
            if params:
                raise GraphadError(f"custom op node v{n} has parameters; cannot compile it")
            expr = f"{fname}({', '.join(args)})"
        else:
            for k, v in params.items():
                if not _literal_ok(v):
                    raise GraphadError(
                        f"op {op_name!r} (node v{n}): parameter {k}={v!r} "
                        f"cannot be written as source"
                    )
            expr = op.source(args, params)
            inplace = fusion.inplace_source(fused, n, nodes, args, dead_after.get(pos, ()))
            if inplace is not None:  # the buffer of an argument that dies here
                expr = inplace % expr
            if op.duck_emit is not None:
                # valid for any arrays, the duck form is needed only for non-NumPy inputs
                expr = f"({op.source(args, params, duck=True)} if _ga_duck else {expr})"
                if NUMPY_SRC not in seen_helpers:
                    seen_helpers.add(NUMPY_SRC)
                    prog.helpers.append(NUMPY_SRC)
            if op.helper and op.helper not in seen_helpers:
                seen_helpers.add(op.helper)
                prog.helpers.append(op.helper)
        name = names[n] = f"v{n}"
        lines.append(f"{name} = {expr}")
        dead = dead_after.get(pos)
        if dead:
            lines.append("del " + ", ".join(names[d] for d in sorted(dead)))
    rets = []
    for o in outputs:
        shape = nodes[o].shape
        is_array_op = shape is not None and len(shape) > 0
        rets.append(names[o] if is_array_op else f"_ga_finish({names[o]})")
    if any(r.startswith("_ga_finish") for r in rets):
        prog.helpers.append(FINISH_SRC)
    params_src = ", ".join(f"x{k}" for k in range(len(inputs)))
    if NUMPY_SRC in seen_helpers:  # decided once per call, from the inputs
        lines.insert(0, f"_ga_duck = not _ga_numpy({params_src})")
    prog.body = [
        f"def {FUNCTION_NAME}({params_src}):",
        '    with np.errstate(all="ignore"):  # NaN/inf are results, not warnings',
        f"        return {BODY_NAME}({params_src})",
        "",
        "",
        f"def {BODY_NAME}({params_src}):",
        *("    " + line for line in lines),
        f"    return ({', '.join(rets)}{',' if len(rets) == 1 else ''})",
    ]
    return prog


def _constant_name(prog: Program, nid: int, value: Any) -> str:
    if isinstance(value, bool | int | float):
        return _scalar_text(value)
    arr = np.asarray(value)
    if arr.ndim == 0 and arr.dtype.kind in "biuf":
        return _numpy_scalar_text(arr)
    name = f"c{nid}"
    prog.constants[name] = arr
    return name
