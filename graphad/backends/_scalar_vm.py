"""The scalar VM's compiler for float64 scalar inputs: the user's graph -> VM instructions
in one walk (:func:`build_scalar`), for :func:`graphad.compile`'s first call.

The general path specializes a copy of the graph to the input types, rewrites it
(:func:`graphad.transforms.rewrite.optimize_specialized`) and walks the copy again for
the VM (:func:`graphad.backends.kernels.build`).  For a large gradient over undeclared
scalars that copy was most of the first call (issue 19).  Where every input is a float64
scalar and every node is one the VM runs, this module reads the user's graph once and
emits the same computation; anything it does not cover returns None and the general path
runs, unchanged.
"""

from __future__ import annotations

import itertools
import math
from array import array
from collections.abc import Sequence
from typing import Any

import numpy as np

from .kernels import _BOOL, _BOOL_SAFE, _CMP, _F64, OPCODES, Kernel, _const_float

__all__ = ["build_scalar"]

_FILLS = {"ones_like": 1, "zeros_like": 0}
# (op, params, argument type keys) -> the inferred (shape, dtype) of a 0-d node
_INFER_MEMO: dict[tuple, tuple] = {}


class _Rec:
    """What dtype inference reads of an argument (``ops.core.infer``): a 0-d value."""

    __slots__ = ("op", "shape", "dtype", "value")

    def __init__(self, dtype: Any, value: Any = None) -> None:
        self.op = "constant" if dtype is None else "value"  # a weak Python scalar, or not
        self.shape, self.dtype, self.value = (), dtype, value


def build_scalar(graph: Any, outputs: Sequence[int], inputs: Sequence[int]) -> Kernel | None:
    """The scalar-mode kernel of ``outputs`` for float64 scalar ``inputs``, made from the
    user's (shape-polymorphic) graph in one walk, or None: then the general path
    (specialize, optimize, :func:`build`) decides, and raises what it raises.

    This is what specialization to 0-d float64 inputs followed by :func:`build` computes,
    without the copy in between (issue 19: most of a large gradient's first call): each
    node's dtype is inferred as specialization infers it (memoized per op and argument
    types), the shape helpers a gradient holds lower as there (``sum_to_like`` and the
    other ``same_shape_is_first`` lowerings to their first argument, ``ones_like`` and
    ``zeros_like`` to a 0-d constant of the argument's float dtype, ``astype_like`` of
    one dtype to its argument), constants fold through the rewriter's own
    :func:`~graphad.transforms.rewrite.fold_constant`, and nodes no output needs for its
    value (a ``sum_to_like`` reference, an ``ones_like`` argument) get no instruction.
    The algebraic rows are not applied: each is exact in IEEE arithmetic (the rewriter's
    contract), so the values are the same bits, NaN payloads aside.  Anything else (an
    op outside :data:`OPCODES` or the helpers above, a value that is not a float64 or a
    comparison's boolean, a missing input) returns None.
    """
    nodes = graph.records()
    n_in = len(inputs)
    # per node: its value ("ref": -1-k the constant k, 0..n_in-1 an input, n_in+s step s)
    # and its type key (a dtype, or the Python type of a weak constant)
    ref: dict[int, int] = {}
    key: dict[int, Any] = {}
    cval: dict[int, Any] = {}  # constant nodes (given, folded or lowered): their values
    consts: list[float] = []
    const_ref: dict[Any, int] = {}
    steps: list[tuple[int, int, int, int]] = []  # (opcode, a, b, c), refs
    for k, i in enumerate(inputs):
        if nodes[i].op != "input":
            return None
        ref[i], key[i] = k, _F64
    folds: dict[tuple, Any] = {}  # a gradient folds the same few constants many times
    if not outputs:
        return None
    try:
        return _walk(nodes, outputs, ref, key, cval, steps, consts, const_ref, n_in, folds)
    except KeyError:  # an argument after its user (ids out of topological order)
        return None


def _needed(nodes: Any, outputs: Sequence[int]) -> Any:
    """The ids ``outputs`` need, ascending: one sweep down from the largest, as a node's
    arguments have smaller ids than it (else a later lookup fails: the general path)."""
    top = max(outputs)
    need = bytearray(top + 1)
    for o in outputs:
        need[o] = 1
    for n in range(top, -1, -1):
        if need[n]:
            for a in nodes[n].args:
                need[a] = 1
    return itertools.compress(range(top + 1), need)


def _walk(nodes, outputs, ref, key, cval, steps, consts, const_ref, n_in, folds):
    """:func:`build_scalar`'s walk (see there); KeyError where ids are not topological."""
    from ..transforms.rewrite import fold_constant

    memo = _INFER_MEMO
    kinds = _SCALAR_KINDS
    f64 = _F64

    def constant(v: Any) -> int | None:
        fv = _const_float(v)
        if fv is None:
            return None
        ck = (math.copysign(1.0, fv), fv) if fv == fv else ("nan",)
        found = const_ref.get(ck)
        if found is None:
            found = const_ref[ck] = -1 - len(consts)
            consts.append(fv)
        return found

    for n in _needed(nodes, outputs):
        node = nodes[n]
        args = node.args
        op_name = node.op
        kind = kinds.get(op_name)
        if kind is None:
            kind = _scalar_kind(op_name)
        if kind == 3:  # a VM op (the common case first)
            params = node.params
            na = len(args)
            if na == 2:
                a, b = args
                refs = [ref[a], ref[b]]
                mk = (op_name, params, key[a], key[b])
            elif na == 1:
                a = args[0]
                refs = [ref[a]]
                mk = (op_name, params, key[a])
            else:
                refs = [ref[a] for a in args]
                mk = (op_name, params, *[key[a] for a in args])
            info = memo.get(mk)
            if info is None:
                info = _scalar_info(op_name, params, mk[2:])
                if len(memo) < 4096:
                    memo[mk] = info
            if info is False:
                return None
            dtype, code = info
            if refs[0] < 0 and max(refs) < 0:  # constants alone: folded as the rewriter does
                vals = [cval[a] for a in args]
                fk = (op_name, params, *[_value_key(v) for v in vals])
                v = (
                    folds[fk]
                    if fk in folds
                    else folds.setdefault(fk, fold_constant(_op(op_name), vals, params, (), dtype))
                )
                if v is not None:
                    r = constant(v)
                    if r is None:
                        return None
                    ref[n], key[n], cval[n] = r, dtype, v
                    continue
            if code == _RELU:
                refs.append(constant(0.0))  # maximum(x, 0.0)
            elif code == _POWER and refs[1] < 0 and consts[-1 - refs[1]] == 2.0:
                code, refs = _SQUARE, refs[:1]
            ref[n] = n_in + len(steps)
            key[n] = dtype
            r0 = refs[0]
            k = len(refs)
            if k == 2:
                steps.append((code, r0, refs[1], r0))
            elif k == 1:
                steps.append((code, r0, r0, r0))
            else:
                steps.append((code, r0, refs[1], refs[2]))
            continue
        if kind == 0:  # a same_shape_is_first lowering of two 0-d values: the first
            if len(args) != 2:
                return None
            a = args[0]
        elif kind == 4:  # a constant
            v = node.value
            t = type(v)
            if t is float or t is int or t is bool:
                k = t
            elif t is np.ndarray and v.shape == ():
                k = f64 if v.dtype == f64 else _BOOL if v.dtype == _BOOL else v.dtype
            else:
                return None
            r = constant(v)
            if r is None:
                return None
            ref[n], key[n], cval[n] = r, k, v
            continue
        elif kind == 5:  # an input: given (else the general path names it missing)
            if n not in ref:
                return None
            continue
        elif kind == 1:  # ones_like, zeros_like: a 0-d constant of the argument's float dtype
            d = key[args[0]] if len(args) == 1 else None
            if not isinstance(d, np.dtype):
                return None  # a weak argument: the general path lowers it later
            v = np.full((), _FILLS[op_name], dtype=d if d.kind in "fc" else f64)
            r = constant(v)
            if r is None:
                return None
            ref[n], key[n], cval[n] = r, f64, v
            continue
        elif kind == 2:  # astype_like: its argument, to its own dtype or booleans to float64
            if len(args) != 2:
                return None
            a = args[0]
            d, want = key[a], key[args[1]]
            if d is _BOOL and want is f64 and a not in cval:
                ref[n], key[n] = ref[a], f64  # 0.0/1.0 already
                continue
            if not isinstance(d, np.dtype) or d != want:
                return None
        else:
            return None
        ref[n], key[n] = ref[a], key[a]
        if a in cval:
            cval[n] = cval[a]
    outs = []
    for o in outputs:
        if key[o] is not f64:
            return None  # a weak constant or a boolean: the general path decides
        outs.append(ref[o])
    return _assemble(steps, consts, n_in, outs)


def _value_key(v: Any) -> tuple:
    """A 0-d constant's exact identity: its type, dtype and bits (-0.0 is not 0.0)."""
    if type(v) is np.ndarray:
        return (v.dtype.str, v.tobytes())
    return (type(v), repr(v))


_RELU, _POWER, _SQUARE = OPCODES["relu"][0], OPCODES["power"][0], OPCODES["square"][0]
# op name -> what build_scalar does with it: 0 its first argument (a same_shape_is_first
# lowering), 1 a fill, 2 astype_like, 3 a VM op, 4 a constant, 5 an input, -1 the general path
_SCALAR_KINDS: dict[str, int] = {"constant": 4, "input": 5}


def _op(op_name: str) -> Any:
    from ..ops import OPS

    return OPS.get(op_name)


def _scalar_kind(op_name: str) -> int:
    op = _op(op_name)
    kind = -1
    if op is not None and not op.custom:
        lower = op.lower
        if lower is None:
            spec = OPCODES.get(op_name)
            if spec is not None and op.nargs == spec[1]:
                kind = 3
        elif getattr(lower, "same_shape_is_first", False):
            kind = 0
        elif op_name in _FILLS:
            kind = 1
        elif op_name == "astype_like":
            kind = 2
    if len(_SCALAR_KINDS) < 1024:
        _SCALAR_KINDS[op_name] = kind
    return kind


def _scalar_info(op_name: str, params: tuple, keys: tuple) -> Any:
    """(dtype, opcode) of a VM op on 0-d arguments of these type keys, or False where the
    VM does not run it: inferred as specialization infers it (``ops.core.infer``)."""
    from ..ops.core import infer

    op = _op(op_name)
    if len(keys) != OPCODES[op_name][1]:
        return False
    recs = [_Rec(None, k(0)) if isinstance(k, type) else _Rec(k) for k in keys]
    try:
        shape, dtype = infer(op, recs, dict(params) if params else {})
    except Exception:
        return False  # the general path raises the op's error
    if op_name in _CMP:
        want = _BOOL
    elif op_name in _BOOL_SAFE and all(k is _BOOL for k in keys[-2:]):
        want = _BOOL  # and/or of 0.0/1.0 (never add: True + True is True, 1 + 1 is 2)
    else:
        want = _F64
    if shape != () or not isinstance(dtype, np.dtype) or dtype != want:
        return False
    for k in keys:  # strong arguments: float64, booleans or integers (constants)
        if isinstance(k, np.dtype) and k != _F64 and k != _BOOL and k.kind not in "biu":
            return False
    return want, OPCODES[op_name][0]


def _assemble(
    steps: list[tuple[int, int, int, int]], consts: list[float], n_in: int, outs: list[int]
) -> Kernel:
    """Registers for :func:`build_scalar`'s steps (refs as there): constants first, then
    the inputs, then values, each register reused after its value's last use (read before
    the write, as :func:`build` allocates); steps no output needs are dropped."""
    nc, ns = len(consts), len(steps)
    last = [-1] * ns  # per step: the position of its value's last reader
    live = bytearray(ns)
    for r in outs:
        if r >= n_in:
            live[r - n_in] = 1
    for s in range(ns - 1, -1, -1):
        if not live[s]:
            continue
        _, a, b, c = steps[s]
        # padding repeats the first argument (c is a for one or two arguments)
        for r in (a, b) if c == a else (a, b, c):
            if r >= n_in:
                t = r - n_in
                live[t] = 1
                if last[t] < 0:
                    last[t] = s  # seen first from the end: its last reader
    for r in outs:  # outputs are never freed
        if r >= n_in:
            last[r - n_in] = ns
    reg = [0] * ns
    free: list[int] = []
    top = nc + n_in
    rows: list[int] = []  # flat: five ints an instruction (one conversion at the end)
    append, pop = rows.extend, free.pop
    for s in range(ns):
        if not live[s]:
            continue
        op, a, b, c = steps[s]
        ra = -1 - a if a < 0 else nc + a if a < n_in else reg[a - n_in]
        rb = -1 - b if b < 0 else nc + b if b < n_in else reg[b - n_in]
        rc = ra if c == a else -1 - c if c < 0 else nc + c if c < n_in else reg[c - n_in]
        # values dying here free their register (read before the write), once each
        if a >= n_in and last[a - n_in] == s:
            free.append(ra)
            last[a - n_in] = -2
        if b >= n_in and last[b - n_in] == s:
            free.append(rb)
            last[b - n_in] = -2
        if c >= n_in and last[c - n_in] == s:
            free.append(rc)
            last[c - n_in] = -2
        if free:
            d = pop()
        else:
            d = top
            top += 1
        reg[s] = d
        append((op, d, ra, rb, rc))
    code = np.array(array("i", rows), dtype=np.int32).reshape(-1, 5)
    out = np.array(
        [-1 - r if r < 0 else nc + r if r < n_in else reg[r - n_in] for r in outs], dtype=np.int32
    )
    return Kernel(
        "scalar", code, np.array(consts, dtype=np.float64), max(top, 1), out, n_in, (), [()] * n_in
    )
